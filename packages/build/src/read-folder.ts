import { lstat, readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { BundleError, DEFAULT_BUNDLE_LIMITS } from "@annex/manifest";
import ignore, { type Ignore } from "ignore";
import { BuildError } from "./errors.js";
import { formatBytes } from "./format-bytes.js";

/**
 * Never packed, whatever .annexignore says: dependencies, hidden files and
 * folders (.git, .env, .annexignore itself — bundle paths cannot be hidden
 * anyway), previous bundles and signatures, and what is named like key
 * material or credentials. A user's negation (`!…`) cannot bring these back.
 * Matched without regard to case (ACME.KEY too).
 *
 * Certificates alone (`*.crt`, `*.cer`, `*.der`) are public and stay packable,
 * for an extension that ships a CA; `*.pem` is not, as it often holds the
 * private key too. `*.pub` stays out as before: it is mostly found next to
 * its private half (id_rsa.pub, acme_1.pub), and left out with it.
 */
export const DEFAULT_IGNORES: readonly string[] = [
  "node_modules/",
  ".*",
  "*.annex",
  "*.annex.sig",
  // Private keys and the containers that hold them.
  "*.key",
  "*.key.*",
  "*.pub",
  "*.pem",
  "*.p12",
  "*.pfx",
  "*.ppk",
  "*.jks",
  "*.keystore",
  "id_rsa",
  "id_dsa",
  "id_ecdsa",
  "id_ecdsa_sk",
  "id_ed25519",
  "id_ed25519_sk",
  // Environment files not hidden by a leading dot (prod.env, env.local), and cloud credentials.
  "*.env",
  "env.local",
  "*.env.local",
  "credentials.json",
  "service-account*.json",
  "client_secret*.json",
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
 * two names that differ only by case or Unicode normalisation. A file over
 * the bundle's per-file limit, or one that takes the total over it, is
 * E_BUNDLE_LIMIT from its size, before any file is read: a folder with a
 * stray video or disk image is refused at once, not after reading gigabytes
 * (Node cannot even read a file over 2 GiB into one buffer).
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
  const seen = new Map<string, string>();
  // The whole folder is checked (names, types, sizes) before any file is read.
  const found: { path: string; absolute: string }[] = [];
  let total = 0;

  const walk = async (absolute: string, relative: string): Promise<void> => {
    const entries = await readdir(absolute, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const path = relative === "" ? entry.name : `${relative}/${entry.name}`;
      const isDir = entry.isDirectory();
      // A link is left out by the patterns of a folder too: a workspace links node_modules (pnpm, npm link), and
      // "node_modules/" matched only a real folder, so the link was refused although node_modules is never packed.
      if (filter.ignores(path, isDir) || (entry.isSymbolicLink() && filter.ignores(path, true))) continue;
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
        const { size } = await lstat(child);
        checkSize(path, size, total);
        total += size;
        found.push({ path: normalised, absolute: child });
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
  const files = new Map<string, Uint8Array>();
  let bytes = 0;
  for (const { path, absolute } of found) {
    const content = new Uint8Array(await readFile(absolute));
    files.set(path, content);
    bytes += content.byteLength;
    if (files.size % 500 === 0) options.onProgress?.(`read ${files.size} files (${formatBytes(bytes)})…`);
  }
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
    user.add(await readIgnoreFile(dir, ignoreFile));
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

/**
 * The ignore file's text; "" when there is none. A link to a regular file is
 * read (its text is only patterns, never packed: `.annexignore -> .gitignore`
 * is fine); anything else is refused before it is opened, as reading a FIFO
 * or a device would hang or never end.
 */
async function readIgnoreFile(dir: string, name: string): Promise<string> {
  const path = join(dir, name);
  const fail = (error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return null;
    throw new BuildError("E_IO", `cannot read ${name} in ${dir}: ${error.message}`, { path: name }, { cause: error });
  };
  const info = await stat(path).catch(fail);
  if (info === null) return "";
  if (!info.isFile()) {
    throw new BuildError("E_PACK_PATH", `${name} in ${dir} is not a regular file (a folder, FIFO, socket or device): make it a text file of ignore patterns, or remove it.`, {
      path: name,
    });
  }
  return (await readFile(path, "utf8").catch(fail)) ?? "";
}

/** The bundle limits, checked from the file's size before its bytes are read: `total` is the size of the files found before it. */
function checkSize(path: string, size: number, total: number): void {
  const { maxFileBytes, maxUncompressedBytes } = DEFAULT_BUNDLE_LIMITS;
  if (size > maxFileBytes) {
    throw new BundleError(
      "E_BUNDLE_LIMIT",
      `"${path}" is ${formatBytes(size)}, over the limit of ${formatBytes(maxFileBytes)} for one file of a bundle (maxFileBytes): add it to .annexignore, or make it smaller.`,
      { reason: "file-too-large", path, limit: "maxFileBytes", max: maxFileBytes, actual: size },
    );
  }
  if (total + size > maxUncompressedBytes) {
    throw new BundleError(
      "E_BUNDLE_LIMIT",
      `the folder's files add up to more than ${formatBytes(maxUncompressedBytes)} (maxUncompressedBytes) at "${path}": add large files to .annexignore.`,
      { reason: "too-many-bytes", path, limit: "maxUncompressedBytes", max: maxUncompressedBytes, actual: total + size },
    );
  }
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
