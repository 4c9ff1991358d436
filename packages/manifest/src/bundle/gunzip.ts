import { Gunzip as FflateGunzip } from "fflate";
import { asBufferSource } from "../crypto/bytes.js";
import { BundleError } from "./errors.js";

/**
 * A gzip decompressor for `readBundle` and `verifyBundle` (the `decompress`
 * option). It receives the whole `.annex` file and the most tar bytes the
 * limits allow, and returns the decompressed tar, or throws:
 *
 * - BundleError E_BUNDLE_LIMIT (`gzipTooLarge`) as soon as the output would
 *   pass `maxBytes`: it must stop there, not inflate in full and then compare,
 *   or a gzip bomb costs its full size in memory;
 * - BundleError E_BUNDLE_FORMAT (`gzipCorrupt`) for anything that is not
 *   exactly one complete gzip member: bad magic or header, corrupt or
 *   truncated data, a length mismatch, a second member, trailing bytes.
 *   (Checking the CRC-32 is optional: DecompressionStream does, the others
 *   leave integrity to the index's sha256 of every file.)
 *
 * `watch`, when given, is called with the output in order, chunk by chunk,
 * as it is produced (readBundle walks the tar's headers there, so that a
 * bomb is refused at the first header that breaks a limit); whatever it
 * throws, the decompressor stops and throws. A decompressor that inflates in
 * one piece may leave it uncalled: readBundle checks the whole tar after.
 *
 * readBundle checks what comes back (a Uint8Array within `maxBytes`) and
 * turns any other exception into E_BUNDLE_FORMAT. The default works in every
 * runtime; `@annex/manifest/node` exports a much faster node:zlib one.
 */
export type Gunzip = (compressed: Uint8Array, maxBytes: number, watch?: (chunk: Uint8Array) => void) => Uint8Array | Promise<Uint8Array>;

// Compressed bytes handed to the decompressor at a time. Deflate expands at
// most ~1032:1, so one fflate step never produces more than ~8 MB even for a
// bomb (fflate grows its output buffer by copying, so smaller steps are also
// faster on highly compressed input). DecompressionStream emits 16 KiB chunks
// whatever it is fed, so it gets larger steps.
const STREAM_FEED_BYTES = 64 * 1024;
const FFLATE_FEED_BYTES = 8 * 1024;
const MAX_DEFLATE_RATIO = 1032;
/** The smallest gzip member: 10-byte header, an empty deflate block (2 bytes), 8-byte trailer. */
const MIN_GZIP_BYTES = 20;

/** E_BUNDLE_LIMIT for a tar that would pass `maxBytes`: what every Gunzip throws on a gzip bomb. */
export function gzipTooLarge(maxBytes: number): BundleError {
  return new BundleError(
    "E_BUNDLE_LIMIT",
    `The bundle decompresses to more than ${maxBytes} bytes of tar (maxUncompressedBytes plus per-entry overhead); it is too large or a gzip bomb.`,
    { reason: "too-many-bytes", limit: "maxUncompressedBytes", max: maxBytes },
  );
}

/** E_BUNDLE_FORMAT for input that is not exactly one complete gzip member; `cause` is an Error or what went wrong. */
export function gzipCorrupt(cause: unknown): BundleError {
  const error = typeof cause === "string" ? new Error(cause) : cause;
  const detail = error instanceof Error ? `: ${error.message}` : "";
  return new BundleError(
    "E_BUNDLE_FORMAT",
    `The bundle is not a complete gzip stream${detail}. An .annex file is a gzip-compressed tar made by \`annex pack\`; it may be truncated or corrupt.`,
    { reason: "bad-gzip" },
    { cause: error },
  );
}

function readUint32LE(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>> 0;
}

/** The ISIZE field of the last 8 bytes: the uncompressed length mod 2^32, if the input is one member. */
export function gzipTrailerSize(compressed: Uint8Array): number {
  return compressed.length >= MIN_GZIP_BYTES ? readUint32LE(compressed, compressed.length - 4) : 0;
}

/**
 * How big a buffer to expect the tar to fill, from the trailer's ISIZE, or
 * null when that number is not believable (larger than the limit, or than
 * deflate could expand the input to). It is only a hint, never trusted for
 * correctness: a bomb can write anything there.
 */
export function plausibleOutputSize(compressed: Uint8Array, maxBytes: number): number | null {
  const hint = gzipTrailerSize(compressed);
  return hint > 0 && hint <= maxBytes && hint <= compressed.length * MAX_DEFLATE_RATIO + 65536 ? hint : null;
}

