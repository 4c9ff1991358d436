/**
 * `@annex/manifest/node`: the same bundle reading and verification, with
 * node:zlib and node:crypto doing the heavy lifting. In Node 20,
 * DecompressionStream inflates at a fraction of zlib's speed (it adapts zlib
 * to web streams 16 KiB at a time), and node:crypto hashes small files far
 * faster than a WebCrypto round trip. The checks and errors are exactly
 * those of the main entry, which stays free of Node built-ins for browsers.
 */
import { constants as bufferConstants } from "node:buffer";
import { hash } from "node:crypto";
import { crc32, inflateRawSync } from "node:zlib";
import { type Gunzip, gzipCorrupt, gzipTooLarge, plausibleOutputSize, readGzipHeader } from "./bundle/gunzip.js";
import { type ReadBundleOptions, type Sha256, readBundle } from "./bundle/read.js";
import type { Bundle, BundleSignature, VerifiedBundle } from "./bundle/types.js";
import { type VerifyBundleOptions, verifyBundle } from "./signing/verify.js";
import type { TrustStore } from "./signing/trust-store.js";

export type { Gunzip } from "./bundle/gunzip.js";
export type { Sha256 } from "./bundle/read.js";

// Output buffer size when the trailer's size hint is not believable; it is
// also how far past the limit a bomb can get before zlib stops it.
const FALLBACK_CHUNK_BYTES = 1024 * 1024;
// The smallest output buffer, whatever the hint says: a bomb claiming a few
// bytes would otherwise be inflated in steps of a few bytes, each a Buffer.
const MIN_CHUNK_BYTES = 64 * 1024;

interface InflateInfo {
  buffer: Buffer;
  engine: { bytesWritten: number };
}

/**
 * A `Gunzip` over node:zlib, synchronous. It inflates the raw deflate data
 * itself, after reading the gzip header, so that it knows where the member
 * ends: zlib's own gunzip reads on into a second member and skips trailing
 * zeros, and an .annex file is exactly one member. zlib's `maxOutputLength`
 * stops a gzip bomb at the limit. When the trailer's size is believable the
 * tar is inflated into one buffer of that size, with no copy after.
 *
 * The trailer's length is checked; its CRC-32 is not, as in the fflate
 * fallback: a second pass over the tar costs about a third of the time of
 * hashing it, and guards nothing the checks after it do not (every file's
 * sha256 in the index, every tar header's checksum, zero end blocks).
 */
export const nodeGunzip: Gunzip = (compressed, maxBytes) => {
  const header = readGzipHeader(compressed);
  if (header.headerCrc !== null && (crc32(compressed.subarray(0, header.dataOffset - 2)) & 0xffff) !== header.headerCrc) {
    throw gzipCorrupt("header crc mismatch");
  }
  const limit = Math.min(maxBytes, bufferConstants.MAX_LENGTH);
  const hint = plausibleOutputSize(compressed, limit);
  const data = compressed.subarray(header.dataOffset);
  let result: InflateInfo;
  try {
    result = inflateRawSync(data, {
      info: true,
      maxOutputLength: limit,
      // One byte more than expected, so that zlib finishes in the first buffer instead of allocating a second to find out.
      chunkSize: hint === null ? FALLBACK_CHUNK_BYTES : Math.max(MIN_CHUNK_BYTES, hint + 1),
    }) as unknown as InflateInfo; // `info: true` returns the engine too, which the types do not say
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code === "ERR_BUFFER_TOO_LARGE") throw gzipTooLarge(limit);
    throw gzipCorrupt(error);
  }
  const { buffer: tar, engine } = result;
  const trailer = data.subarray(engine.bytesWritten);
  if (trailer.length < 8) throw gzipCorrupt("unexpected end of file");
  if (trailer.length > 8) throw gzipCorrupt("trailing bytes after the gzip member (a second member, or garbage)");
  if (new DataView(trailer.buffer, trailer.byteOffset, 8).getUint32(4, true) !== tar.length % 2 ** 32) {
    throw gzipCorrupt("incorrect length check");
  }
  return new Uint8Array(tar.buffer, tar.byteOffset, tar.length);
};

/** A `Sha256` over node:crypto (its one-shot `hash`, which skips a Hash object per file: half the cost on small files). */
export const nodeSha256: Sha256 = (bytes) => hash("sha256", bytes, "buffer");

function withNode<T extends ReadBundleOptions>(options: T): T {
  return { ...options, decompress: options.decompress ?? nodeGunzip, sha256: options.sha256 ?? nodeSha256 };
}

/** `readBundle` with `nodeGunzip` and `nodeSha256` (unless `options` names others). */
export function readBundleNode(bytes: Uint8Array, options: ReadBundleOptions = {}): Promise<Bundle> {
  return readBundle(bytes, withNode(options));
}

/** `verifyBundle` with `nodeGunzip` and `nodeSha256` (unless `options` names others). */
export function verifyBundleNode(
  bytes: Uint8Array,
  signature: BundleSignature | null,
  trustStore: TrustStore,
  options: VerifyBundleOptions = {},
): Promise<VerifiedBundle> {
  return verifyBundle(bytes, signature, trustStore, withNode(options));
}
