import { isAnnexError } from "@annex/manifest";
import { auditText } from "./audit/audit-text.js";

export interface ErrorSummary {
  code: string;
  message: string;
}

/**
 * What the audit log keeps of a failure: the stable code and the message of
 * a typed error. Annex's typed errors never carry secret values; anything
 * else is reduced to its class name and a bounded message.
 */
export function errorSummary(error: unknown): ErrorSummary {
  if (isAnnexError(error)) return { code: error.code, message: error.message.slice(0, 2000) };
  if (error instanceof Error) return { code: "E_INTERNAL", message: `${error.name}: ${error.message}`.slice(0, 500) };
  return { code: "E_INTERNAL", message: "non-error value thrown" };
}

/**
 * A summary as it may be written to a jsonb column (a delivery's last error,
 * a job run's error). Its message is often a guest's: PostgreSQL refuses NUL
 * and lone surrogates in jsonb, and one of them failed the very write that
 * records the outcome, so the delivery was never retried or parked and the
 * run never finished. Unsafe characters are replaced, the text bounded.
 */
export function storableError(error: ErrorSummary): ErrorSummary {
  return { code: auditText(String(error.code), 64), message: auditText(String(error.message), 2000) };
}
