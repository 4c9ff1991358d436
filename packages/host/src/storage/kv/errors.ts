import { AnnexError } from "@annex/manifest";

export type KvErrorCode =
  /** A write would pass one of the install's kv quotas; `details.limit` names it (keyBytes, valueBytes, keys, totalBytes). */
  | "E_KV_QUOTA_EXCEEDED"
  /** A compare-and-set (`ifVersion`) found another version: someone else wrote the key first. */
  | "E_KV_VERSION_CONFLICT"
  /** A key or prefix is not a storable key: empty, control characters, lone surrogates. */
  | "E_KV_INVALID_KEY"
  /** A value is not JSON (bytes, functions, non-finite numbers) or nests too deeply. */
  | "E_KV_INVALID_VALUE"
  /** A list cursor this store did not hand out. */
  | "E_KV_INVALID_CURSOR"
  /** Options are malformed: of a call (ttlSeconds, ifVersion, limit) or of the host's kv policy. */
  | "E_KV_OPTIONS";

/**
 * A kv call was refused. It reaches the guest as a host-call error with this
 * code and message, so the message names the limit and what to do.
 */
export class KvError extends AnnexError {
  declare readonly code: KvErrorCode;

  constructor(code: KvErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
  }
}
