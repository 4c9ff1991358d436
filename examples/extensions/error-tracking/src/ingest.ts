/**
 * What the envelope endpoint keeps of an envelope: `event` items (errors and
 * messages captured by the SDK). Every other item type (transaction, span,
 * session, sessions, client_report, attachment, check_in, profile,
 * replay_event, replay_recording, log, feedback, user_report …) is read past
 * and dropped, counted by type, and the envelope is still accepted (200), as
 * Sentry accepts what a project does not use: an SDK must never retry or
 * back off because of them.
 */
import { strFromU8 } from "fflate";
import { bodyBytes } from "./body.js";
import { parseEnvelope, itemJson } from "./envelope.js";
import { IngestError } from "./errors.js";
import { normalizeEvent, type TrackedEvent } from "./event.js";
import { fingerprintOf } from "./grouping.js";

export const KEPT_ITEM_TYPES = ["event"] as const;

export interface IngestedEnvelope {
  /** The envelope's event id (Sentry answers with it), or null. */
  eventId: string | null;
  events: Array<{ event: TrackedEvent; fingerprint: string }>;
  dropped: Record<string, number>;
}

const PROJECT = /^\d{1,18}$/;

/** The DSN's project: Sentry's SDKs accept only digits there. */
export function checkProject(project: string | undefined): string {
  if (project === undefined || !PROJECT.test(project)) throw new IngestError(404, "E_PROJECT", "the project in the URL must be the digits of the DSN's last path segment");
  return project;
}

/**
 * The public key the request carries: `?sentry_key=` (both SDKs put it in the
 * URL), else the user part of the envelope header's `dsn` (sent when an SDK
 * uses a tunnel).
 */
export function checkKey(query: Record<string, string | string[]>, envelopeDsn: unknown, publicKey: string): void {
  const fromQuery = query.sentry_key;
  let key = typeof fromQuery === "string" ? fromQuery : null;
  if (key === null && typeof envelopeDsn === "string") {
    const match = /^[a-z]+:\/\/([^@/:]+)(?::[^@/]*)?@/i.exec(envelopeDsn);
    key = match?.[1] ?? null;
  }
  if (key === null) throw new IngestError(401, "E_AUTH", "missing sentry_key: point the SDK at this extension's DSN");
  if (!constantTimeEqual(key, publicKey)) throw new IngestError(401, "E_AUTH", "unknown sentry_key: the DSN's public key does not match this install's");
}

function constantTimeEqual(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) diff |= (a.charCodeAt(i % (a.length || 1)) || 0) ^ (b.charCodeAt(i % (b.length || 1)) || 0);
  return diff === 0;
}

export function readEnvelope(body: unknown, query: Record<string, string | string[]>, publicKey: string, receivedAt: Date): IngestedEnvelope {
  const envelope = parseEnvelope(bodyBytes(body));
  checkKey(query, envelope.header.dsn, publicKey);
  const headerId = typeof envelope.header.event_id === "string" ? envelope.header.event_id : undefined;
  const events: IngestedEnvelope["events"] = [];
  const dropped: Record<string, number> = {};
  envelope.items.forEach((item, index) => {
    const type = item.header.type;
    if (type !== "event") {
      const name = /^[a-z_]{1,32}$/.test(type) ? type : "other";
      dropped[name] = (dropped[name] ?? 0) + 1;
      return;
    }
    const event = normalizeEvent(itemJson(item, index), { eventId: headerId, receivedAt });
    events.push({ event, fingerprint: fingerprintOf(event) });
  });
  return { eventId: events[0]?.event.eventId ?? (headerId ?? null), events, dropped };
}

/** For tests and logs: an envelope's text. */
export function envelopeText(body: unknown): string {
  return strFromU8(bodyBytes(body));
}
