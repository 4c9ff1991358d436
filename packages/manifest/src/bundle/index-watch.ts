import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { bytesEqual, toHex } from "../crypto/bytes.js";
import { BundleError, hashMismatch, notInIndex, sizeMismatch } from "./errors.js";
import { checkIndexSize, parseIndex } from "./index-file.js";
import type { BundleLimits } from "./limits.js";
import { INDEX_PATH } from "./paths.js";
import type { FileWatch } from "./tar-walk.js";
import type { BundleIndex, ContentHash } from "./types.js";

/**
 * Holds a bundle to its index while it inflates: `annex pack` writes the
 * index first, so once it has arrived every later header can be checked
 * against it, and an archive that strays (a file the index does not list, or
 * of another size) stops at that header instead of after inflating whole.
 * Given the content hash a signature vouches for, the index itself is
 * checked against it as soon as it arrives: a public signature replayed
 * beside a bomb then costs the host one index, not the bomb.
 *
 * Only what the header says is checked here; hashes, missing files and the
 * index's own rules stay with `readBundle`'s checks after inflating.
 */
export class IndexWatch implements FileWatch {
  readonly #limits: Pick<BundleLimits, "maxFiles" | "maxPathLength">;
  readonly #contentHash: ContentHash | undefined;
  #sizes: Map<string, number> | null = null;
  #index: { bytes: Uint8Array; index: BundleIndex } | null = null;
  #files = 0;

  constructor(limits: Pick<BundleLimits, "maxFiles" | "maxPathLength">, contentHash?: ContentHash) {
    this.#limits = limits;
    this.#contentHash = contentHash;
  }

  file(name: string, size: number): boolean {
    this.#files += 1;
    if (this.#files === 1) {
      if (name !== INDEX_PATH) throw indexNotFirst(name);
      checkIndexSize(size, this.#limits);
      return true;
    }
    const sizes = this.#sizes;
    // Not yet parsed only if the index's body never arrived before this header, which a tar cannot do.
    if (sizes === null) return false;
    const listed = sizes.get(name);
    if (listed === undefined) throw notInIndex(name);
    if (listed !== size) throw sizeMismatch(name, size, listed);
    return false;
  }

  body(_name: string, bytes: Uint8Array): void {
    const expected = this.#contentHash;
    if (expected !== undefined) {
      // Synchronous (the walk runs inside the decompressor's callback), and of the index alone.
      const actual = `sha256:${toHex(nobleSha256(bytes))}`;
      if (actual !== expected) throw contentHashMismatch(expected, actual);
    }
    // A non-canonical index is refused here as readBundle would refuse it later.
    const index = parseIndex(bytes, this.#limits);
    this.#index = { bytes, index };
    this.#sizes = new Map(index.files.map((entry) => [entry.path, entry.size]));
  }

  /** The index parsed from `bytes`: the one parsed while inflating when it was of these very bytes, else parsed now. */
  parse(bytes: Uint8Array): BundleIndex {
    const seen = this.#index;
    return seen !== null && bytesEqual(seen.bytes, bytes) ? seen.index : parseIndex(bytes, this.#limits);
  }
}

/** The bundle's content hash (its index's sha256) is not the one expected. */
export function contentHashMismatch(expected: string, actual: string): BundleError {
  return hashMismatch(INDEX_PATH, "content-hash", `The bundle's content hash is ${actual}, not the expected ${expected}; it is another bundle, or it changed.`, {
    expected,
    actual,
  });
}

/** The bundle's first file is not the index (`annex pack` writes it first). */
export function indexNotFirst(first: string): BundleError {
  return new BundleError(
    "E_BUNDLE_FORMAT",
    `The bundle's first file is ${JSON.stringify(first)}, not ${INDEX_PATH}: it was not made by \`annex pack\`, which writes the index first. Repack the bundle with \`annex pack\`.`,
    { reason: "missing-index", path: INDEX_PATH, first },
  );
}
