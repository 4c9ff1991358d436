import type { CapabilityGrant } from "@annex/manifest";
import type { HostCallArgBytes } from "./host-apis.js";

/**
 * The execute envelope: everything one execution needs, sent by the host to a
 * runner. The runner trusts none of it blindly: the content hash must name a
 * bundle it loaded from a verified bundle, the handler must be one the
 * manifest declares, and the effective capabilities are the intersection of
 * `grants` with what the loaded manifest requests.
 */
export interface ExecuteEnvelope {
  /** Unique per execution, and never reused while that execution is in flight: runners route host calls by it and refuse duplicates. Echoed in the result and in logs. */
  requestId: string;
  extension: { id: string; version: string; contentHash: string };
  install: { id: string; tenant: string; config: Record<string, unknown> };
  /** The admin's grants for this install (from the registry, never from the extension). */
  grants: CapabilityGrant[];
  /** What to run: a handler exported by the server entry, for an endpoint, a job or an event. */
  invocation: Invocation;
  /**
   * Present for `api` endpoints: who is calling. `user` only when the
   * install was granted `user.read` (the gateway strips it otherwise, and the
   * runner drops it from `ctx.principal` unless the effective grants include
   * `user.read`, whatever the caller sent).
   */
  principal?: EnvelopePrincipal | undefined;
  /** Host-chosen quotas for this execution; capped by the runner's own maximums. */
  limits?: Partial<ExecutionLimits> | undefined;
  /**
   * The host's own bound on one call's arguments, per host method (see
   * HostCallArgBytes): lowers `responseBytes` for those calls, never raises it.
   */
  hostCallArgBytes?: HostCallArgBytes | undefined;
  /** Use a pooled warm context (only where the manifest allows it); default: a fresh context. */
  context?: "fresh" | "warm" | undefined;
}

export type Invocation =
  | { kind: "endpoint"; handler: string; request: SandboxRequest }
  | { kind: "job"; handler: string; job: { name: string; scheduledAt: string } }
  | { kind: "event"; handler: string; event: { id: string; type: string; payload: unknown; occurredAt: string } };

export interface PrincipalUser {
  id: string;
  displayName?: string | undefined;
  email?: string | undefined;
}

/**
 * The caller of an `api` endpoint as an execution receives it: the tenant
 * and roles always, the user's identity only with the `user.read` grant.
 */
export interface EnvelopePrincipal {
  tenant: string;
  user?: PrincipalUser | undefined;
  roles: string[];
}

/** The authenticated caller as the embedding app knows it (what `authenticate` returns). */
export interface Principal extends EnvelopePrincipal {
  user: PrincipalUser;
}

/** The HTTP request as the sandbox sees it: headers already filtered by the host. */
export interface SandboxRequest {
  method: string;
  path: string;
  params: Record<string, string>;
  query: Record<string, string | string[]>;
  headers: Record<string, string>;
  /** Parsed JSON when the content type says so, a string for text, bytes otherwise, or null. */
  body: unknown;
}

export interface ExecutionLimits {
  /** Linear memory cap of the sandbox, in bytes. Default 64 MiB. */
  memoryBytes: number;
  /** Guest CPU time (interrupt handler), in ms. Default 1000. */
  cpuMs: number;
  /** Wall-clock time including awaits on host calls, in ms. Default 5000. */
  wallMs: number;
  /** Max guest stack, in bytes. */
  stackBytes: number;
  /** Max serialized request size, in bytes. Default 1 MiB. */
  requestBytes: number;
  /** Max serialized response size, in bytes. Default 5 MiB. */
  responseBytes: number;
  /** Host calls per execution, log calls included. Default 1000. */
  hostCalls: number;
  /**
   * Bytes of host-call arguments and results in one execution, all calls
   * together. Default 32 MiB. A quarter of it (at least one call's worth,
   * `responseBytes`) may be in flight (arguments of calls not yet answered).
   */
  hostCallBytes: number;
  /** Log bytes per execution. Default 64 KiB. */
  logBytes: number;
}

export interface ExecuteResult {
  requestId: string;
  ok: boolean;
  /** When ok: what the handler returned, normalised. */
  response?: SandboxResponse | undefined;
  /** When not ok: a typed error. */
  error?: ExecuteError | undefined;
  usage: Usage;
  logs: LogEntry[];
}

export interface SandboxResponse {
  status: number;
  headers: Record<string, string>;
  /** JSON-like value, string, or bytes. */
  body: unknown;
}

export type ExecuteErrorCode =
  | "E_TIMEOUT"
  | "E_MEMORY"
  | "E_STACK"
  | "E_PAYLOAD_TOO_LARGE"
  | "E_HOST_CALL_LIMIT"
  | "E_CAPABILITY_DENIED"
  | "E_EGRESS_DENIED"
  | "E_HANDLER_NOT_FOUND"
  | "E_HANDLER_ERROR"
  | "E_SANDBOX_CRASHED"
  | "E_BUNDLE_NOT_LOADED"
  | "E_BAD_ENVELOPE"
  | "E_RUNNER_UNAVAILABLE";

export interface ExecuteError {
  code: ExecuteErrorCode;
  message: string;
  /** For E_HANDLER_ERROR: the guest's stack, mapped to source files where a source map exists. */
  stack?: string | undefined;
  details?: Record<string, unknown> | undefined;
}

export interface Usage {
  cpuMs: number;
  wallMs: number;
  memoryPeakBytes: number;
  hostCalls: Record<string, number>;
  logBytes: number;
  /**
   * Host calls refused for want of a grant (E_CAPABILITY_DENIED), by capability; absent when there were
   * none. The guest may have caught them, so the outcome does not show them: the host audits them.
   */
  deniedCalls?: Record<string, number>;
}

export interface LogEntry {
  level: "debug" | "info" | "warn" | "error";
  message: string;
  at: string;
}
