import { constants, crc32, deflateRawSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { DEFAULT_BUNDLE_LIMITS, packBundle, readBundle } from "../../src/bundle/index.js";
import {
  READER_CASES,
  bundleEntries,
  canonicalIndex,
  fileEntry,
  rawEntry,
  rawHeader,
  rejectsWith,
  serviceFiles,
  tarGz,
  text,
  zeroBomb,
} from "./support.js";

const MiB = 1024 * 1024;

describe("readBundle limits (E_BUNDLE_LIMIT, details naming the limit)", () => {
  it("has the documented defaults", () => {
    expect(DEFAULT_BUNDLE_LIMITS).toEqual({
      maxCompressedBytes: 64 * MiB,
      maxUncompressedBytes: 256 * MiB,
      maxFiles: 10_000,
      maxFileBytes: 64 * MiB,
      maxPathLength: 255,
    });
    expect(Object.isFrozen(DEFAULT_BUNDLE_LIMITS)).toBe(true);
  });

  it("maxCompressedBytes, before decompressing anything", async () => {
    const bytes = await packBundle(serviceFiles());
    const error = await rejectsWith(readBundle(bytes, { limits: { maxCompressedBytes: bytes.length - 1 } }), "E_BUNDLE_LIMIT");
    expect(error.details).toMatchObject({ limit: "maxCompressedBytes", max: bytes.length - 1, actual: bytes.length });
    await expect(readBundle(bytes, { limits: { maxCompressedBytes: bytes.length } })).resolves.toBeDefined();
  });

  it("maxFiles counts every entry, the index included", async () => {
    const bytes = await packBundle(serviceFiles()); // 4 files + the index
    const error = await rejectsWith(readBundle(bytes, { limits: { maxFiles: 4 } }), "E_BUNDLE_LIMIT");
    expect(error.details).toMatchObject({ limit: "maxFiles", max: 4 });
    await expect(readBundle(bytes, { limits: { maxFiles: 5 } })).resolves.toBeDefined();
  });

  it("maxFiles bounds the index too: one listing more files than a bundle may hold is refused before it is parsed or sorted", async () => {
    const entry = (i: number) => `{"path":"é${String(i).padStart(7, "0")}","size":0,"sha256":"${"0".repeat(64)}"}`;
    const indexOf = (n: number, order = (i: number) => i) => text(`{"indexVersion":1,"files":[${Array.from({ length: n }, (_, i) => entry(order(i))).join(",")}]}`);
    // Four files and the index fit maxFiles 5; an index listing five is over it, whatever the archive holds.
    const listed = await rejectsWith(readBundle(await tarGz([fileEntry("annex.index.json", indexOf(5))]), { limits: { maxFiles: 5 } }), "E_BUNDLE_LIMIT");
    expect(listed.details).toMatchObject({ reason: "too-many-files", path: "annex.index.json", limit: "maxFiles", max: 5, actual: 5 });
    const four = await rejectsWith(readBundle(await tarGz([fileEntry("annex.index.json", indexOf(4))]), { limits: { maxFiles: 5 } }), "E_HASH_MISMATCH");
    expect(four.details).toMatchObject({ reason: "missing-file" });
    // 600,000 entries out of order: 60 MiB of index in 2.5 MB of archive, refused on its length before JSON.parse
    // (it used to be parsed and NFC-sorted first: seconds of CPU).
    const n = 600_000;
    const huge = indexOf(n, (i) => (i * 7_919) % n);
    const error = await rejectsWith(readBundle(await tarGz([fileEntry("annex.index.json", huge)])), "E_BUNDLE_LIMIT");
    expect(error.details).toMatchObject({ reason: "too-many-files", limit: "maxFiles", max: 10_000, actualBytes: huge.length });
  }, 60_000);

  it("maxFileBytes, naming the file", async () => {
    const files = serviceFiles();
    files.set("ui/big.bin", new Uint8Array(10_000));
    const bytes = await packBundle(files);
    const error = await rejectsWith(readBundle(bytes, { limits: { maxFileBytes: 9_999 } }), "E_BUNDLE_LIMIT");
    expect(error.details).toMatchObject({ limit: "maxFileBytes", path: "ui/big.bin", max: 9_999, actual: 10_000 });
  });

  it("maxFileBytes is checked on the header, before the body is read: a header claiming 1 GiB with no body", async () => {
    const tar = new Uint8Array(512 + 1024);
    tar.set(rawHeader({ name: "ui/huge.bin", size: 1024 * MiB }));
    const { gzipSync } = await import("node:zlib");
    const error = await rejectsWith(readBundle(new Uint8Array(gzipSync(tar))), "E_BUNDLE_LIMIT");
    expect(error.details).toMatchObject({ limit: "maxFileBytes", path: "ui/huge.bin" });
  });

  it("maxUncompressedBytes over the sum of the files", async () => {
    const files = serviceFiles();
    files.set("ui/a.bin", new Uint8Array(6_000));
    files.set("ui/b.bin", new Uint8Array(6_000));
    const bytes = await packBundle(files);
    const error = await rejectsWith(readBundle(bytes, { limits: { maxUncompressedBytes: 10_000 } }), "E_BUNDLE_LIMIT");
    expect(error.details).toMatchObject({ limit: "maxUncompressedBytes", max: 10_000 });
  });

  it("maxPathLength in UTF-8 bytes, not characters", async () => {
    const files = serviceFiles();
    files.set(`ui/${"é".repeat(20)}.txt`, new Uint8Array(1)); // 3 + 40 + 4 = 47 bytes, 27 characters
    const bytes = await packBundle(files);
    const error = await rejectsWith(readBundle(bytes, { limits: { maxPathLength: 40 } }), "E_BUNDLE_LIMIT");
    expect(error.details).toMatchObject({ limit: "maxPathLength", max: 40, actual: 47 });
    await expect(readBundle(bytes, { limits: { maxPathLength: 47 } })).resolves.toBeDefined();
  });

  it("refuses unknown or nonsensical limits", async () => {
    const bytes = await packBundle(serviceFiles());
    await rejectsWith(readBundle(bytes, { limits: { maxFiles: 0 } }), "E_BUNDLE_LIMIT");
    await rejectsWith(readBundle(bytes, { limits: { maxFiles: 1.5 } }), "E_BUNDLE_LIMIT");
    await rejectsWith(readBundle(bytes, { limits: { maxFiels: 10 } as never }), "E_BUNDLE_LIMIT");
  });
});

// The tar's headers are walked as it inflates: each bomb is refused where it shows itself, after a few MiB at
// most (one step of the decompressor), not at the most bytes a bundle may inflate to (~289 MB by default).
describe.each(READER_CASES)("gzip bombs, read with %s", (_, read) => {
  it("1 GiB of zeros in 1 MB is refused once its zeros are more than a record's padding", async () => {
    const bomb = zeroBomb(1024 * MiB);
    expect(bomb.length).toBeLessThan(2 * MiB);
    for (const limits of [{ maxUncompressedBytes: 16 * MiB, maxFiles: 100 }, {}]) {
      const error = await rejectsWith(read(bomb, { limits }), "E_BUNDLE_FORMAT");
      // Zeros from byte 0: the end-of-archive marker, then ballast.
      expect(error.details).toMatchObject({ reason: "bad-tar", end: 0 });
      expect(error.details["padding"]).toBeGreaterThan(MiB);
      expect(error.details["padding"]).toBeLessThan(16 * MiB);
    }
  });

  it("a valid tar header for a 1 GiB file, followed by 1 GiB of zeros, is refused at that header", async () => {
    const bomb = zeroBomb(1024 * MiB, rawHeader({ name: "ui/zeros.bin", size: 1024 * MiB }));
    for (const limits of [{ maxUncompressedBytes: 32 * MiB }, {}]) {
      const error = await rejectsWith(read(bomb, { limits }), "E_BUNDLE_LIMIT");
      expect(error.details).toMatchObject({ reason: "file-too-large", limit: "maxFileBytes", path: "ui/zeros.bin", actual: 1024 * MiB });
    }
  });

  it("files that add up past maxUncompressedBytes are refused at the header that passes it", async () => {
    // 20 files of 48 MiB of zeros (960 MiB) in ~1 MB: each file's header, then its zeros.
    const zeros = deflateRawSync(new Uint8Array(16 * MiB), { finishFlush: constants.Z_FULL_FLUSH, level: 9 });
    const parts: Uint8Array[] = [];
    let crc = 0;
    let size = 0;
    // An index that lists them, first, as `annex pack` writes it: only the byte limit can stop these files.
    const listed = Array.from({ length: 20 }, (_, i) => ({ path: `ui/part-${i}.bin`, size: 48 * MiB, sha256: "0".repeat(64) }));
    const indexBody = canonicalIndex(listed.sort((a, b) => (a.path < b.path ? -1 : 1)));
    const index = rawEntry({ name: "annex.index.json" }, indexBody);
    parts.push(deflateRawSync(index, { finishFlush: constants.Z_FULL_FLUSH }));
    crc = crc32(index, crc);
    size += index.length;
    for (let i = 0; i < 20; i++) {
      const header = rawHeader({ name: `ui/part-${i}.bin`, size: 48 * MiB });
      parts.push(deflateRawSync(header, { finishFlush: constants.Z_FULL_FLUSH }), zeros, zeros, zeros);
      crc = crc32(header, crc);
      for (let j = 0; j < 3; j++) crc = crc32(new Uint8Array(16 * MiB), crc);
      size += 512 + 48 * MiB;
    }
    const trailer = new Uint8Array(8);
    new DataView(trailer.buffer).setUint32(0, crc >>> 0, true);
    new DataView(trailer.buffer).setUint32(4, size % 2 ** 32, true);
    const bomb = Buffer.concat([new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), ...parts, new Uint8Array([3, 0]), trailer]);
    expect(bomb.length).toBeLessThan(2 * MiB);
    const error = await rejectsWith(read(bomb, { limits: { maxUncompressedBytes: 100 * MiB } }), "E_BUNDLE_LIMIT");
    // The third file passes 100 MiB: refused at its header, with ~96 MiB inflated rather than the limit's ~100 MiB and more.
    expect(error.details).toMatchObject({ reason: "too-many-bytes", limit: "maxUncompressedBytes", path: "ui/part-2.bin", actual: indexBody.length + 3 * 48 * MiB });
  });
});

