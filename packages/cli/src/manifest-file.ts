import { join } from "node:path";
import { parseManifestText, type Manifest, type ManifestIssue } from "@annex/manifest";
import { CliError } from "./errors.js";
import { readInputText } from "./fs-utils.js";
import { createJsonLocator } from "./json-location.js";

export interface ManifestFile {
  /** Absolute path of annex.json. */
  path: string;
  text: string;
  manifest: Manifest;
}

export interface LocatedIssue {
  line: number;
  column: number;
  path: string;
  message: string;
}

/** `file:line:col path: message`, the format editors and CI annotate from. */
export function formatLocatedIssue(file: string, issue: LocatedIssue): string {
  return `${file}:${issue.line}:${issue.column} ${issue.path === "" ? "(manifest)" : issue.path}: ${issue.message}`;
}

/**
 * Gives every issue a line and column: the one parseManifestText found, or,
 * for the CLI's own checks, the JSON location its path names (the nearest
 * existing parent for a missing field).
 */
export function locateIssues(text: string, issues: readonly ManifestIssue[]): LocatedIssue[] {
  let locate: ReturnType<typeof createJsonLocator> | null = null;
  return issues.map((issue) => {
    if (issue.line !== undefined && issue.column !== undefined) {
      return { line: issue.line, column: issue.column, path: issue.path, message: issue.message };
    }
    try {
      locate ??= createJsonLocator(text);
      const where = locate(issue.path);
      return { line: where.line, column: where.column, path: issue.path, message: issue.message };
    } catch {
      return { line: 1, column: 1, path: issue.path, message: issue.message };
    }
  });
}

/** Reads `<dir>/annex.json` as text; a missing file says how to create one. */
export async function readManifestText(file: string, shown: string): Promise<string> {
  try {
    return await readInputText(file, "manifest", shown);
  } catch (error) {
    if (error instanceof CliError && error.code === "E_FILE_NOT_FOUND") {
      throw new CliError(
        "E_FILE_NOT_FOUND",
        `${shown} does not exist: an extension folder has annex.json at its root (annex init <dir> creates one).`,
        { path: shown },
        { cause: error },
      );
    }
    throw error;
  }
}

/** Reads and checks `<dir>/annex.json`; problems throw ManifestError (E_MANIFEST) from @annex/manifest. */
export async function loadManifestFile(dir: string, shown: string): Promise<ManifestFile> {
  const path = join(dir, "annex.json");
  const text = await readManifestText(path, shown);
  return { path, text, manifest: parseManifestText(text, { source: shown }) };
}
