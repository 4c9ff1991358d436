import type { VerifiedBundle } from "../bundle/types.js";

// The brand: only verifyBundle adds to it (markVerified is not exported from any entry), so no object built or
// copied elsewhere passes isVerifiedBundle. It lives apart from verify.ts so that the light `runtime` entry can
// check it without loading the schema; the build puts this module in a chunk both entries share (one set).
const verified = new WeakSet<object>();

/** True only for a bundle returned by verifyBundle in this JavaScript realm (copies, clones and hand-built objects are not). */
export function isVerifiedBundle(value: unknown): value is VerifiedBundle {
  return typeof value === "object" && value !== null && verified.has(value);
}

export function markVerified(bundle: VerifiedBundle): void {
  verified.add(bundle);
}
