import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";
import { asBufferSource, bytesEqual, concatBytes, fromBase64Url } from "./bytes.js";

/**
 * Ed25519 through WebCrypto when the runtime implements it correctly (Node 20,
 * recent browsers) and @noble/ed25519 otherwise. The choice is made once, by
 * signing and verifying RFC 8032's first test vector: a runtime that merely
 * exposes the algorithm name but gets the answer wrong falls back to noble.
 *
 * Keys are raw: a 32-byte seed (what RFC 8032 calls the private key) and a
 * 32-byte public key. Verification is strict RFC 8032 on both backends
 * (noble with `zip215: false`), so both accept exactly the same signatures.
 */
export type Ed25519BackendName = "webcrypto" | "noble";

interface Ed25519Backend {
  readonly name: Ed25519BackendName;
  publicKey(seed: Uint8Array): Promise<Uint8Array>;
  sign(seed: Uint8Array, message: Uint8Array): Promise<Uint8Array>;
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean>;
}

// RFC 8032 section 7.1, TEST 1 (empty message).
const VECTOR = {
  seed: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
  publicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
  signature:
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
};

// DER prefix of a PKCS#8 OneAsymmetricKey holding an Ed25519 seed (RFC 8410).
const PKCS8_PREFIX = new Uint8Array([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);
const ALGORITHM = { name: "Ed25519" } as const;

function hexToBytes(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g) ?? [], (pair) => Number.parseInt(pair, 16));
}

let nobleReady = false;
function useNoble(): typeof ed {
  // noble's synchronous API needs a SHA-512; set it here rather than at import
  // so that merely importing this module changes nothing.
  if (!nobleReady) {
    ed.hashes.sha512 = sha512;
    nobleReady = true;
  }
  return ed;
}

const nobleBackend: Ed25519Backend = {
  name: "noble",
  async publicKey(seed) {
    return useNoble().getPublicKey(seed);
  },
  async sign(seed, message) {
    return useNoble().sign(message, seed);
  },
  async verify(publicKey, message, signature) {
    try {
      return useNoble().verify(signature, message, publicKey, { zip215: false });
    } catch {
      return false;
    }
  },
};

function webCryptoBackend(subtle: SubtleCrypto): Ed25519Backend {
  const importSeed = (seed: Uint8Array, extractable: boolean) =>
    subtle.importKey("pkcs8", asBufferSource(concatBytes(PKCS8_PREFIX, seed)), ALGORITHM, extractable, ["sign"]);
  return {
    name: "webcrypto",
    async publicKey(seed) {
      const jwk = await subtle.exportKey("jwk", await importSeed(seed, true));
      const x = typeof jwk.x === "string" ? fromBase64Url(jwk.x) : null;
      if (!x || x.length !== 32) throw new Error("WebCrypto returned no Ed25519 public key");
      return x;
    },
    async sign(seed, message) {
      const key = await importSeed(seed, false);
      return new Uint8Array(await subtle.sign(ALGORITHM, key, asBufferSource(message)));
    },
    async verify(publicKey, message, signature) {
      try {
        const key = await subtle.importKey("raw", asBufferSource(publicKey), ALGORITHM, false, ["verify"]);
        return await subtle.verify(ALGORITHM, key, asBufferSource(signature), asBufferSource(message));
      } catch {
        // An encoding that is not a curve point is an invalid signature, not a crash.
        return false;
      }
    },
  };
}

async function passesSelfTest(backend: Ed25519Backend): Promise<boolean> {
  try {
    const seed = hexToBytes(VECTOR.seed);
    const publicKey = hexToBytes(VECTOR.publicKey);
    const expected = hexToBytes(VECTOR.signature);
    const message = new Uint8Array(0);
    const signature = await backend.sign(seed, message);
    if (!bytesEqual(signature, expected)) return false;
    if (!bytesEqual(await backend.publicKey(seed), publicKey)) return false;
    if (!(await backend.verify(publicKey, message, signature))) return false;
    const tampered = signature.slice();
    tampered[0]! ^= 1;
    return !(await backend.verify(publicKey, message, tampered));
  } catch {
    return false;
  }
}

let forced: Ed25519BackendName | null = null;
let detected: Promise<Ed25519Backend> | null = null;

async function detect(): Promise<Ed25519Backend> {
  const subtle = globalThis.crypto?.subtle;
  if (subtle && typeof subtle.importKey === "function") {
    const candidate = webCryptoBackend(subtle);
    if (await passesSelfTest(candidate)) return candidate;
  }
  return nobleBackend;
}

function backend(): Promise<Ed25519Backend> {
  if (forced === "noble") return Promise.resolve(nobleBackend);
  if (forced === "webcrypto") {
    const subtle = globalThis.crypto?.subtle;
    if (!subtle) return Promise.reject(new Error("WebCrypto is not available in this runtime"));
    return Promise.resolve(webCryptoBackend(subtle));
  }
  detected ??= detect();
  return detected;
}

/** Which backend signs and verifies (detected once, then cached). */
export async function ed25519Backend(): Promise<Ed25519BackendName> {
  return (await backend()).name;
}

/** For tests and benchmarks: pin a backend, or pass null to detect again. Not part of the public API. */
export function forceEd25519Backend(name: Ed25519BackendName | null): void {
  forced = name;
  if (name === null) detected = null;
}

export function randomSeed(): Uint8Array {
  return globalThis.crypto.getRandomValues(new Uint8Array(32));
}

export async function ed25519PublicKey(seed: Uint8Array): Promise<Uint8Array> {
  return (await backend()).publicKey(seed);
}

export async function ed25519Sign(seed: Uint8Array, message: Uint8Array): Promise<Uint8Array> {
  return (await backend()).sign(seed, message);
}

export async function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  return (await backend()).verify(publicKey, message, signature);
}

/**
 * True when `publicKey` decodes to a curve point outside the small-order
 * subgroup. Small-order keys let anyone forge signatures that verify for some
 * messages, so a trust store must never hold one.
 */
export function isUsableEd25519PublicKey(publicKey: Uint8Array): boolean {
  if (publicKey.length !== 32) return false;
  try {
    return !ed.Point.fromBytes(publicKey, false).isSmallOrder();
  } catch {
    return false;
  }
}
