import { toHex } from "../crypto/bytes.js";
import { sha256HexAll } from "../crypto/hash-all.js";
import { sha256Hex } from "../crypto/sha256.js";
import { BundleError, hashMismatch, notInIndex, sizeMismatch } from "./errors.js";
import { FrozenMap, deepFreeze } from "./frozen.js";
import { type Gunzip, gunzipWith } from "./gunzip.js";
import { type BundleLimits, maxTarBytes, resolveLimits } from "./limits.js";
import { type ParseManifestOptions, manifestFromFiles } from "./manifest-file.js";
import { EntryChecker, INDEX_PATH } from "./paths.js";
import { readTar } from "./tar.js";
import { TarWalk } from "./tar-walk.js";
import type { Bundle, BundleIndex, ContentHash } from "./types.js";
import { IndexWatch, contentHashMismatch, indexNotFirst } from "./index-watch.js";

/**
 * SHA-256 for `readBundle` and `verifyBundle` (the `sha256` option): the
 * 32-byte digest of `bytes`. A synchronous function is best; the default
 * uses WebCrypto for large files and @noble/hashes for small ones, and
 * `@annex/manifest/node` exports node:crypto's.
 */
export type Sha256 = (bytes: Uint8Array) => Uint8Array | Promise<Uint8Array>;

export interface ReadBundleOptions {
  limits?: Partial<BundleLimits>;
  hostCapabilities?: ParseManifestOptions["hostCapabilities"];
  /** The gzip decompressor; defaults to DecompressionStream (fflate where there is none). See `Gunzip`. */
  decompress?: Gunzip;
  /** The SHA-256 of every file and of the index; see `Sha256`. */
  sha256?: Sha256;
  /**
   * The content hash the bundle must have (what a signature vouches for).
   * Checked as soon as the index has inflated, so that other bytes offered
   * under a known hash cost no more than their index: E_HASH_MISMATCH with
   * `details.reason` "content-hash".
   */
  contentHash?: ContentHash;
}

function invalidOption(option: "decompress" | "sha256", message: string): BundleError {
  return new BundleError("E_BUNDLE_FORMAT", `The ${option} option ${message}`, { reason: "invalid-option", option });
}

// "abc", FIPS 180-2 appendix B.1.
const SHA256_ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const knownGood = new WeakSet<Sha256>();

function hexOf(digest: unknown): string {
  if (!(digest instanceof Uint8Array) || digest.length !== 32) {
    throw invalidOption("sha256", "must return the 32-byte SHA-256 digest as a Uint8Array; pass nodeSha256 from @annex/manifest/node, or leave it out.");
  }
  return toHex(digest);
}

async function digestHex(sha256: Sha256, bytes: Uint8Array): Promise<string> {
  return hexOf(await sha256(bytes));
}

/**
 * A caller's sha256 is checked once against a known answer, so that passing
 * the wrong function (another hash, a hex encoder) fails loudly instead of
 * making every bundle's hashes disagree with its index.
 */
async function checkedSha256(sha256: Sha256 | undefined): Promise<Sha256 | undefined> {
  if (sha256 === undefined || knownGood.has(sha256)) return sha256;
  if (typeof sha256 !== "function") throw invalidOption("sha256", "must be a function from bytes to their SHA-256 digest.");
  if ((await digestHex(sha256, new TextEncoder().encode("abc"))) !== SHA256_ABC) {
    throw invalidOption("sha256", "does not compute SHA-256 (its digest of \"abc\" is wrong); pass nodeSha256 from @annex/manifest/node, or leave it out.");
  }
  knownGood.add(sha256);
  return sha256;
}

async function hashAll(inputs: readonly Uint8Array[], sha256: Sha256 | undefined): Promise<string[]> {
  if (sha256 === undefined) return sha256HexAll(inputs);
  const out = new Array<string>(inputs.length);
  for (let i = 0; i < inputs.length; i++) {
    // Awaited only when asynchronous: a microtask per file adds up over thousands of small files.
    const digest = sha256(inputs[i]!);
    out[i] = hexOf(digest instanceof Uint8Array ? digest : await digest);
  }
  return out;
}

