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
import { crc32, createInflateRaw, inflateRawSync } from "node:zlib";
import { BundleError } from "./bundle/errors.js";
import { type Gunzip, OutputSink, gzipCorrupt, gzipTooLarge, plausibleOutputSize, readGzipHeader } from "./bundle/gunzip.js";
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
/**
 * Watched (readBundle's case), a tar the trailer says is at most this large
 * is inflated in one piece, stopped here: every bundle of ordinary size. A
 * larger one, or one whose trailer lied, is inflated by a zlib stream whose
 * chunks the watcher sees, so that a bomb stops at its first header over a
 * limit instead of at the most bytes a bundle may hold (~289 MB by default).
 */
const ONE_PIECE_BYTES = 16 * 1024 * 1024;

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
 * With a `watch`, a tar larger than 16 MiB is inflated by a zlib stream,
 * whose chunks the watcher sees (see ONE_PIECE_BYTES).
 *
 * The trailer's length is checked; its CRC-32 is not, as in the fflate
 * fallback: a second pass over the tar costs about a third of the time of
 * hashing it, and guards nothing the checks after it do not (every file's
 * sha256 in the index, every tar header's checksum, zero end blocks).
 */
export const nodeGunzip: Gunzip = (compressed, maxBytes, watch) => {
  const header = readGzipHeader(compressed);
  if (header.headerCrc !== null && (crc32(compressed.subarray(0, header.dataOffset - 2)) & 0xffff) !== header.headerCrc) {
    throw gzipCorrupt("header crc mismatch");
  }
  const max = Math.min(maxBytes, bufferConstants.MAX_LENGTH);
  if (watch === undefined || max <= ONE_PIECE_BYTES) return inflateWhole(compressed, header.dataOffset, max);
  const hint = plausibleOutputSize(compressed, max);
  if (hint !== null && hint <= ONE_PIECE_BYTES) {
    try {
      return inflateWhole(compressed, header.dataOffset, ONE_PIECE_BYTES);
    } catch (error) {
      // The trailer lied about the size: a bomb, most likely. Inflate again, watched.
      if (!(error instanceof BundleError && error.details?.["reason"] === "too-many-bytes")) throw error;
    }
  }
  return inflateWatched(compressed, header.dataOffset, max, watch);
};

/** The deflate data from `dataOffset` inflated by a zlib stream, each chunk shown to `watch`, at most `limit` bytes. */
function inflateWatched(compressed: Uint8Array, dataOffset: number, limit: number, watch: (chunk: Uint8Array) => void): Promise<Uint8Array> {
  const data = compressed.subarray(dataOffset);
  const sink = new OutputSink(compressed, limit, watch);
  return new Promise((resolve, reject) => {
    const inflate = createInflateRaw({ chunkSize: FALLBACK_CHUNK_BYTES });
    let failed = false;
    const fail = (error: unknown) => {
      if (failed) return;
      failed = true;
      inflate.destroy();
      reject(error);
    };
    inflate.on("data", (chunk: Buffer) => {
      if (failed) return;
      try {
        sink.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
      } catch (error) {
        fail(error);
      }
    });
    inflate.on("error", (error) => fail(gzipCorrupt(error)));
    inflate.on("end", () => {
      if (failed) return;
      try {
        checkTrailer(data.subarray(inflate.bytesWritten), sink.length);
        resolve(sink.bytes());
      } catch (error) {
        fail(error);
      }
    });
    inflate.end(data);
  });
}

/** What follows the deflate data: exactly the 8-byte trailer, whose ISIZE is the tar's length. */
function checkTrailer(trailer: Uint8Array, length: number): void {
  if (trailer.length < 8) throw gzipCorrupt("unexpected end of file");
  if (trailer.length > 8) throw gzipCorrupt("trailing bytes after the gzip member (a second member, or garbage)");
  if (new DataView(trailer.buffer, trailer.byteOffset, 8).getUint32(4, true) !== length % 2 ** 32) {
    throw gzipCorrupt("incorrect length check");
  }
}

/** The deflate data from `dataOffset` inflated in one piece, at most `limit` bytes, its trailer checked. */
function inflateWhole(compressed: Uint8Array, dataOffset: number, limit: number): Uint8Array {
  const hint = plausibleOutputSize(compressed, limit);
  const data = compressed.subarray(dataOffset);
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
  checkTrailer(data.subarray(engine.bytesWritten), tar.length);
  return new Uint8Array(tar.buffer, tar.byteOffset, tar.length);
}

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
