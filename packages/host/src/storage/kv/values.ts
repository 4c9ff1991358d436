import { KvError } from "./errors.js";
import { utf8Bytes } from "./keys.js";
import { KV_MAX_DEPTH, type KvLimits } from "./policy.js";

/** A value as it is stored: its JSON text and that text's UTF-8 size. */
export interface EncodedValue {
  json: string;
  bytes: number;
}

/**
 * Checks that a value is JSON (null, booleans, finite numbers, strings,
 * arrays and plain objects, at most KV_MAX_DEPTH deep) and encodes it. The
 * text is stored as is, so strings keep NUL and any other character exactly.
 */
export function encodeValue(value: unknown, limits: Pick<KvLimits, "valueBytes">): EncodedValue {
  checkJson(value, 0, "value");
  const json = JSON.stringify(value);
  const bytes = utf8Bytes(json);
  if (bytes > limits.valueBytes) {
    throw new KvError("E_KV_QUOTA_EXCEEDED", `kv value is ${bytes} bytes as JSON, over the valueBytes limit of ${limits.valueBytes}; store less per key`, {
      limit: "valueBytes",
      max: limits.valueBytes,
      actual: bytes,
    });
  }
  return { json, bytes };
}

function checkJson(value: unknown, depth: number, path: string): void {
  switch (typeof value) {
    case "string":
    case "boolean":
      return;
    case "number":
      if (!Number.isFinite(value)) throw invalid(`${path} is ${String(value)}, which JSON cannot hold`);
      return;
    case "object":
      break;
    default:
      throw invalid(`${path} is a ${typeof value}, which JSON cannot hold`);
  }
  if (value === null) return;
  if (depth >= KV_MAX_DEPTH) throw invalid(`value nests deeper than ${KV_MAX_DEPTH} arrays and objects (at ${path.slice(0, 120)}…)`);
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
    throw invalid(`${path} is bytes, which JSON cannot hold; store them as a base64 string`);
  }
  if (Array.isArray(value)) {
    // undefined in an array becomes null, as JSON.stringify writes it.
    for (let i = 0; i < value.length; i++) if (value[i] !== undefined) checkJson(value[i], depth + 1, `${path}[${i}]`);
    return;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) throw invalid(`${path} is not a plain object`);
  // A property holding undefined is left out, as JSON.stringify leaves it out.
  for (const [name, item] of Object.entries(value)) if (item !== undefined) checkJson(item, depth + 1, `${path}.${name.slice(0, 40)}`);
}

function invalid(message: string): KvError {
  return new KvError("E_KV_INVALID_VALUE", `kv ${message}`);
}
