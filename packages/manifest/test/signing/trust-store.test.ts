import { describe, expect, it } from "vitest";
import { generateKeyPair, parseTrustStore, trustedKeyFromPublicKey } from "../../src/signing/index.js";
import { throwsWith } from "../bundle/support.js";

const key = await generateKeyPair({ publisher: "acme" });
const other = await generateKeyPair({ publisher: "globex" });
const entry = trustedKeyFromPublicKey(key, "partner");
const valid = { trustStoreVersion: 1, keys: [entry, { ...trustedKeyFromPublicKey(other, "community"), notAfter: "2031-06-30T12:00:00Z", revoked: false }] };

describe("parseTrustStore", () => {
  it("accepts a valid store, as a value or as JSON text, and freezes it", () => {
    const store = parseTrustStore(valid);
    expect(store).toEqual(valid);
    expect(parseTrustStore(JSON.stringify(valid))).toEqual(valid);
    expect(Object.isFrozen(store)).toBe(true);
    expect(Object.isFrozen(store.keys)).toBe(true);
    expect(Object.isFrozen(store.keys[0])).toBe(true);
    expect(parseTrustStore({ trustStoreVersion: 1, keys: [] }).keys).toEqual([]);
  });

  it("refuses the file's bytes (readFileSync without an encoding) saying to parse them", () => {
    const error = throwsWith(() => parseTrustStore(Buffer.from(JSON.stringify(valid))), "E_TRUST_STORE");
    expect(error.message).toContain('JSON.parse(readFileSync("trust.json", "utf8"))');
    expect(error.details).toMatchObject({ field: "" });
  });

  it.each([
    ["not JSON", "{", ""],
    ["not an object", [], ""],
    ["a wrong version", { ...valid, trustStoreVersion: 2 }, "trustStoreVersion"],
    ["an unknown top-level field", { ...valid, extra: true }, "extra"],
    ["keys that are not an array", { ...valid, keys: {} }, "keys"],
    ["a key that is not an object", { ...valid, keys: [entry, 7] }, "keys[1]"],
    ["an unknown key field", { ...valid, keys: [{ ...entry, privateKey: "x" }] }, "keys[0].privateKey"],
    ["a bad key id", { ...valid, keys: [{ ...entry, keyId: "a b" }] }, "keys[0].keyId"],
    ["a bad publisher", { ...valid, keys: [{ ...entry, publisher: "Acme" }] }, "keys[0].publisher"],
    ["a short public key", { ...valid, keys: [{ ...entry, publicKey: "AAAA" }] }, "keys[0].publicKey"],
    ["a public key of 8 million base64 characters", { ...valid, keys: [{ ...entry, publicKey: "A".repeat(8_000_000) }] }, "keys[0].publicKey"],
    ["a public key off the curve", { ...valid, keys: [{ ...entry, publicKey: Buffer.alloc(32, 0xff).toString("base64") }] }, "keys[0].publicKey"],
    ["a missing trust class", { ...valid, keys: [{ ...entry, trustClass: undefined }] }, "keys[0].trustClass"],
    ["an impossible date", { ...valid, keys: [{ ...entry, notAfter: "2030-02-30" }] }, "keys[0].notAfter"],
    ["a local time without a zone", { ...valid, keys: [{ ...entry, notAfter: "2030-01-01T10:00:00" }] }, "keys[0].notAfter"],
    ["revoked that is not a boolean", { ...valid, keys: [{ ...entry, revoked: "yes" }] }, "keys[0].revoked"],
    ["a repeated key id", { ...valid, keys: [entry, { ...entry }] }, "keys[1].keyId"],
  ])("refuses %s with E_TRUST_STORE naming the field", (_, input, field) => {
    const error = throwsWith(() => parseTrustStore(input), "E_TRUST_STORE");
    expect(error.details).toMatchObject({ field });
    if (field !== "") expect(error.message).toContain(field);
  });
});
