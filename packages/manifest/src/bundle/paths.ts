import { utf8Length } from "../crypto/bytes.js";
import { BundleError } from "./errors.js";
import type { BundleLimits } from "./limits.js";

/** The index's own path inside the archive; packBundle writes it, no input file may use it. */
export const INDEX_PATH = "annex.index.json";
export const MANIFEST_PATH = "annex.json";

// C0 controls, DEL, C1 controls and lone surrogates. U+FFFD is what a tar
// reader makes of bytes that are not UTF-8, so a name containing it was not
// valid UTF-8 to begin with.
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are exactly what is refused.
const FORBIDDEN_CHARACTER = /[\u0000-\u001f\u007f-\u009f\ufffd]|\p{Cs}/u;
const DRIVE_LETTER = /^[A-Za-z]:/;

function pathError(path: string, rule: string, message: string): BundleError {
  return new BundleError("E_BUNDLE_PATH", `Bundle path ${JSON.stringify(path)} ${message}`, { reason: rule, path });
}

/** Folders deep a bundle path may be, its file name included. */
export const MAX_PATH_SEGMENTS = 32;

/**
 * Throws unless `path` is a relative POSIX path that means the same file on
 * every filesystem an extension could be unpacked to: no leading "/", no
 * drive letter, no backslash, no "." or ".." or empty segment, no control
 * characters, no segment ending in "." or " " (Windows drops those, so
 * "a." and "a" would be one file), in Unicode NFC (the form hosts look
 * assets up by), at most `maxPathLength` UTF-8 bytes and at most
 * MAX_PATH_SEGMENTS segments.
 */
export function checkBundlePath(path: string, limits: Pick<BundleLimits, "maxPathLength">): void {
  if (path.length === 0) throw pathError(path, "empty", "is empty; every entry needs a file name.");
  const length = utf8Length(path);
  if (length > limits.maxPathLength) {
    throw new BundleError(
      "E_BUNDLE_LIMIT",
      `Bundle path ${JSON.stringify(path.slice(0, 64))}… is ${length} bytes long, over the limit of ${limits.maxPathLength} (maxPathLength); shorten it or raise the limit.`,
      { reason: "path-too-long", path, limit: "maxPathLength", max: limits.maxPathLength, actual: length },
    );
  }
  if (FORBIDDEN_CHARACTER.test(path)) {
    throw pathError(path, "control-character", "contains a control character or bytes that are not UTF-8; rename the file.");
  }
  const nfc = path.normalize("NFC");
  if (nfc !== path) {
    // Hosts look assets up by the NFC form of the requested path, so an NFD name could never be served.
    throw new BundleError(
      "E_BUNDLE_PATH",
      `Bundle path ${JSON.stringify(path)} is not in Unicode NFC form (it holds decomposed characters, as macOS file names often do), so hosts, which look files up by their NFC name, could never serve it. Store it under path.normalize("NFC"); \`annex pack\` does this for you.`,
      { reason: "not-nfc", path, nfc },
    );
  }
  if (path.includes("\\")) throw pathError(path, "backslash", "contains a backslash; use '/' to separate folders.");
  if (path.startsWith("/")) throw pathError(path, "absolute", "is absolute; bundle paths are relative to the bundle root.");
  if (DRIVE_LETTER.test(path)) throw pathError(path, "absolute", "starts with a drive letter; bundle paths are relative to the bundle root.");
  const segments = path.split("/");
  if (segments.length > MAX_PATH_SEGMENTS) {
    // What a reader keeps per file grows with its depth: 10,000 paths of 127 segments each, within every other limit, held ~180 MB.
    throw pathError(path, "too-deep", `has ${segments.length} segments, over the ${MAX_PATH_SEGMENTS} a bundle path may have; flatten its folders.`);
  }
  for (const segment of segments) {
    if (segment === "") throw pathError(path, "empty-segment", "has an empty segment ('//' or a trailing '/').");
    if (segment === "." || segment === "..") {
      throw pathError(path, "dot-segment", `has a '${segment}' segment; bundle paths may not step out of or around folders.`);
    }
    if (segment.endsWith(".") || segment.endsWith(" ")) {
      throw pathError(path, "trailing-dot-or-space", "has a segment ending in '.' or ' ', which Windows silently drops.");
    }
  }
}

/**
 * The key two paths share when some filesystem would store them as one file:
 * Unicode NFC, then case folded. Lower-casing alone is not a fold: "ſ", "ı",
 * "µ" and "ς" stay apart from "s", "i", "μ" and "σ" though case-insensitive
 * filesystems merge them, so the path goes through upper case first (which
 * also folds "ß" into "ss": a stricter check than NTFS, never a looser one).
 */
export function collisionKey(path: string): string {
  return path.normalize("NFC").toUpperCase().toLowerCase().normalize("NFC");
}

/** Sorting order of the index and the archive: UTF-16 code units of the NFC form. */
export function comparePaths(a: string, b: string): number {
  const x = a.normalize("NFC");
  const y = b.normalize("NFC");
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Admits a bundle's entries one at a time, refusing bad paths, duplicates (by
 * collision key) and a file that would sit where another entry needs a
 * folder, and counting against the limits before any body is kept.
 */
