import { mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { isAnnexError, parseManifest } from "@annex/manifest";
import { oneOf, parseCommandArgs } from "../args.js";
import type { Command } from "../command.js";
import { CliError, EXIT_OK } from "../errors.js";
import { renderTemplate, TEMPLATES, type TemplateValues } from "../templates.js";

const spec = {
  name: "init",
  positionals: ["dir"],
  options: {
    template: { type: "string", short: "t" },
    id: { type: "string" },
    name: { type: "string" },
    description: { type: "string" },
  },
} as const;

export const initCommand: Command = {
  name: "init",
  summary: "create a working extension (manifest, server code, UI page, test) in a new folder",
  help: `Usage: annex init <dir> [--template service|bundle] [--id <publisher.name>] [--name <text>] [--description <text>]

Creates a working extension in <dir>, which must not exist or be empty:
  service (default)  annex.json, src/server.ts (handlers), ui/index.html, a vitest test that runs it in createTestHost()
  bundle             annex.json, static pages under ui/, a test that checks them

Options:
  -t, --template <name>    service or bundle (default: service)
      --id <id>            extension id "<publisher>.<name>" (default: example.<folder name>)
      --name <text>        display name (default: from the folder name)
      --description <text> one sentence for admins
  -h, --help               show this help

Example:
  annex init hello --template service --id acme.hello`,

  async run(argv, ctx) {
    const args = parseCommandArgs(spec, argv);
    if (args.help) {
      ctx.out(this.help);
      return EXIT_OK;
    }
    const dirArg = args.positionals[0]!;
    const dir = ctx.resolve(dirArg);
    const template = oneOf("init", "template", args.values.template ?? "service", TEMPLATES);
    const slug = slugify(basename(dir));
    const id = args.values.id ?? `example.${slug}`;
    const publisher = id.includes(".") ? id.slice(0, id.indexOf(".")) : id;
    const extensionName = id.includes(".") ? id.slice(id.indexOf(".") + 1) : slug;
    const values: TemplateValues = {
      id,
      publisher,
      name: args.values.name ?? titleCase(extensionName),
      description:
        args.values.description ??
        (template === "service" ? "Says hello from a sandboxed handler." : "Static pages shown inside the host application."),
      packageName: extensionName,
    };

    await ensureEmpty(dir, dirArg);
    const files = await renderTemplate(template, values);
    // Check the manifest before writing anything: a bad --id or --name fails here, naming the option. (As E_MANIFEST
    // its next step was `annex lint <dir>`, a folder nothing was written to.)
    try {
      parseManifest(JSON.parse(files.get("annex.json")!));
    } catch (error) {
      if (!isAnnexError(error, "E_MANIFEST")) throw error;
      const issues = (error.details?.["issues"] ?? []) as { path?: unknown; message?: unknown }[];
      // The page title is the name too.
      const options: Record<string, string> = { id: "--id", publisher: "--id", name: "--name", description: "--description", ui: "--name" };
      const lines = issues.map((issue) => {
        const path = Array.isArray(issue.path) ? issue.path.join(".") : String(issue.path ?? "");
        return `${options[path.split(/[.[]/)[0]!] ?? `annex.json ${path}`}: ${String(issue.message ?? "")}`;
      });
      throw new CliError("E_USAGE", `annex init wrote nothing: ${lines.join("; ")}. Run it again with a valid value.`, { issues });
    }

    for (const [path, text] of files) {
      const target = join(dir, ...path.split("/"));
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, text, { flag: "wx" });
    }

    const shown = ctx.show(dir);
    ctx.out(`Created ${template} extension ${id} in ${shown}:`);
    for (const path of [...files.keys()].sort()) ctx.out(`  ${path}`);
    ctx.out("");
    ctx.out("Next:");
    ctx.out(`  cd ${shown}`);
    // Until @annex/* is on the npm registry, `npm install` answers E404 for them: say where the way round is.
    ctx.out("  npm install && npm test      # @annex/* not on the registry yet? see 'Before the packages are published' in Annex's docs/authoring.md");
    // The project's own @annex/cli binary: an unscoped npx of the name would fetch an unrelated "annex" package from the registry.
    ctx.out("  npm run lint");
    ctx.out(`  npm exec -- annex keygen --publisher ${publisher} --out ../keys    # keep keys outside the extension`);
    // keygen prints the key's file: the key id with ":" written "_" (acme:80ae… → acme_80ae….key).
    ctx.out(`  npm run build && npm exec -- annex sign ${id}-0.1.0.annex --key ../keys/${publisher}_<key id hex>.key`);
    if (args.values.id === undefined) {
      ctx.out(`The publisher is "example": pass --id <your-publisher>.${slug}, or edit annex.json, before you sign it.`);
    }
    return EXIT_OK;
  },
};

async function ensureEmpty(dir: string, shown: string): Promise<void> {
  const stats = await stat(dir).catch(() => null);
  if (stats === null) return;
  if (!stats.isDirectory()) {
    throw new CliError("E_INIT_NOT_EMPTY", `${shown} is a file: pass the name of a new or empty folder.`, { path: shown });
  }
  const entries = await readdir(dir);
  if (entries.length > 0) {
    throw new CliError(
      "E_INIT_NOT_EMPTY",
      `${shown} is not empty (${entries.length} entries); annex init never overwrites files: pass a new or empty folder.`,
      { path: shown },
    );
  }
}

/** A folder name as an extension-name label: lowercase words joined by single hyphens, starting with a letter. */
export function slugify(name: string): string {
  const slug = name
    .normalize("NFKD")
    .replace(/\p{M}/gu, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^[^a-z]+/, "")
    .replace(/-+$/, "")
    .slice(0, 32)
    .replace(/-+$/, "");
  return slug === "" ? "extension" : slug;
}

function titleCase(label: string): string {
  return label
    .split("-")
    .filter(Boolean)
    .map((word) => word[0]!.toUpperCase() + word.slice(1))
    .join(" ");
}
