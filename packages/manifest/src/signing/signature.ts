import type { BundleSignature, ContentHash } from "../bundle/types.js";
import { toBase64 } from "../crypto/bytes.js";
import { ed25519Sign } from "../crypto/ed25519.js";
import { SignatureError } from "./errors.js";
import { CONTENT_HASH_PATTERN, base64Bytes, isBytes, isKeyId, isPublisher, isRecord, parseJsonInput, unknownKeys } from "./fields.js";
import { type PrivateKey, privateKeyBytes } from "./keys.js";
import { signedMessage } from "./message.js";

const SIGNATURE_FIELDS = ["algorithm", "keyId", "publisher", "contentHash", "signature"] as const;

/**
 * Signs a bundle's content hash (from readBundle, or computeContentHash) as
 * `key.publisher` with `key.keyId`. The result is the detached signature,
 * stored beside the bundle as `<file>.annex.sig` (JSON).
 */
export async function signBundle(contentHash: ContentHash, key: PrivateKey): Promise<BundleSignature> {
  if (typeof contentHash !== "string" || !CONTENT_HASH_PATTERN.test(contentHash)) {
    throw new SignatureError("E_SIGNATURE_INVALID", `contentHash must be "sha256:" and 64 lowercase hex digits, got ${JSON.stringify(contentHash)}.`, {
      field: "contentHash",
    });
  }
  const seed = privateKeyBytes(key);
  const signature = await ed25519Sign(seed, signedMessage(key.publisher, key.keyId, contentHash));
  return Object.freeze({
    algorithm: "ed25519" as const,
    keyId: key.keyId,
    publisher: key.publisher,
    contentHash,
    signature: toBase64(signature),
  });
}

function invalid(field: string, message: string): never {
  throw new SignatureError("E_SIGNATURE_INVALID", `The signature file's ${field} ${message}`, { field });
}

/**
 * Checks the shape of a detached signature (JSON text or parsed value) and
 * returns it frozen. Only the shape: whether it verifies is verifyBundle's
 * question. Throws SignatureError E_SIGNATURE_INVALID naming the field.
 */
export function parseSignature(json: unknown): BundleSignature {
  if (isBytes(json)) {
    throw new SignatureError(
      "E_SIGNATURE_INVALID",
      'The signature is bytes (readFileSync(file) without an encoding gives a Buffer): pass the parsed signature file, JSON.parse(readFileSync("x.annex.sig", "utf8")), or its text.',
      { field: "" },
    );
  }
  const parsed = parseJsonInput(json);
  if (!parsed.ok) {
    throw new SignatureError("E_SIGNATURE_INVALID", "The signature file is not valid JSON; sign the bundle again with `annex sign`.", { field: "" }, {
      cause: parsed.error,
    });
  }
  const value = parsed.value;
  if (!isRecord(value)) {
    throw new SignatureError("E_SIGNATURE_INVALID", "The signature must be a JSON object { algorithm, keyId, publisher, contentHash, signature }.", {
      field: "",
    });
  }
  let fields: Record<string, unknown>;
  try {
    // A caller's object, not JSON: a getter or a proxy may throw. Read once, here, into plain values.
    fields = Object.fromEntries(Object.keys(value).map((key) => [key, value[key]]));
  } catch (error) {
    throw new SignatureError("E_SIGNATURE_INVALID", "The signature object could not be read (a property threw); pass the parsed signature file.", { field: "" }, { cause: error });
  }
  const extra = unknownKeys(fields, SIGNATURE_FIELDS);
  if (extra.length > 0) invalid(extra[0]!, `is not a known field; a signature has ${SIGNATURE_FIELDS.join(", ")}.`);
  const { algorithm, keyId, publisher, contentHash, signature } = fields;
  if (algorithm !== "ed25519") invalid("algorithm", `must be "ed25519", got ${JSON.stringify(algorithm)}.`);
  if (!isKeyId(keyId)) invalid("keyId", "must be 1 to 128 characters of letters, digits and . _ : @ + -.");
  if (!isPublisher(publisher)) invalid("publisher", "must be a publisher id (lowercase letters, digits and single hyphens).");
  if (typeof contentHash !== "string" || !CONTENT_HASH_PATTERN.test(contentHash)) {
    invalid("contentHash", 'must be "sha256:" and 64 lowercase hex digits.');
  }
  if (!base64Bytes(signature, 64)) invalid("signature", "must be base64 of a 64-byte ed25519 signature.");
  return Object.freeze({
    algorithm: "ed25519" as const,
    keyId,
    publisher,
    contentHash: contentHash as ContentHash,
    signature: signature as string,
  });
}
