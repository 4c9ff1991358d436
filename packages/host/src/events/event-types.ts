import { EVENT_TYPE_PATTERN } from "@annex/manifest";
import { EventsError } from "./errors.js";

export const MAX_EVENT_TYPE = 128;
/** Largest payload an event may carry, as JSON text. */
export const MAX_EVENT_PAYLOAD_BYTES = 256 * 1024;

const TENANT = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;

/**
 * The type of an event an extension published: `ext.<extension id>.<type>`,
 * so that no extension can publish in another's name or the app's.
 */
export function extensionEventType(extensionId: string, localType: string): string {
  return `ext.${extensionId}.${localType}`;
}

/** The app publishes any concrete type outside `ext.` (which names extensions' events). */
export function checkHostEventType(type: unknown): string {
  if (typeof type !== "string" || type.length > MAX_EVENT_TYPE || !EVENT_TYPE_PATTERN.test(type)) {
    throw new EventsError(
      "E_EVENT_TYPE",
      `event type must be lowercase dot-separated words of at most ${MAX_EVENT_TYPE} characters, e.g. "order.created"; got ${JSON.stringify(String(type).slice(0, 140))}`,
      { field: "type" },
    );
  }
  if (type.startsWith("ext.")) {
    throw new EventsError("E_EVENT_TYPE", `event types under "ext." are extensions' own (ext.<id>.<type>) and are published by them only; pick another name than ${JSON.stringify(type)}`, {
      field: "type",
    });
  }
  return type;
}

export function checkTenant(tenant: unknown): string {
  if (typeof tenant !== "string" || !TENANT.test(tenant)) {
    throw new EventsError("E_EVENT_TENANT", "tenant must be 1 to 128 characters: letters, digits and . _ : @ -, starting with a letter or digit", {
      field: "tenant",
    });
  }
  return tenant;
}

const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * The payload as the JSON text stored in the outbox, and what it weighs there; refuses what JSON cannot
 * carry and what is too large. The weight is the JSON's bytes with every number as PostgreSQL writes it
 * back: jsonb keeps numbers as numeric, printed in full, so `1e308` (6 bytes here) comes back from every
 * read as its 309 digits. Counted as sent, 37,000 of them passed the 256 KiB limit as 259 KB and cost
 * 11.5 MB at each claim, consumer read and dead-letter listing.
 */
export function encodePayload(payload: unknown): { text: string; bytes: number } {
  let text: string | undefined;
  let widened = 0;
  try {
    text = JSON.stringify(payload === undefined ? null : payload, (key, value: unknown) => {
      if (typeof value === "bigint" || typeof value === "function" || typeof value === "symbol") throw new TypeError(`a ${typeof value} is not JSON`);
      if (value instanceof Uint8Array) throw new TypeError("bytes are not JSON; encode them (base64) first");
      // PostgreSQL refuses these in jsonb: accepted, the event would fail the transaction that stores it.
      if (UNSTORABLE.test(key) || (typeof value === "string" && UNSTORABLE.test(value))) {
        throw new TypeError(`${key === "" ? "the payload" : `the value at key ${JSON.stringify(key)}`} holds NUL or an unpaired UTF-16 surrogate, which cannot be stored`);
      }
      if (typeof value === "number") widened += numericWidening(value);
      return value;
    });
  } catch (error) {
    throw new EventsError("E_EVENT_PAYLOAD", `event payload must be JSON: ${(error as Error).message}`, { field: "payload" });
  }
  if (text === undefined) throw new EventsError("E_EVENT_PAYLOAD", "event payload must be JSON", { field: "payload" });
  const bytes = Buffer.byteLength(text) + widened;
  if (bytes > MAX_EVENT_PAYLOAD_BYTES) {
    throw new EventsError(
      "E_EVENT_PAYLOAD",
      `event payload is ${bytes} bytes of JSON${widened > 0 ? ` (its numbers written out in full, as the outbox keeps them: ${widened} bytes more than sent)` : ""}; at most ${MAX_EVENT_PAYLOAD_BYTES} are allowed: publish an id and let subscribers fetch the rest`,
      { field: "payload", bytes },
    );
  }
  return { text, bytes };
}

/**
 * How many more characters PostgreSQL's numeric prints for `value` than JSON does: none unless JSON used an
 * exponent (at 1e21 and above, below 1e-6), which numeric writes out in full (1e+21 → 22 digits, 1.5e-7 → 0.00000015).
 */
function numericWidening(value: number): number {
  if (!Number.isFinite(value)) return 0; // JSON writes null
  const json = String(value);
  if (!json.includes("e")) return 0;
  const [mantissa, exponentText] = value.toExponential().split("e") as [string, string];
  const digits = mantissa.replace(/[-.]/g, "").length;
  const exponent = Number(exponentText);
  const sign = value < 0 ? 1 : 0;
  const printed = exponent >= 0 ? (digits > exponent + 1 ? digits + 1 : exponent + 1) : 2 + (-exponent - 1) + digits;
  return Math.max(0, sign + printed - json.length);
}
