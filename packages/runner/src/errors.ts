import { AnnexError, isAnnexError } from "@annex/manifest/runtime";
import type { ExecuteError, ExecuteErrorCode } from "./envelope.js";

/**
 * Codes a runner throws from `load`, from its constructor or from `close`
 * (execution failures never throw: they come back as `ok: false` results with
 * an {@link ExecuteErrorCode}).
 */
export type RunnerErrorCode =
  | ExecuteErrorCode
  /** `load` was given something `verifyBundle` did not produce. */
  | "E_BUNDLE_UNVERIFIED"
  /** The verified bundle has no runnable server entry (bundle class, missing entry, syntax error, top-level throw). */
  | "E_BUNDLE_INVALID"
  /** Options given to a runner factory are malformed. */
  | "E_BAD_OPTIONS";

/** The typed error of @annex/runner. Branch on `code`, never on the message. */
export class RunnerError extends AnnexError {
  declare readonly code: RunnerErrorCode;

  constructor(code: RunnerErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }

  toExecuteError(): ExecuteError {
    return {
      code: this.code as ExecuteErrorCode,
      message: this.message,
      ...(this.details === undefined ? {} : { details: { ...this.details } }),
    };
  }
}

/**
 * Codes a host call can fail with. They reach the guest as an `Error` whose
 * `code` property holds the code; the guest may catch them. Codes also listed in
 * {@link ExecuteErrorCode} become the execution's code when the guest lets them
 * escape its handler.
 */
export type HostCallErrorCode =
  | "E_CAPABILITY_DENIED"
  | "E_EGRESS_DENIED"
  | "E_HOST_CALL_LIMIT"
  | "E_PAYLOAD_TOO_LARGE"
  | "E_TIMEOUT"
  /** Arguments failed validation on the host side. */
  | "E_INVALID_ARGUMENT"
  /** The host's implementation failed; the message does not leak host internals. */
  | "E_HOST_CALL_FAILED"
  /** `http.fetch` could not complete (DNS, connection, TLS, protocol). */
  | "E_FETCH_FAILED";

/** A failure raised on the host side of a host call, for the guest to see. */
export class HostCallError extends AnnexError {
  constructor(code: HostCallErrorCode | (string & {}), message: string, details?: Record<string, unknown>) {
    super(code, message, details);
  }
}

export function isRunnerError(value: unknown, code?: RunnerErrorCode): value is RunnerError {
  return value instanceof RunnerError && (code === undefined || value.code === code);
}

/** The code and message a guest may see for a host-side failure. */
export function toGuestError(error: unknown, what: string): { code: string; message: string } {
  if (isAnnexError(error)) return { code: error.code, message: error.message };
  return { code: "E_HOST_CALL_FAILED", message: `${what} failed on the host` };
}
