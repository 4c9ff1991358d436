import { createPublicKey, verify as nodeVerify } from "node:crypto";
import { describe, expect, it } from "vitest";
import { generateKeyPair, parseSignature, signBundle } from "../../src/signing/index.js";
import { rejectsWith, throwsWith } from "../bundle/support.js";

const key = await generateKeyPair({ publisher: "acme" });
const contentHash = `sha256:${"ab".repeat(32)}` as const;

describe("signBundle", () => {
  it("returns the detached signature with its fields", async () => {
    const signature = await signBundle(contentHash, key);
    expect(signature).toMatchObject({ algorithm: "ed25519", keyId: key.keyId, publisher: "acme", contentHash });
    expect(Buffer.from(signature.signature, "base64").length).toBe(64);
    expect(Object.isFrozen(signature)).toBe(true);
  });

  it("signs exactly the domain, publisher, key id and content hash, one per line (checked with node:crypto)", async () => {
    const signature = await signBundle(contentHash, key);
    const message = Buffer.from(`annex-bundle-signature/v1\nacme\n${key.keyId}\n${contentHash}`, "utf8");
    const publicKey = createPublicKey({
      key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(key.publicKey, "base64").toString("base64url") },
      format: "jwk",
    });
    const raw = Buffer.from(signature.signature, "base64");
    expect(nodeVerify(null, message, publicKey, raw)).toBe(true);
    // Without the domain line (a bare content hash) it must not verify.
    expect(nodeVerify(null, Buffer.from(contentHash), publicKey, raw)).toBe(false);
  });

  it("is deterministic (ed25519) and differs per content hash", async () => {
    const a = await signBundle(contentHash, key);
    expect((await signBundle(contentHash, key)).signature).toBe(a.signature);
    expect((await signBundle(`sha256:${"cd".repeat(32)}`, key)).signature).not.toBe(a.signature);
  });

  it("refuses a malformed content hash or key", async () => {
    await rejectsWith(signBundle("sha256:xyz" as never, key), "E_SIGNATURE_INVALID");
    await rejectsWith(signBundle(contentHash, { ...key, privateKey: "AAAA" }), "E_KEY_INVALID");
    await rejectsWith(signBundle(contentHash, { ...key, publisher: "acme\nevil" }), "E_KEY_INVALID");
  });
});

describe("parseSignature", () => {
  it("accepts what signBundle makes, as a value or as JSON text", async () => {
    const signature = await signBundle(contentHash, key);
    expect(parseSignature(JSON.parse(JSON.stringify(signature)))).toEqual(signature);
    expect(parseSignature(JSON.stringify(signature))).toEqual(signature);
  });

  it("refuses the signature file's bytes (readFileSync without an encoding) saying to parse them, not naming byte 0 as a field", async () => {
    const signature = await signBundle(contentHash, key);
    for (const bytes of [Buffer.from(JSON.stringify(signature)), new TextEncoder().encode(JSON.stringify(signature)), new TextEncoder().encode("{}").buffer]) {
      const error = throwsWith(() => parseSignature(bytes), "E_SIGNATURE_INVALID");
      expect(error.message).toContain('JSON.parse(readFileSync("x.annex.sig", "utf8"))');
      expect(error.message).not.toContain("not a known field");
      expect(error.details).toMatchObject({ field: "" });
    }
  });

  it.each([
    ["not JSON", () => "{", ""],
    ["null", () => null, ""],
    ["another algorithm", (s: object) => ({ ...s, algorithm: "rsa" }), "algorithm"],
    ["no key id", (s: object) => ({ ...s, keyId: undefined }), "keyId"],
    ["a bad publisher", (s: object) => ({ ...s, publisher: "ACME" }), "publisher"],
    ["a bad content hash", (s: object) => ({ ...s, contentHash: `sha1:${"a".repeat(40)}` }), "contentHash"],
    ["a short signature", (s: object) => ({ ...s, signature: Buffer.alloc(63).toString("base64") }), "signature"],
    ["a non-canonical base64 signature", (s: { signature: string }) => ({ ...s, signature: `${s.signature}\n` }), "signature"],
    ["an unknown field", (s: object) => ({ ...s, timestamp: 1 }), "timestamp"],
    // A repeated group in the base64 check overflowed the regexp stack here: a RangeError, not a typed error.
    ["a signature of 8 million base64 characters", (s: object) => ({ ...s, signature: "A".repeat(8_000_000) }), "signature"],
  ])("refuses %s with E_SIGNATURE_INVALID naming the field", async (_, change, field) => {
    const signature = await signBundle(contentHash, key);
    const error = throwsWith(() => parseSignature(change(signature as never)), "E_SIGNATURE_INVALID");
    expect(error.details).toMatchObject({ field });
  });

  it("names an unknown field of 10 million characters in a bounded message", async () => {
    const signature = await signBundle(contentHash, key);
    const error = throwsWith(() => parseSignature({ ...signature, ["x".repeat(10_000_000)]: 1 }), "E_SIGNATURE_INVALID");
    expect(error.message).toMatch(/xxx… is not a known field/);
    expect(error.message.length).toBeLessThan(300);
  });
});
