import { SqlStorageError } from "./errors.js";

/**
 * Parameters cross from the guest as JSON: scalars as they are, objects and arrays as JSON text (for json/jsonb columns).
 * Together they take at most `maxParamBytes` (UTF-8, as sent): a statement can repeat a parameter in every column of
 * every row it returns, so its size is what the database and the host's result could be multiplied from.
 */
export function toParams(params: unknown[], maxParams: number, maxParamBytes = Number.POSITIVE_INFINITY): unknown[] {
  if (params.length > maxParams) throw new SqlStorageError("E_SQL_PARAMS", `ctx.sql.query takes at most ${maxParams} parameters (got ${params.length})`);
  let bytes = 0;
  return params.map((value, index) => {
    let out: unknown;
    if (value === null || typeof value === "string" || typeof value === "boolean") out = value;
    else if (typeof value === "number") {
      if (!Number.isFinite(value)) throw new SqlStorageError("E_SQL_PARAMS", `params[${index}] must be a finite number`, { index });
      out = value;
    } else if (typeof value === "object") out = JSON.stringify(value);
    else throw new SqlStorageError("E_SQL_PARAMS", `params[${index}] must be a JSON value (string, number, boolean, null, array or object)`, { index });
    bytes += typeof out === "string" ? Buffer.byteLength(out) : String(out).length;
    if (bytes > maxParamBytes) {
      throw new SqlStorageError(
        "E_SQL_PARAMS",
        `the parameters of one query take at most ${maxParamBytes} bytes together (sql.limits.maxParamBytes); params[${index}] brings them to ${bytes}: store a large value in parts (several rows or calls), or ask the host's admin for a larger maxParamBytes`,
        { index, bytes, maxParamBytes },
      );
    }
    return out;
  });
}

/**
 * Rows as the guest receives them, the same on `pg` and PGlite: timestamps
 * as ISO strings, bytea as PostgreSQL's `\x…` hex text, 64-bit integers as
 * strings (as `pg` returns them) and JSON as parsed.
 */
export function toGuestValue(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (value instanceof Uint8Array) return `\\x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex")}`;
  if (Array.isArray(value)) return value.map(toGuestValue);
  if (typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) out[key] = toGuestValue(item);
    return out;
  }
  return value;
}
