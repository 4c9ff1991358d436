import { AnnexError } from "@annex/manifest";

export type InstallErrorCode =
  | "E_INVALID_ARGUMENT"
  | "E_INSTALL_NOT_FOUND"
  | "E_INSTALL_EXISTS"
  | "E_INSTALL_CONFLICT"
  | "E_GRANTS_MISSING"
  | "E_CONSENT_REQUIRED"
  | "E_UPGRADE_SAME_VERSION";

/** A lifecycle call on an install was refused. */
export class InstallError extends AnnexError {
  declare readonly code: InstallErrorCode;

  constructor(code: InstallErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
  }
}
