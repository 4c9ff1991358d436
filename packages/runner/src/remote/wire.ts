/**
 * JSON on the wire, with bytes. Values that cross between a host and a runner
 * server are JSON-like plus `Uint8Array` (request and response bodies, kv
 * values). Bytes travel as `{"$annex:bytes": "<base64>"}`; a guest object that
 * happens to use a `$annex:` key is escaped as `{"$annex:object": {...}}`, so
 * no value a guest returns can be mistaken for bytes on the other side.
 *
 * Decoding defines properties instead of assigning them, so a `__proto__` key
 * in the JSON stays a plain property and never changes a prototype.
 */
const BYTES = "$annex:bytes";
const OBJECT = "$annex:object";
const RESERVED = "$annex:";

export function encodeWire(value: unknown): unknown {
  if (value instanceof Uint8Array) return { [BYTES]: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64") };
  if (value instanceof ArrayBuffer) return { [BYTES]: Buffer.from(value).toString("base64") };
  if (Array.isArray(value)) return value.map(encodeWire);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    let reserved = false;
    for (const [k, v] of Object.entries(value)) {
      if (k.startsWith(RESERVED)) reserved = true;
      define(out, k, encodeWire(v));
    }
    return reserved ? { [OBJECT]: out } : out;
  }
  return value;
}

export function decodeWire(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decodeWire);
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    const record = value as Record<string, unknown>;
    if (keys.length === 1 && keys[0] === BYTES && typeof record[BYTES] === "string") {
      return new Uint8Array(Buffer.from(record[BYTES], "base64"));
    }
    const inner = keys.length === 1 && keys[0] === OBJECT && isPlainObject(record[OBJECT]) ? (record[OBJECT] as Record<string, unknown>) : record;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(inner)) define(out, k, decodeWire(inner[k]));
    return out;
  }
  return value;
}

export function stringifyWire(value: unknown): string {
  return JSON.stringify(encodeWire(value));
}

export function parseWire(text: string): unknown {
  return decodeWire(JSON.parse(text));
}

function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function isPlainObject(v: unknown): boolean {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}
