import { sha256HexAll } from "../crypto/hash-all.js";
import { sha256Hex } from "../crypto/sha256.js";
import { BundleError } from "./errors.js";
import { FrozenMap, deepFreeze } from "./frozen.js";
import { gunzipLimited } from "./gunzip.js";
import { parseIndex } from "./index-file.js";
import { type BundleLimits, maxTarBytes, resolveLimits } from "./limits.js";
import { type ParseManifestOptions, manifestFromFiles } from "./manifest-file.js";
import { EntryChecker, INDEX_PATH } from "./paths.js";
import { readTar } from "./tar.js";
import type { Bundle, BundleIndex } from "./types.js";

export interface ReadBundleOptions {
  limits?: Partial<BundleLimits>;
  hostCapabilities?: ParseManifestOptions["hostCapabilities"];
}

function mismatch(path: string, reason: string, message: string, extra: Record<string, unknown> = {}): BundleError {
  return new BundleError("E_HASH_MISMATCH", `${message} Repack the bundle with \`annex pack\`; if you did not change it, it was altered after packing.`, {
    reason,
    path,
    ...extra,
  });
}

/** Checks that the archive's files and the index list exactly the same paths, sizes and hashes. */
async function checkAgainstIndex(index: BundleIndex, files: ReadonlyMap<string, Uint8Array>): Promise<void> {
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
      throw mismatch(entry.path, "missing-file", `${INDEX_PATH} lists ${JSON.stringify(entry.path)}, but the archive has no such file.`);
    }
    if (bytes.length !== entry.size) {
      throw mismatch(entry.path, "size", `File ${JSON.stringify(entry.path)} is ${bytes.length} bytes; the index says ${entry.size}.`, {
        expected: entry.size,
        actual: bytes.length,
      });
    }
  }
  for (const path of files.keys()) {
    if (!listed.has(path)) throw mismatch(path, "not-in-index", `File ${JSON.stringify(path)} is in the archive but not in ${INDEX_PATH}.`);
  }
  const digests = await sha256HexAll(index.files.map((entry) => files.get(entry.path)!));
  index.files.forEach((entry, i) => {
    const actual = digests[i]!;
    if (actual !== entry.sha256) {
      throw mismatch(entry.path, "sha256", `File ${JSON.stringify(entry.path)} does not match its sha256 in the index.`, {
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
  const tar = await gunzipLimited(bytes, maxTarBytes(limits));
  const entries = await readTar(tar, new EntryChecker(limits));
  const indexBytes = entries.get(INDEX_PATH);
  if (indexBytes === undefined) {
    throw new BundleError("E_BUNDLE_FORMAT", `The bundle has no ${INDEX_PATH}; it was not made by \`annex pack\`.`, {
      reason: "missing-index",
      path: INDEX_PATH,
    });
  }
  entries.delete(INDEX_PATH);
  const index = parseIndex(indexBytes);
  await checkAgainstIndex(index, entries);
  const manifest = manifestFromFiles(entries, { hostCapabilities: options.hostCapabilities });
  const contentHash = `sha256:${await sha256Hex(indexBytes)}` as const;
  const files = new FrozenMap(index.files.map((entry) => [entry.path, entries.get(entry.path)!] as const));
  return Object.freeze({
    manifest: deepFreeze(structuredClone(manifest)),
    contentHash,
    index: deepFreeze(index),
    files,
  });
}
