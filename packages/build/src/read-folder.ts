import { lstat, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import ignore, { type Ignore } from "ignore";
import { BuildError } from "./errors.js";
import { formatBytes } from "./format-bytes.js";

/**
 * Never packed, whatever .annexignore says: dependencies, hidden files and
 * folders (.git, .env, .annexignore itself — bundle paths cannot be hidden
 * anyway), previous bundles and signatures, and key material. A user's
 * negation (`!…`) cannot bring these back.
 */
export const DEFAULT_IGNORES: readonly string[] = [
  "node_modules/",
  ".*",
  "*.annex",
  "*.annex.sig",
  "*.key",
  "*.pub",
  "*.pem",
  "Thumbs.db",
];

/** The folder whose files are left out unless `keep` names them (build output the manifest points into). */
const BUILD_OUTPUT_DIR = "dist";

export interface ReadFolderOptions {
  /** gitignore-style patterns applied after the folder's ignore file. */
  ignore?: readonly string[];
  /** Name of the ignore file at the folder root; `false` to read none. Default `.annexignore`. */
  ignoreFile?: string | false;
  /**
   * Paths (files or folders, POSIX, relative) under `dist/` that are read
   * anyway: the files the manifest needs. Everything else in `dist/` is left out.
   */
  keep?: readonly string[];
  /** Called with a progress line every few hundred files, for big folders. */
  onProgress?: (message: string) => void;
}

/**
 * Reads a folder into a map of POSIX path (NFC, relative, sorted) → bytes,
 * honouring DEFAULT_IGNORES, the folder's `.annexignore` and `options.ignore`.
 * Refuses what a bundle cannot hold, with E_PACK_PATH naming the path:
 * symlinks, special files, backslashes or control characters in names, and
 * two names that differ only by case or Unicode normalisation.
 */
export async function readFolder(dir: string, options: ReadFolderOptions = {}): Promise<Map<string, Uint8Array>> {
  const stats = await lstat(dir).catch(() => null);
  if (stats === null) {
    throw new BuildError("E_FILE_NOT_FOUND", `folder ${dir} does not exist: check the path.`, { path: dir });
  }
  if (!stats.isDirectory()) {
    throw new BuildError("E_IO", `${dir} is not a folder: pass the extension's folder (the one holding annex.json).`, { path: dir });
  }

  const filter = await createFilter(dir, options);
  const files = new Map<string, Uint8Array>();
  const seen = new Map<string, string>();
  let bytes = 0;

  const walk = async (absolute: string, relative: string): Promise<void> => {
    const entries = await readdir(absolute, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const path = relative === "" ? entry.name : `${relative}/${entry.name}`;
      const isDir = entry.isDirectory();
      if (filter.ignores(path, isDir)) continue;
      checkName(path);
      const normalised = path.normalize("NFC");
      const clashKey = normalised.toLowerCase();
      const clash = seen.get(clashKey);
      if (clash !== undefined) {
        throw new BuildError(
          "E_PACK_PATH",
          `"${path}" and "${clash}" differ only by case or Unicode normalisation, and a bundle must not hold both: rename one.`,
          { path, clash },
        );
      }
      seen.set(clashKey, path);
      const child = join(absolute, entry.name);
      if (entry.isSymbolicLink()) {
        throw new BuildError(
          "E_PACK_PATH",
          `"${path}" is a symbolic link; bundles hold regular files only: replace it with a copy of its target, or add it to .annexignore.`,
          { path },
        );
      }
      if (isDir) {
        await walk(child, path);
      } else if (entry.isFile()) {
        const content = new Uint8Array(await readFile(child));
        files.set(normalised, content);
        bytes += content.byteLength;
        if (files.size % 500 === 0) options.onProgress?.(`read ${files.size} files (${formatBytes(bytes)})…`);
      } else {
        throw new BuildError(
          "E_PACK_PATH",
          `"${path}" is not a regular file (socket, FIFO or device); add it to .annexignore.`,
          { path },
        );
      }
    }
  };

  await walk(dir, "");
  return new Map([...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

interface PathFilter {
  ignores(path: string, isDir: boolean): boolean;
}

async function createFilter(dir: string, options: ReadFolderOptions): Promise<PathFilter> {
  const fixed = ignore().add([...DEFAULT_IGNORES]);
  const user: Ignore = ignore();
  const ignoreFile = options.ignoreFile ?? ".annexignore";
  if (ignoreFile !== false) {
    const text = await readFile(join(dir, ignoreFile), "utf8").catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return "";
      throw new BuildError("E_IO", `cannot read ${ignoreFile} in ${dir}: ${error.message}`, { path: ignoreFile }, { cause: error });
    });
    user.add(text);
  }
  if (options.ignore) user.add([...options.ignore]);
  const keep = (options.keep ?? []).map((path) => path.replace(/^\.?\/+/, "").replace(/\/+$/, ""));

  const kept = (path: string, isDir: boolean) =>
    keep.some((k) => path === k || path.startsWith(`${k}/`) || (isDir && k.startsWith(`${path}/`)));

  return {
    ignores(path, isDir) {
      // `ignore` matches folder patterns (`foo/`) only against paths ending in a slash.
      const subject = isDir ? `${path}/` : path;
      if (fixed.ignores(subject)) return true;
      const inBuildOutput = path === BUILD_OUTPUT_DIR || path.startsWith(`${BUILD_OUTPUT_DIR}/`);
      if (inBuildOutput && !kept(path, isDir)) return true;
      return user.ignores(subject);
    },
  };
}

function checkName(path: string): void {
  if (path.includes("\\")) {
    throw new BuildError("E_PACK_PATH", `"${path}" has a backslash in its name, which bundles forbid: rename it.`, { path });
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) {
    throw new BuildError("E_PACK_PATH", `${JSON.stringify(path)} has a control character in its name: rename it.`, { path });
  }
}
