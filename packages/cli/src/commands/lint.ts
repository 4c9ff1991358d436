import { stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { ManifestError, parseManifestText, type Manifest, type ManifestIssue } from "@annex/manifest";
import { parseCommandArgs } from "../args.js";
import type { Command } from "../command.js";
import { CliError, EXIT_OK } from "../errors.js";
import { exists } from "../fs-utils.js";
import { formatLocatedIssue, locateIssues, readManifestText } from "../manifest-file.js";

const spec = { name: "lint", positionals: ["dir"], options: {} } as const;

export const lintCommand: Command = {
  name: "lint",
  summary: "check annex.json against the manifest schema, with file:line:column locations",
  help: `Usage: annex lint <dir>

Checks <dir>/annex.json (or the .json file given) against the manifest v2 schema and
the rules across fields, all problems at once; once those pass, that the files it
names exist (so missing files show up only after the schema problems are fixed).
Each problem is printed as

  annex.json:<line>:<column> <field>: <message>

pointing at the field (or, for a missing field, at the object that should hold it).
Exits 0 when there are none, 1 otherwise.

Options:
  -h, --help  show this help

Example:
  annex lint hello`,

  async run(argv, ctx) {
    const args = parseCommandArgs(spec, argv);
    if (args.help) {
      ctx.out(this.help);
      return EXIT_OK;
    }
    const target = ctx.resolve(args.positionals[0]!);
    const isFile = (await stat(target).catch(() => null))?.isFile() === true;
    const file = isFile ? target : join(target, "annex.json");
    const dir = isFile ? dirname(target) : target;
    const shown = ctx.show(file);

    const text = await readManifestText(file, shown);
    let issues: readonly ManifestIssue[];
    let total: number;
    let manifest: Manifest | null = null;
    try {
      manifest = parseManifestText(text, { source: shown });
      issues = await missingFiles(dir, manifest);
      total = issues.length;
    } catch (error) {
      if (!(error instanceof ManifestError)) throw error;
      issues = error.issues;
      // The error keeps only the first issues of a manifest with thousands of them.
      total = error.issueCount;
    }

    if (issues.length === 0) {
      ctx.out(`${shown}: ok (${manifest!.id}@${manifest!.version}, ${manifest!.runtime.class})`);
      return EXIT_OK;
    }
    const located = locateIssues(text, issues).sort((a, b) => a.line - b.line || a.column - b.column);
    for (const issue of located) ctx.out(formatLocatedIssue(shown, issue));
    if (total > issues.length) ctx.out(`… and ${total - issues.length} more`);
    const count = total === 1 ? "1 problem" : `${total} problems`;
    const listed = total > issues.length ? `the first ${issues.length} listed above` : "listed above";
    throw new CliError("E_LINT", `${count} in ${basename(file)} (${listed}): fix them and run annex lint again.`, { issues, issueCount: total });
  },
};

/** Files annex.json names that are not in the folder: pack would fail on them. */
async function missingFiles(dir: string, manifest: Manifest): Promise<ManifestIssue[]> {
  const named: { path: string; file: string; what: string }[] = manifest.ui.pages.map((page, i) => ({
    path: `ui.pages[${i}].entry`,
    file: page.entry,
    what: "UI page",
  }));
  const { source, entry } = manifest.runtime;
  if (source !== undefined) named.push({ path: "runtime.source", file: source, what: "server source" });
  else if (entry !== undefined) named.push({ path: "runtime.entry", file: entry, what: "server entry (no runtime.source builds it)" });
  if (manifest.storage.kind === "owned-schema") {
    named.push({ path: "storage.migrations", file: manifest.storage.migrations, what: "migrations folder" });
  }
  const issues: ManifestIssue[] = [];
  for (const { path, file, what } of named) {
    if (!(await exists(join(dir, ...file.split("/"))))) issues.push({ path, message: `${what} "${file}" does not exist in the extension folder` });
  }
  return issues;
}

