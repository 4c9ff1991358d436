import { isAbsolute, relative } from "node:path";

/** Whether `path` (absolute) lies strictly inside `dir` (absolute). */
export function isInside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel);
}

/** Whether a POSIX bundle path is `root` itself or below it. */
export function isUnder(path: string, root: string): boolean {
  return path === root || path.startsWith(`${root}/`);
}

/** Code-unit order, the order bundles and their index use. */
export function comparePaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The map with its keys in code-unit order, so that whatever is built from it is the same every time. */
export function sortedFiles(files: ReadonlyMap<string, Uint8Array>): Map<string, Uint8Array> {
  return new Map([...files].sort(([a], [b]) => comparePaths(a, b)));
}
