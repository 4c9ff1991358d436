import type { ExecuteEnvelope, ExecuteResult } from "../envelope.js";
import type { LoadedBundle } from "../runner.js";
import type { WireError } from "./host-bridge.js";
import type { WorkerBundleParts } from "./worker-data.js";

/**
 * Messages between the pool's main thread and its workers. Everything here is
 * structured-cloned: values cross by copy, never by reference.
 */
/** One execution sent to a worker: it runs only if the worker wins its claim cell (see claims.ts). */
export interface ExecuteItem {
  id: number;
  cell: number;
  token: number;
  envelope: ExecuteEnvelope;
}

export type ToWorker =
  | { type: "load"; id: number; parts: WorkerBundleParts }
  | { type: "unload"; id: number; contentHash: string }
  | { type: "execute"; items: ExecuteItem[] }
  | { type: "host-result"; callId: number; ok: true; value: unknown }
  | { type: "host-result"; callId: number; ok: false; error: WireError };

export type FromWorker =
  | { type: "ready" }
  /** A load (id 0: one replayed at start-up) begins evaluating the bundle's top-level code: the load watchdog starts. */
  | { type: "load-started"; id: number; contentHash: string }
  | { type: "loaded"; id: number; ok: true; loaded: LoadedBundle }
  | { type: "loaded"; id: number; ok: false; error: WireError }
  | { type: "unloaded"; id: number }
  /** `bodyText`: the response's object or array body as JSON, made in the worker (the result's own body is then null). */
  | { type: "result"; id: number; result: ExecuteResult; bodyText?: string }
  /** Results finished in the same turn of the worker, in the order they finished: one message instead of several. */
  | { type: "results"; results: { id: number; result: ExecuteResult; bodyText?: string }[] }
  | { type: "host-call"; callId: number; requestId: string; method: string; args: unknown[] };
