import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_BUNDLE_LIMITS, packBundle, readBundle } from "../../src/bundle/index.js";
import { forceGunzipBackend } from "../../src/bundle/gunzip.js";
import { bundleEntries, fileEntry, rawHeader, rejectsWith, serviceFiles, tarGz, zeroBomb } from "./support.js";

const MiB = 1024 * 1024;

afterEach(() => forceGunzipBackend(null));

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

describe.each(["stream", "fflate"] as const)("gzip bombs, decompressed with %s", (backend) => {
  it("1 GiB of zeros in 1 MB is refused at the limit, without inflating it all", async () => {
    forceGunzipBackend(backend);
    const bomb = zeroBomb(1024 * MiB);
    expect(bomb.length).toBeLessThan(2 * MiB);
    const error = await rejectsWith(readBundle(bomb, { limits: { maxUncompressedBytes: 16 * MiB, maxFiles: 100 } }), "E_BUNDLE_LIMIT");
    expect(error.details).toMatchObject({ reason: "too-many-bytes", limit: "maxUncompressedBytes" });
  });

  it("1 GiB of zeros is refused with the default limits too", async () => {
    forceGunzipBackend(backend);
    const error = await rejectsWith(readBundle(zeroBomb(1024 * MiB)), "E_BUNDLE_LIMIT");
    expect(error.details).toMatchObject({ limit: "maxUncompressedBytes" });
  });

  it("a valid tar header for a 1 GiB file, followed by 1 GiB of zeros", async () => {
    forceGunzipBackend(backend);
    const bomb = zeroBomb(1024 * MiB, rawHeader({ name: "ui/zeros.bin", size: 1024 * MiB }));
    const error = await rejectsWith(readBundle(bomb, { limits: { maxUncompressedBytes: 32 * MiB } }), "E_BUNDLE_LIMIT");
    expect(error.details).toMatchObject({ limit: "maxUncompressedBytes" });
  });
});

describe.each(["stream", "fflate"] as const)("truncated and corrupt bundles, decompressed with %s", (backend) => {
  it("a bundle cut at any of many offsets is E_BUNDLE_FORMAT", async () => {
    forceGunzipBackend(backend);
    const files = serviceFiles();
    files.set("ui/data.bin", Uint8Array.from({ length: 20_000 }, (_, i) => (i * 31) % 251));
    const bytes = await packBundle(files);
    const offsets = new Set([0, 1, 2, 9, 10, 11, 17, 18, bytes.length - 8, bytes.length - 4, bytes.length - 1]);
    for (let at = 20; at < bytes.length; at += 97) offsets.add(at);
    for (const at of offsets) {
      if (at >= bytes.length) continue;
      const error = await rejectsWith(readBundle(bytes.subarray(0, at)), "E_BUNDLE_FORMAT");
      expect(error.details.reason, `cut at ${at}`).toMatch(/^bad-(gzip|tar)$/);
    }
  });

  it("both decompressors read a valid bundle to the same result", async () => {
    forceGunzipBackend(backend);
    const bundle = await readBundle(await packBundle(serviceFiles()));
    forceGunzipBackend(null);
    const reference = await readBundle(await packBundle(serviceFiles()));
    expect(bundle.contentHash).toBe(reference.contentHash);
    expect([...bundle.files.keys()]).toEqual([...reference.files.keys()]);
  });

  it("a multi-megabyte bundle (many output chunks) reads back intact", async () => {
    forceGunzipBackend(backend);
    const files = serviceFiles();
    const big = Uint8Array.from({ length: 3 * MiB }, (_, i) => (i * 2654435761) >>> 24);
    files.set("ui/big.bin", big);
    files.set("ui/zeros.bin", new Uint8Array(2 * MiB));
    const bundle = await readBundle(await packBundle(files));
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

describe("multi-member gzip (never written by packBundle)", () => {
  it("DecompressionStream reads it like zlib does; the output outgrows the size hint of the last member and stays intact", async () => {
    forceGunzipBackend("stream");
    const files = serviceFiles();
    files.set("ui/data.bin", Uint8Array.from({ length: 200_000 }, (_, i) => (i * 131) % 256));
    const packed = await packBundle(files);
    const { gunzipSync, gzipSync } = await import("node:zlib");
    const tar = gunzipSync(packed);
    const split = 150_000;
    const twoMembers = new Uint8Array(Buffer.concat([gzipSync(tar.subarray(0, split)), gzipSync(tar.subarray(split))]));
    const bundle = await readBundle(twoMembers);
    expect(bundle.contentHash).toBe((await readBundle(packed)).contentHash);
    expect(Buffer.from(bundle.files.get("ui/data.bin")!).equals(Buffer.from(files.get("ui/data.bin")!))).toBe(true);
  });

  it("the fflate fallback refuses it (its trailer check covers one member only)", async () => {
    forceGunzipBackend("fflate");
    const packed = await packBundle(serviceFiles());
    const { gunzipSync, gzipSync } = await import("node:zlib");
    const tar = gunzipSync(packed);
    const twoMembers = new Uint8Array(Buffer.concat([gzipSync(tar.subarray(0, 1000)), gzipSync(tar.subarray(1000))]));
    await rejectsWith(readBundle(twoMembers), "E_BUNDLE_FORMAT");
  });
});
