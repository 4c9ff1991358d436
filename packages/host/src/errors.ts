import { isAnnexError } from "@annex/manifest";

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
