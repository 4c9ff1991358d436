import { crc32, deflateRawSync, gunzipSync, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { gzipCorrupt, readGzipHeader } from "../../src/bundle/gunzip.js";
import { isAnnexError } from "../../src/errors.js";
import { DECOMPRESSORS, DECOMPRESSOR_CASES, concat, text, zeroBomb } from "./support.js";

/**
 * The gzip layer on its own: each decompressor against the Gunzip contract
 * (exactly one complete member, stop at the limit, typed errors only).
 */

const MiB = 1024 * 1024;

async function attempt(run: () => Uint8Array | Promise<Uint8Array>): Promise<{ bytes: Uint8Array } | { code: string; reason: unknown }> {
  try {
    return { bytes: await run() };
  } catch (error) {
    if (!isAnnexError(error)) throw error;
    return { code: error.code, reason: error.details?.["reason"] };
  }
}

const BAD_GZIP = { code: "E_BUNDLE_FORMAT", reason: "bad-gzip" };
const TOO_BIG = { code: "E_BUNDLE_LIMIT", reason: "too-many-bytes" };

function trailer(data: Uint8Array, size = data.length): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, crc32(data), true);
  view.setUint32(4, size % 2 ** 32, true);
  return out;
}

/** A gzip member written by hand, with whichever optional header fields a test needs. */
function member(
  data: Uint8Array,
  options: { extra?: Uint8Array; name?: string; comment?: string; headerCrc?: number | "right"; flags?: number } = {},
): Uint8Array {
  let flags = options.flags ?? 0;
  const parts: Uint8Array[] = [];
  if (options.extra) {
    flags |= 0x04;
    parts.push(new Uint8Array([options.extra.length & 0xff, options.extra.length >> 8]), options.extra);
  }
  if (options.name !== undefined) {
    flags |= 0x08;
    parts.push(text(`${options.name}\0`));
  }
  if (options.comment !== undefined) {
    flags |= 0x10;
    parts.push(text(`${options.comment}\0`));
  }
  if (options.headerCrc !== undefined) flags |= 0x02;
  let header = concat(new Uint8Array([0x1f, 0x8b, 8, flags, 0, 0, 0, 0, 0, 3]), ...parts);
  if (options.headerCrc !== undefined) {
    const crc = options.headerCrc === "right" ? crc32(header) & 0xffff : options.headerCrc;
    header = concat(header, new Uint8Array([crc & 0xff, crc >> 8]));
  }
  return concat(header, deflateRawSync(data), trailer(data));
}

const sample = text("Annex bundles are one gzip member. ".repeat(500));
const random = Uint8Array.from({ length: 300_000 }, (_, i) => (Math.imul(i, 2654435761) >>> 13) & 0xff);

