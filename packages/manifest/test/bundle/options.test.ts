import { createHash } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { type Gunzip, gunzipStream } from "../../src/bundle/gunzip.js";
import { DEFAULT_BUNDLE_LIMITS, packBundle, readBundle } from "../../src/bundle/index.js";
import { maxTarBytes, resolveLimits } from "../../src/bundle/limits.js";
import type { Sha256 } from "../../src/bundle/read.js";
import { rejectsWith, serviceFiles } from "./support.js";

/** readBundle's `decompress` and `sha256` options: what a caller's function must do, and what happens when it does not. */

const bytes = await packBundle(serviceFiles());
const reference = await readBundle(bytes);
const zlibGunzip: Gunzip = (compressed) => new Uint8Array(gunzipSync(compressed));
const nodeHash: Sha256 = (data) => createHash("sha256").update(data).digest();

describe("the decompress option", () => {
  it("is called with the bundle and the most tar bytes the limits allow", async () => {
    const calls: [Uint8Array, number][] = [];
    const limits = { maxUncompressedBytes: 1_000_000, maxFiles: 50 };
    const bundle = await readBundle(bytes, {
      limits,
      decompress: (compressed, maxBytes) => {
        calls.push([compressed, maxBytes]);
        return zlibGunzip(compressed, maxBytes);
      },
    });
    expect(bundle.contentHash).toBe(reference.contentHash);
    expect(calls).toHaveLength(1);
    expect(calls[0]![0]).toBe(bytes);
    expect(calls[0]![1]).toBe(maxTarBytes(resolveLimits(limits)));
  });

  it("may be asynchronous", async () => {
    const bundle = await readBundle(bytes, { decompress: async (compressed, maxBytes) => gunzipStream(compressed, maxBytes) });
    expect(bundle.contentHash).toBe(reference.contentHash);
  });

  it("an exception that is not a BundleError becomes E_BUNDLE_FORMAT, keeping the cause", async () => {
    const cause = new Error("zlib: invalid block type");
    const error = await rejectsWith(
      readBundle(bytes, {
        decompress: () => {
          throw cause;
        },
      }),
      "E_BUNDLE_FORMAT",
    );
    expect(error.details).toMatchObject({ reason: "bad-gzip" });
    expect(error.message).toContain("invalid block type");
    expect(error.cause).toBe(cause);
  });

  it("a BundleError it throws passes through unchanged", async () => {
    const error = await rejectsWith(readBundle(bytes, { decompress: (c, max) => gunzipStream(c.subarray(0, 40), max) }), "E_BUNDLE_FORMAT");
    expect(error.details).toMatchObject({ reason: "bad-gzip" });
  });

  it("output over the limit is E_BUNDLE_LIMIT even from a decompressor that ignores it", async () => {
    const tar = gunzipSync(bytes);
    const error = await rejectsWith(readBundle(bytes, { limits: { maxUncompressedBytes: 100, maxFiles: 1 }, decompress: () => tar }), "E_BUNDLE_LIMIT");
    expect(error.details).toMatchObject({ reason: "too-many-bytes", limit: "maxUncompressedBytes" });
  });

  it("something other than bytes back, or no function at all, is refused naming the option", async () => {
    const notBytes = await rejectsWith(readBundle(bytes, { decompress: (() => "tar") as unknown as Gunzip }), "E_BUNDLE_FORMAT");
    expect(notBytes.details).toMatchObject({ reason: "invalid-option", option: "decompress" });
    const notAFunction = await rejectsWith(readBundle(bytes, { decompress: "zlib" as unknown as Gunzip }), "E_BUNDLE_FORMAT");
    expect(notAFunction.details).toMatchObject({ reason: "invalid-option", option: "decompress" });
  });

  it("keeps the default limits' allowance when no limits are given", async () => {
    let seen = 0;
    await readBundle(bytes, { decompress: (c, max) => ((seen = max), zlibGunzip(c, max)) });
    expect(seen).toBe(maxTarBytes(DEFAULT_BUNDLE_LIMITS));
  });
});

describe("the sha256 option", () => {
  it("hashes every file and the index, and gives the same content hash as the default", async () => {
    const seen: number[] = [];
    const counting: Sha256 = (data) => (seen.push(data.length), nodeHash(data));
    const bundle = await readBundle(bytes, { sha256: counting });
    expect(bundle.contentHash).toBe(reference.contentHash);
    // One known-answer check, then each of the 4 files, then the index.
    expect(seen).toHaveLength(1 + 4 + 1);
    seen.length = 0;
    await readBundle(bytes, { sha256: counting });
    expect(seen).toHaveLength(4 + 1); // checked once per function
  });

  it("may be asynchronous", async () => {
    const bundle = await readBundle(bytes, { sha256: async (data) => nodeHash(data) });
    expect(bundle.contentHash).toBe(reference.contentHash);
  });

  it("still refuses a tampered file", async () => {
    const tar = gunzipSync(bytes);
    const at = tar.indexOf("# Hello");
    tar[at + 2] = "J".charCodeAt(0);
    const error = await rejectsWith(readBundle(bytes, { sha256: nodeHash, decompress: () => tar }), "E_HASH_MISMATCH");
    expect(error.details).toMatchObject({ reason: "sha256", path: "README.md" });
  });

  it.each([
    ["another hash (SHA-1, 20 bytes)", ((data: Uint8Array) => createHash("sha1").update(data).digest()) as Sha256],
    ["another 32-byte hash (SHA3-256)", ((data: Uint8Array) => createHash("sha3-256").update(data).digest()) as Sha256],
    ["a hex string instead of bytes", ((data: Uint8Array) => createHash("sha256").update(data).digest("hex")) as unknown as Sha256],
    ["not a function", "sha256" as unknown as Sha256],
  ])("%s is refused before any file is read, naming the option", async (_, sha256) => {
    const error = await rejectsWith(readBundle(bytes, { sha256 }), "E_BUNDLE_FORMAT");
    expect(error.details).toMatchObject({ reason: "invalid-option", option: "sha256" });
  });

  it("a function that passes the known answer but later returns garbage is still caught", async () => {
    let calls = 0;
    const flaky: Sha256 = (data) => (++calls > 1 ? new Uint8Array(31) : nodeHash(data));
    const error = await rejectsWith(readBundle(bytes, { sha256: flaky }), "E_BUNDLE_FORMAT");
    expect(error.details).toMatchObject({ reason: "invalid-option", option: "sha256" });
  });
});
