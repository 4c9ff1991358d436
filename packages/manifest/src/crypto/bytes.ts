/**
 * Byte helpers that work the same in Node and browsers (no Buffer).
 */

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]!];
  return out;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/** Decodes UTF-8 strictly: invalid sequences throw instead of becoming U+FFFD. */
export function decodeUtf8(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes);
}

export function utf8Length(text: string): number {
  // Fast path: ASCII-only strings are as long in bytes as in code units.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to spot non-ASCII.
  return /^[\x00-\x7f]*$/.test(text) ? text.length : utf8Encoder.encode(text).length;
}

// A plain character run, not groups of four: a repeated group backtracks through the regexp stack and
// overflowed it (RangeError) on a few million characters. Padding and the last group's bits are checked by
// the round trip in fromBase64.
const BASE64_SHAPE = /^[A-Za-z0-9+/]*={0,2}$/;

export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]!);
  return btoa(binary);
}

/**
 * Decodes standard, padded base64 and returns null for anything else. Only
 * the canonical spelling is accepted (no whitespace, no stray bits in the
 * last character), so one key or signature has exactly one text form.
 */
export function fromBase64(text: string): Uint8Array | null {
  if (text.length % 4 !== 0 || !BASE64_SHAPE.test(text)) return null;
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return toBase64(bytes) === text ? bytes : null;
}

/** base64url without padding, as JWK uses. */
export function fromBase64Url(text: string): Uint8Array | null {
  const padded = text.replace(/-/g, "+").replace(/_/g, "/");
  return fromBase64(padded + "=".repeat((4 - (padded.length % 4)) % 4));
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * WebCrypto takes only ArrayBuffer-backed views. Views over a
 * SharedArrayBuffer (or TypeScript's wider ArrayBufferLike) are copied.
 */
export function asBufferSource(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
}
