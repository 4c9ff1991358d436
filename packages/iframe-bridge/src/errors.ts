/**
 * The bridge's typed error. It mirrors `AnnexError` from @annex/manifest
 * (code, message, details, toJSON) without importing it: the bridge runs in
 * extension pages and must not pull the manifest package into their bundles.
 *
 * Errors cross the bridge as plain data ({ code, message, details }), never as
 * thrown objects: comlink would otherwise ship the host's stack trace into a
 * frame the host does not trust.
 */
export const BRIDGE_ERROR_CODES = [
  /** A deadline passed: the handshake, a host API call, or a theme delivery. */
  "E_BRIDGE_TIMEOUT",
  /** An origin was wrong: a declared origin, one another extension holds on the page, a hello from the wrong window or origin. */
  "E_BRIDGE_ORIGIN",
  /** A path tried to leave its scope: `..`, encoded dots, backslashes, absolute URLs, another extension's API. */
  "E_BRIDGE_PATH",
  /** An argument or option failed validation (the message names the field). */
  "E_BRIDGE_ARGS",
  /** The frame or connection was disposed while the call was pending, or before it was made. */
  "E_BRIDGE_DISPOSED",
  /** Host and extension share no bridge protocol version. */
  "E_BRIDGE_VERSION",
  /** The page was opened outside an Annex host (no parent, no nonce, or no answer in time). */
  "E_BRIDGE_NO_HOST",
  /** A hello carried a nonce that was wrong or already used. */
  "E_BRIDGE_NONCE",
  /** A sandbox token outside the allowlist, or a token that contradicts the declared origin. */
  "E_BRIDGE_SANDBOX",
  /** The host declined: no handler for the call, the handler said no, a redirect, too many calls. */
  "E_BRIDGE_DENIED",
  /** The frame called the host faster than its rate limit allows; slow down or batch calls. */
  "E_BRIDGE_RATE_LIMITED",
  /** The install was not granted the capability the call needs (`toast` without `ui.toast`); `details.capability` names it. */
  "E_BRIDGE_CAPABILITY_DENIED",
  /** A message on the bridge did not follow the protocol, or the page answered a theme delivery (setTheme) with an error. */
  "E_BRIDGE_PROTOCOL",
  /** The host failed while serving the call (network error, a handler threw); details stay on the host. */
  "E_BRIDGE_HOST",
] as const;

export type BridgeErrorCode = (typeof BRIDGE_ERROR_CODES)[number];

/** The plain-data form of a BridgeError, as it crosses the bridge. */
export interface BridgeErrorData {
  code: BridgeErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

export class BridgeError extends Error {
  readonly code: BridgeErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: BridgeErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "BridgeError";
    this.code = code;
    this.details = details;
  }

  toJSON(): BridgeErrorData & { name: string } {
    return this.details === undefined
      ? { name: this.name, code: this.code, message: this.message }
      : { name: this.name, code: this.code, message: this.message, details: { ...this.details } };
  }
}

/** True for any BridgeError, optionally of one code. */
export function isBridgeError(value: unknown, code?: BridgeErrorCode): value is BridgeError {
  return value instanceof BridgeError && (code === undefined || value.code === code);
}

const KNOWN_CODES: ReadonlySet<string> = new Set(BRIDGE_ERROR_CODES);

/** True when `value` is a code this version of the bridge knows. */
export function isBridgeErrorCode(value: unknown): value is BridgeErrorCode {
  return typeof value === "string" && KNOWN_CODES.has(value);
}
