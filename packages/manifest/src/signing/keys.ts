import { toBase64, toHex } from "../crypto/bytes.js";
import { ed25519PublicKey, isUsableEd25519PublicKey, randomSeed } from "../crypto/ed25519.js";
import { sha256 } from "../crypto/sha256.js";
import { KeyError } from "./errors.js";
import { TRUST_CLASS_PATTERN, base64Bytes, isKeyId, isPublisher, isRecord, parseJsonInput, unknownKeys } from "./fields.js";
import { isIsoDate } from "./dates.js";
import type { TrustedKey } from "./trust-store.js";

/** An ed25519 key pair for one publisher. Keys are base64 of the raw 32 bytes (the private key is RFC 8032's seed). */
export interface KeyPair {
  keyId: string;
  publisher: string;
  publicKey: string;
  privateKey: string;
}

export type PrivateKey = Pick<KeyPair, "keyId" | "publisher" | "privateKey">;
export type PublicKey = Pick<KeyPair, "keyId" | "publisher" | "publicKey">;

export const PRIVATE_KEY_TYPE = "annex-ed25519-private-key";
export const PUBLIC_KEY_TYPE = "annex-ed25519-public-key";

function checkPublisher(publisher: unknown, field = "publisher"): asserts publisher is string {
  if (!isPublisher(publisher)) {
    throw new KeyError(`${field} must be a publisher id (lowercase letters, digits and single hyphens, e.g. acme), got ${JSON.stringify(publisher)}.`, {
      field,
    });
  }
}

function checkKeyId(keyId: unknown, field = "keyId"): asserts keyId is string {
  if (!isKeyId(keyId)) {
    throw new KeyError(`${field} must be 1 to 128 characters of letters, digits and . _ : @ + -, starting with a letter or digit; got ${JSON.stringify(keyId)}.`, {
      field,
    });
  }
}

/** `<publisher>:<first 16 hex digits of sha256(publicKey)>`: short, and names whose key it is. */
export async function defaultKeyId(publisher: string, publicKey: Uint8Array): Promise<string> {
  return `${publisher}:${toHex(await sha256(publicKey)).slice(0, 16)}`;
}

/** A fresh key pair for `publisher`, with `keyId` or the default key id. */
export async function generateKeyPair(options: { publisher: string; keyId?: string }): Promise<KeyPair> {
  checkPublisher(options?.publisher);
  if (options.keyId !== undefined) checkKeyId(options.keyId);
  const seed = randomSeed();
  const publicKey = await ed25519PublicKey(seed);
  return Object.freeze({
    keyId: options.keyId ?? (await defaultKeyId(options.publisher, publicKey)),
    publisher: options.publisher,
    publicKey: toBase64(publicKey),
    privateKey: toBase64(seed),
  });
}

/** The raw 32-byte seed of a private key object, after checking its fields. */
export function privateKeyBytes(key: PrivateKey): Uint8Array {
  if (!isRecord(key)) throw new KeyError("The signing key must be an object { keyId, publisher, privateKey }.", {});
  checkKeyId(key.keyId);
  checkPublisher(key.publisher);
  const seed = base64Bytes(key.privateKey, 32);
  if (!seed) throw new KeyError("privateKey must be base64 of a 32-byte ed25519 private key.", { field: "privateKey" });
  return seed;
}

function parseKeyFile(input: unknown, type: string, keyField: "privateKey" | "publicKey"): Record<string, unknown> {
  const parsed = parseJsonInput(input);
  const kind = keyField === "privateKey" ? "private" : "public";
  if (!parsed.ok) throw new KeyError(`The ${kind} key file is not valid JSON.`, {}, { cause: parsed.error });
  const value = parsed.value;
  if (!isRecord(value)) throw new KeyError(`The ${kind} key file must be a JSON object.`, {});
  if (value.type !== type) {
    throw new KeyError(`The ${kind} key file must have "type": "${type}", got ${JSON.stringify(value.type)}. Is this the right file?`, {
      field: "type",
    });
  }
  const extra = unknownKeys(value, ["type", "keyId", "publisher", keyField]);
  if (extra.length > 0) throw new KeyError(`The ${kind} key file has unknown field(s): ${extra.join(", ")}.`, { field: extra[0] });
  checkKeyId(value.keyId);
  checkPublisher(value.publisher);
  return value;
}

/** JSON text of a private key file. Store it with 0600 permissions; never print it. */
export function serializePrivateKey(key: PrivateKey): string {
  privateKeyBytes(key);
  return `${JSON.stringify({ type: PRIVATE_KEY_TYPE, keyId: key.keyId, publisher: key.publisher, privateKey: key.privateKey }, null, 2)}\n`;
}

/** A private key file (JSON text or parsed value) back to `{ keyId, publisher, privateKey }`. Throws KeyError E_KEY_INVALID. */
export function parsePrivateKey(input: unknown): PrivateKey {
  const value = parseKeyFile(input, PRIVATE_KEY_TYPE, "privateKey");
  const key = { keyId: value.keyId as string, publisher: value.publisher as string, privateKey: value.privateKey as string };
  privateKeyBytes(key);
  return Object.freeze(key);
}

function checkPublicKey(publicKey: unknown): void {
  const bytes = base64Bytes(publicKey, 32);
  if (!bytes) throw new KeyError("publicKey must be base64 of a 32-byte ed25519 public key.", { field: "publicKey" });
  if (!isUsableEd25519PublicKey(bytes)) {
    throw new KeyError("publicKey is not a usable ed25519 public key (not a curve point, or of small order).", { field: "publicKey" });
  }
}

/** JSON text of a public key file: what a publisher hands to the hosts that should trust them. */
export function serializePublicKey(key: PublicKey): string {
  checkKeyId(key.keyId);
  checkPublisher(key.publisher);
  checkPublicKey(key.publicKey);
  return `${JSON.stringify({ type: PUBLIC_KEY_TYPE, keyId: key.keyId, publisher: key.publisher, publicKey: key.publicKey }, null, 2)}\n`;
}

/** A public key file (JSON text or parsed value) back to `{ keyId, publisher, publicKey }`. Throws KeyError E_KEY_INVALID. */
export function parsePublicKey(input: unknown): PublicKey {
  const value = parseKeyFile(input, PUBLIC_KEY_TYPE, "publicKey");
  checkPublicKey(value.publicKey);
  return Object.freeze({ keyId: value.keyId as string, publisher: value.publisher as string, publicKey: value.publicKey as string });
}

/** A trust-store entry for a publisher's public key, in the given trust class (e.g. "partner"). */
export function trustedKeyFromPublicKey(key: PublicKey, trustClass: string, options: { notAfter?: string } = {}): TrustedKey {
  checkKeyId(key.keyId);
  checkPublisher(key.publisher);
  checkPublicKey(key.publicKey);
  if (!TRUST_CLASS_PATTERN.test(trustClass)) {
    throw new KeyError(`trustClass must be a lowercase word with hyphens (e.g. first-party, partner, community), got ${JSON.stringify(trustClass)}.`, {
      field: "trustClass",
    });
  }
  if (options.notAfter !== undefined && !isIsoDate(options.notAfter)) {
    throw new KeyError(`notAfter must be an ISO 8601 date or date-time, got ${JSON.stringify(options.notAfter)}.`, { field: "notAfter" });
  }
  const entry: TrustedKey = { keyId: key.keyId, publisher: key.publisher, publicKey: key.publicKey, trustClass };
  if (options.notAfter !== undefined) entry.notAfter = options.notAfter;
  return Object.freeze(entry);
}

