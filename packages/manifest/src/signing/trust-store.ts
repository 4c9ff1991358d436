import { isUsableEd25519PublicKey } from "../crypto/ed25519.js";
import { isIsoDate } from "./dates.js";
import { TrustStoreError } from "./errors.js";
import { TRUST_CLASS_PATTERN, base64Bytes, isBytes, isKeyId, isPublisher, isRecord, parseJsonInput, unknownKeys } from "./fields.js";

/** One key a host accepts, for one publisher, in one trust class. */
export interface TrustedKey {
  keyId: string;
  publisher: string;
  /** base64 of the raw 32-byte ed25519 public key. */
  publicKey: string;
  /** e.g. "first-party", "partner", "private", "community": the host's policy decides what each class may be granted. */
  trustClass: string;
  /** ISO 8601 date or date-time; signatures are refused (E_SIGNATURE_EXPIRED) once verification happens after it. */
  notAfter?: string;
  /**
   * A revoked key verifies nothing (E_SIGNATURE_UNTRUSTED); keep it listed so that the refusal says why. It is the
   * public key that is revoked: listed again under another key id, it verifies nothing there either.
   */
  revoked?: boolean;
}

/** The keys a host accepts. */
export interface TrustStore {
  trustStoreVersion: 1;
  keys: TrustedKey[];
}

const KEY_FIELDS = ["keyId", "publisher", "publicKey", "trustClass", "notAfter", "revoked"] as const;

// Stores that came out of parseTrustStore (deep-frozen, so still valid) need no second look.
const parsedStores = new WeakSet<object>();

function fail(field: string, message: string): never {
  throw new TrustStoreError(`Trust store ${field === "" ? "" : `field ${field} `}${message}`, { field });
}

function parseKey(value: unknown, at: string): TrustedKey {
  if (!isRecord(value)) fail(at, "must be an object { keyId, publisher, publicKey, trustClass, notAfter?, revoked? }.");
  const extra = unknownKeys(value, KEY_FIELDS);
  if (extra.length > 0) fail(`${at}.${extra[0]}`, `is not a known field; a key has ${KEY_FIELDS.join(", ")}.`);
  const { keyId, publisher, publicKey, trustClass, notAfter, revoked } = value;
  if (!isKeyId(keyId)) fail(`${at}.keyId`, "must be 1 to 128 characters of letters, digits and . _ : @ + -.");
  if (!isPublisher(publisher)) fail(`${at}.publisher`, "must be a publisher id (lowercase letters, digits and single hyphens, e.g. acme).");
  const raw = base64Bytes(publicKey, 32);
  if (!raw) fail(`${at}.publicKey`, "must be base64 of a 32-byte ed25519 public key.");
  if (!isUsableEd25519PublicKey(raw)) fail(`${at}.publicKey`, "is not a usable ed25519 public key (not a curve point, or of small order).");
  if (typeof trustClass !== "string" || !TRUST_CLASS_PATTERN.test(trustClass)) {
    fail(`${at}.trustClass`, "must be a lowercase word with hyphens, e.g. first-party, partner, private, community.");
  }
  if (notAfter !== undefined && !isIsoDate(notAfter)) fail(`${at}.notAfter`, "must be an ISO 8601 date or a date-time with a zone, e.g. 2027-01-31.");
  if (revoked !== undefined && typeof revoked !== "boolean") fail(`${at}.revoked`, "must be true or false.");
  const key: TrustedKey = { keyId, publisher, publicKey: publicKey as string, trustClass };
  if (notAfter !== undefined) key.notAfter = notAfter as string;
  if (revoked !== undefined) key.revoked = revoked as boolean;
  return Object.freeze(key);
}

/**
 * Checks a trust store (JSON text or parsed value) and returns it frozen.
 * Throws TrustStoreError E_TRUST_STORE naming the field, e.g. `keys[2].publicKey`.
 * Key ids must be unique: verification looks keys up by id.
 */
export function parseTrustStore(json: unknown): TrustStore {
  if (isRecord(json) && parsedStores.has(json)) return json as unknown as TrustStore;
  if (isBytes(json)) fail("", 'is bytes (readFileSync(file) without an encoding gives a Buffer): pass the parsed file, JSON.parse(readFileSync("trust.json", "utf8")), or its text.');
  const parsed = parseJsonInput(json);
  if (!parsed.ok) {
    throw new TrustStoreError("The trust store is not valid JSON.", { field: "" }, { cause: parsed.error });
  }
  const value = parsed.value;
  if (!isRecord(value)) fail("", "must be an object { trustStoreVersion: 1, keys: [...] }.");
  const extra = unknownKeys(value, ["trustStoreVersion", "keys"]);
  if (extra.length > 0) fail(extra[0]!, "is not a known field; a trust store has trustStoreVersion and keys.");
  if (value.trustStoreVersion !== 1) fail("trustStoreVersion", `must be 1, got ${JSON.stringify(value.trustStoreVersion)}.`);
  if (!Array.isArray(value.keys)) fail("keys", "must be an array of keys.");
  const seen = new Set<string>();
  const keys = value.keys.map((entry: unknown, i: number) => {
    const key = parseKey(entry, `keys[${i}]`);
    if (seen.has(key.keyId)) fail(`keys[${i}].keyId`, `repeats ${JSON.stringify(key.keyId)}; key ids must be unique.`);
    seen.add(key.keyId);
    return key;
  });
  const store: TrustStore = Object.freeze({ trustStoreVersion: 1 as const, keys: Object.freeze(keys) as TrustedKey[] });
  parsedStores.add(store);
  return store;
}