const FHCRC = 0x02;
const FEXTRA = 0x04;
const FNAME = 0x08;
const FCOMMENT = 0x10;
const FRESERVED = 0xe0;

/** Where a gzip member's deflate data starts, per RFC 1952; `headerCrc` is the FHCRC field when the header has one. */
export interface GzipHeader {
  dataOffset: number;
  headerCrc: number | null;
}

/**
 * Reads a gzip member header as zlib does (magic, method 8, no reserved
 * flags, optional extra field, name, comment and header CRC), for
 * decompressors that inflate raw deflate data and check the trailer
 * themselves. Throws `gzipCorrupt` for anything else.
 */
export function readGzipHeader(bytes: Uint8Array): GzipHeader {
  if (bytes.length < 10) throw gzipCorrupt("unexpected end of file");
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) throw gzipCorrupt("incorrect header check");
  if (bytes[2] !== 8) throw gzipCorrupt("unknown compression method");
  const flags = bytes[3]!;
  if (flags & FRESERVED) throw gzipCorrupt("unknown header flags set");
  let offset = 10;
  if (flags & FEXTRA) {
    if (offset + 2 > bytes.length) throw gzipCorrupt("unexpected end of file");
    offset += 2 + (bytes[offset]! | (bytes[offset + 1]! << 8));
  }
  for (const flag of [FNAME, FCOMMENT]) {
    if (!(flags & flag)) continue;
    // Zero-terminated Latin-1 text.
    const end = offset < bytes.length ? bytes.indexOf(0, offset) : -1;
    if (end === -1) throw gzipCorrupt("unexpected end of file");
    offset = end + 1;
  }
  let headerCrc: number | null = null;
  if (flags & FHCRC) {
    if (offset + 2 > bytes.length) throw gzipCorrupt("unexpected end of file");
    headerCrc = bytes[offset]! | (bytes[offset + 1]! << 8);
    offset += 2;
  }
  if (offset > bytes.length) throw gzipCorrupt("unexpected end of file");
  return { dataOffset: offset, headerCrc };
}

/**
 * Collects output chunks and stops at `maxBytes`, showing each chunk to
 * `watch` first. When the trailer's ISIZE is plausible the output goes
 * straight into one buffer of that size, saving a copy of the whole tar.
 */
export class OutputSink {
  readonly #maxBytes: number;
  readonly #watch: ((chunk: Uint8Array) => void) | undefined;
  #buffer: Uint8Array | null;
  #chunks: Uint8Array[] = [];
  #length = 0;

  constructor(compressed: Uint8Array, maxBytes: number, watch: ((chunk: Uint8Array) => void) | undefined) {
    this.#maxBytes = maxBytes;
    this.#watch = watch;
    const hint = plausibleOutputSize(compressed, maxBytes);
    this.#buffer = hint === null ? null : new Uint8Array(hint);
  }

