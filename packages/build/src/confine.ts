import type { Dirent, Stats } from "node:fs";
import { lstat, readdir, realpath } from "node:fs/promises";
import { join, relative, resolve, sep } from "node:path";
import { BuildError } from "./errors.js";
import { isInside } from "./paths.js";

/**
 * The folder's real path, so that every path esbuild reports (it resolves
 * symlinks) can be compared with it; the path as given when it has none (it
 * does not exist: the caller says so).
 */
export async function realFolder(dir: string): Promise<string> {
  return realpath(dir).catch(() => dir);
}

/** `path` as messages show it: relative to the folder (POSIX) when inside it, absolute otherwise. */
export function shownPath(root: string, path: string): string {
  return isInside(root, path) ? relative(root, path).split(sep).join("/") : path;
}

/** Whether a path relative to the folder goes through a node_modules folder: the package manager's ground, links included. */
export function inNodeModules(rel: string): boolean {
  return rel.split(sep).includes("node_modules");
}

/**
 * Cached lstat, realpath and readdir for one check: a build's imports go
 * through the same folders over and over, and each answer is asked once.
 */
export class FsProbe {
  readonly #stats = new Map<string, Promise<Stats | null>>();
  readonly #reals = new Map<string, Promise<string | null>>();
  readonly #entries = new Map<string, Promise<Dirent[]>>();

  lstat(path: string): Promise<Stats | null> {
    return cached(this.#stats, path, () => lstat(path).catch(() => null));
  }

  realpath(path: string): Promise<string | null> {
    return cached(this.#reals, path, () => realpath(path).catch(() => null));
  }

  entries(dir: string): Promise<Dirent[]> {
    return cached(this.#entries, dir, () => readdir(dir, { withFileTypes: true }).catch(() => []));
  }

  /** Whether `path` (links followed) is a regular file: how a package folder is told by its package.json. */
  async isFile(path: string): Promise<boolean> {
    const real = await this.realpath(path);
    return real !== null && (await this.lstat(real))?.isFile() === true;
  }
}

function cached<T>(map: Map<string, Promise<T>>, key: string, load: () => Promise<T>): Promise<T> {
  let value = map.get(key);
  if (value === undefined) {
    value = load();
    map.set(key, value);
  }
  return value;
}

/**
 * The first symbolic link on the way from the folder `root` to `path` (both
 * real, `path` inside `root`), or null. Stops at a missing component, and at
 * node_modules: links there are the package manager's, judged as packages.
 */
export async function firstLink(root: string, path: string, fs: FsProbe): Promise<string | null> {
  let current = root;
  for (const segment of relative(root, path).split(sep)) {
    if (segment === "node_modules") return null;
    current = join(current, segment);
    const info = await fs.lstat(current);
    if (info === null) return null;
    if (info.isSymbolicLink()) return current;
  }
  return null;
}

/**
 * Checks a file the build starts from (runtime.source, a page's script or
 * stylesheet) before esbuild opens it: true for a regular file reached
 * without a link, false when there is none (or a folder stands there); a link
 * on the way or a special file (a FIFO would hang the build) is E_PACK_PATH.
 * `subject` starts the message, e.g. `runtime.source "src/server.ts"`.
 */
export async function checkFolderFile(root: string, rel: string, subject: string): Promise<boolean> {
  const path = resolve(root, rel);
  let current = root;
  let info: Stats | undefined;
  for (const segment of relative(root, path).split(sep)) {
    current = join(current, segment);
    const stats = await lstat(current).catch(() => null);
    if (stats === null) return false;
    if (stats.isSymbolicLink()) {
      const link = shownPath(root, current);
      throw new BuildError(
        "E_PACK_PATH",
        `${subject} goes through the symbolic link ${link}; the build reads only the folder's own regular files: replace the link with a copy of its target.`,
        { path: rel, link },
      );
    }
    info = stats;
  }
  if (info === undefined || info.isDirectory()) return false;
  if (!info.isFile()) {
    throw new BuildError("E_PACK_PATH", `${subject} is not a regular file (a FIFO, socket or device): make it a regular file.`, { path: rel });
  }
  return true;
}
