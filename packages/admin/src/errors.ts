import { AnnexError } from "@annex/manifest";

/** Stable codes of the errors @annex/admin throws on purpose. */
export type AdminErrorCode =
  /** A component or helper was given data of the wrong shape; the message names the field. */
  | "E_ADMIN_INVALID_DATA"
  /** The frame helper was asked to mount an install that cannot serve a page (wrong state, no such page). */
  | "E_ADMIN_NOT_MOUNTABLE"
  /** Components were defined where there is no DOM. */
  | "E_ADMIN_NO_DOM";

export class AdminError extends AnnexError {
  declare readonly code: AdminErrorCode;

  constructor(code: AdminErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
  }
}

/** True for an AdminError, optionally of one code. */
export function isAdminError(value: unknown, code?: AdminErrorCode): value is AdminError {
  return value instanceof AdminError && (code === undefined || value.code === code);
}
