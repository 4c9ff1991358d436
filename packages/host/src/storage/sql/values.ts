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
    if (typeof out === "string") checkParamNesting(out, index);
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
 * How deeply a text parameter may nest brackets. PostgreSQL reads json,
 * jsonb, tsquery, regular expressions and row and array literals
 * recursively, and under PGlite that recursion runs out of V8's stack before
 * PostgreSQL's own `max_stack_depth` notices (see nesting.ts): `$1::jsonb`
 * of 8,000 nested `[` (16 KB) left PGlite answering no rows, half-way
 * through a statement. At 4,000 it still answered; 1,000 leaves a margin,
 * and no JSON document or query text a person writes comes near it.
 */
export const MAX_PARAM_NESTING = 1000;

/**
 * Counts brackets of any kind, inside strings too: a closing one of any kind
 * closes one level, an unbalanced one only raises the count. So the depth is
 * never under what a reader of json, tsquery or a pattern would see.
 */
function checkParamNesting(text: string, index: number): void {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b || c === 0x28) {
      if (++depth > deepest) deepest = depth;
    } else if ((c === 0x5d || c === 0x7d || c === 0x29) && depth > 0) depth--;
  }
  if (deepest > MAX_PARAM_NESTING) {
    throw new SqlStorageError(
      "E_SQL_PARAMS",
      `params[${index}] nests brackets ${deepest} deep (json arrays and objects, parentheses …), more than the ${MAX_PARAM_NESTING} allowed: PostgreSQL reads such values recursively, and PGlite runs out of stack; flatten the value, or keep its deep part as text the query does not parse`,
      { index, nesting: deepest, maxParamNesting: MAX_PARAM_NESTING },
    );
  }
}

/**
 * How deeply a value in a result row may nest (a row is one level, its json
 * arrays and objects one each). The same bound as a parameter's: a jsonb built
 * deeper over many statements (each within the guard's rules) reached 6,000
 * levels, and converting it overflowed the host's own stack (and so would
 * JSON.stringify, at 5,000, and the sandbox's copy, at 5,000).
 */
export const MAX_RESULT_NESTING = MAX_PARAM_NESTING;

/**
 * Rows as the guest receives them, the same on `pg` and PGlite: timestamps
 * as ISO strings, bytea as PostgreSQL's `\x…` hex text, 64-bit integers as
 * strings (as `pg` returns them) and JSON as parsed. A value nested past
 * MAX_RESULT_NESTING fails with E_SQL_RESULT_TOO_DEEP.
 */
export function toGuestValue(value: unknown, depth = 0): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (value instanceof Uint8Array) return `\\x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex")}`;
  if (typeof value !== "object") return value;
  if (depth >= MAX_RESULT_NESTING) {
    throw new SqlStorageError(
      "E_SQL_RESULT_TOO_DEEP",
      `a value in the result nests deeper than ${MAX_RESULT_NESTING} levels (json arrays and objects); read its parts (-> and #> on jsonb) or its text (d::text), which is not nested`,
      { maxResultNesting: MAX_RESULT_NESTING },
    );
  }
  if (Array.isArray(value)) {
    const out: unknown[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) out[i] = toGuestValue(value[i], depth + 1);
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    const copy = toGuestValue(item, depth + 1);
    // A json key "__proto__" is data: assigned, it would set the copy's prototype and the key would be gone.
    if (key === "__proto__") Object.defineProperty(out, key, { value: copy, enumerable: true, writable: true, configurable: true });
    else out[key] = copy;
  }
  return out;
}