describe.each(READER_CASES)("truncated and corrupt bundles, read with %s", (_, read) => {
  it("a bundle cut at any of many offsets is E_BUNDLE_FORMAT", async () => {
    const files = serviceFiles();
    files.set("ui/data.bin", Uint8Array.from({ length: 20_000 }, (_, i) => (i * 31) % 251));
    const bytes = await packBundle(files);
    const offsets = new Set([0, 1, 2, 9, 10, 11, 17, 18, bytes.length - 8, bytes.length - 4, bytes.length - 1]);
    for (let at = 20; at < bytes.length; at += 97) offsets.add(at);
    for (const at of offsets) {
      if (at >= bytes.length) continue;
      const error = await rejectsWith(read(bytes.subarray(0, at)), "E_BUNDLE_FORMAT");
      expect(error.details.reason, `cut at ${at}`).toMatch(/^bad-(gzip|tar)$/);
    }
  });

  it("reads a valid bundle to the same result as the default", async () => {
    const bytes = await packBundle(serviceFiles());
    const bundle = await read(bytes);
    const reference = await readBundle(bytes);
    expect(bundle.contentHash).toBe(reference.contentHash);
    expect(bundle.index).toEqual(reference.index);
    expect([...bundle.files]).toEqual([...reference.files]);
  });

  it("a multi-megabyte bundle (many output chunks) reads back intact", async () => {
    const files = serviceFiles();
    const big = Uint8Array.from({ length: 3 * MiB }, (_, i) => (i * 2654435761) >>> 24);
    files.set("ui/big.bin", big);
    files.set("ui/zeros.bin", new Uint8Array(2 * MiB));
    const bundle = await read(await packBundle(files));
    expect(Buffer.from(bundle.files.get("ui/big.bin")!).equals(Buffer.from(big))).toBe(true);
    expect(bundle.files.get("ui/zeros.bin")!.every((b) => b === 0)).toBe(true);
  });
});

it("an entry list built by hand with directory entries in it reads as long as the paths are valid", async () => {
  const entries = bundleEntries();
  entries.splice(1, 0, { header: { name: "server/", size: 0, type: "directory" } }, { header: { name: "ui/", size: 0, type: "directory" } });
  entries.push(fileEntry("ui/later.txt", "x"));
  // ui/later.txt is not in the index, so it is still refused: directories are ignored, files are not.
  await rejectsWith(readBundle(await tarGz(entries)), "E_HASH_MISMATCH");
  await expect(readBundle(await tarGz(entries.slice(0, -1)))).resolves.toBeDefined();
});
