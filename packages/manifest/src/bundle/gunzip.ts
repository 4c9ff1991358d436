import { Gunzip } from "fflate";
import { asBufferSource } from "../crypto/bytes.js";
import { BundleError } from "./errors.js";

/**
 * Streamed gzip decompression that stops as soon as the output passes
 * `maxBytes`, so a gzip bomb costs at most `maxBytes` (plus the chunk that
 * crosses it) of memory and never runs to its full size. The web-standard
 * DecompressionStream is native where it exists; fflate's streaming Gunzip
 * is the fallback.
 */
export type GunzipBackend = "stream" | "fflate";

// Compressed bytes handed to the decompressor at a time. Deflate expands at
// most ~1032:1, so one fflate step never produces more than ~8 MB even for a
// bomb (fflate grows its output buffer by copying, so smaller steps are also
// faster on highly compressed input). DecompressionStream emits 16 KiB chunks
// whatever it is fed, so it gets larger steps.
const STREAM_FEED_BYTES = 64 * 1024;
const FFLATE_FEED_BYTES = 8 * 1024;
const MAX_DEFLATE_RATIO = 1032;

let forced: GunzipBackend | null = null;

/** For tests and benchmarks: pin a backend, or pass null to detect again. Not part of the public API. */
export function forceGunzipBackend(backend: GunzipBackend | null): void {
  forced = backend;
}

export function gunzipBackend(): GunzipBackend {
  return forced ?? (typeof globalThis.DecompressionStream === "function" ? "stream" : "fflate");
}

function tooBig(maxBytes: number): BundleError {
  return new BundleError(
    "E_BUNDLE_LIMIT",
    `The bundle decompresses to more than ${maxBytes} bytes of tar (maxUncompressedBytes plus per-entry overhead); it is too large or a gzip bomb.`,
    { reason: "too-many-bytes", limit: "maxUncompressedBytes", max: maxBytes },
  );
}

function corrupt(cause: unknown): BundleError {
  const detail = cause instanceof Error ? `: ${cause.message}` : "";
  return new BundleError(
    "E_BUNDLE_FORMAT",
    `The bundle is not a complete gzip stream${detail}. An .annex file is a gzip-compressed tar made by \`annex pack\`; it may be truncated or corrupt.`,
    { reason: "bad-gzip" },
    { cause },
  );
}

/**
 * Collects output chunks. The gzip trailer's ISIZE (uncompressed size mod
 * 2^32) is only a hint, but a useful one: when it is plausible the output
 * goes straight into one buffer of that size, saving a copy of the whole tar.
 */
class Sink {
  readonly #maxBytes: number;
  #buffer: Uint8Array | null;
  #chunks: Uint8Array[] = [];
  #length = 0;

  constructor(compressed: Uint8Array, maxBytes: number) {
    this.#maxBytes = maxBytes;
    const n = compressed.length;
    const hint = n >= 18 ? readUint32LE(compressed, n - 4) : 0;
    const plausible = hint > 0 && hint <= maxBytes && hint <= n * MAX_DEFLATE_RATIO + 65536;
    this.#buffer = plausible ? new Uint8Array(hint) : null;
  }

  push(chunk: Uint8Array): void {
    const end = this.#length + chunk.length;
    if (end > this.#maxBytes) throw tooBig(this.#maxBytes);
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

async function viaDecompressionStream(compressed: Uint8Array, sink: Sink): Promise<void> {
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
        throw corrupt(cause);
      }
      if (result.done) break;
      sink.push(result.value);
    }
  } catch (error) {
    await reader.cancel(error).catch(() => {});
    await writer.abort(error).catch(() => {});
    throw error;
  }
}

function readUint32LE(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>> 0;
}

/**
 * fflate's streaming Gunzip is lenient where zlib is strict: it reports
 * success on an empty or header-only input and never reads the trailer. So
 * the fallback checks the magic bytes itself and requires the trailer's
 * ISIZE to match the output, which catches a stream truncated anywhere,
 * trailer included. (It does not check the CRC: the index's sha256 of every
 * file is the integrity check that matters. Multi-member gzip, which
 * `annex pack` never writes, fails the ISIZE check here.)
 */
function viaFflate(compressed: Uint8Array, sink: Sink): void {
  if (compressed.length < 18 || compressed[0] !== 0x1f || compressed[1] !== 0x8b || compressed[2] !== 8) {
    throw corrupt(new Error(compressed.length < 18 ? "unexpected end of file" : "incorrect header check"));
  }
  let ended = false;
  const gunzip = new Gunzip((chunk, final) => {
    sink.push(chunk);
    if (final) ended = true;
  });
  try {
    for (let offset = 0; offset < compressed.length; offset += FFLATE_FEED_BYTES) {
      gunzip.push(compressed.subarray(offset, offset + FFLATE_FEED_BYTES), offset + FFLATE_FEED_BYTES >= compressed.length);
    }
  } catch (error) {
    if (error instanceof BundleError) throw error;
    throw corrupt(error);
  }
  if (!ended || readUint32LE(compressed, compressed.length - 4) !== sink.length % 2 ** 32) {
    throw corrupt(new Error("unexpected end of file"));
  }
}

/** The decompressed bytes of a gzip stream, or BundleError E_BUNDLE_LIMIT past `maxBytes` / E_BUNDLE_FORMAT if corrupt. */
export async function gunzipLimited(compressed: Uint8Array, maxBytes: number): Promise<Uint8Array> {
  const sink = new Sink(compressed, maxBytes);
  if (gunzipBackend() === "stream") await viaDecompressionStream(compressed, sink);
  else viaFflate(compressed, sink);
  return sink.bytes();
}
