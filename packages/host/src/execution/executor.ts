import { randomUUID } from "node:crypto";
import { setMaxListeners } from "node:events";
import { isAnnexError, type VerifiedBundle } from "@annex/manifest";
import { capabilityOf, HostCallError, type ExecuteErrorCode, type ExecuteResult, type ExecutionLimits, type HostCall, type HostCallArgBytes, type HostCallScope, type HostDispatch, type HostDispatchContext, type Invocation, type Principal, type Runner } from "@annex/runner";
import { errorSummary } from "../errors.js";
import type { ResolvedInstall } from "../installs/types.js";
import { buildEnvelope } from "./envelope.js";
import { ExecutionError } from "./errors.js";
import { installChangedError, installRevokedError, type InstallStandingRow } from "./install-standing.js";
import { clearTimeout, setTimeout } from "node:timers";

/** What started an execution. */
export type ExecutionTrigger = "endpoint" | "job" | "event";

/**
 * What a finished execution reports, for the embedding app's logs and metrics. Never carries the request body.
 * `result.logs[].message` and `result.error.message` are the guest's own text, unfiltered (any length the
 * runner allows, control characters, line breaks): escape them before writing them to a line-based log.
 */
export interface ExecuteEvent {
  requestId: string;
  tenant: string;
  extensionId: string;
  version: string;
  installId: string;
  handler: string;
  trigger: ExecutionTrigger;
  /** For endpoints: the path family (`api`, `public`, `webhook`). */
  family?: string | undefined;
  result: ExecuteResult;
  /**
   * Host calls of the execution refused for want of a grant (E_CAPABILITY_DENIED), by capability; absent
   * when there were none. The guest may have caught them: the result does not show them.
   */
  denied?: Record<string, number> | undefined;
}

export interface ExecutionRequest {
  resolved: ResolvedInstall;
  invocation: Invocation;
  /** Default: a fresh UUID. */
  requestId?: string | undefined;
  /** The signed-in user, for `api` endpoints only. */
  principal?: Principal | undefined;
  /** For endpoints: the path family, reported with the execution. */
  family?: string | undefined;
  /** Quotas of this execution (the runner and the manifest may only lower them). */
  limits?: Partial<ExecutionLimits> | undefined;
  /** Use a warm context where the manifest allows it. */
  warm?: boolean | undefined;
  /** Host calls wait for this (the gateway's audit line); see `ExecuteOptions.hostCallsAfter`. */
  hostCallsAfter?: Promise<unknown> | undefined;
  /** Answer E_TIMEOUT after this long even if the runner never answers. */
  timeoutMs: number;
  /**
   * `executor.generation` read before `resolved` was: an execution whose
   * install changed since (however long ago: a slow request body) reads its
   * standing before its first host call. Without it, one that starts within
   * 10 s of a change of its install does.
   */
  resolvedAt?: number | undefined;
}

/** What a host API implementation learns about the execution behind a host call. */
export interface ExecutionContext {
  resolved: ResolvedInstall;
  principal: Principal | undefined;
  trigger: ExecutionTrigger;
}

export interface Executor {
  /**
   * Runs one invocation of an install's handler through the runner, with the
   * host's own host APIs. Guest failures come back as `ok: false`; a bundle the
   * runner cannot load throws ExecutionError E_BUNDLE_REJECTED.
   */
  run(request: ExecutionRequest): Promise<ExecuteResult>;
  /**
   * The execution a host call belongs to, from the runner-built scope: its
   * install (manifest, config, grants) as the host resolved it. Undefined once
   * the execution ended, or for a scope that names another install.
   */
  contextOf(scope: HostCallScope): ExecutionContext | undefined;
  /** Loads a verified bundle into the runner (once per content hash). */
  ensureLoaded(bundle: VerifiedBundle): Promise<void>;
  /**
   * An install may have changed (a lifecycle call settled, here or in another
   * process); without arguments, every install may have. The executions of it
   * already running read its standing again before their next host call, and
   * from then on refuse their host calls with E_INSTALL_CHANGED if it no
   * longer serves, or serves another version, bundle or grants than they were
   * authorised with. Executions that start within a short while after also
   * check once (they may run on a resolve read before the change).
   */
  installChanged(tenant?: string, extensionId?: string, revoked?: InstallRevocation): void;
  /** A count of the install changes heard so far: read it before resolving an install, pass it as `resolvedAt`. */
  readonly generation: number;
}

