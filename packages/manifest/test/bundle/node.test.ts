import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { packBundle, readBundle } from "../../src/bundle/index.js";
import { isVerifiedBundle, parseSignature, parseTrustStore, signBundle, verifyBundle } from "../../src/signing/index.js";
import { nodeGunzip, nodeSha256, readBundleNode, verifyBundleNode } from "../../src/node.js";
import { acmeKey, storeOf, trusted } from "../signing/support.js";
import { rejectsWith, serviceFiles } from "./support.js";

/** @annex/manifest/node: the same results and the same refusals as the main entry, through node:zlib and node:crypto. */

const MiB = 1024 * 1024;
const files = serviceFiles();
files.set("ui/big.bin", Uint8Array.from({ length: 2 * MiB }, (_, i) => (Math.imul(i, 2654435761) >>> 11) & 0xff));
const bytes = await packBundle(files);
const reference = await readBundle(bytes);
const key = await acmeKey();
const signature = await signBundle(reference.contentHash, key);
const store = storeOf(trusted(key, "partner"));
const NOW = new Date("2026-03-01T12:00:00Z");

describe("readBundleNode", () => {
  it("reads a bundle to exactly what readBundle returns", async () => {
    const bundle = await readBundleNode(bytes);
    expect(bundle.contentHash).toBe(reference.contentHash);
    expect(bundle.manifest).toEqual(reference.manifest);
    expect(bundle.index).toEqual(reference.index);
    expect([...bundle.files.keys()]).toEqual([...reference.files.keys()]);
    for (const [path, data] of reference.files) expect(Buffer.from(bundle.files.get(path)!).equals(Buffer.from(data)), path).toBe(true);
    expect(Object.isFrozen(bundle)).toBe(true);
  });

  it("uses the caller's decompress and sha256 when given", async () => {
    let decompressed = 0;
    let hashed = 0;
    await readBundleNode(bytes, {
      decompress: (c, max) => (decompressed++, nodeGunzip(c, max)),
      sha256: (data) => (hashed++, nodeSha256(data)),
    });
    expect(decompressed).toBe(1);
    expect(hashed).toBeGreaterThanOrEqual(files.size + 1);
  });

  it("keeps the limits and the host capabilities it is given", async () => {
    const error = await rejectsWith(readBundleNode(bytes, { limits: { maxFileBytes: MiB } }), "E_BUNDLE_LIMIT");
    expect(error.details).toMatchObject({ limit: "maxFileBytes", path: "ui/big.bin" });
  });
});

describe("verifyBundleNode", () => {
  it("verifies like verifyBundle, and the result is a verified bundle for the main entry's isVerifiedBundle", async () => {
    const verified = await verifyBundleNode(bytes, signature, store, { now: NOW });
    const expected = await verifyBundle(bytes, signature, store, { now: NOW });
    expect(verified.provenance).toEqual(expected.provenance);
    expect(isVerifiedBundle(verified)).toBe(true);
    expect(Buffer.from(verified.bytes).equals(Buffer.from(bytes))).toBe(true);
  });

  it("keeps its own copy of a Node Buffer too (Buffer#slice is a view, not a copy)", async () => {
    const buffer = Buffer.from(bytes);
    const verified = await verifyBundleNode(buffer, signature, store);
    buffer.fill(0);
    expect(Buffer.from(verified.bytes).equals(Buffer.from(bytes))).toBe(true);
    expect(Object.getPrototypeOf(verified.bytes)).toBe(Uint8Array.prototype);
  });

  it("refuses what verifyBundle refuses: no signature in strict mode, a tampered bundle", async () => {
    await rejectsWith(verifyBundleNode(bytes, null, store), "E_SIGNATURE_MISSING");
    // A byte of ui/big.bin, which is stored uncompressed (random bytes): only its sha256 can tell.
    const tampered = bytes.slice();
    tampered[Math.floor(tampered.length / 2)]! ^= 1;
    const error = await rejectsWith(verifyBundleNode(tampered, signature, store), "E_HASH_MISMATCH");
    expect(error.details).toMatchObject({ reason: "sha256", path: "ui/big.bin" });
  });

  it("passes the decompress and sha256 options through verifyBundle to readBundle", async () => {
    const used = { decompress: 0, sha256: 0 };
    await verifyBundle(bytes, signature, store, {
      decompress: (c, max) => (used.decompress++, nodeGunzip(c, max)),
      sha256: (data) => (used.sha256++, nodeSha256(data)),
    });
    expect(used.decompress).toBe(1);
    expect(used.sha256).toBeGreaterThanOrEqual(files.size + 1);
  });
});

describe("nodeGunzip and nodeSha256", () => {
  it("nodeSha256 is SHA-256", () => {
    const data = new Uint8Array(100_000).map((_, i) => i * 7);
    expect(Buffer.from(nodeSha256(data) as Uint8Array).toString("hex")).toBe(createHash("sha256").update(data).digest("hex"));
  });

  it("returns a plain Uint8Array that owns exactly the tar", () => {
    const tar = nodeGunzip(bytes, 64 * MiB) as Uint8Array;
    expect(Object.getPrototypeOf(tar)).toBe(Uint8Array.prototype);
    expect(tar.length % 512).toBe(0);
  });

  it("stops at maxBytes with a hint that is right (one buffer) and with none (chunks)", () => {
    const data = new Uint8Array(3 * MiB).fill(97);
    const right = new Uint8Array(gzipSync(data));
    const noHint = right.slice();
    new DataView(noHint.buffer).setUint32(noHint.length - 4, 0xffffffff, true);
    for (const compressed of [right, noHint]) {
      expect(() => nodeGunzip(compressed, MiB)).toThrow(expect.objectContaining({ code: "E_BUNDLE_LIMIT" }));
    }
    expect((nodeGunzip(right, 3 * MiB) as Uint8Array).length).toBe(3 * MiB);
  });
});

it("the Node example in docs/bundles-and-signing.md runs as written", async () => {
  const dir = await mkdtemp(join(tmpdir(), "annex-node-doc-"));
  try {
    await writeFile(join(dir, "acme.docs-1.0.0.annex"), bytes);
    await writeFile(join(dir, "acme.docs-1.0.0.annex.sig"), JSON.stringify(signature));
    await writeFile(join(dir, "trust.json"), JSON.stringify(store));
    const at = (name: string) => join(dir, name);
    // As in the docs, with the file names resolved in the temporary folder:
    const verified = await verifyBundleNode(
      await readFile(at("acme.docs-1.0.0.annex")),
      parseSignature(await readFile(at("acme.docs-1.0.0.annex.sig"), "utf8")),
      parseTrustStore(await readFile(at("trust.json"), "utf8")),
    );
    expect(verified.provenance).toMatchObject({ signed: true, publisher: "acme", keyId: key.keyId, contentHash: reference.contentHash });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
