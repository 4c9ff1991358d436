/**
 * A Sentry event payload reduced to what this extension keeps: every field
 * checked and bounded, since anyone who knows the DSN (it ships in web pages)
 * can send anything.
 */
import { IngestError } from "./errors.js";

export const LEVELS = ["fatal", "error", "warning", "info", "debug"] as const;
export type Level = (typeof LEVELS)[number];

export interface Frame {
  filename: string | null;
  module: string | null;
  function: string | null;
  lineno: number | null;
  colno: number | null;
  inApp: boolean | null;
}

export interface TrackedEvent {
  eventId: string;
  /** ISO 8601. */
  occurredAt: string;
  level: Level;
  platform: string | null;
  environment: string | null;
  release: string | null;
  title: string;
  culprit: string | null;
  message: string | null;
  /** The message before parameters were put in (`logentry.message`), when the SDK sent one. */
  messageTemplate: string | null;
  /** `synthetic`: the SDK made it up to carry a message's stack (captureMessage); the event is a message. */
  exception: { type: string | null; value: string | null; frames: Frame[]; synthetic: boolean } | null;
  fingerprint: string[] | null;
  tags: Record<string, string>;
  userId: string | null;
  sdk: string | null;
}

const MAX_TEXT = 1000;
const MAX_FRAMES = 50;
const MAX_TAGS = 50;
const EVENT_ID = /^[0-9a-f]{32}$/;

function text(value: unknown, max = MAX_TEXT): string | null {
  if (typeof value !== "string" || value === "") return null;
  // Control characters out (they would end up in admin pages and logs); long text cut.
  // eslint-disable-next-line no-control-regex
  const clean = value.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, "\ufffd");
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

function integer(value: unknown): number | null {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value < 1e9 ? value : null;
}

function object(value: unknown): Record<string, unknown> | null {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

function timestamp(value: unknown, fallback: Date): string {
  // Seconds since the epoch (the SDKs' float) or RFC 3339 text; anything unreadable or absurd → when it arrived.
  const millis = typeof value === "number" ? value * 1000 : typeof value === "string" ? Date.parse(value) : NaN;
  if (!Number.isFinite(millis) || millis < Date.UTC(2000, 0, 1) || millis > fallback.getTime() + 24 * 3600_000) return fallback.toISOString();
  return new Date(millis).toISOString();
}

function frames(stacktrace: unknown): Frame[] {
  const list = object(stacktrace)?.frames;
  if (!Array.isArray(list)) return [];
  // Sentry orders frames oldest call first; the last frames are where it failed, so those are kept.
  return list.slice(-MAX_FRAMES).flatMap((raw): Frame[] => {
    const frame = object(raw);
    if (frame === null) return [];
    return [
      {
        filename: text(frame.filename ?? frame.abs_path, 300),
        module: text(frame.module, 300),
        function: text(frame.function, 300),
        lineno: integer(frame.lineno),
        colno: integer(frame.colno),
        inApp: typeof frame.in_app === "boolean" ? frame.in_app : null,
      },
    ];
  });
}

function message(payload: Record<string, unknown>): { message: string | null; template: string | null } {
  const logentry = object(payload.logentry);
  const legacy = object(payload.message);
  const formatted = text(logentry?.formatted) ?? text(legacy?.formatted) ?? text(payload.message);
  const template = text(logentry?.message) ?? text(legacy?.message);
  return { message: formatted ?? template, template };
}

function tags(value: unknown): Record<string, string> {
  const pairs: Array<[unknown, unknown]> = Array.isArray(value) ? value.filter(Array.isArray).map((pair) => [pair[0], pair[1]]) : Object.entries(object(value) ?? {});
  const out: Record<string, string> = {};
  for (const [key, tagValue] of pairs) {
    const name = text(key, 64);
    const shown = typeof tagValue === "number" || typeof tagValue === "boolean" ? String(tagValue) : text(tagValue, 200);
    if (name === null || shown === null || Object.keys(out).length >= MAX_TAGS || name === "__proto__") continue;
    out[name] = shown;
  }
  return out;
}

/** The frame an issue is named after: the last in-app frame, else the last frame. */
export function culpritFrame(list: readonly Frame[]): Frame | null {
  for (let i = list.length - 1; i >= 0; i--) if (list[i]!.inApp === true) return list[i]!;
  return list.at(-1) ?? null;
}

export function normalizeEvent(raw: Record<string, unknown>, options: { eventId?: unknown; receivedAt: Date }): TrackedEvent {
  const eventIdText = typeof raw.event_id === "string" ? raw.event_id : options.eventId;
  const eventId = typeof eventIdText === "string" ? eventIdText.replace(/-/g, "").toLowerCase() : "";
  if (!EVENT_ID.test(eventId)) throw new IngestError(400, "E_EVENT", "the event has no event_id of 32 hexadecimal digits");

  const values = object(raw.exception)?.values ?? (Array.isArray(raw.exception) ? raw.exception : null);
  // The last exception of the chain is the one that was thrown (Sentry lists causes first).
  const thrown = Array.isArray(values) ? object(values.at(-1)) : null;
  const { message: messageText, template } = message(raw);
  // captureMessage() in the SDKs attaches a stack in a "synthetic" exception: it is a message event, grouped and named as one.
  const synthetic = object(thrown?.mechanism)?.synthetic === true && messageText !== null;
  const exception =
    thrown === null ? null : { type: synthetic ? null : text(thrown.type, 200), value: text(thrown.value), frames: frames(thrown.stacktrace ?? raw.stacktrace), synthetic };
  const level = (LEVELS as readonly unknown[]).includes(raw.level) ? (raw.level as Level) : raw.level === "log" ? "info" : "error";
  const frame = exception === null ? null : culpritFrame(exception.frames);
  const title =
    exception !== null && !exception.synthetic && (exception.type !== null || exception.value !== null)
      ? [exception.type, exception.value].filter((part) => part !== null).join(": ")
      : (messageText ?? "(no message)");
  const fingerprint = Array.isArray(raw.fingerprint) ? raw.fingerprint.slice(0, 16).map((part) => text(String(part), 200) ?? "") : null;
  const user = object(raw.user);

  return {
    eventId,
    occurredAt: timestamp(raw.timestamp, options.receivedAt),
    level,
    platform: text(raw.platform, 64),
    environment: text(raw.environment, 64),
    release: text(raw.release, 200),
    title: text(title, 300)!,
    culprit: text(raw.culprit ?? raw.transaction, 300) ?? (frame === null ? null : text([frame.function, frame.module ?? frame.filename].filter(Boolean).join(" in "), 300)),
    message: messageText,
    messageTemplate: template,
    exception,
    fingerprint,
    tags: tags(raw.tags),
    userId: text(user?.id === undefined ? undefined : String(user.id), 128),
    sdk: text(object(raw.sdk) === null ? undefined : `${String(object(raw.sdk)!.name)}/${String(object(raw.sdk)!.version)}`, 128),
  };
}
