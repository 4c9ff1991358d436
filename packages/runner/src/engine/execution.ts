import { randomBytes } from "node:crypto";
import { setMaxListeners } from "node:events";
import type { ExecutionLimits, LogEntry } from "../envelope.js";
import type { HostCallArgBytes, HostCallScope, HostDispatch } from "../host-apis.js";
import { Budget, wallTimeout } from "./budget.js";
import type { EffectiveGrants } from "./grants.js";
import { clearTimeout, setTimeout } from "node:timers";

const TOKEN_BYTES = 12;
let tokenPool = Buffer.alloc(0);
let tokenOffset = 0;

/** An unguessable execution token. Drawn from a pooled CSPRNG buffer: one randomBytes call per execution costs more than a fresh sandbox. */
function newToken(): string {
  if (tokenOffset + TOKEN_BYTES > tokenPool.length) {
    tokenPool = randomBytes(TOKEN_BYTES * 256);
    tokenOffset = 0;
  }
  const token = tokenPool.toString("hex", tokenOffset, tokenOffset + TOKEN_BYTES);
  tokenOffset += TOKEN_BYTES;
  return token;
}

/**
 * Everything one execution accumulates while it runs: its budget, its logs,
 * its host-call counts and the host calls still in flight. A sandbox points at
 * the execution it currently serves; host calls carry the execution's token,
 * so a `ctx` kept in a warm context's globals cannot act for a later call.
 */
export class Execution {
  readonly token = newToken();
  readonly budget: Budget;
  readonly logs: LogEntry[] = [];
  logBytes = 0;
  private logsTruncated = false;
  readonly hostCalls: Record<string, number> = {};
  /** Calls refused for want of a grant, by capability (made at the first). */
  deniedCalls: Record<string, number> | undefined;
  hostCallCount = 0;
  /** Bytes of host-call arguments and results so far, and of arguments whose calls are not answered yet. */
  hostCallBytes = 0;
  inFlightBytes = 0;
  /** Host-call error codes raised into the guest during this execution (made on first use). */
  private raisedCodes: Set<string> | undefined;
  // Made on first use: most executions make no host call, and an AbortController and its abort event cost
  // as much as the rest of a small execution.
  private controller: AbortController | undefined;
  private abortReason: (() => unknown) | undefined;
  memoryPeakBytes = 0;
  // Counted from the start: an execution shorter than the sampling interval is measured once, at its end
  // (a heap walk right after the handler returns would see what the final one sees).
  lastMemorySample = performance.now();
  finished = false;
  private wakeResolve: (() => void) | undefined;
  private wallTimer: ReturnType<typeof setTimeout> | undefined;

  private effective: EffectiveGrants | undefined;

  /**
   * @param grantsOf the effective grants (envelope ∩ manifest), computed on first use: most executions make no host call.
   * @param logGranted whether `log` is among them, which every execution needs to know.
   */
  constructor(
    readonly limits: ExecutionLimits,
    private readonly grantsOf: () => EffectiveGrants,
    readonly logGranted: boolean,
    readonly scope: HostCallScope,
    readonly dispatch: HostDispatch,
    /** The host's bound on one call's arguments, per method (the envelope's hostCallArgBytes). */
    readonly argBytes: HostCallArgBytes = {},
    /** The capabilities the bundle's manifest requests, by name (`host:crm.read` …): the only names usage may carry. */
    readonly requested: ReadonlySet<string> = new Set(),
  ) {
    this.budget = new Budget(limits.cpuMs, limits.wallMs);
  }

  /**
   * The key a call counts under in `usage.hostCalls` and `deniedCalls` (and so in the host's metrics and audit): its
   * capability, with a host API named only when the manifest requests it. The name of `ctx.host.call` is the
   * guest's to choose: a thousand made-up names of 15 KB each made 30 MB of usage and a thousand metric series
   * that never went away, per execution. Any other name counts as `host:?`.
   */
  usageKey(capability: string): string {
    return capability.startsWith("host:") && !this.requested.has(capability) ? "host:?" : capability;
  }

  get grants(): EffectiveGrants {
    return (this.effective ??= this.grantsOf());
  }

