import { AnnexError } from "../errors.js";

export type BundleErrorCode = "E_BUNDLE_FORMAT" | "E_BUNDLE_LIMIT" | "E_BUNDLE_PATH" | "E_HASH_MISMATCH";

/**
 * A bundle that cannot be packed or read. `details.reason` says which rule
 * failed (stable, machine-readable); `details.path` names the file and
 * `details.limit` the limit, when there is one.
 *
 * - E_BUNDLE_FORMAT: not a gzip-compressed tar, truncated, corrupt, or the
 *   index is missing or not canonical.
 * - E_BUNDLE_LIMIT: a configurable limit was exceeded (`details.limit`).
 * - E_BUNDLE_PATH: an entry's path or type is not allowed.
 * - E_HASH_MISMATCH: the files disagree with the index (missing, extra,
 *   size or sha256 differs).
 */
export class BundleError extends AnnexError {
  declare readonly code: BundleErrorCode;

  constructor(code: BundleErrorCode, message: string, details: Record<string, unknown> & { reason: string }, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

/** Files that disagree with the index (E_HASH_MISMATCH), with what to do about it. */
export function hashMismatch(path: string, reason: string, message: string, extra: Record<string, unknown> = {}): BundleError {
  return new BundleError("E_HASH_MISMATCH", `${message} Repack the bundle with \`annex pack\`; if you did not change it, it was altered after packing.`, {
    reason,
    path,
    ...extra,
  });
}

/** A file the archive holds that the index does not list. */
export function notInIndex(path: string): BundleError {
  return hashMismatch(path, "not-in-index", `File ${JSON.stringify(path)} is in the archive but not in annex.index.json.`);
}

/** A file whose size is not the one the index lists. */
export function sizeMismatch(path: string, actual: number, listed: number): BundleError {
  return hashMismatch(path, "size", `File ${JSON.stringify(path)} is ${actual} bytes; the index says ${listed}.`, { expected: listed, actual });
}
