import { join } from "node:path";
import { packBundle, type Manifest } from "@annex/manifest";
import { readBundleNode as readBundle } from "@annex/manifest/node";
import { parseCommandArgs } from "../args.js";
import { buildEntry } from "../build-entry.js";
import type { Command } from "../command.js";
import { CliError, EXIT_OK } from "../errors.js";
import { writeFileAtomic } from "../fs-utils.js";
import type { CommandContext } from "../io.js";
import { loadManifestFile } from "../manifest-file.js";
import { formatBytes, readFolder } from "../read-folder.js";

const spec = {
  name: "pack",
  positionals: ["dir"],
  options: {
    out: { type: "string", short: "o" },
  },
} as const;

export const packCommand: Command = {
  name: "pack",
  summary: "build the server entry with esbuild and pack the folder into a deterministic .annex bundle",
  help: `Usage: annex pack <dir> [-o <file>]

Packs the extension folder <dir> into one deterministic bundle (a gzip-compressed tar
with annex.json and an index of every file's sha256). Packing the same folder twice
gives identical bytes.

When annex.json has runtime.source, that file and what it imports are bundled with
esbuild into runtime.entry: one ES module (esm, platform neutral, es2022) with no
imports left, and its source map <entry>.map beside it. The source tree itself is
not packed.

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
    const { manifest } = await loadManifestFile(dir, ctx.show(join(dir, "annex.json")));

    const files = await collectFiles(dir, manifest, ctx);
    checkReferencedFiles(manifest, files);

    const total = [...files.values()].reduce((sum, bytes) => sum + bytes.byteLength, 0);
    ctx.progress(`packing ${files.size} files (${formatBytes(total)})…`);
    const bytes = await packBundle(files);
    ctx.progress("hashing and checking the bundle…");
    // Reading our own output back proves it is a bundle every host will accept, and yields its content hash.
    const bundle = await readBundle(bytes);

    const out = ctx.resolve(args.values.out ?? `${manifest.id}-${manifest.version}.annex`);
    await writeFileAtomic(out, bytes);

    ctx.out(`packed ${manifest.id}@${manifest.version} → ${ctx.show(out)}`);
    ctx.out(`content hash: ${bundle.contentHash}`);
    ctx.out(`files: ${bundle.index.files.length}`);
    ctx.out(`size: ${formatBytes(bytes.byteLength)} (${formatBytes(total)} uncompressed)`);
    return EXIT_OK;
  },
};

/** Files under the folders the manifest needs are packed even from dist/ and even when they sit in the source folder. */
function neededRoots(manifest: Manifest): string[] {
  const roots: string[] = [];
  if (manifest.ui.pages.length > 0) roots.push(manifest.ui.root);
  if (manifest.storage.kind === "owned-schema") roots.push(manifest.storage.migrations);
  const { entry, source } = manifest.runtime;
  if (entry !== undefined && source === undefined) roots.push(entry, `${entry}.map`);
  return roots;
}

const under = (path: string, root: string) => path === root || path.startsWith(`${root}/`);

/** The folder's files as the bundle will hold them: ignore rules applied, the server entry built, its sources left out. */
async function collectFiles(dir: string, manifest: Manifest, ctx: CommandContext): Promise<Map<string, Uint8Array>> {
  const roots = neededRoots(manifest);
  const { entry, source } = manifest.runtime;
  const built =
    manifest.runtime.class === "service" && source !== undefined && entry !== undefined
      ? await buildEntry({ dir, source, entry, onProgress: (line) => ctx.progress(line) })
      : null;

  ctx.progress(`reading ${ctx.show(dir)}…`);
  const files = await readFolder(dir, { keep: roots, onProgress: (line) => ctx.progress(line) });
  if (built === null || source === undefined || entry === undefined) return files;

  checkHandlersExported(manifest, built.exports, source);
  const sourceDir = source.includes("/") ? source.slice(0, source.lastIndexOf("/")) : null;
  const sourceFiles = new Set(built.inputs);
  let left = 0;
  for (const path of [...files.keys()]) {
    const isSource = sourceFiles.has(path) || (sourceDir !== null && under(path, sourceDir));
    if (isSource && path !== "annex.json" && !roots.some((root) => under(path, root))) {
      files.delete(path);
      left++;
    }
  }
  if (left > 0) ctx.progress(`left out ${left} source file${left === 1 ? "" : "s"} (${sourceDir ?? source}): bundled into ${entry}`);
  files.set(entry, built.code);
  files.set(`${entry}.map`, built.map);
  return new Map([...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Every handler annex.json names must be an export of the built entry, or every call to it would fail at run time. */
function checkHandlersExported(manifest: Manifest, exports: readonly string[], source: string): void {
  const named = [
    ...manifest.endpoints.map((endpoint, i) => ({ handler: endpoint.handler, field: `endpoints[${i}].handler` })),
    ...manifest.jobs.map((job, i) => ({ handler: job.handler, field: `jobs[${i}].handler` })),
    ...manifest.events.subscribes.map((sub, i) => ({ handler: sub.handler, field: `events.subscribes[${i}].handler` })),
  ];
  const missing = named.filter(({ handler }) => !exports.includes(handler));
  if (missing.length > 0) {
    const list = missing.map(({ handler, field }) => `"${handler}" (${field})`).join(", ");
    throw new CliError(
      "E_BUILD",
      `${source} does not export ${list}: export a function by that name from ${source}, or fix the handler name in annex.json.`,
      { handlers: missing.map(({ handler }) => handler) },
    );
  }
}

/** Files annex.json points at must be in the bundle; say which field names a missing one. */
function checkReferencedFiles(manifest: Manifest, files: ReadonlyMap<string, Uint8Array>): void {
  const referenced: { field: string; path: string }[] = manifest.ui.pages.map((page, i) => ({ field: `ui.pages[${i}].entry`, path: page.entry }));
  if (manifest.runtime.entry !== undefined) referenced.push({ field: "runtime.entry", path: manifest.runtime.entry });
  for (const { field, path } of referenced) {
    if (!files.has(path)) {
      throw new CliError(
        "E_PACK_MISSING_FILE",
        `${field} names "${path}", which is not in the packed files: create it, fix ${field} in annex.json, or remove it from .annexignore.`,
        { field, path },
      );
    }
  }
}