/**
 * A lifecycle call on this host that took an install's authority (it
 * succeeded): its running executions are refused at once, without a read, so
 * that no change back (enable, a reinstall, a rollback) gives it back.
 */
export type InstallRevocation = "disable" | "uninstall" | "upgrade";

export interface ExecutorOptions {
  runner: Runner;
  /** The host's implementations behind `ctx`, given to the runner with every execution. */
  dispatch: HostDispatch;
  /** Called after every execution; a reporter that throws is ignored. */
  reporters: ReadonlyArray<(event: ExecuteEvent) => void>;
  /**
   * Runs when an execution ended, before it is reported: writes what it left
   * to write (the events it published) and may turn the result into a failure
   * when that fails.
   */
  settle?: ((requestId: string, trigger: ExecutionTrigger, result: ExecuteResult) => Promise<ExecuteResult>) | undefined;
  /**
   * The install's row as it is now (null: gone), read at most once per change
   * by an execution that outlived a change of its install. Without it, changes
   * refuse nothing.
   */
  standing?: ((installId: string) => Promise<InstallStandingRow | null>) | undefined;
  /** What each host call may carry, sent in every envelope (see `hostCallArgBytes`); none: the runner's own bounds. */
  hostCallArgBytes?: HostCallArgBytes | undefined;
}

/** An execution between its start and its end, with what its host calls may still do. */
interface LiveExecution {
  context: ExecutionContext;
  /** Its install changed since it started (or since its last check): the next host call reads its standing. */
  stale: boolean;
  /** Once set, every host call of the execution is refused with it, without another read. */
  refused: HostCallError | undefined;
  /**
   * Answered: a call that still arrives (a runner that lost its connection may run on) acts for nobody. A flag,
   * its error made only when such a call comes: an error's stack costs ~3 % of a small request's main thread.
   */
  answered: boolean;
  /** The standing read in progress, shared by the host calls waiting for it. */
  checking: Promise<void> | undefined;
  /**
   * The signal the host calls that can wait (sql.query: in its install's
   * statement lane, then running) are given: it aborts when the runner's
   * does or when this host revokes the execution, so that a statement still
   * queued behind others when disable returns does not run after it. One per
   * execution (per runner signal), made at its first such call: an
   * AbortSignal costs Node 20 ~15 µs to make, 4 % of a `SELECT` by key.
   */
  revoker: { follows: AbortSignal; controller: AbortController } | undefined;
  /**
   * The host calls this host dispatched for it, by capability, counted here:
   * a result the executor makes itself (its deadline passed, the runner was
   * lost) has no count from the runner, and the gateway's webhook replay
   * protection must still know the handler may have had effects.
   */
  dispatched: Record<string, number>;
  /** Its host calls refused for want of a grant, by capability (made at the first). */
  denied: Record<string, number> | undefined;
}

/** Why the execution's host calls are refused now, if they are. */
function refusalOf(execution: LiveExecution): HostCallError | undefined {
  if (execution.refused === undefined && execution.answered) {
    execution.refused = new HostCallError("E_TIMEOUT", "this execution has already been answered: it may no longer act");
  }
  return execution.refused;
}

/**
 * The result with its host-call counts raised to what this host dispatched for it: a result the executor made (its
 * deadline, a lost runner) reports none, and a runner's own count never exceeds the host's for calls it sent.
 */
/** The calls refused for want of a grant: the runner's count (the sandbox checks grants first) and this host's own. */
function deniedOf(result: ExecuteResult, here: Record<string, number> | undefined): { denied?: Record<string, number> } {
  const reported = result.usage?.deniedCalls;
  if (here === undefined && (reported === undefined || reported === null || typeof reported !== "object")) return {};
  const denied: Record<string, number> = {};
  for (const counts of [reported, here]) {
    if (counts === undefined || counts === null || typeof counts !== "object") continue;
    for (const [capability, count] of Object.entries(counts)) {
      if (Number.isSafeInteger(count) && count > 0) denied[capability] = (denied[capability] ?? 0) + count;
    }
  }
  return Object.keys(denied).length === 0 ? {} : { denied };
}

function withDispatched(result: ExecuteResult, dispatched: Record<string, number>): ExecuteResult {
  const reported = result.usage.hostCalls;
  let raised: Record<string, number> | undefined;
  for (const [capability, count] of Object.entries(dispatched)) {
    if ((reported[capability] ?? 0) >= count) continue;
    raised ??= { ...reported };
    raised[capability] = count;
  }
  return raised === undefined ? result : { ...result, usage: { ...result.usage, hostCalls: raised } };
}

