export type * from "./types.js";
export { BundleError, type BundleErrorCode } from "./errors.js";
export { DEFAULT_BUNDLE_LIMITS, type BundleLimits } from "./limits.js";
export { computeContentHash } from "./index-file.js";
export { packBundle, type PackBundleOptions } from "./pack.js";
export { readBundle, type ReadBundleOptions, type Sha256 } from "./read.js";
export { type Gunzip, gzipCorrupt, gzipTooLarge } from "./gunzip.js";
export { sha256, sha256Hex } from "../crypto/sha256.js";
