import type { NewAuditEntry } from "./audit-log.js";

/**
 * What an audit line may hold. Its text comes partly from outside (a guest's
 * error message, a caller's header, a host hook's user id): PostgreSQL
 * refuses NUL and lone surrogates in text and jsonb, so one such character
 * used to fail the whole batched insert; control and bidi characters forge
 * lines in whatever shows the log; and size is unbounded. Every line is
 * reduced to this shape before it reaches the database.
 */
export const AUDIT_LIMITS = Object.freeze({
  /** Characters of one string inside `details`. */
  text: 2000,
  /** Characters of `actor`, `tenant` and `action`. */
  column: 256,
  /** Characters of `target`. */
  target: 512,
  /** Nesting of `details` (objects and arrays). */
  depth: 6,
  /** Keys of one object, items of one array. */
  entries: 64,
  /** Characters of `details` once serialised. */
  details: 16 * 1024,
});

/** Marks what was replaced: NUL and other C0/C1 controls, DEL, line/paragraph separators, bidi controls, lone surrogates. */
const REPLACEMENT = "\ufffd";
const UNSAFE =
  /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNSAFE_ALL = new RegExp(UNSAFE.source, "g");

/** `value` with unsafe characters replaced and cut to `max` characters (never inside a surrogate pair; "…" marks the cut). */
export function auditText(value: string, max: number = AUDIT_LIMITS.text): string {
  let text = value;
  if (text.length > max) {
    let end = Math.max(0, max - 1);
    const last = text.charCodeAt(end - 1);
    if (last >= 0xd800 && last <= 0xdbff) end -= 1;
    text = `${text.slice(0, end)}…`;
  }
  return UNSAFE.test(text) ? text.replace(UNSAFE_ALL, REPLACEMENT) : text;
}

/**
 * A JSON-safe, bounded copy of `details`: strings through `auditText`,
 * non-finite numbers as null, bigints as strings, dates as ISO strings,
 * deeper levels, extra keys and extra items replaced by markers. When the
 * result is still larger than `AUDIT_LIMITS.details`, strings are cut
 * shorter, then the details are reduced to their keys.
 */
export function auditDetails(details: Record<string, unknown>): Record<string, unknown> {
  let textLimit: number = AUDIT_LIMITS.text;
  for (let attempt = 0; attempt < 3; attempt++) {
    const copy = copyValue(details, 0, textLimit);
    const out = isRecord(copy) ? copy : { value: copy };
    if (JSON.stringify(out).length <= AUDIT_LIMITS.details) return out;
    textLimit = Math.floor(textLimit / 8);
  }
  const keys = Object.keys(details).slice(0, AUDIT_LIMITS.entries).map((key) => auditText(key, 128));
  return { truncated: true, keys };
}

/** The line as the database will take it. */
export function auditEntry(entry: NewAuditEntry): NewAuditEntry {
  return {
    actor: auditText(String(entry.actor), AUDIT_LIMITS.column),
    tenant: entry.tenant === null || entry.tenant === undefined ? null : auditText(String(entry.tenant), AUDIT_LIMITS.column),
    action: auditText(String(entry.action), AUDIT_LIMITS.column),
    target: auditText(String(entry.target), AUDIT_LIMITS.target),
    decision: entry.decision,
    details: isRecord(entry.details) ? auditDetails(entry.details) : {},
  };
}

function copyValue(value: unknown, depth: number, textLimit: number): unknown {
  switch (typeof value) {
    case "string":
      return auditText(value, textLimit);
    case "number":
      return Number.isFinite(value) ? value : null;
    case "boolean":
      return value;
    case "bigint":
      return value.toString();
    case "object":
      break;
    default:
      // undefined, functions and symbols: JSON has no place for them.
      return undefined;
  }
  if (value === null) return null;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (depth >= AUDIT_LIMITS.depth) return "[nested too deep]";
  if (Array.isArray(value)) {
    const items = value.slice(0, AUDIT_LIMITS.entries).map((item) => copyValue(item, depth + 1, textLimit) ?? null);
    if (value.length > AUDIT_LIMITS.entries) items.push(`[${value.length - AUDIT_LIMITS.entries} more items]`);
    return items;
  }
  if (value instanceof Uint8Array) return `[${value.byteLength} bytes]`;
  // A Map, then Object.fromEntries: a key named __proto__ stays a plain key.
  const out = new Map<string, unknown>();
  const keys = Object.keys(value);
  for (const key of keys.slice(0, AUDIT_LIMITS.entries)) {
    const copied = copyValue((value as Record<string, unknown>)[key], depth + 1, textLimit);
    if (copied !== undefined) out.set(auditText(key, 128), copied);
  }
  if (keys.length > AUDIT_LIMITS.entries) out.set("…", `${keys.length - AUDIT_LIMITS.entries} more keys`);
  return Object.fromEntries(out);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