  /** Aborted (with the first reason given to `abort`) when the execution ends, times out or the runner closes. */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      // Its listeners are the host's own, one per host call waiting for a turn (fetches past maxConcurrent,
      // statements in their lane), at most the execution's hostCalls: not the leak Node's warning past 10 looks for.
      setMaxListeners(0, this.controller.signal);
    }
    if (this.abortReason !== undefined && !this.controller.signal.aborted) this.controller.abort(this.abortReason());
    return this.controller.signal;
  }

  /** Aborts the signal host calls received; `reason` makes the abort reason, only if someone holds the signal. */
  abort(reason: () => unknown): void {
    if (this.abortReason !== undefined) return;
    this.abortReason = reason;
    this.controller?.abort(reason());
  }

  /**
   * Arms the wall-clock timer, which wakes the driver so an execution parked
   * on host calls still stops on time. Only parked executions need it (the
   * interrupt handler checks the wall clock while guest code runs), so it is
   * armed the first time the execution waits.
   */
  private armWallClock(): void {
    if (this.wallTimer !== undefined || this.finished) return;
    this.wallTimer = setTimeout(() => {
      const reason = wallTimeout(this.limits.wallMs);
      this.budget.setAbort(reason);
      this.abort(() => Object.assign(new Error(reason.message), { code: "E_TIMEOUT" }));
      this.wake();
    }, Math.max(0, this.budget.wallDeadline - performance.now()));
  }

  /** Waits until a host call settles or the execution is aborted. */
  nextWake(): Promise<void> {
    this.armWallClock();
    return new Promise<void>((resolve) => {
      this.wakeResolve = resolve;
    });
  }

  wake(): void {
    const resolve = this.wakeResolve;
    this.wakeResolve = undefined;
    resolve?.();
  }

  /** Records a host-call error code raised into the guest: only those may name the execution's outcome. */
  raise(code: string): void {
    (this.raisedCodes ??= new Set()).add(code);
  }

  wasRaised(code: string): boolean {
    return this.raisedCodes?.has(code) ?? false;
  }

  /** Whether further log entries are dropped (the log limit was reached). */
  get logsFull(): boolean {
    return this.logsTruncated;
  }

  /** Bytes that may be in flight at once: a quarter of the execution's host-call bytes, at least one call's worth. */
  get inFlightLimit(): number {
    return Math.max(this.limits.responseBytes, Math.floor(this.limits.hostCallBytes / 4));
  }

  addLog(level: LogEntry["level"], message: string): void {
    if (this.logsTruncated) return;
    const bytes = Buffer.byteLength(message);
    if (this.logBytes + bytes > this.limits.logBytes) {
      this.logsTruncated = true;
      this.logs.push({
        level: "warn",
        message: `[annex] log limit of ${this.limits.logBytes} bytes reached; further log entries of this execution were dropped`,
        at: new Date().toISOString(),
      });
      return;
    }
    this.logBytes += bytes;
    this.logs.push({ level, message, at: new Date().toISOString() });
  }

  /**
   * Says, in one warning, that the handler ended while host calls it started
   * were still pending: they end with the execution (the host must not work on
   * for an execution that is over), which would otherwise go unnoticed, the
   * handler having answered. Outside the log limit, as the log-limit notice is:
   * it is the platform's, not the guest's, and bounded (at most five methods named).
   */
  notePendingHostCalls(methods: readonly string[]): void {
    if (methods.length === 0) return;
    const counts = new Map<string, number>();
    for (const method of methods) counts.set(method, (counts.get(method) ?? 0) + 1);
    const sorted = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    const named = sorted.slice(0, 5).map(([method, count]) => `ctx.${method.slice(0, 40)}${count > 1 ? ` ×${count}` : ""}`);
    if (sorted.length > 5) named.push(`${sorted.length - 5} more kinds`);
    const n = methods.length;
    this.logs.push({
      level: "warn",
      message:
        `[annex] ${n} host call${n === 1 ? " was" : "s were"} still pending when the handler returned and ${n === 1 ? "was" : "were"} cancelled ` +
        `(${named.join(", ")}), so ${n === 1 ? "it" : "they"} may not have taken effect: await every ctx call before returning`,
      at: new Date().toISOString(),
    });
  }

  finish(): void {
    this.finished = true;
    if (this.wallTimer !== undefined) clearTimeout(this.wallTimer);
    this.wallTimer = undefined;
    this.abort(() => new Error("execution finished"));
    this.wake();
  }
}