/**
 * Host calls that may wait before they act (sql.query in its install's statement lane, http.fetch for a place among
 * the execution's fetches) or act for long: they get a signal this host aborts when it revokes the execution or stops
 * waiting for it.
 */
const WAITING_CALLS: ReadonlySet<string> = new Set(["sql.query", "http.fetch"]);

/**
 * How long after a change of an install a new execution of it still checks
 * its standing once: the gateway, the relay and the scheduler resolve the
 * install before the execution starts, so a read made just before the change
 * may start an execution just after it.
 */
const RECENT_CHANGE_MS = 10_000;
const RECENT_CHANGES_KEPT = 1024;
/** Installs whose last change's generation is kept; past it the oldest go, and everything resolved before them re-checks. */
const CHANGE_GENERATIONS_KEPT = 4096;

const MAX_LOADED = 512;

/**
 * Codes a runner's load() fails with when the extension's code is at fault
 * (its top level threw or hit a limit): answered like the same failure of an
 * execution. Anything else means the bundle itself was refused.
 */
const RUNNER_LOAD_FAILURES: ReadonlySet<string> = new Set(["E_BUNDLE_INVALID", "E_TIMEOUT", "E_MEMORY", "E_STACK", "E_SANDBOX_CRASHED"]);

/**
 * The one path from an install to the runner: the gateway, the event relay
 * and the job scheduler all execute through it, so every execution gets the
 * same envelope rules, the same host APIs and the same reports.
 */
