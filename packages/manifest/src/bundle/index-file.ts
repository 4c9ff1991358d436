import { bytesEqual, decodeUtf8, utf8 } from "../crypto/bytes.js";
import { sha256Hex } from "../crypto/sha256.js";
import { BundleError } from "./errors.js";
import type { BundleLimits } from "./limits.js";
import { INDEX_PATH, comparePaths } from "./paths.js";
import type { BundleIndex, BundleIndexEntry, ContentHash } from "./types.js";

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * The one byte sequence an index may have: keys in a fixed order, files
 * sorted by path, no whitespace. Both the content hash and the reader's
 * canonical check are defined over exactly these bytes.
 */
export function serializeIndex(index: BundleIndex): Uint8Array {
  const files = [...index.files]
    .sort((a, b) => comparePaths(a.path, b.path))
    .map(({ path, size, sha256 }) => ({ path, size, sha256 }));
  return utf8(JSON.stringify({ indexVersion: index.indexVersion, files }));
}

/** `sha256:<hex>` of the canonical serialisation of `index`. */
export async function computeContentHash(index: BundleIndex): Promise<ContentHash> {
  return `sha256:${await sha256Hex(serializeIndex(index))}`;
}

function formatError(message: string, details: Record<string, unknown> = {}): BundleError {
  return new BundleError("E_BUNDLE_FORMAT", `${INDEX_PATH} ${message}; repack the bundle with \`annex pack\`.`, {
    reason: "bad-index",
    path: INDEX_PATH,
    ...details,
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function hasExactly(value: Record<string, unknown>, keys: string[]): boolean {
  const own = Object.keys(value);
  return own.length === keys.length && keys.every((key) => Object.hasOwn(value, key));
}

/**
 * The longest canonical index of `entries` files under paths of at most
 * `maxPathLength` UTF-8 bytes: per entry the fixed keys, the path (a byte at
 * most escaped to two: control characters and "\\" are not allowed in bundle
 * paths, '"' is), a size of up to 16 digits and the hash.
 */
function maxIndexBytes(entries: number, maxPathLength: number): number {
  const envelope = '{"indexVersion":1,"files":[]}'.length;
  const entry = '{"path":"","size":,"sha256":""},'.length + 2 * maxPathLength + 16 + 64;
  return envelope + entries * entry;
}

function tooManyFiles(message: string, limits: Pick<BundleLimits, "maxFiles">, details: Record<string, unknown>): BundleError {
  return new BundleError("E_BUNDLE_LIMIT", `${INDEX_PATH} ${message} (maxFiles ${limits.maxFiles}, the index included).`, {
    reason: "too-many-files",
    path: INDEX_PATH,
    limit: "maxFiles",
    max: limits.maxFiles,
    ...details,
  });
}

/** Refuses an index longer than any index of as many files as a bundle may hold can be. */
export function checkIndexSize(size: number, limits: Pick<BundleLimits, "maxFiles" | "maxPathLength">): void {
  if (size > maxIndexBytes(limits.maxFiles - 1, limits.maxPathLength)) {
    throw tooManyFiles(`is ${size} bytes, longer than an index of as many files as a bundle may hold can be`, limits, { actualBytes: size });
  }
}

/**
 * Parses the index stored in a bundle and refuses any spelling other than
 * the canonical one: a reader that accepted two spellings of one index
 * would give one set of files two content hashes.
 *
 * With `limits`, an index listing more files than maxFiles allows (or longer
 * than any such index can be) is refused before it is parsed or sorted: the
 * index is one file of up to maxFileBytes, which could otherwise list
 * hundreds of thousands of files, each parsed and NFC-compared in the
 * canonical sort before the first missing one is noticed.
 */
export function parseIndex(bytes: Uint8Array, limits?: Pick<BundleLimits, "maxFiles" | "maxPathLength">): BundleIndex {
  const maxEntries = limits === undefined ? Number.POSITIVE_INFINITY : limits.maxFiles - 1;
  if (limits !== undefined) checkIndexSize(bytes.length, limits);
  let value: unknown;
  try {
    value = JSON.parse(decodeUtf8(bytes));
  } catch (cause) {
    throw new BundleError("E_BUNDLE_FORMAT", `${INDEX_PATH} is not valid UTF-8 JSON; repack the bundle with \`annex pack\`.`, {
      reason: "bad-index",
      path: INDEX_PATH,
    }, { cause });
  }
  if (!isRecord(value) || !hasExactly(value, ["indexVersion", "files"])) {
    throw formatError('must be an object with exactly "indexVersion" and "files"');
  }
  if (value.indexVersion !== 1) throw formatError(`has indexVersion ${JSON.stringify(value.indexVersion)}; this reader knows only 1`);
  if (!Array.isArray(value.files)) throw formatError('has "files" that is not an array');
  if (limits !== undefined && value.files.length > maxEntries) {
    throw tooManyFiles(`lists ${value.files.length} files, more than a bundle may hold`, limits, { actual: value.files.length });
  }
  const files: BundleIndexEntry[] = value.files.map((entry: unknown, i: number) => {
    const at = `files[${i}]`;
    if (!isRecord(entry) || !hasExactly(entry, ["path", "size", "sha256"])) {
      throw formatError(`${at} must be an object with exactly "path", "size" and "sha256"`, { field: at });
    }
    const { path, size, sha256 } = entry;
    if (typeof path !== "string") throw formatError(`${at}.path is not a string`, { field: `${at}.path` });
    if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
      throw formatError(`${at}.size is not a non-negative integer`, { field: `${at}.size` });
    }
    if (typeof sha256 !== "string" || !SHA256_HEX.test(sha256)) {
      throw formatError(`${at}.sha256 is not 64 lowercase hex digits`, { field: `${at}.sha256` });
    }
    return { path, size, sha256 };
  });
  const index: BundleIndex = { indexVersion: 1, files };
  const canonical = serializeIndex(index);
  if (!bytesEqual(canonical, bytes)) {
    throw formatError("is not in canonical form (sorted by path, fixed key order, no whitespace)", { reason: "index-not-canonical" });
  }
  return index;
}
