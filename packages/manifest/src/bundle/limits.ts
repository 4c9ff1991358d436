import { BundleError } from "./errors.js";

/** Bounds on what `readBundle` (and `packBundle`) accept. Every one is checked before the bytes it guards are kept. */
export interface BundleLimits {
  /** Size of the .annex file itself. */
  maxCompressedBytes: number;
  /** Sum of the sizes of all files, the index included. */
  maxUncompressedBytes: number;
  /** Number of tar entries (files, the index and any directory entries). */
  maxFiles: number;
  /** Size of any one file. */
  maxFileBytes: number;
  /** Length of a path in UTF-8 bytes. */
  maxPathLength: number;
}

export const DEFAULT_BUNDLE_LIMITS: Readonly<BundleLimits> = Object.freeze({
  maxCompressedBytes: 64 * 1024 * 1024,
  maxUncompressedBytes: 256 * 1024 * 1024,
  maxFiles: 10_000,
  maxFileBytes: 64 * 1024 * 1024,
  maxPathLength: 255,
});

const LIMIT_NAMES = Object.keys(DEFAULT_BUNDLE_LIMITS) as (keyof BundleLimits)[];

/** Defaults overlaid with the caller's limits, each checked to be a positive safe integer. */
export function resolveLimits(overrides: Partial<BundleLimits> | undefined): Readonly<BundleLimits> {
  if (overrides === undefined) return DEFAULT_BUNDLE_LIMITS;
  const limits = { ...DEFAULT_BUNDLE_LIMITS };
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    if (!(LIMIT_NAMES as string[]).includes(name)) {
      throw new BundleError("E_BUNDLE_LIMIT", `Unknown bundle limit "${name}"; the limits are ${LIMIT_NAMES.join(", ")}.`, {
        reason: "unknown-limit",
        limit: name,
      });
    }
    if (!Number.isSafeInteger(value) || (value as number) <= 0) {
      throw new BundleError("E_BUNDLE_LIMIT", `Bundle limit ${name} must be a positive integer, got ${String(value)}.`, {
        reason: "invalid-limit",
        limit: name,
      });
    }
    limits[name as keyof BundleLimits] = value as number;
  }
  return Object.freeze(limits);
}

/**
 * The most decompressed tar bytes a bundle within `limits` can need: the file
 * bytes plus, per entry, a header, its padding and a possible PAX header for a
 * long path, plus the end-of-archive marker and record padding. Decompression
 * stops here, so a gzip bomb costs at most this much memory.
 */
export function maxTarBytes(limits: BundleLimits): number {
  const paxRecord = Math.ceil((limits.maxPathLength + 64) / 512) * 512;
  const perEntry = 512 + 511 + 512 + paxRecord;
  return limits.maxUncompressedBytes + limits.maxFiles * perEntry + 20 * 512;
}