export class EntryChecker {
  readonly #limits: BundleLimits;
  /**
   * Files and folders by `<parent folder's number>/<segment>` (collision keys; the root is 0): a folder's
   * number n > 0, a file's -n; `#users[n - 1]` is the file's path, or the first path that needed the folder.
   */
  readonly #nodes = new Map<string, number>();
  readonly #users: string[] = [];
  #entries = 0;
  #totalBytes = 0;

  constructor(limits: BundleLimits) {
    this.#limits = limits;
  }

  /** The limits this checker counts against. */
  get limits(): Readonly<BundleLimits> {
    return this.#limits;
  }

  /**
   * A directory entry: counted, path-checked and recorded as a folder, so that no file may have its name
   * (a folder `annex.json/` beside the file `annex.json` is two things at one path that tar readers and
   * file systems settle differently). Bundles list files only; the folder is not kept.
   */
  directory(name: string): void {
    this.#count(name);
    const path = name.endsWith("/") ? name.slice(0, -1) : name;
    checkBundlePath(path, this.#limits);
    const segments = collisionKey(path).split("/");
    this.#folders(segments, segments.length, path);
  }

  file(path: string, size: number): void {
    this.#count(path);
    checkBundlePath(path, this.#limits);
    const limits = this.#limits;
    if (size > limits.maxFileBytes) {
      throw new BundleError(
        "E_BUNDLE_LIMIT",
        `Bundle file ${JSON.stringify(path)} is ${size} bytes, over the limit of ${limits.maxFileBytes} (maxFileBytes).`,
        { reason: "file-too-large", path, limit: "maxFileBytes", max: limits.maxFileBytes, actual: size },
      );
    }
    this.#totalBytes += size;
    if (this.#totalBytes > limits.maxUncompressedBytes) {
      throw new BundleError(
        "E_BUNDLE_LIMIT",
        `Bundle files add up to more than ${limits.maxUncompressedBytes} bytes (maxUncompressedBytes) at ${JSON.stringify(path)}.`,
        { reason: "too-many-bytes", path, limit: "maxUncompressedBytes", max: limits.maxUncompressedBytes, actual: this.#totalBytes },
      );
    }
    this.#admit(path);
  }

  #count(path: string): void {
    this.#entries += 1;
    if (this.#entries > this.#limits.maxFiles) {
      throw new BundleError(
        "E_BUNDLE_LIMIT",
        `Bundle has more than ${this.#limits.maxFiles} entries (maxFiles); the limit was reached at ${JSON.stringify(path)}.`,
        { reason: "too-many-files", path, limit: "maxFiles", max: this.#limits.maxFiles },
      );
    }
  }

  /**
   * Records a file and the folders its path needs, refusing duplicates and a
   * name used as both a file and a folder. Each folder is known by its
   * parent's number and its own segment, so a path costs its own length
   * whatever its depth (prefix strings cost depth × length: 7 s for 10,000
   * paths of 127 segments).
   */
  #admit(path: string): void {
    const segments = collisionKey(path).split("/");
    const parent = this.#folders(segments, segments.length - 1, path);
    const key = `${parent}/${segments[segments.length - 1]}`;
    const node = this.#nodes.get(key);
    if (node !== undefined && node > 0) {
      const folderUser = this.#users[node - 1]!;
      throw new BundleError(
        "E_BUNDLE_PATH",
        `Bundle path ${JSON.stringify(path)} is a file, but ${JSON.stringify(folderUser)} needs it to be a folder.`,
        { reason: "file-folder-clash", path, other: folderUser },
      );
    }
    if (node !== undefined) {
      const existing = this.#users[-node - 1]!;
      const same = existing === path;
      throw new BundleError(
        "E_BUNDLE_PATH",
        same
          ? `Bundle path ${JSON.stringify(path)} appears twice.`
          : `Bundle paths ${JSON.stringify(existing)} and ${JSON.stringify(path)} differ only by Unicode normalisation or case; one filesystem would store them as one file. Rename one.`,
        { reason: "duplicate", path, other: existing },
      );
    }
    this.#nodes.set(key, -this.#users.push(path));
  }

  /** Records the first `count` segments as folders (for `path`), refusing one that is a file; returns the last one's number. */
  #folders(segments: readonly string[], count: number, path: string): number {
    let parent = 0;
    for (let i = 0; i < count; i++) {
      const key = `${parent}/${segments[i]}`;
      const node = this.#nodes.get(key);
      if (node === undefined) {
        parent = this.#users.push(path);
        this.#nodes.set(key, parent);
      } else if (node < 0) {
        const clash = this.#users[-node - 1]!;
        throw new BundleError("E_BUNDLE_PATH", `Bundle path ${JSON.stringify(path)} needs ${JSON.stringify(clash)} to be a folder, but it is a file.`, {
          reason: "file-folder-clash",
          path,
          other: clash,
        });
      } else {
        parent = node;
      }
    }
    return parent;
  }
}
