import { AnnexError } from "@annex/manifest";

export type GatewayErrorCode =
  /** createHost({ gateway }) or an adapter was given options it cannot use. */
  | "E_GATEWAY_OPTIONS"
  /** A webhook secret given to a secret store is unusable (too short, wrong type). */
  | "E_WEBHOOK_SECRET";

/**
 * Misuse of the gateway's API by the embedding app. Requests never throw:
 * they are answered with problem documents (see problem.ts).
 */
export class GatewayError extends AnnexError {
  declare readonly code: GatewayErrorCode;

  constructor(code: GatewayErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
  }
}
