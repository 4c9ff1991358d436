import { KvError } from "./errors.js";
import type { KvLimits } from "./policy.js";

// C0 controls, DEL and C1 controls: invisible in logs and exports, NUL is not even storable in PostgreSQL text.
// Also Unicode's line and paragraph separators (line breaks too), the bidirectional controls (which reorder what
// an admin reads: "admin\u202Etxt.exe"), and the zero-width space and no-break space (a key that looks like
// another). Joiners (U+200C, U+200D) stay: emoji sequences and several scripts need them.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060\u2066-\u2069\ufeff]/;
// A surrogate half without its partner has no UTF-8 form: two such keys would be stored as one (U+FFFD).
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const encoder = new TextEncoder();

export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

function checkText(text: unknown, what: string): string {
  if (typeof text !== "string") throw new KvError("E_KV_INVALID_KEY", `${what} must be a string`);
  const control = CONTROL.exec(text);
  if (control !== null) {
    throw new KvError(
      "E_KV_INVALID_KEY",
      `${what} contains the invisible or control character U+${control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")} at index ${control.index}; keys are printable text`,
      { index: control.index },
    );
  }
  if (LONE_SURROGATE.test(text)) throw new KvError("E_KV_INVALID_KEY", `${what} contains a lone UTF-16 surrogate; keys must be well-formed Unicode`);
  return text;
}

/** A key the store accepts: non-empty, printable, well-formed Unicode, within the install's keyBytes. */
export function checkKey(key: unknown, limits: Pick<KvLimits, "keyBytes">): string {
  checkText(key, "kv key");
  const text = key as string;
  if (text.length === 0) throw new KvError("E_KV_INVALID_KEY", "kv key must not be empty");
  const bytes = utf8Bytes(text);
  if (bytes > limits.keyBytes) {
    throw new KvError("E_KV_QUOTA_EXCEEDED", `kv key is ${bytes} bytes, over the keyBytes limit of ${limits.keyBytes}; use a shorter key`, {
      limit: "keyBytes",
      max: limits.keyBytes,
      actual: bytes,
    });
  }
  return text;
}

/** A list prefix: the empty string, or text a key could start with. */
export function checkPrefix(prefix: unknown): string {
  if (prefix === undefined || prefix === null) return "";
  return checkText(prefix, "kv list prefix");
}

/**
 * The least string greater than every string starting with `prefix`, in the
 * "C" collation (UTF-8 byte order, which is code point order), or undefined
 * when there is none. Listing by prefix is then a range scan of the key index;
 * LIKE would treat `%` and `_` in a prefix as wildcards.
 */
export function prefixUpperBound(prefix: string): string | undefined {
  const points = Array.from(prefix, (char) => char.codePointAt(0)!);
  while (points.length > 0) {
    const last = points.pop()!;
    if (last < 0x10ffff) {
      // Surrogate code points have no UTF-8 form: skip over them.
      points.push(last + 1 === 0xd800 ? 0xe000 : last + 1);
      return String.fromCodePoint(...points);
    }
  }
  return undefined;
}

/** Cursors are the last key of a page, opaque to the guest. */
export function encodeCursor(key: string): string {
  return Buffer.from(encoder.encode(key)).toString("base64url");
}

export function decodeCursor(cursor: unknown): string | undefined {
  if (cursor === undefined || cursor === null || cursor === "") return undefined;
  if (typeof cursor !== "string" || !/^[A-Za-z0-9_-]+$/.test(cursor)) {
    throw new KvError("E_KV_INVALID_CURSOR", "kv list cursor is not one this store handed out; pass back the cursor of the previous page, or none");
  }
  const bytes = Buffer.from(cursor, "base64url");
  let key: string;
  try {
    key = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new KvError("E_KV_INVALID_CURSOR", "kv list cursor is not one this store handed out; pass back the cursor of the previous page, or none");
  }
  if (key.length === 0 || CONTROL.test(key)) {
    throw new KvError("E_KV_INVALID_CURSOR", "kv list cursor is not one this store handed out; pass back the cursor of the previous page, or none");
  }
  return key;
}
