import { gzipSync } from "fflate";
import { sha256HexAll } from "../crypto/hash-all.js";
import { BundleError } from "./errors.js";
import { serializeIndex } from "./index-file.js";
import { type BundleLimits, resolveLimits } from "./limits.js";
import { type ParseManifestOptions, manifestFromFiles } from "./manifest-file.js";
import { EntryChecker, INDEX_PATH, comparePaths } from "./paths.js";
import { writeTar } from "./tar.js";
import type { BundleIndex } from "./types.js";

export interface PackBundleOptions {
  /** The limits the bundle must fit; defaults to DEFAULT_BUNDLE_LIMITS, so that whatever packs also reads. */
  limits?: Partial<BundleLimits>;
  hostCapabilities?: ParseManifestOptions["hostCapabilities"];
}

// Fixed so that the same files always give the same bytes (for one fflate version).
const GZIP_OPTIONS = { level: 6, mem: 8, mtime: 0 } as const;

function toEntries(files: Map<string, Uint8Array> | Record<string, Uint8Array>): [string, Uint8Array][] {
  const entries = files instanceof Map ? [...files.entries()] : Object.entries(files);
  for (const [path, bytes] of entries) {
    if (typeof path !== "string" || !(bytes instanceof Uint8Array)) {
      throw new BundleError("E_BUNDLE_FORMAT", `packBundle expects a map of path to Uint8Array; ${JSON.stringify(String(path))} is not.`, {
        reason: "not-bytes",
        path: String(path),
      });
    }
  }
  return entries;
}

/**
 * Packs files (path → bytes, `annex.json` among them) into .annex bytes: a
 * gzip-compressed tar of `annex.index.json` followed by the files sorted by
 * path, with fixed metadata, so the same files always give the same bytes.
 * Every path and limit is checked by the same rules as `readBundle`, and the
 * manifest is parsed, so a bundle that packs also reads.
 */
export async function packBundle(
  files: Map<string, Uint8Array> | Record<string, Uint8Array>,
  options: PackBundleOptions = {},
): Promise<Uint8Array> {
  const limits = resolveLimits(options.limits);
  const entries = toEntries(files).sort(([a], [b]) => comparePaths(a, b));
  const checker = new EntryChecker(limits);
  for (const [path, bytes] of entries) {
    if (path === INDEX_PATH) {
      throw new BundleError("E_BUNDLE_PATH", `${INDEX_PATH} is written by packBundle itself; remove it from the files.`, {
        reason: "reserved",
        path,
      });
    }
    checker.file(path, bytes.length);
  }
  const byPath = new Map(entries);
  manifestFromFiles(byPath, { hostCapabilities: options.hostCapabilities });

  const digests = await sha256HexAll(entries.map(([, bytes]) => bytes));
  const index: BundleIndex = {
    indexVersion: 1,
    files: entries.map(([path, bytes], i) => ({ path, size: bytes.length, sha256: digests[i]! })),
  };
  const indexBytes = serializeIndex(index);
  // The index counts against the limits like any file, exactly as the reader will count it.
  checker.file(INDEX_PATH, indexBytes.length);

  const tar = await writeTar([[INDEX_PATH, indexBytes], ...entries]);
  const bundle = gzipSync(tar, GZIP_OPTIONS);
  if (bundle.length > limits.maxCompressedBytes) {
    throw new BundleError(
      "E_BUNDLE_LIMIT",
      `The packed bundle is ${bundle.length} bytes, over the limit of ${limits.maxCompressedBytes} (maxCompressedBytes).`,
      { reason: "bundle-too-large", limit: "maxCompressedBytes", max: limits.maxCompressedBytes, actual: bundle.length },
    );
  }
  return bundle;
}
