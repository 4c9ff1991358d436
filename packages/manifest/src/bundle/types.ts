import type { Manifest } from "../manifest/schema.js";

/** One file of a bundle as the index lists it. `sha256` is lowercase hex of the file's bytes. */
export interface BundleIndexEntry {
  path: string;
  size: number;
  sha256: string;
}

/**
 * The canonical index stored in the bundle as `annex.index.json`. Files are
 * sorted by path (UTF-16 code unit order of NFC-normalised paths) and include
 * `annex.json`; the index does not list itself. The content hash is
 * `sha256:<hex>` of the canonical serialisation of this object.
 */
export interface BundleIndex {
  indexVersion: 1;
  files: BundleIndexEntry[];
}

/** `sha256:` followed by 64 lowercase hex digits. */
export type ContentHash = `sha256:${string}`;

/** A bundle read and checked against its index (not yet its signature). */
export interface Bundle {
  manifest: Manifest;
  contentHash: ContentHash;
  index: BundleIndex;
  /** Every file of the bundle except the index, by path. */
  files: ReadonlyMap<string, Uint8Array>;
}

/** Who vouched for a bundle, as found by `verifyBundle`. */
export interface Provenance {
  signed: boolean;
  mode: "strict" | "dev";
  publisher: string;
  /** null only for an unsigned bundle accepted in dev mode. */
  keyId: string | null;
  trustClass: string | null;
  contentHash: ContentHash;
  /** ISO 8601. */
  verifiedAt: string;
}

/** A bundle whose index, hashes and signature were checked; only `verifyBundle` makes these. */
export interface VerifiedBundle extends Bundle {
  provenance: Provenance;
  /** The archive exactly as verified, so that another process (worker, remote runner) can verify it again. */
  bytes: Uint8Array;
  signature: BundleSignature | null;
}

/** The detached signature stored beside a bundle as `<file>.annex.sig`. */
export interface BundleSignature {
  algorithm: "ed25519";
  keyId: string;
  publisher: string;
  contentHash: ContentHash;
  /** base64 of the 64-byte ed25519 signature. */
  signature: string;
}
