import type { VerifiedBundle } from "@annex/manifest";
import type { ExecuteEnvelope, ExecuteResult } from "./envelope.js";
import type { HostDispatch } from "./host-apis.js";

/**
 * What every runner implementation offers (in-memory, worker pool, remote).
 * One contract test suite runs against all of them.
 */
export interface Runner {
  /** Compiles the bundle's server entry once; cached by content hash. Refuses bundles not produced by verification. */
  load(bundle: VerifiedBundle): Promise<LoadedBundle>;
  /** Runs one handler. Never throws for guest failures: they come back as `ok: false` with a typed error. */
  execute(envelope: ExecuteEnvelope, options?: ExecuteOptions): Promise<ExecuteResult>;
  unload(contentHash: string): Promise<void>;
  /** Stops everything; further calls fail with E_RUNNER_UNAVAILABLE. */
  close(): Promise<void>;
}

/** What the caller of one execution decides beyond the envelope; never crosses to a worker or a runner server. */
export interface ExecuteOptions {
  /**
   * Every host call of the execution waits until this settles, and fails with
   * E_HOST_CALL_FAILED if it rejects. The handler may compute meanwhile, but
   * has no effect (host calls are its only way to act) before this resolves:
   * the gateway passes the write of the request's audit line, so the line is
   * stored before any effect while the insert and the sandbox overlap.
   */
  hostCallsAfter?: Promise<unknown> | undefined;
  /**
   * Where this execution's host calls go, instead of the host APIs the runner
   * was created with: `createHost` passes its own (secrets, host capabilities,
   * kv, sql, events, egress) with every execution, so any runner it is given
   * reaches the host's implementations. Build one with `createHostDispatch`;
   * it re-checks every call against the grants the runner computed from the
   * envelope and the verified manifest, never against anything the guest says.
   */
  dispatch?: HostDispatch | undefined;
  /**
   * Settles when the caller stops waiting for the result (its own deadline
   * passed and it answered for the execution). An execution that has not
   * started by then never starts: it resolves at once, failed with
   * E_TIMEOUT, its host calls never made. One already running goes on to its
   * own limits. A promise, not an AbortSignal: it is passed with every
   * execution, and Node makes a signal about as slowly as a small execution
   * runs.
   */
  abandoned?: Promise<unknown> | undefined;
}

export interface LoadedBundle {
  contentHash: string;
  extensionId: string;
  version: string;
  /** Handler names the server entry exports. */
  handlers: string[];
}
