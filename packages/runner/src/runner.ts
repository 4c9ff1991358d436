import type { VerifiedBundle } from "@annex/manifest";
import type { ExecuteEnvelope, ExecuteResult } from "./envelope.js";

/**
 * What every runner implementation offers (in-memory, worker pool, remote).
 * One contract test suite runs against all of them.
 */
export interface Runner {
  /** Compiles the bundle's server entry once; cached by content hash. Refuses bundles not produced by verification. */
  load(bundle: VerifiedBundle): Promise<LoadedBundle>;
  /** Runs one handler. Never throws for guest failures: they come back as `ok: false` with a typed error. */
  execute(envelope: ExecuteEnvelope): Promise<ExecuteResult>;
  unload(contentHash: string): Promise<void>;
  /** Stops everything; further calls fail with E_RUNNER_UNAVAILABLE. */
  close(): Promise<void>;
}

export interface LoadedBundle {
  contentHash: string;
  extensionId: string;
  version: string;
  /** Handler names the server entry exports. */
  handlers: string[];
}
