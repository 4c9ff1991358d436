import { describe, expect, it } from "vitest";
import { type Gunzip, computeContentHash, packBundle, readBundle } from "../../src/bundle/index.js";
import { DECOMPRESSOR_CASES, canonicalIndex, concat, fileEntry, gzip, indexEntries, rawEntry, rawHeader, rejectsWith, serviceFiles, tarGz, text, zeroBomb } from "./support.js";

const MiB = 1024 * 1024;

/** A decompressor that counts the bytes it inflated before it stopped, or finished. */
function counting(gunzip: Gunzip): { gunzip: Gunzip; inflated: () => number } {
  let inflated = 0;
  return {
    gunzip: (compressed, maxBytes, watch) =>
      gunzip(compressed, maxBytes, (chunk) => {
        inflated += chunk.length;
        watch?.(chunk);
      }),
    inflated: () => inflated,
  };
}

/** A bundle's index entry, then `size` bytes of zeros in a file the index may or may not list: one header, then the bomb. */
function bombAfterIndex(index: Uint8Array, name: string, size: number): Uint8Array {
  return zeroBomb(size, concat(rawEntry({ name: "annex.index.json" }, index), rawHeader({ name, size })));
}

describe.each(DECOMPRESSOR_CASES)("the index holds the rest of the bundle as it inflates, with %s", (_, gunzip) => {
  const files = serviceFiles();
  const index = canonicalIndex(indexEntries(files));

  it("a file before the index is refused at its header, as a bundle with no index", async () => {
    const tar = await tarGz([fileEntry("README.md", "# Hello\n"), fileEntry("annex.index.json", index), ...[...files].filter(([n]) => n !== "README.md").map(([n, b]) => fileEntry(n, b))]);
    const error = await rejectsWith(readBundle(tar, { decompress: gunzip }), "E_BUNDLE_FORMAT");
    expect(error.details).toMatchObject({ reason: "missing-index", path: "annex.index.json", first: "README.md" });
    expect(error.message).toContain("annex pack");
  });

  it("a 512 MiB file the index does not list is refused at its header, not after inflating it", async () => {
    const count = counting(gunzip);
    const bomb = bombAfterIndex(index, "ui/zeros.bin", 512 * MiB);
    const error = await rejectsWith(readBundle(bomb, { decompress: count.gunzip, limits: { maxFileBytes: 600 * MiB, maxUncompressedBytes: 600 * MiB } }), "E_HASH_MISMATCH");
    expect(error.details).toMatchObject({ reason: "not-in-index", path: "ui/zeros.bin" });
    // The decompressor's own chunking: at most a few of its chunks past the header, never the bomb.
    expect(count.inflated()).toBeLessThan(32 * MiB);
  });

  it("a listed file whose header says another size is refused at that header", async () => {
    const count = counting(gunzip);
    const bomb = bombAfterIndex(index, "README.md", 256 * MiB);
    const error = await rejectsWith(readBundle(bomb, { decompress: count.gunzip, limits: { maxFileBytes: 300 * MiB, maxUncompressedBytes: 300 * MiB } }), "E_HASH_MISMATCH");
    expect(error.details).toMatchObject({ reason: "size", path: "README.md", expected: files.get("README.md")!.length, actual: 256 * MiB });
    expect(count.inflated()).toBeLessThan(32 * MiB);
  });

  it("the contentHash option: the right hash reads the bundle, another is refused once the index is in", async () => {
    const packed = await packBundle(files);
    const contentHash = await computeContentHash({ indexVersion: 1, files: indexEntries(files) });
    expect((await readBundle(packed, { decompress: gunzip, contentHash })).contentHash).toBe(contentHash);

    // The same files with one byte changed: a different index, so a different content hash.
    const other = new Map(files);
    other.set("README.md", text("# Hellp\n"));
    const count = counting(gunzip);
    const bomb = bombAfterIndex(canonicalIndex(indexEntries(other)), "ui/zeros.bin", 256 * MiB);
    const error = await rejectsWith(readBundle(bomb, { decompress: count.gunzip, contentHash }), "E_HASH_MISMATCH");
    expect(error.details).toMatchObject({ reason: "content-hash", path: "annex.index.json", expected: contentHash });
    expect(count.inflated()).toBeLessThan(32 * MiB);
  });

  it("refuses a contentHash option that is not a content hash", async () => {
    const packed = await packBundle(files);
    const good = await computeContentHash({ indexVersion: 1, files: indexEntries(files) });
    for (const contentHash of ["sha256:ABC", good.slice(7), good.toUpperCase(), 42]) {
      const error = await rejectsWith(readBundle(packed, { decompress: gunzip, contentHash: contentHash as never }), "E_BUNDLE_FORMAT");
      expect(error.details).toMatchObject({ reason: "invalid-option", option: "contentHash" });
    }
  });
});

it("a bundle whose index lists its files exactly still reads when written by hand (the index first)", async () => {
  const files = serviceFiles();
  const tar = gzip(concat(rawEntry({ name: "annex.index.json" }, canonicalIndex(indexEntries(files))), ...[...files].map(([name, bytes]) => rawEntry({ name }, bytes)), new Uint8Array(1024)));
  const bundle = await readBundle(tar);
  expect([...bundle.files.keys()].sort()).toEqual([...files.keys()].sort());
});
