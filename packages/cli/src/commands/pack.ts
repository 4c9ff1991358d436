import { packExtension } from "@annex/build";
import { parseCommandArgs } from "../args.js";
import type { Command } from "../command.js";
import { EXIT_OK } from "../errors.js";
import { formatBytes } from "../format.js";
import { writeFileAtomic } from "../fs-utils.js";

const spec = {
  name: "pack",
  positionals: ["dir"],
  options: {
    out: { type: "string", short: "o" },
  },
} as const;

export const packCommand: Command = {
  name: "pack",
  summary: "build the server entry and the UI pages with esbuild and pack the folder into a deterministic .annex bundle",
  help: `Usage: annex pack <dir> [-o <file>]

Packs the extension folder <dir> into one deterministic bundle (a gzip-compressed tar
with annex.json and an index of every file's sha256). Packing the same folder twice
gives identical bytes.

When annex.json has runtime.source, that file and what it imports are bundled with
esbuild into runtime.entry: one ES module (esm, platform neutral, es2022) with no
imports left, and its source map <entry>.map beside it. The source tree itself is
not packed.

Each page of ui.pages is built too: its module scripts (<script type="module" src>,
TypeScript welcome) and stylesheets (<link rel="stylesheet">) are bundled with esbuild,
packages such as @annex/ui-kit and @annex/iframe-bridge included, into files under
ui.root, and the page is rewritten to load them. Inline <script type="module"> and
<style> become files too. Refused, naming the page, line and column: anything that
points into node_modules or outside ui.root, remote scripts and stylesheets, inline
event handlers and style attributes, javascript: URLs, <base> and import maps.

Left out: node_modules/, hidden files (.git, .env …), dist/ except the files
annex.json names, *.annex, *.annex.sig, key files (*.key, *.pub, *.pem), and
whatever <dir>/.annexignore lists (.gitignore syntax).

Options:
  -o, --out <file>  where to write the bundle (default: ./<id>-<version>.annex)
  -h, --help        show this help

Prints the content hash, the number of files and the size.

Example:
  annex pack hello -o hello.annex`,

  async run(argv, ctx) {
    const args = parseCommandArgs(spec, argv);
    if (args.help) {
      ctx.out(this.help);
      return EXIT_OK;
    }
    const dirArg = args.positionals[0]!;
    const dir = ctx.resolve(dirArg);
    const packed = await packExtension(dir, { displayDir: ctx.show(dir), onProgress: (line) => ctx.progress(line) });
    const { manifest, bytes } = packed;
    const total = [...packed.files.values()].reduce((sum, file) => sum + file.byteLength, 0);

    const out = ctx.resolve(args.values.out ?? `${manifest.id}-${manifest.version}.annex`);
    await writeFileAtomic(out, bytes);

    ctx.out(`packed ${manifest.id}@${manifest.version} → ${ctx.show(out)}`);
    ctx.out(`content hash: ${packed.contentHash}`);
    ctx.out(`files: ${packed.files.size}`);
    ctx.out(`size: ${formatBytes(bytes.byteLength)} (${formatBytes(total)} uncompressed)`);
    return EXIT_OK;
  },
};
