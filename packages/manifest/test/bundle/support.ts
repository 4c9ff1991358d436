import { createHash } from "node:crypto";
import { crc32, constants, deflateRawSync, gunzipSync, gzipSync } from "node:zlib";
import { type TarEntry, packTar, unpackTar } from "modern-tar";
import { expect } from "vitest";
import { type Gunzip, gunzipFflate, gunzipStream } from "../../src/bundle/gunzip.js";
import { type ReadBundleOptions, readBundle } from "../../src/bundle/read.js";
import type { Bundle } from "../../src/bundle/types.js";
import { isAnnexError } from "../../src/errors.js";
import { nodeGunzip, readBundleNode } from "../../src/node.js";

/**
 * Every decompressor readBundle can be given, by name: the two behind the
 * default (DecompressionStream, and fflate where there is none) and the
 * node:zlib one from @annex/manifest/node. Hostile tests run against each.
 */
export const DECOMPRESSORS = {
  DecompressionStream: gunzipStream,
  fflate: gunzipFflate,
  "node:zlib": nodeGunzip,
} as const satisfies Record<string, Gunzip>;

export const DECOMPRESSOR_CASES = Object.entries(DECOMPRESSORS) as [keyof typeof DECOMPRESSORS, Gunzip][];

export type BundleReader = (bytes: Uint8Array, options?: ReadBundleOptions) => Promise<Bundle>;

/** readBundle with each decompressor; the Node one is readBundleNode, so node:crypto's sha256 is under test too. */
export const READER_CASES: [string, BundleReader][] = [
  ["DecompressionStream", (bytes, options) => readBundle(bytes, { ...options, decompress: gunzipStream })],
  ["fflate", (bytes, options) => readBundle(bytes, { ...options, decompress: gunzipFflate })],
  ["node (readBundleNode)", (bytes, options) => readBundleNode(bytes, options)],
];

/** The canonical example manifests (briefs/examples.md). */
export const SERVICE_MANIFEST = {
  manifestVersion: 2,
  id: "acme.hello",
  name: "Hello",
  version: "1.0.0",
  publisher: "acme",
  description: "Says hello.",
  engines: { annex: "^0.1.0" },
  runtime: { class: "service", entry: "server/index.js" },
  capabilities: [{ name: "log", reason: "Writes request logs for debugging." }],
  endpoints: [{ class: "api", method: "GET", path: "/hello/:name", handler: "hello" }],
};

export const BUNDLE_MANIFEST = {
  manifestVersion: 2,
  id: "acme.docs",
  name: "Docs",
  version: "1.0.0",
  publisher: "acme",
  description: "Static help pages.",
  engines: { annex: "^0.1.0" },
  runtime: { class: "bundle" },
  ui: { pages: [{ slot: "app", path: "/", entry: "ui/index.html", title: "Docs" }] },
};

const encoder = new TextEncoder();
export const text = (value: string): Uint8Array => encoder.encode(value);
export const json = (value: unknown): Uint8Array => text(JSON.stringify(value, null, 2));

/** The files of a small valid service extension. */
export function serviceFiles(): Map<string, Uint8Array> {
  return new Map([
    ["annex.json", json(SERVICE_MANIFEST)],
    ["server/index.js", text("export function hello(req) { return { body: `hello ${req.params.name}` }; }\n")],
    ["ui/index.html", text("<!doctype html><title>Hello</title>")],
    ["README.md", text("# Hello\n")],
  ]);
}

export function docsFiles(): Map<string, Uint8Array> {
  return new Map([
    ["annex.json", json(BUNDLE_MANIFEST)],
    ["ui/index.html", text("<!doctype html><title>Docs</title>")],
  ]);
}

export const sha256Hex = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

export interface IndexEntry {
  path: string;
  size: number;
  sha256: string;
}

