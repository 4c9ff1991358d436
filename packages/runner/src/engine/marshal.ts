/**
 * The host half of copying values across the sandbox boundary. Values travel
 * as JSON text plus a side list of byte buffers; a bytes slot is an object
 * whose only key is a marker containing a per-runner random nonce, so data
 * that merely looks like a slot (an HTTP body, guest output) is never taken
 * for one. Nothing crosses by reference.
 */
export class PayloadTooLarge extends Error {
  constructor(readonly size: number) {
    super(`payload of ${size} bytes is too large`);
  }
}

function marker(nonce: string): string {
  return `\u0000annex:${nonce}`;
}

function asBytes(value: unknown): Uint8Array | undefined {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  return undefined;
}

/** Serialises a host value for the guest. Throws PayloadTooLarge past `limit` bytes. */
export function encodeForGuest(value: unknown, nonce: string, limit: number): { json: string; buffers: Uint8Array[] } {
  const key = marker(nonce);
  const buffers: Uint8Array[] = [];
  let total = 0;
  const json = JSON.stringify(value === undefined ? null : value, function (this: Record<string, unknown>, name, current) {
    // `this[name]` is the value before toJSON ran (Buffer#toJSON would otherwise turn bytes into an object).
    const bytes = asBytes(this[name]);
    if (bytes === undefined) return current;
    total += bytes.byteLength;
    if (total > limit) throw new PayloadTooLarge(total);
    buffers.push(bytes);
    return { [key]: buffers.length - 1 };
  });
  if (json.length > limit) throw new PayloadTooLarge(json.length);
  return { json, buffers };
}

/** Size of a host value once serialised for the guest, in bytes (UTF-8 JSON plus raw bytes). */
export function serialisedSize(value: unknown): number {
  const { json, buffers } = encodeForGuest(value, "size", Number.MAX_SAFE_INTEGER);
  return Buffer.byteLength(json) + buffers.reduce((sum, bytes) => sum + bytes.byteLength, 0);
}

/**
 * Parses what the guest's `encode` helper produced (`{"v": value}`), rebuilding
 * bytes from the buffer list. Keys named `__proto__` are dropped so that no
 * later merge on the host can be steered into changing a prototype.
 */
export function decodeFromGuest(json: string, buffers: readonly Uint8Array[], nonce: string, limit: number): unknown {
  const size = Buffer.byteLength(json) + buffers.reduce((sum, bytes) => sum + bytes.byteLength, 0);
  if (size > limit + 6) throw new PayloadTooLarge(size);
  const key = marker(nonce);
  const parsed = JSON.parse(json, (name, value: unknown) => {
    if (name === "__proto__") return undefined;
    if (value !== null && typeof value === "object" && !Array.isArray(value) && Object.prototype.hasOwnProperty.call(value, key)) {
      const index = (value as Record<string, unknown>)[key];
      return typeof index === "number" && buffers[index] !== undefined ? buffers[index] : null;
    }
    return value;
  }) as { v?: unknown } | null;
  return parsed === null || typeof parsed !== "object" ? null : (parsed.v ?? null);
}