/** Checks that the archive's files and the index list exactly the same paths, sizes and hashes. */
async function checkAgainstIndex(index: BundleIndex, files: ReadonlyMap<string, Uint8Array>, sha256: Sha256 | undefined): Promise<void> {
  const listed = new Set<string>();
  for (const entry of index.files) {
    if (entry.path === INDEX_PATH) {
      throw new BundleError("E_BUNDLE_FORMAT", `${INDEX_PATH} lists itself; the index covers every file but itself.`, {
        reason: "bad-index",
        path: INDEX_PATH,
      });
    }
    if (listed.has(entry.path)) {
      throw new BundleError("E_BUNDLE_FORMAT", `${INDEX_PATH} lists ${JSON.stringify(entry.path)} twice.`, {
        reason: "bad-index",
        path: entry.path,
      });
    }
    listed.add(entry.path);
    const bytes = files.get(entry.path);
    if (bytes === undefined) {
      throw hashMismatch(entry.path, "missing-file", `${INDEX_PATH} lists ${JSON.stringify(entry.path)}, but the archive has no such file.`);
    }
    if (bytes.length !== entry.size) {
      throw sizeMismatch(entry.path, bytes.length, entry.size);
    }
  }
  for (const path of files.keys()) {
    if (!listed.has(path)) throw notInIndex(path);
  }
  const digests = await hashAll(index.files.map((entry) => files.get(entry.path)!), sha256);
  index.files.forEach((entry, i) => {
    const actual = digests[i]!;
    if (actual !== entry.sha256) {
      throw hashMismatch(entry.path, "sha256", `File ${JSON.stringify(entry.path)} does not match its sha256 in the index.`, {
        expected: entry.sha256,
        actual,
      });
    }
  });
}

/**
 * Reads an .annex bundle from untrusted bytes: decompresses within limits,
 * admits only regular files with safe, unique paths, checks every file
 * against the canonical index and parses the manifest. Throws BundleError
 * (E_BUNDLE_FORMAT, E_BUNDLE_LIMIT, E_BUNDLE_PATH, E_HASH_MISMATCH) or
 * ManifestError (E_MANIFEST). The signature is `verifyBundle`'s business.
 */
export async function readBundle(bytes: Uint8Array, options: ReadBundleOptions = {}): Promise<Bundle> {
  if (!(bytes instanceof Uint8Array)) {
    throw new BundleError("E_BUNDLE_FORMAT", "readBundle expects the bundle's bytes as a Uint8Array.", { reason: "not-bytes" });
  }
  const limits = resolveLimits(options.limits);
  if (bytes.length > limits.maxCompressedBytes) {
    throw new BundleError(
      "E_BUNDLE_LIMIT",
      `The bundle is ${bytes.length} bytes, over the limit of ${limits.maxCompressedBytes} (maxCompressedBytes).`,
      { reason: "bundle-too-large", limit: "maxCompressedBytes", max: limits.maxCompressedBytes, actual: bytes.length },
    );
  }
  if (options.decompress !== undefined && typeof options.decompress !== "function") {
    throw invalidOption("decompress", "must be a function from gzip bytes and a size limit to the tar bytes (a Gunzip).");
  }
  const expected = options.contentHash;
  if (expected !== undefined && (typeof expected !== "string" || !/^sha256:[0-9a-f]{64}$/.test(expected))) {
    throw new BundleError("E_BUNDLE_FORMAT", "The contentHash option must be \"sha256:\" and 64 lowercase hex digits, as a signature's contentHash is.", {
      reason: "invalid-option",
      option: "contentHash",
    });
  }
  const sha256 = await checkedSha256(options.sha256);
  // The tar's headers are walked as it inflates: a bomb stops at its first header over a limit (or at the
  // zeros after its end), not at the most bytes a bundle may inflate to (maxTarBytes: ~289 MB by default);
  // and, once the index (the first file) is in, at the first header it does not list as it is.
  const indexWatch = new IndexWatch(limits, expected);
  const walk = new TarWalk(limits, new EntryChecker(limits), indexWatch);
  const tar = await gunzipWith(options.decompress, bytes, maxTarBytes(limits), (chunk) => walk.push(chunk));
  const entries = await readTar(tar, new EntryChecker(limits));
  // A decompressor may inflate small input whole without showing the walk (the contract allows it; nodeGunzip
  // does): the index must come first all the same. Everything else the walk would check, the checks below do.
  const first = entries.keys().next();
  if (!first.done && first.value !== INDEX_PATH && entries.has(INDEX_PATH)) throw indexNotFirst(first.value);
  const indexBytes = entries.get(INDEX_PATH);
  if (indexBytes === undefined) {
    throw new BundleError("E_BUNDLE_FORMAT", `The bundle has no ${INDEX_PATH}; it was not made by \`annex pack\`.`, {
      reason: "missing-index",
      path: INDEX_PATH,
    });
  }
  entries.delete(INDEX_PATH);
  // Before anything else reads the files: a decompressor that inflated the tar whole never showed the walk its
  // index (nodeGunzip does so up to 16 MiB), and other bytes offered under a known hash stop here.
  const contentHash = `sha256:${sha256 ? await digestHex(sha256, indexBytes) : await sha256Hex(indexBytes)}` as const;
  if (expected !== undefined && contentHash !== expected) throw contentHashMismatch(expected, contentHash);
  const index = indexWatch.parse(indexBytes);
  await checkAgainstIndex(index, entries, sha256);
  const manifest = manifestFromFiles(entries, { hostCapabilities: options.hostCapabilities });
  const files = new FrozenMap(index.files.map((entry) => [entry.path, entries.get(entry.path)!] as const));
  return Object.freeze({
    manifest: deepFreeze(structuredClone(manifest)),
    contentHash,
    index: deepFreeze(index),
    files,
  });
}
