import { expect, it } from "vitest";
// The public entry point, as a user imports it: the docs example must run as written.
import {
  BundleError,
  DEFAULT_BUNDLE_LIMITS,
  KeyError,
  SignatureError,
  TrustStoreError,
  computeContentHash,
  generateKeyPair,
  isVerifiedBundle,
  packBundle,
  parsePrivateKey,
  parsePublicKey,
  parseSignature,
  parseTrustStore,
  readBundle,
  serializePrivateKey,
  serializePublicKey,
  sha256,
  sha256Hex,
  signBundle,
  trustedKeyFromPublicKey,
  verifyBundle,
} from "../../src/index.js";

it("the example in docs/bundles-and-signing.md runs as written", async () => {
  const encode = (text: string) => new TextEncoder().encode(text);
  const bytes = await packBundle({
    "annex.json": encode(
      JSON.stringify({
        manifestVersion: 2,
        id: "acme.docs",
        name: "Docs",
        version: "1.0.0",
        publisher: "acme",
        description: "Static help pages.",
        engines: { annex: "^0.1.0" },
        runtime: { class: "bundle" },
        ui: { pages: [{ slot: "app", path: "/", entry: "ui/index.html", title: "Docs" }] },
      }),
    ),
    "ui/index.html": encode("<!doctype html><title>Docs</title>"),
  });
  const key = await generateKeyPair({ publisher: "acme" });
  const { contentHash } = await readBundle(bytes);
  const signatureJson = JSON.stringify(await signBundle(contentHash, key));
  const trustStore = parseTrustStore({
    trustStoreVersion: 1,
    keys: [trustedKeyFromPublicKey(key, "partner", { notAfter: "2030-12-31" })],
  });
  const verified = await verifyBundle(bytes, parseSignature(signatureJson), trustStore, { now: new Date("2029-01-01T00:00:00Z") });
  expect(verified.provenance).toMatchObject({ signed: true, mode: "strict", publisher: "acme", keyId: key.keyId, trustClass: "partner", contentHash });
  expect(isVerifiedBundle(verified)).toBe(true);
});

it("exports the whole agreed API from src/index.ts", () => {
  for (const value of [
    BundleError,
    KeyError,
    SignatureError,
    TrustStoreError,
    computeContentHash,
    generateKeyPair,
    isVerifiedBundle,
    packBundle,
    parsePrivateKey,
    parsePublicKey,
    parseSignature,
    parseTrustStore,
    readBundle,
    serializePrivateKey,
    serializePublicKey,
    sha256,
    sha256Hex,
    signBundle,
    trustedKeyFromPublicKey,
    verifyBundle,
  ]) {
    expect(typeof value).toBe("function");
  }
  expect(DEFAULT_BUNDLE_LIMITS.maxFiles).toBe(10_000);
});
