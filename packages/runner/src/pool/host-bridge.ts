import { setMaxListeners } from "node:events";
import { isAnnexError, type AnnexError } from "@annex/manifest/runtime";
import type { ExecuteEnvelope, ExecutionLimits } from "../envelope.js";
import { computeEffectiveGrants, type EffectiveGrants } from "../engine/grants.js";
import { HostCallError } from "../errors.js";
import { argumentsTooLarge, capabilityOf, isHostMethod, laneLimited, type HostCall, type HostCallArgBytes, type HostCallScope, type HostDispatch } from "../host-apis.js";

/**
 * Host calls that cross a boundary (worker thread → main thread, runner server
 * → host process) arrive as `{ method, args }` from a side that is not trusted
 * to have checked anything. The receiving side answers them through a gate
 * that it built itself from the envelope it sent: the scope (tenant, install,
 * principal), the effective grants (envelope grants ∩ the manifest this side
 * verified) and the host-call budget never come from the asking side.
 */
export interface WireError {
  code: string;
  message: string;
  details?: Record<string, unknown> | undefined;
}

export function toWireError(error: unknown): WireError {
  if (isAnnexError(error)) {
    return { code: error.code, message: error.message, ...(error.details ? { details: { ...error.details } } : {}) };
  }
  return { code: "E_HOST_CALL_FAILED", message: "the host call failed on the host" };
}

export function fromWireError<E extends AnnexError>(
  error: WireError,
  Type: new (code: never, message: string, details?: Record<string, unknown>) => E,
): E {
  const code = typeof error?.code === "string" ? error.code : "E_HOST_CALL_FAILED";
  const message = typeof error?.message === "string" ? error.message : "failed";
  const details = error?.details !== null && typeof error?.details === "object" ? error.details : undefined;
  return new Type(code as never, message, details);
}

export function scopeFromEnvelope(envelope: ExecuteEnvelope): HostCallScope {
  return {
    requestId: envelope.requestId,
    extensionId: envelope.extension.id,
    extensionVersion: envelope.extension.version,
    contentHash: envelope.extension.contentHash,
    installId: envelope.install.id,
    tenant: envelope.install.tenant,
    principal: envelope.principal,
  };
}

/** The receiving side of one execution's host calls. */
export class HostCallGate {
  readonly #dispatch: HostDispatch;
  readonly #scope: HostCallScope;
  readonly #granted: readonly unknown[];
  readonly #requested: readonly unknown[];
  #grants: EffectiveGrants | undefined;
  readonly #limit: number;
  readonly #byteLimit: number;
  #bytes = 0;
  // Made on first call: most executions make none, and a controller costs ~2 % of pool throughput.
  #abort: AbortController | undefined;
  #closed = false;
  readonly #counts: Record<string, number> = {};
  #total = 0;

  readonly #argBytes: HostCallArgBytes;
  readonly #measure: boolean;

  /**
   * @param requested the capabilities of the manifest this side verified; when
   *   unknown (a remote host that did not load the bundle itself) the envelope's
   *   grants alone bound the calls.
   * @param options.measure whether to size the arguments here (default true): the worker pool's own workers
   *   run the sandbox, which sized them before they left it; walking them again cost this thread as much as
   *   copying them (over a second for a few MB of small values).
   */
  constructor(
    dispatch: HostDispatch,
    envelope: ExecuteEnvelope,
    requested: readonly unknown[] | undefined,
    limits: Pick<ExecutionLimits, "hostCalls" | "hostCallBytes">,
    options: { measure?: boolean } = {},
  ) {
    this.#dispatch = dispatch;
    this.#scope = scopeFromEnvelope(envelope);
    this.#granted = Array.isArray(envelope.grants) ? envelope.grants : [];
    this.#requested = requested ?? this.#granted;
    this.#limit = limits.hostCalls;
    this.#byteLimit = limits.hostCallBytes;
    this.#argBytes = envelope.hostCallArgBytes ?? {};
    this.#measure = options.measure ?? true;
  }

  async call(method: unknown, args: unknown[]): Promise<unknown> {
    if (this.#closed) throw new HostCallError("E_TIMEOUT", "the execution already ended");
    if (!isHostMethod(method)) throw new HostCallError("E_CAPABILITY_DENIED", `${String(method).slice(0, 64)} is not a host API`);
    const call: HostCall = { method, args: Array.isArray(args) ? args : [] };
    if (++this.#total > this.#limit) {
      throw new HostCallError("E_HOST_CALL_LIMIT", `the execution made more than ${this.#limit} host calls`, { limit: this.#limit });
    }
    // The sandbox bounds the bytes first; this holds if the asking side does not.
    if (this.#measure) {
      const bound = this.#argBytes[method];
      const bytes = valueBytes(call.args, Math.min(this.#byteLimit - this.#bytes, bound ?? Infinity) + 1);
      if (bound !== undefined && bytes > bound) {
        throw argumentsTooLarge(method, bound);
      }
      this.#bytes += bytes;
      if (this.#bytes > this.#byteLimit) {
        throw new HostCallError("E_HOST_CALL_LIMIT", `the execution passed more than ${this.#byteLimit} bytes through host calls`, { limit: "hostCallBytes" });
      }
    }
    const capability = capabilityOf(call);
    this.#counts[capability] = (this.#counts[capability] ?? 0) + 1;
    if (this.#abort === undefined) {
      this.#abort = new AbortController();
      // Its listeners are the host's own, one per host call waiting for a turn, at most the execution's hostCalls.
      setMaxListeners(0, this.#abort.signal);
    }
    this.#grants ??= computeEffectiveGrants(this.#granted, this.#requested);
    return this.#dispatch(call, { scope: this.#scope, grants: this.#grants, signal: this.#abort.signal });
  }

  hostCalls(): Record<string, number> {
    return { ...this.#counts };
  }

  /** Whether the execution ended: an answer to one of its calls has nobody left to read it. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Ends the execution: calls still running see an aborted signal. */
  close(): void {
    this.#closed = true;
    this.#abort?.abort();
  }
}

/** About how many bytes a value takes as JSON (bytes counted raw); stops counting past `cap` (and answers `cap + 1`). */
export function valueBytes(value: unknown, cap: number): number {
  let total = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0 && total <= cap) {
    const v = stack.pop();
    if (typeof v === "string") total += v.length + 2;
    else if (v instanceof Uint8Array) total += v.byteLength;
    else if (Array.isArray(v)) {
      // Brackets and a comma per item: an array of a million empty objects is megabytes, not nothing.
      total += 2 + v.length;
      for (const item of v) stack.push(item);
    } else if (v !== null && typeof v === "object") {
      total += 2;
      for (const [key, item] of Object.entries(v)) {
        total += key.length + 4;
        stack.push(item);
      }
    } else if (typeof v === "number") total += Number.isFinite(v) ? String(v).length : 4;
    else total += 4;
  }
  return Math.min(total, cap + 1);
}

/** A dispatch that sends every call elsewhere and returns its answer: what a worker or a runner server hands its runner. */
export function forwardingDispatch(
  forward: (requestId: string, call: HostCall, signal: AbortSignal) => Promise<unknown>,
): HostDispatch {
  // Lanes here too (see laneLimited): a call waits in the sender for its turn, and is dropped with its execution.
  return laneLimited((call, { scope, signal }) => forward(scope.requestId, { method: call.method, args: call.args }, signal));
}
