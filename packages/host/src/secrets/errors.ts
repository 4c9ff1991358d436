import { AnnexError } from "@annex/manifest";

export type SecretsErrorCode =
  | "E_SECRETS_KEY_MISSING"
  | "E_SECRETS_KEY_INVALID"
  | "E_SECRETS_KEY_UNKNOWN"
  | "E_SECRETS_KEY_CONFLICT"
  | "E_SECRET_UNDECLARED"
  | "E_SECRET_INVALID"
  | "E_SECRET_DECRYPT";

/**
 * Secrets problems. Messages and details name keys and secret names, never a
 * secret's value: these errors travel to logs and to the audit log.
 */
export class SecretsError extends AnnexError {
  declare readonly code: SecretsErrorCode;

  constructor(code: SecretsErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
  }
}
