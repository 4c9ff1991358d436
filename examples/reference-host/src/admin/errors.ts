import { isAnnexError } from "@annex/manifest";
import type { Response } from "express";

/** HTTP status of Annex's typed errors, as the admin API answers them. */
const STATUS: Record<string, number> = {
  E_INSTALL_NOT_FOUND: 404,
  E_EXTENSION_NOT_FOUND: 404,
  E_VERSION_NOT_FOUND: 404,
  E_DEAD_LETTER_NOT_FOUND: 404,
  E_DEAD_LETTER_INSTALL_GONE: 409,
  E_JOB_NOT_FOUND: 404,
  E_JOB_RUNNING: 409,
  E_JOB_INSTALL_NOT_ACTIVE: 409,
  E_CONFIG_INVALID: 422,
  E_GRANTS_MISSING: 422,
  E_SECRET_UNDECLARED: 422,
  E_SECRET_INVALID: 422,
  E_CONSENT_REQUIRED: 409,
  E_INSTALL_EXISTS: 409,
  E_INSTALL_CONFLICT: 409,
  E_ILLEGAL_TRANSITION: 409,
  E_UPGRADE_SAME_VERSION: 409,
  E_POLICY: 403,
  E_VERSION_CONFLICT: 409,
  // The host is shutting down: another process (or this one, restarted) answers the retry.
  E_HOST_CLOSED: 503,
};

/** Problems the admin API itself finds in a request. */
export class AdminApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "AdminApiError";
  }
}

/** Answers a failed admin call: `{ code, message, details?, issues? }` with the status the code means. Unknown errors are 500 without their text. */
export function sendError(res: Response, error: unknown): boolean {
  if (error instanceof AdminApiError) {
    res.status(error.status).json({ code: error.code, message: error.message, details: error.details });
    return true;
  }
  if (isAnnexError(error)) {
    const body: Record<string, unknown> = { code: error.code, message: error.message, details: (error as { details?: unknown }).details ?? {} };
    const issues = (error as { issues?: unknown }).issues;
    if (Array.isArray(issues)) body["issues"] = issues;
    const status = STATUS[error.code] ?? 400;
    if (status === 503) res.setHeader("retry-after", "1");
    res.status(status).json(body);
    return true;
  }
  return false;
}