  push(chunk: Uint8Array): void {
    const end = this.#length + chunk.length;
    if (end > this.#maxBytes) throw gzipTooLarge(this.#maxBytes);
    this.#watch?.(chunk);
    if (this.#buffer && end <= this.#buffer.length) {
      this.#buffer.set(chunk, this.#length);
    } else {
      if (this.#buffer) {
        // The hint was wrong: keep what was written and carry on in chunks.
        this.#chunks.push(this.#buffer.subarray(0, this.#length));
        this.#buffer = null;
      }
      this.#chunks.push(chunk);
    }
    this.#length = end;
  }

  get length(): number {
    return this.#length;
  }

  bytes(): Uint8Array {
    if (this.#buffer) return this.#buffer.subarray(0, this.#length);
    if (this.#chunks.length === 1) return this.#chunks[0]!;
    const out = new Uint8Array(this.#length);
    let offset = 0;
    for (const chunk of this.#chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }
}

/**
 * Refuses output whose length disagrees with the last 8 bytes' ISIZE. The
 * decompressor has checked one member's trailer already; what this catches
 * is a second member or trailing zeros, which Node's zlib (and so its
 * DecompressionStream) reads on past, while browsers and the other
 * decompressors refuse them. The one multi-member stream it lets through,
 * empty members before a single real one, decodes to the same bytes.
 */
function checkSingleMember(compressed: Uint8Array, length: number): void {
  if (gzipTrailerSize(compressed) !== length % 2 ** 32) {
    throw gzipCorrupt("trailing bytes after the gzip member (a second member, or garbage)");
  }
}

/** The web-standard DecompressionStream, native in browsers and Node 18+. */
export async function gunzipStream(compressed: Uint8Array, maxBytes: number, watch?: (chunk: Uint8Array) => void): Promise<Uint8Array> {
  const sink = new OutputSink(compressed, maxBytes, watch);
  const input = asBufferSource(compressed);
  const stream = new DecompressionStream("gzip");
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  const feeding = (async () => {
    for (let offset = 0; offset < input.length; offset += STREAM_FEED_BYTES) {
      await writer.write(input.subarray(offset, offset + STREAM_FEED_BYTES));
    }
    await writer.close();
  })();
  // A failed write also fails the readable side, where it is reported.
  feeding.catch(() => {});
  try {
    for (;;) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read();
      } catch (cause) {
        throw gzipCorrupt(cause);
      }
      if (result.done) break;
      sink.push(result.value);
    }
  } catch (error) {
    await reader.cancel(error).catch(() => {});
    await writer.abort(error).catch(() => {});
    throw error;
  }
  checkSingleMember(compressed, sink.length);
  return sink.bytes();
}

/**
 * fflate's streaming Gunzip, in plain JavaScript. It is lenient where zlib
 * is strict: it reports success on an empty or header-only input and never
 * reads the trailer. So the magic bytes are checked here, a second member is
 * refused as it starts, and the trailer's ISIZE must match the output, which
 * catches a stream truncated anywhere, trailer included. (The CRC is not
 * checked: the index's sha256 of every file is the integrity check that
 * matters, and the tar parser checks every header's checksum.)
 */
export function gunzipFflate(compressed: Uint8Array, maxBytes: number, watch?: (chunk: Uint8Array) => void): Uint8Array {
  if (compressed.length < MIN_GZIP_BYTES || compressed[0] !== 0x1f || compressed[1] !== 0x8b || compressed[2] !== 8) {
    throw gzipCorrupt(compressed.length < MIN_GZIP_BYTES ? "unexpected end of file" : "incorrect header check");
  }
  const sink = new OutputSink(compressed, maxBytes, watch);
  let ended = false;
  const gunzip = new FflateGunzip((chunk, final) => {
    sink.push(chunk);
    if (final) ended = true;
  });
  gunzip.onmember = () => {
    throw gzipCorrupt("trailing bytes after the gzip member (a second member, or garbage)");
  };
  try {
    for (let offset = 0; offset < compressed.length; offset += FFLATE_FEED_BYTES) {
      gunzip.push(compressed.subarray(offset, offset + FFLATE_FEED_BYTES), offset + FFLATE_FEED_BYTES >= compressed.length);
    }
  } catch (error) {
    if (error instanceof BundleError) throw error;
    throw gzipCorrupt(error);
  }
  if (!ended || gzipTrailerSize(compressed) !== sink.length % 2 ** 32) throw gzipCorrupt("unexpected end of file");
  return sink.bytes();
}

/** The default decompressor: DecompressionStream where the runtime has it, fflate otherwise. */
export const gunzipDefault: Gunzip = (compressed, maxBytes, watch) =>
  typeof globalThis.DecompressionStream === "function" ? gunzipStream(compressed, maxBytes, watch) : gunzipFflate(compressed, maxBytes, watch);

/**
 * Runs a decompressor (the default, or the caller's) and holds it to the
 * Gunzip contract: typed errors only, bytes back, never more than `maxBytes`.
 */
export async function gunzipWith(gunzip: Gunzip | undefined, compressed: Uint8Array, maxBytes: number, watch?: (chunk: Uint8Array) => void): Promise<Uint8Array> {
  let tar: unknown;
  try {
    tar = await (gunzip ?? gunzipDefault)(compressed, maxBytes, watch);
  } catch (error) {
    if (error instanceof BundleError) throw error;
    throw gzipCorrupt(error);
  }
  if (!(tar instanceof Uint8Array)) {
    throw new BundleError("E_BUNDLE_FORMAT", "The decompress option returned something other than a Uint8Array; pass a Gunzip such as nodeGunzip from @annex/manifest/node.", {
      reason: "invalid-option",
      option: "decompress",
    });
  }
  if (tar.length > maxBytes) throw gzipTooLarge(maxBytes);
  return tar;
}