describe.each(DECOMPRESSOR_CASES)("%s", (name, gunzip) => {
  it("inflates what zlib inflates, byte for byte, up to exactly maxBytes", async () => {
    for (const data of [new Uint8Array(0), text("x"), sample, random]) {
      const compressed = new Uint8Array(gzipSync(data));
      const out = await gunzip(compressed, Math.max(data.length, 1));
      expect(Buffer.from(out).equals(Buffer.from(data))).toBe(true);
    }
  });

  it("refuses output one byte over maxBytes (E_BUNDLE_LIMIT)", async () => {
    expect(await attempt(() => gunzip(new Uint8Array(gzipSync(sample)), sample.length - 1))).toEqual(TOO_BIG);
  });

  it("stops a bomb whose trailer lies about its size, small or large", async () => {
    const bomb = zeroBomb(64 * MiB);
    for (const claimed of [1000, MiB, 64 * MiB]) {
      const lying = bomb.slice();
      new DataView(lying.buffer).setUint32(lying.length - 4, claimed, true);
      expect(await attempt(() => gunzip(lying, MiB)), `claiming ${claimed}`).toEqual(TOO_BIG);
    }
  });

  it("stops a bomb claiming a tiny size at a large limit", async () => {
    const lying = zeroBomb(64 * MiB);
    new DataView(lying.buffer).setUint32(lying.length - 4, 10, true);
    expect(await attempt(() => gunzip(lying, 48 * MiB))).toEqual(TOO_BIG);
  });

  it("reads the optional header fields: extra, name, comment", async () => {
    const compressed = member(sample, { extra: new Uint8Array([1, 2, 3, 4]), name: "bundle.tar", comment: "made by hand" });
    expect(Buffer.from(gunzipSync(compressed)).equals(Buffer.from(sample))).toBe(true); // zlib agrees the member is valid
    expect(Buffer.from(await gunzip(compressed, MiB)).equals(Buffer.from(sample))).toBe(true);
  });

  it("reads a header with a correct header CRC", async () => {
    const compressed = member(sample, { name: "x", headerCrc: "right" });
    expect(Buffer.from(await gunzip(compressed, MiB)).equals(Buffer.from(sample))).toBe(true);
  });

  it.each([
    ["a second member", () => concat(gzipSync(sample), gzipSync(text("more")))],
    ["a second member that is empty", () => concat(gzipSync(sample), gzipSync(new Uint8Array(0)))],
    ["one trailing zero byte", () => concat(gzipSync(sample), new Uint8Array(1))],
    ["eight trailing zero bytes", () => concat(gzipSync(sample), new Uint8Array(8))],
    ["a trailing zero block", () => concat(gzipSync(sample), new Uint8Array(512))],
    ["trailing garbage", () => concat(gzipSync(sample), text("garbage"))],
    ["a wrong ISIZE", () => {
      const bytes = new Uint8Array(gzipSync(sample));
      bytes[bytes.length - 4]! ^= 1;
      return bytes;
    }],
    ["no trailer", () => new Uint8Array(gzipSync(sample)).subarray(0, -8)],
    ["half a trailer", () => new Uint8Array(gzipSync(sample)).subarray(0, -4)],
    ["a header only", () => new Uint8Array(gzipSync(sample)).subarray(0, 10)],
    ["nothing", () => new Uint8Array(0)],
    ["a zlib (not gzip) stream", () => new Uint8Array(deflateRawSync(sample))],
    ["compression method 7", () => {
      const bytes = new Uint8Array(gzipSync(sample));
      bytes[2] = 7;
      return bytes;
    }],
    ["a name field without its terminating zero", () => concat(new Uint8Array([0x1f, 0x8b, 8, 0x08, 0, 0, 0, 0, 0, 3]), text("name-without-end"))],
  ])("refuses %s (E_BUNDLE_FORMAT)", async (_, make) => {
    expect(await attempt(() => gunzip(new Uint8Array(make()), MiB))).toEqual(BAD_GZIP);
  });

  it("an empty member before the real one: refused, except by Node's DecompressionStream, which yields the same bytes", async () => {
    const compressed = new Uint8Array(concat(gzipSync(new Uint8Array(0)), gzipSync(sample)));
    const result = await attempt(() => gunzip(compressed, MiB));
    // Node's zlib reads on into the next member and browsers do not; the ISIZE
    // check catches every other case, and this one decodes to the very same bytes.
    if (name === "DecompressionStream" && "bytes" in result) expect(Buffer.from(result.bytes).equals(Buffer.from(sample))).toBe(true);
    else expect(result).toEqual(BAD_GZIP);
  });
});

describe.each(DECOMPRESSOR_CASES.filter(([name]) => name !== "fflate"))("%s checks the header as zlib does", (_, gunzip) => {
  it.each([
    ["a wrong header CRC", () => member(sample, { name: "x", headerCrc: 0x1234 })],
    ["reserved header flags", () => member(sample, { flags: 0x20 })],
  ])("refuses %s (E_BUNDLE_FORMAT)", async (_, make) => {
    expect(await attempt(() => gunzip(make(), MiB))).toEqual(BAD_GZIP);
  });
});

describe("the trailer's CRC-32", () => {
  const bytes = new Uint8Array(gzipSync(sample));
  bytes[bytes.length - 8]! ^= 1;

  it("DecompressionStream refuses a wrong one", async () => {
    expect(await attempt(() => DECOMPRESSORS.DecompressionStream(bytes, MiB))).toEqual(BAD_GZIP);
  });

  // A second pass over the tar for the CRC would guard nothing that every
  // file's sha256 and every tar header's checksum do not; the bytes are right.
  it.each(["fflate", "node:zlib"] as const)("%s leaves it to the index hashes and yields the right bytes", async (name) => {
    const out = await DECOMPRESSORS[name](bytes, MiB);
    expect(Buffer.from(out).equals(Buffer.from(sample))).toBe(true);
  });
});

describe("readGzipHeader", () => {
  it("finds where the deflate data starts after every optional field", () => {
    const extra = new Uint8Array(300).fill(7);
    const bytes = member(sample, { extra, name: "n.tar", comment: "c", headerCrc: "right" });
    const header = readGzipHeader(bytes);
    expect(header.dataOffset).toBe(10 + 2 + 300 + 6 + 2 + 2);
    expect(header.headerCrc).toBe(crc32(bytes.subarray(0, header.dataOffset - 2)) & 0xffff);
    expect(readGzipHeader(new Uint8Array(gzipSync(sample)))).toEqual({ dataOffset: 10, headerCrc: null });
  });

  it("refuses an extra field that runs past the end", () => {
    const bytes = new Uint8Array([0x1f, 0x8b, 8, 0x04, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 1, 2, 3]);
    expect(() => readGzipHeader(bytes)).toThrow(expect.objectContaining({ code: "E_BUNDLE_FORMAT" }));
  });

  it("gzipCorrupt keeps the cause and names the problem", () => {
    const error = gzipCorrupt("header crc mismatch");
    expect(error.message).toContain("header crc mismatch");
    expect(error.cause).toBeInstanceOf(Error);
  });
});
