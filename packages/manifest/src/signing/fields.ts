import { fromBase64 } from "../crypto/bytes.js";
import { cutText } from "../issue-list.js";
import { publisherSchema } from "../manifest/primitives.js";

/**
 * Field rules shared by signatures, key files and trust stores. Publisher
 * and key id end up on their own lines of the signed message, so neither may
 * contain a line break (or anything but printable ASCII, for key ids).
 */
export const KEY_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$/;
export const TRUST_CLASS_PATTERN = /^[a-z][a-z0-9-]{0,63}$/;
export const CONTENT_HASH_PATTERN = /^sha256:[0-9a-f]{64}$/;

export function isPublisher(value: unknown): value is string {
  return typeof value === "string" && publisherSchema.safeParse(value).success;
}

export function isKeyId(value: unknown): value is string {
  return typeof value === "string" && KEY_ID_PATTERN.test(value);
}

/** Raw bytes of a base64 field of exactly `length` bytes, or null. */
export function base64Bytes(value: unknown, length: number): Uint8Array | null {
  // Longer text cannot be `length` bytes: it is refused before it is decoded.
  if (typeof value !== "string" || value.length !== Math.ceil(length / 3) * 4) return null;
  const bytes = fromBase64(value);
  return bytes !== null && bytes.length === length ? bytes : null;
}

/**
 * Whether a JSON input is a file's bytes (readFileSync without an encoding gives a Buffer): read as an
 * object, its indexes would be reported as unknown fields ("0 is not a known field"), which names no mistake.
 */
export function isBytes(value: unknown): boolean {
  return ArrayBuffer.isView(value) || value instanceof ArrayBuffer;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Keys of `value` that are not in `allowed`: unknown fields are errors, never silently dropped. Each is cut
 * to 64 characters for the message that names it (a 10 MB key made a 10 MB error message).
 */
export function unknownKeys(value: Record<string, unknown>, allowed: readonly string[]): string[] {
  return Object.keys(value)
    .filter((key) => !allowed.includes(key))
    .map((key) => cutText(key, 64));
}

/** JSON text or an already-parsed value. */
export function parseJsonInput(input: unknown): { ok: true; value: unknown } | { ok: false; error: unknown } {
  if (typeof input !== "string") return { ok: true, value: input };
  try {
    return { ok: true, value: JSON.parse(input) };
  } catch (error) {
    return { ok: false, error };
  }
}
