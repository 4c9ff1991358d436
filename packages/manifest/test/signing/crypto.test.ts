import { createHash, createPrivateKey, createPublicKey, sign as nodeSign } from "node:crypto";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { toBase64 } from "../../src/crypto/bytes.js";
import {
  ed25519Backend,
  ed25519PublicKey,
  ed25519Sign,
  ed25519Verify,
  forceEd25519Backend,
  isUsableEd25519PublicKey,
} from "../../src/crypto/ed25519.js";
import { sha256HexAll } from "../../src/crypto/hash-all.js";
import { forceSha256Backend, sha256, sha256Backend, sha256Hex } from "../../src/crypto/sha256.js";

const hex = (value: string) => Uint8Array.from(Buffer.from(value, "hex"));
const BACKENDS = ["webcrypto", "noble"] as const;

afterEach(() => {
  forceEd25519Backend(null);
  forceSha256Backend(null);
});

describe("sha256", () => {
  it("uses WebCrypto on Node 20", () => {
    expect(sha256Backend()).toBe("webcrypto");
  });

  it.each(BACKENDS)("%s agrees with node:crypto on random input", async (backend) => {
    forceSha256Backend(backend);
    expect(sha256Backend()).toBe(backend);
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 3000 }), async (bytes) => {
        expect(await sha256Hex(bytes)).toBe(createHash("sha256").update(bytes).digest("hex"));
      }),
      { numRuns: 100 },
    );
    expect(await sha256Hex(new Uint8Array(0))).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect((await sha256(new Uint8Array(1))).length).toBe(32);
  });

  it.each(BACKENDS)("sha256HexAll (%s) hashes small and large inputs in order, as node:crypto does", async (backend) => {
    forceSha256Backend(backend);
    const sizes = [0, 1, 4095, 4096, 4097, 70_000, 3, 100_000, 10];
    const inputs = sizes.map((size, i) => Uint8Array.from({ length: size }, (_, j) => (i * 31 + j * 7) % 256));
    expect(await sha256HexAll(inputs)).toEqual(inputs.map((input) => createHash("sha256").update(input).digest("hex")));
    expect(await sha256HexAll([])).toEqual([]);
  });

  it("hashes views into a larger buffer by their own bytes only", async () => {
    const whole = Uint8Array.from({ length: 100 }, (_, i) => i);
    const view = whole.subarray(10, 20);
    expect(await sha256Hex(view)).toBe(createHash("sha256").update(view).digest("hex"));
  });
});

// RFC 8032 section 7.1, tests 1 to 3.
const VECTORS = [
  {
    seed: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    publicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    message: "",
    signature:
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
  },
  {
    seed: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    publicKey: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    message: "72",
    signature:
      "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
  },
  {
    seed: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
    publicKey: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
    message: "af82",
    signature:
      "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
  },
];

describe("ed25519", () => {
  it("picks WebCrypto on Node 20 after its self-test", async () => {
    expect(await ed25519Backend()).toBe("webcrypto");
  });

  describe.each(BACKENDS)("%s backend", (backend) => {
    it.each(VECTORS.map((v, i) => [i + 1, v] as const))("RFC 8032 test %i", async (_, vector) => {
      forceEd25519Backend(backend);
      expect(await ed25519Backend()).toBe(backend);
      const seed = hex(vector.seed);
      expect(Buffer.from(await ed25519PublicKey(seed)).toString("hex")).toBe(vector.publicKey);
      expect(Buffer.from(await ed25519Sign(seed, hex(vector.message))).toString("hex")).toBe(vector.signature);
      expect(await ed25519Verify(hex(vector.publicKey), hex(vector.message), hex(vector.signature))).toBe(true);
      expect(await ed25519Verify(hex(vector.publicKey), hex(`${vector.message}00`), hex(vector.signature))).toBe(false);
    });

    it("refuses a malleated signature (S + L), as strict RFC 8032 requires", async () => {
      forceEd25519Backend(backend);
      const vector = VECTORS[0]!;
      const signature = hex(vector.signature);
      // Add the group order L to S (little-endian) to get another encoding of the same scalar.
      const L = hex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
      let carry = 0;
      for (let i = 0; i < 32; i++) {
        const sum = signature[32 + i]! + L[i]! + carry;
        signature[32 + i] = sum & 0xff;
        carry = sum >> 8;
      }
      expect(await ed25519Verify(hex(vector.publicKey), new Uint8Array(0), signature)).toBe(false);
    });

    it("returns false, never throws, for keys and signatures of the wrong length or not on the curve", async () => {
      forceEd25519Backend(backend);
      const vector = VECTORS[0]!;
      expect(await ed25519Verify(new Uint8Array(31), new Uint8Array(0), hex(vector.signature))).toBe(false);
      expect(await ed25519Verify(hex(vector.publicKey), new Uint8Array(0), new Uint8Array(63))).toBe(false);
      const notAPoint = new Uint8Array(32).fill(0xff);
      expect(await ed25519Verify(notAPoint, new Uint8Array(0), hex(vector.signature))).toBe(false);
    });
  });

  it("the two backends make identical signatures and accept each other's, and node:crypto agrees", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 300 }), async (seed, message) => {
        forceEd25519Backend("webcrypto");
        const fromWebCrypto = await ed25519Sign(seed, message);
        const publicKey = await ed25519PublicKey(seed);
        forceEd25519Backend("noble");
        const fromNoble = await ed25519Sign(seed, message);
        expect(Buffer.from(fromNoble).equals(Buffer.from(fromWebCrypto))).toBe(true);
        expect(Buffer.from(await ed25519PublicKey(seed)).equals(Buffer.from(publicKey))).toBe(true);
        expect(await ed25519Verify(publicKey, message, fromWebCrypto)).toBe(true);
        forceEd25519Backend("webcrypto");
        expect(await ed25519Verify(publicKey, message, fromNoble)).toBe(true);
        // An independent implementation: node:crypto with the same seed in PKCS#8.
        const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]);
        const nodeSignature = nodeSign(null, message, createPrivateKey({ key: der, format: "der", type: "pkcs8" }));
        expect(nodeSignature.equals(Buffer.from(fromWebCrypto))).toBe(true);
        const jwk = createPublicKey(createPrivateKey({ key: der, format: "der", type: "pkcs8" })).export({ format: "jwk" });
        expect(jwk.x).toBe(toBase64(publicKey).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""));
      }),
      { numRuns: 30 },
    );
  });

  it("a flipped bit anywhere in the signature fails on both backends", async () => {
    const vector = VECTORS[1]!;
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 511 }), async (bit) => {
        const signature = hex(vector.signature);
        signature[bit >> 3]! ^= 1 << (bit & 7);
        for (const backend of BACKENDS) {
          forceEd25519Backend(backend);
          expect(await ed25519Verify(hex(vector.publicKey), hex(vector.message), signature)).toBe(false);
        }
      }),
      { numRuns: 60 },
    );
  });

  it("calls a small-order or off-curve public key unusable", () => {
    expect(isUsableEd25519PublicKey(hex(VECTORS[0]!.publicKey))).toBe(true);
    const identity = new Uint8Array(32);
    identity[0] = 1; // y = 1: the neutral element, order 1
    expect(isUsableEd25519PublicKey(identity)).toBe(false);
    // y = -1 (p - 1): order 2
    expect(isUsableEd25519PublicKey(hex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"))).toBe(false);
    expect(isUsableEd25519PublicKey(new Uint8Array(32).fill(0xff))).toBe(false);
    expect(isUsableEd25519PublicKey(new Uint8Array(16))).toBe(false);
  });
});