export function indexEntries(files: Iterable<[string, Uint8Array]>): IndexEntry[] {
  return [...files]
    .map(([path, bytes]) => ({ path, size: bytes.length, sha256: sha256Hex(bytes) }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export const canonicalIndex = (files: IndexEntry[]): Uint8Array => text(JSON.stringify({ indexVersion: 1, files }));

export const fileEntry = (name: string, body: Uint8Array | string): TarEntry => {
  const bytes = typeof body === "string" ? text(body) : body;
  return { header: { name, size: bytes.length, mtime: new Date(0), mode: 0o644 }, body: bytes };
};

/**
 * Tar entries of a bundle built by hand (not by packBundle), so tests can
 * bend any part of it: `index` replaces the index bytes, `extra` entries go
 * after the files.
 */
export function bundleEntries(
  files: Map<string, Uint8Array> = serviceFiles(),
  options: { index?: Uint8Array; extra?: TarEntry[] } = {},
): TarEntry[] {
  const index = options.index ?? canonicalIndex(indexEntries(files));
  return [fileEntry("annex.index.json", index), ...[...files].map(([name, bytes]) => fileEntry(name, bytes)), ...(options.extra ?? [])];
}

export const gzip = (tar: Uint8Array): Uint8Array => new Uint8Array(gzipSync(tar));
export const gunzip = (bytes: Uint8Array): Uint8Array => new Uint8Array(gunzipSync(bytes));

/** A gzip-compressed tar of `entries`, written by modern-tar's packer. */
export async function tarGz(entries: TarEntry[]): Promise<Uint8Array> {
  return gzip(await packTar(entries));
}

export const untar = (tar: Uint8Array) => unpackTar(tar, { strict: true });

// --- Hand-written tar pieces, only for what modern-tar's packer cannot write:
// bad checksums, names that are not UTF-8, raw type flags.

function writeAscii(block: Uint8Array, offset: number, length: number, value: string): void {
  for (let i = 0; i < Math.min(value.length, length); i++) block[offset + i] = value.charCodeAt(i);
}

const octal = (value: number, width: number): string => `${value.toString(8).padStart(width - 1, "0")}\0`;

export interface RawHeader {
  name: string | Uint8Array;
  size?: number;
  typeflag?: string;
  linkname?: string;
  /** The ustar prefix field (a reader joins it to the name with "/"). */
  prefix?: string;
  /** Store this instead of the correct checksum. */
  checksum?: number;
}

/** One 512-byte ustar header, written byte by byte. */
export function rawHeader({ name, size = 0, typeflag = "0", linkname = "", prefix = "", checksum }: RawHeader): Uint8Array {
  const block = new Uint8Array(512);
  const nameBytes = typeof name === "string" ? text(name) : name;
  block.set(nameBytes.subarray(0, 100), 0);
  writeAscii(block, 100, 8, octal(0o644, 8));
  writeAscii(block, 108, 8, octal(0, 8));
  writeAscii(block, 116, 8, octal(0, 8));
  writeAscii(block, 124, 12, octal(size, 12));
  writeAscii(block, 136, 12, octal(0, 12));
  writeAscii(block, 156, 1, typeflag);
  writeAscii(block, 157, 100, linkname);
  writeAscii(block, 257, 6, "ustar\0");
  writeAscii(block, 263, 2, "00");
  writeAscii(block, 345, 155, prefix);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  writeAscii(block, 148, 8, `${(checksum ?? sum).toString(8).padStart(6, "0")}\0 `);
  return block;
}

/** A header followed by its body padded to a whole block. */
export function rawEntry(header: RawHeader, body: Uint8Array = new Uint8Array(0)): Uint8Array {
  const padded = new Uint8Array(Math.ceil(body.length / 512) * 512);
  padded.set(body);
  return concat(rawHeader({ ...header, size: header.size ?? body.length }), padded);
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** A complete tar: the given raw pieces, then the two-block end marker. */
export const rawTar = (...pieces: Uint8Array[]): Uint8Array => concat(...pieces, new Uint8Array(1024));

/**
 * A gzip stream that inflates to `totalBytes` of zeros after `prefix`,
 * without ever holding those zeros: one 16 MiB block of zeros is deflated
 * once (full flush, so it stands alone) and repeated.
 */
export function zeroBomb(totalBytes: number, prefix: Uint8Array = new Uint8Array(0)): Uint8Array {
  const chunk = 16 * 1024 * 1024;
  if (totalBytes % chunk !== 0) throw new Error("zeroBomb sizes are whole multiples of 16 MiB");
  const zeros = new Uint8Array(chunk);
  const block = deflateRawSync(zeros, { finishFlush: constants.Z_FULL_FLUSH, level: 9 });
  const head = deflateRawSync(prefix, { finishFlush: constants.Z_FULL_FLUSH });
  const count = totalBytes / chunk;
  let crc = crc32(prefix);
  for (let i = 0; i < count; i++) crc = crc32(zeros, crc);
  const trailer = new Uint8Array(8);
  const view = new DataView(trailer.buffer);
  view.setUint32(0, crc >>> 0, true);
  view.setUint32(4, (prefix.length + totalBytes) % 2 ** 32, true);
  const header = new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
  return concat(header, head, ...Array<Uint8Array>(count).fill(block), new Uint8Array([3, 0]), trailer);
}

/**
 * A gzip stream of `prefix`, then each file's tar header and its zeros (sizes whole multiples of 16 MiB), then
 * the end-of-archive marker: hundreds of MiB of valid-looking tar in about a MiB. Like `zeroBomb`, it never
 * holds the zeros.
 */
export function filesBomb(prefix: Uint8Array, files: { name: string; size: number }[]): Uint8Array {
  const chunk = 16 * 1024 * 1024;
  const zeros = new Uint8Array(chunk);
  const block = deflateRawSync(zeros, { finishFlush: constants.Z_FULL_FLUSH, level: 9 });
  const flushed = (bytes: Uint8Array): Uint8Array => deflateRawSync(bytes, { finishFlush: constants.Z_FULL_FLUSH });
  const parts: Uint8Array[] = [flushed(prefix)];
  let crc = crc32(prefix);
  let total = prefix.length;
  for (const { name, size } of files) {
    if (size % chunk !== 0) throw new Error("filesBomb sizes are whole multiples of 16 MiB");
    const header = rawHeader({ name, size });
    parts.push(flushed(header));
    crc = crc32(header, crc);
    for (let i = 0; i < size / chunk; i++) {
      parts.push(block);
      crc = crc32(zeros, crc);
    }
    total += header.length + size;
  }
  const end = new Uint8Array(1024);
  parts.push(flushed(end));
  crc = crc32(end, crc);
  total += end.length;
  const trailer = new Uint8Array(8);
  const view = new DataView(trailer.buffer);
  view.setUint32(0, crc >>> 0, true);
  view.setUint32(4, total % 2 ** 32, true);
  return concat(new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), ...parts, new Uint8Array([3, 0]), trailer);
}

/** Awaits `promise` and asserts that it rejected with an AnnexError of `code`; returns the error for further checks. */
export async function rejectsWith(promise: Promise<unknown>, code: string): Promise<Record<string, unknown> & { code: string; message: string; details: Record<string, unknown> }> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected a rejection with ${code}`).toBeDefined();
  if (!isAnnexError(caught)) throw caught;
  expect({ code: caught.code, message: caught.message }).toMatchObject({ code });
  return caught as never;
}

export function throwsWith(fn: () => unknown, code: string): { code: string; message: string; details: Record<string, unknown> } {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected a throw with ${code}`).toBeDefined();
  if (!isAnnexError(caught)) throw caught;
  expect({ code: caught.code, message: caught.message }).toMatchObject({ code });
  return caught as never;
}
