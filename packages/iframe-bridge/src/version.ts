/**
 * The bridge protocol is versioned by a single integer. Each side announces
 * the range it speaks; the hello carries the extension's range and the host
 * answers with the highest version both speak, or refuses with
 * E_BRIDGE_VERSION. Bump BRIDGE_VERSION on any change to the wire API; raise
 * MIN_BRIDGE_VERSION only when an old version can no longer be served.
 */
export const BRIDGE_VERSION = 1;
export const MIN_BRIDGE_VERSION = 1;

export interface VersionRange {
  min: number;
  max: number;
}

export const SUPPORTED_VERSIONS: Readonly<VersionRange> = Object.freeze({ min: MIN_BRIDGE_VERSION, max: BRIDGE_VERSION });

/** The highest version inside both ranges, or null when they do not overlap. */
export function negotiateVersion(theirs: VersionRange, ours: VersionRange = SUPPORTED_VERSIONS): number | null {
  const low = Math.max(theirs.min, ours.min);
  const high = Math.min(theirs.max, ours.max);
  return Number.isInteger(low) && Number.isInteger(high) && low <= high ? high : null;
}
