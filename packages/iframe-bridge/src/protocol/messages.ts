import * as z from "zod/mini";
import type { BridgeErrorData } from "../errors.js";
import type { VersionRange } from "../version.js";

/**
 * The only three messages that travel through window.postMessage. Everything
 * after the welcome goes over the private MessagePort it carries.
 *
 *   extension ── hello { nonce, versions } ──────────► host  (window.parent)
 *   extension ◄── welcome { nonce, version } + port ── host  (iframe.contentWindow)
 *   extension ◄── reject { nonce, error } ──────────── host  (no common version)
 */
export const HELLO = "annex:hello";
export const WELCOME = "annex:welcome";
export const REJECT = "annex:reject";

/** The fragment key that carries the one-time nonce in the frame's src. */
export const NONCE_PARAM = "annex-nonce";
export const NONCE_PATTERN = /^[A-Za-z0-9_-]{22,128}$/;

export interface HelloMessage {
  type: typeof HELLO;
  nonce: string;
  versions: VersionRange;
}

export interface WelcomeMessage {
  type: typeof WELCOME;
  nonce: string;
  version: number;
}

export interface RejectMessage {
  type: typeof REJECT;
  nonce: string;
  error: BridgeErrorData;
}

const version = z.int().check(z.minimum(1), z.maximum(1_000_000));

export const helloSchema = z.strictObject({
  type: z.literal(HELLO),
  nonce: z.string().check(z.regex(NONCE_PATTERN, "nonce must be 22 to 128 characters of [A-Za-z0-9_-]")),
  versions: z
    .strictObject({ min: version, max: version })
    .check(z.refine((range) => range.min <= range.max, "versions.min must not exceed versions.max")),
});

export const welcomeSchema = z.strictObject({
  type: z.literal(WELCOME),
  nonce: z.string(),
  version,
});

export const rejectSchema = z.strictObject({
  type: z.literal(REJECT),
  nonce: z.string(),
  error: z.object({ code: z.string(), message: z.string() }),
});

/** True when `data` claims to be a bridge message of `type`; schema checks come after the security checks. */
export function isTyped(data: unknown, type: string): boolean {
  return typeof data === "object" && data !== null && (data as { type?: unknown }).type === type;
}
