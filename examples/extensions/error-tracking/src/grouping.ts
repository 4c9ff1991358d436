/**
 * Which issue an event belongs to. Like Sentry's default grouping, in a
 * simpler form: the exception type and the in-app frames where it was thrown
 * (function and file, no line numbers, so an edit elsewhere in the file does
 * not split the issue), else the type and the value with its variable parts
 * (numbers, hexadecimal ids, UUIDs) masked, else the message template or the
 * message masked. An SDK's `fingerprint` replaces that, where its
 * `{{ default }}` entry stands for the default.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { strToU8 } from "fflate";
import type { Frame, TrackedEvent } from "./event.js";

const FRAMES_IN_KEY = 5;

/** Numbers, hex ids and UUIDs become placeholders: "order 1234 failed" and "order 98 failed" are one issue. */
export function mask(text: string): string {
  return text
    .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, "<uuid>")
    .replace(/\b(?:0x)?[0-9a-f]{8,}\b/gi, (hex) => (/\d/.test(hex) ? "<hex>" : hex))
    .replace(/\d+(?:\.\d+)?/g, "<n>");
}

/** A file name without what changes between builds and hosts: origin, query, fragment, content hashes. */
export function stableFile(name: string): string {
  return name
    .replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, "")
    .replace(/[?#].*$/, "")
    .replace(/([.-])[0-9a-f]{6,}(?=\.)/gi, "$1<hash>");
}

function frameKey(frame: Frame): string | null {
  if (frame.function === null || frame.function === "?" || frame.function === "<anonymous>") return null;
  const where = frame.module ?? (frame.filename === null ? "" : stableFile(frame.filename));
  return `${where}:${frame.function}`;
}

export function defaultComponents(event: TrackedEvent): string[] {
  const exception = event.exception;
  if (exception !== null && !exception.synthetic) {
    const inApp = exception.frames.filter((frame) => frame.inApp === true);
    const chosen = (inApp.length > 0 ? inApp : exception.frames).slice(-FRAMES_IN_KEY);
    const keys = chosen.map(frameKey).filter((key): key is string => key !== null);
    const type = exception.type ?? "Error";
    if (keys.length > 0) return ["exception", type, ...keys];
    return ["exception", type, mask(exception.value ?? "")];
  }
  return ["message", mask(event.messageTemplate ?? event.message ?? "")];
}

export function groupingComponents(event: TrackedEvent): string[] {
  const custom = event.fingerprint;
  if (custom === null || custom.length === 0) return defaultComponents(event);
  return ["fingerprint", ...custom.flatMap((part) => (part === "{{ default }}" || part === "{{default}}" ? defaultComponents(event) : [part]))];
}

/** The key: sha256 of the components, hex. */
export function fingerprintOf(event: TrackedEvent): string {
  return bytesToHex(sha256(strToU8(JSON.stringify(groupingComponents(event)))));
}
