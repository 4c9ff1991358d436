import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import ts from "typescript";
import { afterAll, describe, expect, it } from "vitest";
import { DocsCodeError, extractBlocks, groupBlocks, moduleText, type CodeGroup } from "./extract.js";

// Every code block of the READMEs and docs/ that shows API use is typechecked against the workspace
// packages and run here (the convention is in extract.ts and the root README): a documented setup
// cannot drift from the code.

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const outDir = join(here, "..", ".docs-blocks");
const SKIP_DIRS = new Set(["node_modules", "dist", ".git", ".docs-blocks", "coverage"]);

function markdownFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP_DIRS.has(entry.name) || entry.name.startsWith(".")) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...markdownFiles(path));
    else if (entry.name.endsWith(".md")) out.push(path);
  }
  return out.sort();
}

const conventionErrors: string[] = [];
const groups: CodeGroup[] = [];
for (const path of markdownFiles(root)) {
  const file = relative(root, path);
  try {
    groups.push(...groupBlocks(file, extractBlocks(file, readFileSync(path, "utf8"))));
  } catch (error) {
    if (!(error instanceof DocsCodeError)) throw error;
    conventionErrors.push(error.message);
  }
}

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
const modules = groups.map((group) => {
  const name = `${group.file.replace(/[^A-Za-z0-9.]+/g, "_")}_L${group.line}.${group.language === "ts" ? "ts" : "mjs"}`;
  const path = join(outDir, name);
  writeFileSync(path, moduleText(group));
  return { group, path };
});

function typecheck(): string[] {
  const config = ts.parseJsonConfigFileContent(
    { extends: "../tsconfig.base.json", compilerOptions: { types: ["node"], allowJs: true, checkJs: false }, files: modules.map((m) => m.path) },
    ts.sys,
    join(here, ".."),
  );
  const program = ts.createProgram({ rootNames: config.fileNames, options: config.options });
  const problems: string[] = config.errors.map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
  problems.push(...program.getGlobalDiagnostics().map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n")));
  for (const { group, path } of modules) {
    const source = program.getSourceFile(path);
    if (source === undefined) {
      problems.push(`${group.file}:${group.line}: not part of the program`);
      continue;
    }
    for (const d of [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)]) {
      const { line, character } = source.getLineAndCharacterOfPosition(d.start ?? 0);
      const at = group.lines[line]?.line ?? group.line;
      problems.push(`${group.file}:${at}:${character + 1} (block at line ${group.line}) TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
    }
  }
  return problems;
}

function listeningServers(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === "TCPServerWrap").length;
}

describe("docs code", () => {
  // Scratch folders outlive their block: a child process started there (esbuild's service) keeps it as its cwd.
  const scratches: string[] = [];
  afterAll(() => {
    for (const scratch of scratches) rmSync(scratch, { recursive: true, force: true });
  });

  it("every fence names its language, and code blocks name a known mode", () => {
    expect(conventionErrors).toEqual([]);
    expect(groups.length).toBeGreaterThan(10);
  });

  it("every ts and js block typechecks against the workspace packages", { timeout: 120_000 }, () => {
    expect(typecheck()).toEqual([]);
  });

  for (const { group, path } of modules.filter((m) => m.group.mode === "run")) {
    // A block may start a host (PGlite, a worker pool): seconds on a quiet machine, minutes on a crowded one.
    it(`runs ${group.file}:${group.line}`, { timeout: 240_000 }, async () => {
      // Each block runs in a scratch folder of its own (files it writes go there), where the repository's
      // examples are reachable as in the repository root.
      const scratch = mkdtempSync(join(tmpdir(), "annex-docs-"));
      scratches.push(scratch);
      symlinkSync(join(root, "examples"), join(scratch, "examples"));
      const cwd = process.cwd();
      await new Promise((resolve) => setImmediate(resolve));
      const servers = listeningServers();
      process.chdir(scratch);
      try {
        await import(pathToFileURL(path).href);
      } finally {
        process.chdir(cwd);
      }
      // A closed server leaves the list once its handle and the sockets it ended are released.
      for (let i = 0; i < 40 && listeningServers() > servers; i++) await new Promise((resolve) => setTimeout(resolve, 50));
      // A block that starts a server closes it (in sight, or in a docs-test:teardown comment).
      expect(listeningServers(), `${group.file}:${group.line} left a server listening`).toBe(servers);
    });
  }
});
