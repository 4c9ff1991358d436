import { AnnexError } from "@annex/manifest/runtime";

/**
 * Why the runner server refused a call, or why the client could not use its
 * answer. Every code is stable; the HTTP status that carries it is in
 * `REMOTE_ERROR_STATUS`.
 */
export type RemoteErrorCode =
  | "E_AUTH_MISSING"
  | "E_AUTH_INVALID"
  | "E_AUTH_STALE"
  | "E_AUTH_REPLAY"
  | "E_BODY_TOO_LARGE"
  | "E_BAD_REQUEST"
  | "E_NOT_FOUND"
  | "E_CONFLICT"
  | "E_BAD_RESPONSE"
  | "E_RUNNER_UNAVAILABLE";

export const REMOTE_ERROR_STATUS: Record<RemoteErrorCode, number> = {
  E_AUTH_MISSING: 401,
  E_AUTH_INVALID: 401,
  E_AUTH_STALE: 401,
  E_AUTH_REPLAY: 401,
  E_BODY_TOO_LARGE: 413,
  E_BAD_REQUEST: 400,
  E_NOT_FOUND: 404,
  E_CONFLICT: 409,
  E_BAD_RESPONSE: 502,
  E_RUNNER_UNAVAILABLE: 503,
};

/** An error of the remote runner protocol (authentication, framing, transport). */
export class RemoteRunnerError extends AnnexError {
  declare readonly code: RemoteErrorCode;

  constructor(code: RemoteErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

/**
 * The runner server answered a load or unload with an error. `code` is the
 * server's own (E_SIGNATURE_INVALID, E_AUTH_INVALID, E_BUNDLE_FORMAT …), so a
 * caller branches on it exactly as it would on a local runner's error.
 */
export class RunnerServerError extends AnnexError {
  readonly status: number;

  constructor(status: number, code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, { ...details, status });
    this.status = status;
  }
}
