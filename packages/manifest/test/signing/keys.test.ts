import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  generateKeyPair,
  parsePrivateKey,
  parsePublicKey,
  serializePrivateKey,
  serializePublicKey,
  trustedKeyFromPublicKey,
} from "../../src/signing/index.js";
import { throwsWith } from "../bundle/support.js";

describe("generateKeyPair", () => {
  it("makes raw 32-byte keys in base64 with the default key id <publisher>:<16 hex of sha256(publicKey)>", async () => {
    const key = await generateKeyPair({ publisher: "acme" });
    const publicKey = Buffer.from(key.publicKey, "base64");
    expect(publicKey.length).toBe(32);
    expect(Buffer.from(key.privateKey, "base64").length).toBe(32);
    expect(key.keyId).toBe(`acme:${createHash("sha256").update(publicKey).digest("hex").slice(0, 16)}`);
    expect(key.publisher).toBe("acme");
    expect(Object.isFrozen(key)).toBe(true);
  });

  it("makes a different key every time and keeps a chosen key id", async () => {
    const a = await generateKeyPair({ publisher: "acme", keyId: "acme-2025" });
    const b = await generateKeyPair({ publisher: "acme", keyId: "acme-2025" });
    expect(a.keyId).toBe("acme-2025");
    expect(a.privateKey).not.toBe(b.privateKey);
  });

  it.each([{ publisher: "Acme Corp" }, { publisher: "" }, { publisher: "acme", keyId: "has space" }, { publisher: "acme", keyId: "new\nline" }])(
    "refuses %j with E_KEY_INVALID",
    async (options) => {
      await expect(generateKeyPair(options)).rejects.toMatchObject({ code: "E_KEY_INVALID" });
    },
  );
});

describe("key files", () => {
  it("round-trip private and public keys, and the public file holds no private key", async () => {
    const key = await generateKeyPair({ publisher: "acme" });
    const privateText = serializePrivateKey(key);
    const publicText = serializePublicKey(key);
    expect(JSON.parse(privateText)).toEqual({ type: "annex-ed25519-private-key", keyId: key.keyId, publisher: "acme", privateKey: key.privateKey });
    expect(JSON.parse(publicText)).toEqual({ type: "annex-ed25519-public-key", keyId: key.keyId, publisher: "acme", publicKey: key.publicKey });
    expect(publicText).not.toContain(key.privateKey);
    expect(parsePrivateKey(privateText)).toEqual({ keyId: key.keyId, publisher: "acme", privateKey: key.privateKey });
    expect(parsePublicKey(JSON.parse(publicText))).toEqual({ keyId: key.keyId, publisher: "acme", publicKey: key.publicKey });
  });

  it("refuses a public key file where a private one is expected, and the reverse", async () => {
    const key = await generateKeyPair({ publisher: "acme" });
    expect(throwsWith(() => parsePrivateKey(serializePublicKey(key)), "E_KEY_INVALID").details).toMatchObject({ field: "type" });
    expect(throwsWith(() => parsePublicKey(serializePrivateKey(key)), "E_KEY_INVALID").details).toMatchObject({ field: "type" });
  });

  it.each([
    ["not JSON", "{", undefined],
    ["an array", "[]", undefined],
    ["an unknown field", { extra: 1 }, "extra"],
    ["a short key", { privateKey: Buffer.alloc(31).toString("base64") }, "privateKey"],
    ["base64 with whitespace", { privateKey: ` ${Buffer.alloc(32).toString("base64")}` }, "privateKey"],
    ["unpadded base64", { privateKey: Buffer.alloc(32).toString("base64").replace(/=+$/, "") }, "privateKey"],
    ["a bad publisher", { publisher: "ACME" }, "publisher"],
    ["a bad key id", { keyId: "" }, "keyId"],
  ])("refuses a private key file with %s", async (_, change, field) => {
    const key = await generateKeyPair({ publisher: "acme" });
    const input = typeof change === "string" ? change : { ...JSON.parse(serializePrivateKey(key)), ...change };
    const error = throwsWith(() => parsePrivateKey(input), "E_KEY_INVALID");
    if (field !== undefined) expect(error.details).toMatchObject({ field });
  });

  it("refuses a public key that is of small order", () => {
    const identity = Buffer.alloc(32);
    identity[0] = 1;
    const input = { type: "annex-ed25519-public-key", keyId: "acme:x", publisher: "acme", publicKey: identity.toString("base64") };
    expect(throwsWith(() => parsePublicKey(input), "E_KEY_INVALID").details).toMatchObject({ field: "publicKey" });
  });
});

describe("trustedKeyFromPublicKey", () => {
  it("makes a trust-store entry with the class and optional notAfter", async () => {
    const key = await generateKeyPair({ publisher: "acme" });
    expect(trustedKeyFromPublicKey(key, "partner")).toEqual({ keyId: key.keyId, publisher: "acme", publicKey: key.publicKey, trustClass: "partner" });
    expect(trustedKeyFromPublicKey(key, "first-party", { notAfter: "2030-01-01" })).toMatchObject({ notAfter: "2030-01-01" });
    expect("privateKey" in trustedKeyFromPublicKey(key, "partner")).toBe(false);
  });

  it("refuses a bad class or date", async () => {
    const key = await generateKeyPair({ publisher: "acme" });
    expect(throwsWith(() => trustedKeyFromPublicKey(key, "Partner"), "E_KEY_INVALID").details).toMatchObject({ field: "trustClass" });
    expect(throwsWith(() => trustedKeyFromPublicKey(key, "partner", { notAfter: "2030-02-30" }), "E_KEY_INVALID").details).toMatchObject({
      field: "notAfter",
    });
  });
});