export function createExecutor(options: ExecutorOptions): Executor {
  const { runner, dispatch, reporters, settle, standing } = options;
  // Real elapsed time, never the host's clock option: the window covers a resolve read racing a change.
  const now = (): number => performance.now();
  const loaded = new Map<string, Promise<void>>();
  const inFlight = new Map<string, LiveExecution>();
  // When each install last changed (tenant + NUL + extension id), and when every install last may have.
  const recentChanges = new Map<string, number>();
  let everyInstallChangedAt = -Infinity;
  // The generation of each install's last change, oldest first; a change of every install, and the newest one
  // dropped from the map, are floors: anything resolved before them is stale.
  let generation = 0;
  const changedGeneration = new Map<string, number>();
  let floorGeneration = 0;

  const installKey = (tenant: string, extensionId: string): string => `${tenant}\u0000${extensionId}`;

  function installChanged(tenant?: string, extensionId?: string, revoked?: InstallRevocation): void {
    if (standing === undefined) return;
    const at = now();
    const key = tenant === undefined || extensionId === undefined ? undefined : installKey(tenant, extensionId);
    generation += 1;
    if (key === undefined) {
      floorGeneration = generation;
      changedGeneration.clear();
    } else {
      changedGeneration.delete(key);
      changedGeneration.set(key, generation);
      if (changedGeneration.size > CHANGE_GENERATIONS_KEPT) {
        const [oldest, at] = changedGeneration.entries().next().value as [string, number];
        changedGeneration.delete(oldest);
        floorGeneration = Math.max(floorGeneration, at);
      }
    }
    if (key === undefined) {
      everyInstallChangedAt = at;
      recentChanges.clear();
    } else {
      recentChanges.delete(key);
      recentChanges.set(key, at);
      // Oldest first: drop what is out of the window, and never keep more than the cap.
      for (const [old, changedAt] of recentChanges) {
        if (recentChanges.size <= RECENT_CHANGES_KEPT && at - changedAt < RECENT_CHANGE_MS) break;
        recentChanges.delete(old);
      }
    }
    for (const execution of inFlight.values()) {
      const { install } = execution.context.resolved;
      if (key !== undefined && (install.tenant !== tenant || install.extensionId !== extensionId)) continue;
      execution.stale = true;
      if (revoked !== undefined) {
        execution.refused ??= installRevokedError(execution.context.resolved, revoked);
        execution.revoker?.controller.abort();
      }
    }
  }

  function changedSince(tenant: string, extensionId: string, since: number): boolean {
    return floorGeneration > since || (changedGeneration.get(installKey(tenant, extensionId)) ?? 0) > since;
  }

  function changedRecently(tenant: string, extensionId: string): boolean {
    if (standing === undefined) return false;
    const at = now();
    if (at - everyInstallChangedAt < RECENT_CHANGE_MS) return true;
    const changedAt = recentChanges.get(installKey(tenant, extensionId));
    return changedAt !== undefined && at - changedAt < RECENT_CHANGE_MS;
  }

  /** Reads the install's standing for an execution that outlived a change of it; sets `refused` when it may no longer act. */
  async function recheck(execution: LiveExecution): Promise<void> {
    for (;;) {
      const refusal = refusalOf(execution);
      if (refusal !== undefined) throw refusal;
      // A read under way decides for every call made meanwhile too (they wait for it, and keep their order).
      if (execution.checking !== undefined) {
        await execution.checking.catch(() => {});
        continue;
      }
      if (!execution.stale) return;
      execution.checking = (async () => {
        // Cleared before the read: a change heard while it runs marks the execution again, and it reads again.
        execution.stale = false;
        let row: InstallStandingRow | null;
        try {
          row = await standing!(execution.context.resolved.install.id);
        } catch {
          execution.stale = true;
          throw new HostCallError("E_HOST_CALL_FAILED", "the host could not confirm that this execution's install still serves; try again");
        }
        execution.refused ??= installChangedError(execution.context.resolved, row);
      })().finally(() => {
        execution.checking = undefined;
      });
      await execution.checking;
    }
  }

  /** This execution's host calls: refused once its install changed under it, else the host's dispatch (no cost until a change). */
  function guarded(execution: LiveExecution): HostDispatch {
    const send: HostDispatch = (call, context) => {
      const capability = capabilityOf(call);
      execution.dispatched[capability] = (execution.dispatched[capability] ?? 0) + 1;
      const sent = WAITING_CALLS.has(call.method) ? revocable(execution, call, context) : dispatch(call, context);
      return sent.catch((error: unknown) => {
        // A refusal is a decision, audited even when the guest catches it (see ExecuteEvent.denied).
        if ((error as { code?: unknown } | null)?.code === "E_CAPABILITY_DENIED") {
          const denied = (execution.denied ??= {});
          denied[capability] = (denied[capability] ?? 0) + 1;
        }
        throw error;
      });
    };
    return (call, context) => {
      const refusal = refusalOf(execution);
      if (refusal !== undefined) return Promise.reject(refusal);
      if (!execution.stale && execution.checking === undefined) return send(call, context);
      return recheck(execution).then(() => send(call, context));
    };
  }

  /** A call that may wait, dispatched with a signal this host's revocation aborts too; revoked, it fails with the revocation. */
  async function revocable(execution: LiveExecution, call: HostCall, context: HostDispatchContext): Promise<unknown> {
    let revoker = execution.revoker;
    if (revoker === undefined || revoker.follows !== context.signal) {
      const controller = new AbortController();
      // Its listeners are the host's own, one per call of this execution waiting in a lane (at most its hostCalls):
      // not the leak Node's warning past 10 looks for.
      setMaxListeners(0, controller.signal);
      if (context.signal.aborted) controller.abort();
      else context.signal.addEventListener("abort", () => controller.abort(), { once: true });
      // Revoked already (between the check and here): the new signal starts aborted.
      if (refusalOf(execution) !== undefined) controller.abort();
      revoker = execution.revoker = { follows: context.signal, controller };
    }
    try {
      return await dispatch(call, { ...context, signal: revoker.controller.signal });
    } catch (error) {
      throw refusalOf(execution) ?? error;
    }
  }

  function ensureLoaded(bundle: VerifiedBundle): Promise<void> {
    let pending = loaded.get(bundle.contentHash);
    if (pending === undefined) {
      pending = runner.load(bundle).then(() => undefined);
      if (loaded.size >= MAX_LOADED) loaded.delete(loaded.keys().next().value as string);
      loaded.set(bundle.contentHash, pending);
      pending.catch(() => {
        if (loaded.get(bundle.contentHash) === pending) loaded.delete(bundle.contentHash);
      });
    }
    return pending;
  }

  function report(event: ExecuteEvent): void {
    for (const reporter of reporters) {
      try {
        reporter(event);
      } catch {
        // An observer must not change the outcome.
      }
    }
  }

  async function run(request: ExecutionRequest): Promise<ExecuteResult> {
    const { resolved, invocation } = request;
    const requestId = request.requestId ?? randomUUID();
    const trigger: ExecutionTrigger = invocation.kind;
    const envelope = buildEnvelope({
      requestId,
      resolved,
      invocation,
      principal: request.principal,
      limits: request.limits,
      warm: request.warm ?? false,
      hostCallArgBytes: options.hostCallArgBytes,
    });
    const failed = (code: ExecuteErrorCode, message: string): ExecuteResult => ({
      requestId,
      ok: false,
      error: { code, message },
      usage: { cpuMs: 0, wallMs: 0, memoryPeakBytes: 0, hostCalls: {}, logBytes: 0 },
      logs: [],
    });
    const execution: LiveExecution = {
      context: { resolved, principal: request.principal, trigger },
      stale:
        request.resolvedAt === undefined
          ? changedRecently(resolved.install.tenant, resolved.install.extensionId)
          : changedSince(resolved.install.tenant, resolved.install.extensionId, request.resolvedAt),
      refused: undefined,
      answered: false,
      checking: undefined,
      revoker: undefined,
      dispatched: {},
      denied: undefined,
    };
    const executionDispatch = guarded(execution);
    const attempt = async (): Promise<ExecuteResult> => {
      try {
        await ensureLoaded(resolved.bundle);
      } catch (error) {
        // E_BUNDLE_INVALID is a load code, not an execution code: the gateway's failure mapping knows it all the same.
        if (isAnnexError(error) && RUNNER_LOAD_FAILURES.has(error.code)) return failed(error.code as ExecuteErrorCode, error.message);
        if (isAnnexError(error) && error.code !== "E_RUNNER_UNAVAILABLE") {
          const summary = errorSummary(error);
          throw new ExecutionError("E_BUNDLE_REJECTED", `the runner refused the bundle of ${resolved.manifest.id}@${resolved.manifest.version}: ${summary.message}`, {
            reason: `${summary.code}: ${summary.message}`,
            code: summary.code,
          }, { cause: error });
        }
        return failed("E_RUNNER_UNAVAILABLE", `the runner could not load the bundle: ${errorSummary(error).message}`);
      }
      try {
        // At the deadline the runner is told too: still queued (a busy pool), the execution never starts.
        return await runner.execute(envelope, { dispatch: executionDispatch, hostCallsAfter: request.hostCallsAfter, abandoned: deadline });
      } catch (error) {
        return failed("E_RUNNER_UNAVAILABLE", errorSummary(error).message);
      }
    };
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<ExecuteResult>((resolve) => {
      timer = setTimeout(() => {
        // The caller is answered now: whatever the runner still runs for it (it may not even have started, queued in a
        // busy pool) may no longer act, and calls under way are cancelled, http.fetch included.
        execution.refused ??= new HostCallError("E_TIMEOUT", `the host stopped waiting for this execution after ${request.timeoutMs} ms and answered for it: it may no longer act`);
        execution.revoker?.controller.abort();
        resolve(failed("E_TIMEOUT", `no answer from the runner within ${request.timeoutMs} ms`));
      }, request.timeoutMs);
    });
    inFlight.set(requestId, execution);
    let result: ExecuteResult;
    try {
      result = await Promise.race([attempt(), deadline]);
      // A runner that restarted forgot its bundles: load again, once.
      if (!result.ok && result.error?.code === "E_BUNDLE_NOT_LOADED") {
        loaded.delete(resolved.bundle.contentHash);
        result = await Promise.race([attempt(), deadline]);
      }
    } finally {
      clearTimeout(timer);
      inFlight.delete(requestId);
      execution.answered = true;
    }
    result = withDispatched(result, execution.dispatched);
    if (settle !== undefined) result = await settle(requestId, trigger, result);
    const { install } = resolved;
    report({
      requestId,
      tenant: install.tenant,
      extensionId: install.extensionId,
      version: install.version,
      installId: install.id,
      handler: invocation.handler,
      trigger,
      ...(request.family === undefined ? {} : { family: request.family }),
      result,
      ...deniedOf(result, execution.denied),
    });
    return result;
  }

  return {
    run,
    ensureLoaded,
    installChanged,
    get generation() {
      return generation;
    },
    contextOf(scope) {
      const context = inFlight.get(scope.requestId)?.context;
      // The scope is the runner's; a mismatch means a stale or foreign call, which gets nothing.
      if (context === undefined || context.resolved.install.id !== scope.installId || context.resolved.install.tenant !== scope.tenant) return undefined;
      return context;
    },
  };
}
