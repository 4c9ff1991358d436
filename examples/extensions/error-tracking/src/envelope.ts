/**
 * Sentry's envelope format (https://develop.sentry.dev/sdk/envelopes/): a
 * JSON header line, then items, each a JSON header line and a payload. A
 * payload is `length` bytes when the item header says so (it may hold
 * newlines or binary data, e.g. attachments), else the rest of the line.
 */
import { strFromU8 } from "fflate";
import { IngestError } from "./errors.js";

export interface EnvelopeItem {
  header: { type: string; length?: number } & Record<string, unknown>;
  payload: Uint8Array;
}

export interface Envelope {
  header: Record<string, unknown>;
  items: EnvelopeItem[];
}

export const MAX_ITEMS = 100;
const NEWLINE = 0x0a;

function lineEnd(bytes: Uint8Array, from: number): number {
  const at = bytes.indexOf(NEWLINE, from);
  return at === -1 ? bytes.length : at;
}

function json(bytes: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(strFromU8(bytes));
  } catch {
    throw new IngestError(400, "E_ENVELOPE", `${what} is not JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new IngestError(400, "E_ENVELOPE", `${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

export function parseEnvelope(bytes: Uint8Array): Envelope {
  const headerEnd = lineEnd(bytes, 0);
  const header = json(bytes.subarray(0, headerEnd), "the envelope header");
  const items: EnvelopeItem[] = [];
  let at = headerEnd + 1;
  while (at < bytes.length) {
    if (bytes[at] === NEWLINE) {
      at += 1; // blank lines between items are tolerated, as relay does
      continue;
    }
    if (items.length === MAX_ITEMS) throw new IngestError(400, "E_ENVELOPE", `an envelope holds at most ${MAX_ITEMS} items`);
    const end = lineEnd(bytes, at);
    const itemHeader = json(bytes.subarray(at, end), `the header of item ${items.length + 1}`);
    if (typeof itemHeader.type !== "string" || itemHeader.type === "") throw new IngestError(400, "E_ENVELOPE", `item ${items.length + 1} has no type`);
    at = end + 1;
    let payload: Uint8Array;
    const length = itemHeader.length;
    if (length !== undefined) {
      if (typeof length !== "number" || !Number.isInteger(length) || length < 0) throw new IngestError(400, "E_ENVELOPE", `item ${items.length + 1} has a bad length`);
      if (at + length > bytes.length) throw new IngestError(400, "E_ENVELOPE", `item ${items.length + 1} says ${length} bytes but the envelope ends first`);
      payload = bytes.subarray(at, at + length);
      at += length;
      if (at < bytes.length && bytes[at] === NEWLINE) at += 1;
    } else {
      const payloadEnd = lineEnd(bytes, at);
      payload = bytes.subarray(Math.min(at, bytes.length), payloadEnd);
      at = payloadEnd + 1;
    }
    items.push({ header: itemHeader as EnvelopeItem["header"], payload });
  }
  return { header, items };
}

export function itemJson(item: EnvelopeItem, index: number): Record<string, unknown> {
  return json(item.payload, `the payload of item ${index + 1} (${item.header.type})`);
}
