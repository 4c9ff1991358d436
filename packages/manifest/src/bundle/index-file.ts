import { bytesEqual, decodeUtf8, utf8 } from "../crypto/bytes.js";
import { sha256Hex } from "../crypto/sha256.js";
import { BundleError } from "./errors.js";
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
 * Parses the index stored in a bundle and refuses any spelling other than
 * the canonical one: a reader that accepted two spellings of one index
 * would give one set of files two content hashes.
 */
export function parseIndex(bytes: Uint8Array): BundleIndex {
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
