import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { packBundle, readBundle } from "../../src/bundle/index.js";
import { isAnnexError } from "../../src/errors.js";
import { type BundleReader, READER_CASES, gunzip, gzip, serviceFiles } from "./support.js";

/**
 * Whatever bytes arrive, readBundle either returns a bundle or throws one of
 * its typed errors, and never hangs (fast-check's per-run timeout fails a
 * run that takes too long).
 */
const TYPED = new Set(["E_BUNDLE_FORMAT", "E_BUNDLE_LIMIT", "E_BUNDLE_PATH", "E_HASH_MISMATCH", "E_MANIFEST"]);
const SMALL_LIMITS = { maxUncompressedBytes: 1024 * 1024, maxFiles: 64 };

async function outcome(read: BundleReader, bytes: Uint8Array): Promise<{ ok: true; contentHash: string } | { ok: false; code: string }> {
  try {
    const bundle = await read(bytes, { limits: SMALL_LIMITS });
    return { ok: true, contentHash: bundle.contentHash };
  } catch (error) {
    if (!isAnnexError(error) || !TYPED.has(error.code)) throw error;
    return { ok: false, code: error.code };
  }
}

const valid = await packBundle(serviceFiles());
const validTar = gunzip(valid);
const { contentHash } = await readBundle(valid);
const options = { numRuns: 150, timeout: 10_000 };

describe.each(READER_CASES)("readBundle on hostile bytes (%s)", (_, read) => {
  it("random bytes: only typed errors", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), async (bytes) => {
        expect((await outcome(read, bytes)).ok).toBe(false);
      }),
      options,
    );
  });

  it("random bytes behind a valid gzip layer (the tar parser's turn): only typed errors", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 8192 }), async (bytes) => {
        expect((await outcome(read, gzip(bytes))).ok).toBe(false);
      }),
      options,
    );
  });

  it("bit flips in the compressed bundle: a typed error, or the very same content", async () => {
    const flips = fc.array(fc.record({ at: fc.nat({ max: valid.length - 1 }), bit: fc.nat({ max: 7 }) }), { minLength: 1, maxLength: 4 });
    await fc.assert(
      fc.asyncProperty(flips, async (changes) => {
        const bytes = valid.slice();
        for (const { at, bit } of changes) bytes[at]! ^= 1 << bit;
        const result = await outcome(read, bytes);
        if (result.ok) expect(result.contentHash).toBe(contentHash);
      }),
      options,
    );
  });

  it("bit flips in the tar (recompressed): a typed error, or the very same content", async () => {
    const flips = fc.array(fc.record({ at: fc.nat({ max: validTar.length - 1 }), bit: fc.nat({ max: 7 }) }), { minLength: 1, maxLength: 4 });
    await fc.assert(
      fc.asyncProperty(flips, async (changes) => {
        const tar = validTar.slice();
        for (const { at, bit } of changes) tar[at]! ^= 1 << bit;
        const result = await outcome(read, gzip(tar));
        if (result.ok) expect(result.contentHash).toBe(contentHash);
      }),
      options,
    );
  });

  it("truncated tars (recompressed) and truncated bundles: always a typed error", async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: validTar.length - 1 }), fc.nat({ max: valid.length - 1 }), async (tarCut, gzCut) => {
        // Cutting only the trailing zero blocks of the end marker still loses the marker.
        expect((await outcome(read, gzip(validTar.subarray(0, tarCut)))).ok).toBe(false);
        expect((await outcome(read, valid.subarray(0, gzCut))).ok).toBe(false);
      }),
      options,
    );
  });

  it("random splices of valid bundle pieces: only typed errors", async () => {
    const piece = fc.record({ from: fc.nat({ max: validTar.length }), length: fc.nat({ max: 2048 }) });
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { minLength: 1, maxLength: 6 }), async (pieces) => {
        const parts = pieces.map(({ from, length }) => validTar.subarray(from, from + length));
        const tar = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let offset = 0;
        for (const part of parts) {
          tar.set(part, offset);
          offset += part.length;
        }
        const result = await outcome(read, gzip(tar));
        if (result.ok) expect(result.contentHash).toBe(contentHash);
      }),
      options,
    );
  });
});
