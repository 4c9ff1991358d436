import { AnnexError } from "@annex/manifest";

export type ExecutionErrorCode =
  /** The install's bundle cannot be loaded into the runner (it no longer verifies, or the runner refuses it). */
  "E_BUNDLE_REJECTED";

/**
 * An execution that could not start for a reason of the host's or the
 * bundle's, not the guest's (guest failures come back as `ExecuteResult`
 * errors). The gateway answers it with a problem document; the event relay
 * and the scheduler record it against the delivery or the run.
 */
export class ExecutionError extends AnnexError {
  declare readonly code: ExecutionErrorCode;

  constructor(code: ExecutionErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}
