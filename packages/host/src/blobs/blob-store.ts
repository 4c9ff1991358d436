import { AnnexError } from "@annex/manifest";

/**
 * Where bundle archives live, addressed by their content hash
 * (`sha256:<64 hex>`, the hash of the bundle's canonical index). The registry
 * verifies every blob it reads, so a store only has to keep bytes.
 */
export interface BlobStore {
  /** Stores the bytes under `hash`; true when they were new, false when the hash was already stored. */
  put(hash: string, bytes: Uint8Array): Promise<boolean>;
  /** The bytes stored under `hash`, or null. */
  get(hash: string): Promise<Uint8Array | null>;
  has(hash: string): Promise<boolean>;
  /** Removes the blob; a missing blob is not an error. */
  delete(hash: string): Promise<void>;
}

export type BlobStoreErrorCode = "E_BLOB_KEY";

export class BlobStoreError extends AnnexError {
  declare readonly code: BlobStoreErrorCode;

  constructor(code: BlobStoreErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
  }
}

const CONTENT_HASH = /^sha256:[0-9a-f]{64}$/;

/** Keys become file names and SQL parameters: only exact content hashes are accepted. */
export function assertBlobKey(hash: string): string {
  if (typeof hash !== "string" || !CONTENT_HASH.test(hash)) {
    throw new BlobStoreError(
      "E_BLOB_KEY",
      `blob key must be a content hash "sha256:" followed by 64 lowercase hex digits; got ${JSON.stringify(String(hash).slice(0, 80))}`,
    );
  }
  return hash;
}
