import { BjsonError, BjsonTooLarge, decodeBjson } from "./bjson.js";

/**
 * The host half of copying values across the sandbox boundary. Nothing
 * crosses by reference.
 *
 * In: JSON text of the host value with `null` where bytes are, the paths of
 * those places, and the bytes themselves as separate ArrayBuffers; the guest
 * parses the text with its pristine JSON.parse and defines each Uint8Array at
 * its path (bootstrap's `decode`). No marker in the data means nothing in the
 * data can pass for bytes.
 *
 * Out: QuickJS's native binary writer (see bjson.ts), which runs no guest code.
 */
export class PayloadTooLarge extends Error {
  constructor(readonly size: number) {
    super(`payload of ${size} bytes is too large`);
  }
}

export interface GuestBound {
  json: string;
  /** JSON list of the paths where `buffers` go, or undefined when there are none. */
  paths: string | undefined;
  buffers: Uint8Array[];
  /** Bytes of the serialised value (UTF-8 JSON plus raw bytes). */
  size: number;
}

function asBytes(value: unknown): Uint8Array | undefined {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  return undefined;
}

/**
 * Whether a host value holds bytes anywhere (then it takes the careful path).
 * Errs on the side of yes (deep values, inherited properties): the careful
 * path serialises exactly as JSON does, only slower.
 */
function containsBytes(value: unknown, depth: number): boolean {
  if (value === null || typeof value !== "object") return false;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer || depth > 64) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (containsBytes(value[i], depth + 1)) return true;
    return false;
  }
  for (const key in value) if (containsBytes((value as Record<string, unknown>)[key], depth + 1)) return true;
  return false;
}

/**
 * Serialises a host value for the guest. Throws PayloadTooLarge past `limit`
 * bytes. Host values are the host's own: their `toJSON` (Date, Buffer …) runs
 * as it would for any JSON response.
 */
export function encodeForGuest(value: unknown, limit: number): GuestBound {
  const root = value === undefined ? null : value;
  if (!containsBytes(root, 0)) {
    const json = JSON.stringify(root) ?? "null";
    // UTF-16 length bounds the UTF-8 size from below; only measure exactly when it could matter.
    const size = json.length * 3 <= limit ? json.length : Buffer.byteLength(json);
    if (size > limit) throw new PayloadTooLarge(size);
    return { json, paths: undefined, buffers: [], size };
  }
  const buffers: Uint8Array[] = [];
  const slots: string[][] = [];
  const pathOf = new Map<object, string[]>();
  let total = 0;
  const json =
    JSON.stringify(root, function (this: Record<string, unknown>, key, current: unknown) {
      const parent = pathOf.get(this);
      const path = parent === undefined ? [] : [...parent, key];
      // `this[key]` is the value before toJSON ran (Buffer#toJSON would otherwise turn bytes into an object).
      const bytes = asBytes(this[key]);
      if (bytes !== undefined) {
        total += bytes.byteLength;
        if (total > limit) throw new PayloadTooLarge(total);
        buffers.push(bytes);
        slots.push(path);
        return null;
      }
      if (current !== null && typeof current === "object") pathOf.set(current, path);
      return current;
    }) ?? "null";
  const size = Buffer.byteLength(json) + total;
  if (size > limit) throw new PayloadTooLarge(size);
  return { json, paths: JSON.stringify(slots), buffers, size };
}

/**
 * Reads what writeNative (native.ts) produced; throws BjsonError when it
 * cannot be represented on the host, BjsonTooLarge when it would take more
 * than `maxJsonBytes` as JSON.
 */
export function readNative(bytes: Uint8Array, maxJsonBytes?: number): unknown {
  return decodeBjson(bytes, maxJsonBytes);
}

export { BjsonError, BjsonTooLarge };
