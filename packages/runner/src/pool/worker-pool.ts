import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { CapabilityRequest, VerifiedBundle } from "@annex/manifest";
import { isVerifiedBundle } from "@annex/manifest/runtime";
import type { ExecuteEnvelope, ExecuteErrorCode, ExecuteResult, ExecutionLimits } from "../envelope.js";
import { RunnerError } from "../errors.js";
import { createHostDispatch, dispatchAfter, type HostApis, type HostDispatch } from "../host-apis.js";
import { effectiveLimits, manifestLimitsToExecutionLimits, resolveRunnerLimits, type ManifestLimits } from "../limits.js";
import type { ExecuteOptions, LoadedBundle, Runner } from "../runner.js";
import { isRunning, newClaimCells, offer, revoke, tokenOf, type ClaimCells } from "./claims.js";
import { FairQueue } from "./fair-queue.js";
import { withBodyText } from "../json-body.js";
import { HostCallGate, fromWireError, toWireError } from "./host-bridge.js";
import type { ExecuteItem, FromWorker, ToWorker } from "./protocol.js";
import { bundleParts, workerRunnerOptions, type PoolRunnerOptions, type WorkerBundleParts, type WorkerData } from "./worker-data.js";
import { resolveWorkerUrl } from "./worker-url.js";
import { stayAwake } from "./stay-awake.js";
import { clearTimeout, setImmediate, setTimeout } from "node:timers";

export interface WorkerPoolOptions extends PoolRunnerOptions {
  /**
   * Worker threads. Default: one per core but one, at least 1 and at most 4.
   * The core left over is the main thread's: in a host it runs the HTTP
   * server, the gateway, the embedded database and the pool's messaging. On
   * the 2-core development machine that is 1 worker, which serves the
   * gateway bench better than 2 (41 % vs 39-40 % of bare Express); the pool
   * alone, with nothing else on the main thread, does more with 2.
   */
  workers?: number;
  /**
   * Executions one worker holds at once. Default 1: a worker the watchdog must
   * kill then takes no other execution down with it. Raise it for extensions
   * that spend their time awaiting host calls (see docs/pool-and-remote.md).
   */
  executionsPerWorker?: number;
  /**
   * Executions sent ahead to a busy worker, waiting there to start the moment
   * it is free (no round trip to the main thread in between). One that has not
   * started is never lost with its worker: when the watchdog kills the worker,
   * or another worker frees up first, it is taken back and runs elsewhere, and
   * an atomic claim makes sure it runs once. 0 turns this off. Default 8:
   * a worker then rarely waits for the main thread, and results that finish in
   * one turn leave in one message.
   */
  prefetch?: number;
  /** The host's implementations (and egress policy, `hostApis.fetch`); they run on the main thread, never in a worker. */
  hostApis?: HostApis;
  /**
   * Where host calls go instead of `hostApis` (advanced): a runner server
   * passes one that forwards them to the calling host.
   */
  hostDispatch?: HostDispatch;
  /**
   * How long (µs) a worker whose executions all wait on host calls keeps its
   * thread running before it sleeps. A sleeping thread must be woken for the
   * answer, which on a virtual machine costs more than a small host call
   * itself (measured: a `ctx.sql.query` by key from 500 to 350 µs with
   * 1000). The main thread does the same for as long after it answers a
   * call, while executions are under way, so that the next call finds it
   * awake. Default 1000 when the workers leave the main thread a core of its
   * own (fewer workers than `availableParallelism()`), else 0: a spinning
   * worker must never take the core the main thread answers its calls on.
   * 0 to 10,000.
   */
  hostCallSpinMicros?: number;
  /**
   * Added to an execution's wall limit before the watchdog kills its worker,
   * and to its busy limit (see `busyLimitMs`). Default 1000 ms.
   */
  watchdogGraceMs?: number;
  /**
   * Extra worker threads the pool starts, one at a time, while every worker
   * is held by executions that wait on host calls (a slow `http.fetch`, a
   * slow host capability) and other executions wait for a worker. With one
   * execution per worker, one install awaiting a slow API otherwise held the
   * whole default pool of one worker, and every tenant's requests waited
   * behind it. An extra worker takes one execution at a time like the
   * others (a watchdog kill still fails only its own), and leaves after
   * `overflowIdleMs` with nothing to run. Default 3; 0 turns this off.
   */
  overflowWorkers?: number;
  /** How long every worker must have been waiting on host calls before an extra one starts. Default 50 ms. */
  overflowAfterMs?: number;
  /** How long an extra worker stays with nothing to run before it stops. Default 30,000 ms. */
  overflowIdleMs?: number;
  /** Executions waiting for a worker beyond this are refused with E_RUNNER_UNAVAILABLE. Default 10,000. */
  maxQueue?: number;
  /** Longest wait for a free worker before E_RUNNER_UNAVAILABLE. Default 30 s. */
  queueTimeoutMs?: number;
  /** V8 heap cap of each worker (the sandboxes' WebAssembly memories are capped separately). Default 256. */
  maxOldGenerationSizeMb?: number;
  /** Stack of each worker thread: room for QuickJS frames over Node's own. Default 8. */
  stackSizeMb?: number;
  /** A worker script other than the package's own (advanced: a custom build). */
  workerUrl?: URL;
}

/** After an extra worker died before it was ready, the pool waits this long before it starts another. */
const OVERFLOW_RETRY_MS = 1000;

export interface WorkerPoolStats {
  workers: number;
  /** Extra workers running now because every worker waited on host calls (see `overflowWorkers`). */
  overflowWorkers: number;
  /** Worker threads started and not yet exited, including ones being replaced. */
  liveWorkers: number;
  busyWorkers: number;
  /** Waiting to start: in the pool's queue, or sent ahead to a worker. */
  queued: number;
  /** Running in a worker. */
  inFlight: number;
  loadedBundles: number;
  restarts: { watchdog: number; crash: number };
}

export interface WorkerPoolRunner extends Runner {
  stats(): WorkerPoolStats;
}

interface Pending {
  id: number;
  envelope: ExecuteEnvelope;
  gate: HostCallGate;
  wallMs: number;
  cpuMs: number;
  /** Time spent with a host call of it pending, finished calls only. */
  hostWaitMs: number;
  /** Its host calls pending now, and since when one has been. */
  callsPending: number;
  waitingSince: number;
  enqueuedAt: number;
  /** When its worker started it (as far as the main thread can tell), for usage and the watchdog. */
  startedAt: number;
  /** The queue timeout while waiting in the pool, the watchdog once started. */
  timer: NodeJS.Timeout | undefined;
  slot: Slot | undefined;
  /** Its claim cell in `slot.claims` and its token there (claims.ts). */
  cell: number;
  token: number;
  /** Counted as running by the main thread, which mirrors the worker's first-come order. */
  started: boolean;
  /** Answered: nothing may time it out or answer it again. */
  finished: boolean;
  resolve(result: ExecuteResult): void;
}

/** Whose turn an execution waits for: the install it runs for (a malformed envelope is refused later, by the runner). */
function installOf(pending: Pending): string {
  const id = pending.envelope.install?.id;
  return typeof id === "string" ? id : "";
}

interface Slot {
  worker: Worker;
  ready: boolean;
  retired: boolean;
  exited: Promise<void>;
  isExited: boolean;
  failuresBeforeReady: number;
  lastError: Error | undefined;
  /** Executions sent to this worker, running or waiting there, in the order sent. */
  held: Map<number, Pending>;
  /** How many of `held` run. */
  running: number;
  claims: ClaimCells;
  freeCells: number[];
  acks: Map<number, { resolve(message: FromWorker | undefined): void }>;
  /** Loads sent or waiting to be sent: the slot takes no execution meanwhile. */
  loading: number;
  /** Resolved when the slot holds no execution (a load waits for it). */
  drained: (() => void)[];
  /** The watchdog of the load the worker is evaluating. */
  loadTimer: NodeJS.Timeout | undefined;
  /** Started beyond `workers` while every worker waited on host calls; stops when idle, is not replaced. */
  overflow: boolean;
  /** An idle overflow worker's countdown to stopping. */
  idleTimer: NodeJS.Timeout | undefined;
}

interface LoadedEntry {
  parts: WorkerBundleParts;
  loaded: LoadedBundle;
  capabilities: readonly CapabilityRequest[];
  limits: Partial<ExecutionLimits>;
  /** Wall limit of the bundle's top-level code while loading (runner ∩ manifest). */
  loadWallMs: number;
}

/**
 * The default runner: a pool of worker threads, each running the in-memory
 * runner. The main thread is the trust boundary: it accepts only verified
 * bundles, builds every host-call scope from the envelope it holds, runs the
 * real host APIs, and watches every execution's wall clock, terminating a
 * worker whose sandbox is stuck where QuickJS's interrupt handler cannot reach
 * (a catastrophic regex, a huge sort).
 */
export function createWorkerPoolRunner(options: WorkerPoolOptions = {}): WorkerPoolRunner {
  const size = positiveInteger(options.workers ?? defaultWorkers(), "workers");
  const perWorker = positiveInteger(options.executionsPerWorker ?? 1, "executionsPerWorker");
  const capacity = perWorker + nonNegativeInteger(options.prefetch ?? 8, "prefetch");
  const watchdogGraceMs = positiveInteger(options.watchdogGraceMs ?? 1000, "watchdogGraceMs");
  const spinMicros = nonNegativeInteger(options.hostCallSpinMicros ?? (size < availableParallelism() ? 1000 : 0), "hostCallSpinMicros");
  if (spinMicros > 10_000) throw new RunnerError("E_BAD_OPTIONS", `hostCallSpinMicros must be at most 10000 (10 ms), got ${spinMicros}`, { path: "hostCallSpinMicros" });
  const spinMs = spinMicros / 1000;
  const maxQueue = positiveInteger(options.maxQueue ?? 10_000, "maxQueue");
  const queueTimeoutMs = positiveInteger(options.queueTimeoutMs ?? 30_000, "queueTimeoutMs");
  const overflowWorkers = nonNegativeInteger(options.overflowWorkers ?? 3, "overflowWorkers");
  const overflowAfterMs = nonNegativeInteger(options.overflowAfterMs ?? 50, "overflowAfterMs");
  const overflowIdleMs = nonNegativeInteger(options.overflowIdleMs ?? 30_000, "overflowIdleMs");
  const runnerLimits = resolveRunnerLimits(options.limits);
  const hostDispatch = options.hostDispatch ?? createHostDispatch(options.hostApis ?? {});
  const runnerOptions = workerRunnerOptions(options);
  const resourceLimits = {
    maxOldGenerationSizeMb: positiveInteger(options.maxOldGenerationSizeMb ?? 256, "maxOldGenerationSizeMb"),
    stackSizeMb: positiveInteger(options.stackSizeMb ?? 8, "stackSizeMb"),
  };

  const bundles = new Map<string, LoadedEntry>();
  const loading = new Map<string, Promise<LoadedBundle>>();
  /** Wall limits of bundles being loaded, for the load watchdog. */
  const loadWalls = new Map<string, number>();
  const slots: Slot[] = [];
  const everyWorker = new Set<Slot>();
  const queue = new FairQueue<Pending>(installOf);
  const inFlightIds = new Set<string>();
  const respawnTimers = new Set<NodeJS.Timeout>();
  const restarts = { watchdog: 0, crash: 0 };
  let nextId = 0;
  let dispatches = 0;
  let closed = false;
  let pumpScheduled = false;
  let overflowTimer: NodeJS.Timeout | undefined;
  let spawnUrl: URL | undefined;
  /** Executions that arrived in this turn of the event loop, for the pump at its end (schedulePump). */
  const arrivals: Pending[] = [];
  const workerUrl = options.workerUrl ? Promise.resolve(options.workerUrl) : resolveWorkerUrl();
  const ownWorkers = options.workerUrl === undefined;
  // Spawning waits for the URL (a build from source, in tests); a failure there fails loads and executions.
  let startError: Error | undefined;
  const started = workerUrl.then((url) => {
    spawnUrl = url;
    for (let i = 0; i < size; i++) slots.push(spawn(url, 0));
  });
  started.catch((error: Error) => {
    startError = error;
    for (const pending of queue.values()) finish(pending, failure(pending, "E_RUNNER_UNAVAILABLE", `the pool could not start its workers: ${error.message}`));
  });

  function spawn(url: URL, failuresBeforeReady: number, overflow = false): Slot {
    const { buffer, cells } = newClaimCells(capacity);
    const data: WorkerData = { runnerOptions, bundles: [...bundles.values()].map((b) => ({ ...b.parts, handlers: b.loaded.handlers })), concurrency: perWorker, claims: buffer, spinMicros };
    const worker = new Worker(url, { workerData: data, resourceLimits, execArgv: workerExecArgv(), stdout: false, stderr: false });
    let markExited!: () => void;
    const slot: Slot = {
      worker,
      ready: false,
      retired: false,
      exited: new Promise<void>((resolve) => (markExited = resolve)),
      isExited: false,
      failuresBeforeReady,
      lastError: undefined,
      held: new Map(),
      running: 0,
      claims: cells,
      freeCells: Array.from({ length: capacity }, (_, i) => capacity - 1 - i),
      acks: new Map(),
      loading: 0,
      drained: [],
      loadTimer: undefined,
      overflow,
      idleTimer: undefined,
    };
    everyWorker.add(slot);
    worker.on("message", (message: FromWorker) => onMessage(slot, message));
    worker.on("error", (error) => (slot.lastError = error));
    worker.on("exit", () => {
      slot.isExited = true;
      everyWorker.delete(slot);
      markExited();
      onWorkerGone(slot, url);
    });
    worker.unref();
    return slot;
  }

  function send(slot: Slot, message: ToWorker): void {
    if (!slot.isExited) slot.worker.postMessage(message);
  }

  function refreshRef(slot: Slot): void {
    // A busy worker keeps the process alive; an idle one does not, so a host that forgets close() can still exit.
    if (slot.held.size > 0 || slot.acks.size > 0) slot.worker.ref();
    else slot.worker.unref();
  }

  function onMessage(slot: Slot, message: FromWorker): void {
    switch (message.type) {
      case "ready":
        clearTimeout(slot.loadTimer);
        slot.ready = true;
        slot.failuresBeforeReady = 0;
        pump();
        idleOverflow(slot);
        return;
      case "load-started":
        clearTimeout(slot.loadTimer);
        slot.loadTimer = setTimeout(
          () => onLoadWatchdog(slot, message.id, message.contentHash),
          (loadWalls.get(message.contentHash) ?? bundles.get(message.contentHash)?.loadWallMs ?? runnerLimits.wallMs) + watchdogGraceMs,
        );
        return;
      case "loaded":
        clearTimeout(slot.loadTimer);
      // falls through
      case "unloaded": {
        const ack = slot.acks.get(message.id);
        slot.acks.delete(message.id);
        refreshRef(slot);
        ack?.resolve(message);
        return;
      }
      case "result":
        if (settle(slot, message.id, message.result, message.bodyText)) pump();
        return;
      case "results": {
        let any = false;
        for (const { id, result, bodyText } of message.results) any = settle(slot, id, result, bodyText) || any;
        if (any) pump();
        return;
      }
      case "host-call":
        void answerHostCall(slot, message);
        return;
    }
  }

  function settle(slot: Slot, id: number, result: ExecuteResult, bodyText: string | undefined): boolean {
    const pending = slot.held.get(id);
    if (pending === undefined) return false;
    const whole = bodyText !== undefined && result.ok && result.response !== undefined ? withBodyText(result, bodyText) : result;
    // The worker cannot answer for another execution: the result keeps the id the host sent.
    finish(pending, { ...whole, requestId: pending.envelope.requestId });
    return true;
  }

  async function answerHostCall(slot: Slot, message: Extract<FromWorker, { type: "host-call" }>): Promise<void> {
    let pending: Pending | undefined;
    for (const p of slot.held.values()) {
      if (p.envelope.requestId === message.requestId && isRunning(slot.claims, p.cell, p.token)) pending = p;
    }
    if (pending === undefined) {
      send(slot, { type: "host-result", callId: message.callId, ok: false, error: { code: "E_CAPABILITY_DENIED", message: "no execution of this worker owns that host call" } });
      return;
    }
    // While a call is pending the worker waits: that time is not the execution's busy time (see busyLimitMs).
    if (pending.callsPending++ === 0) {
      pending.waitingSince = performance.now();
      if (workWaits()) scheduleOverflowCheck(overflowAfterMs);
    }
    try {
      const value = await pending.gate.call(message.method, Array.isArray(message.args) ? message.args : []);
      // Ended meanwhile: the worker dropped the call with its execution, and copying the answer over would be this thread's work for nobody.
      if (!pending.finished) send(slot, { type: "host-result", callId: message.callId, ok: true, value });
    } catch (error) {
      if (!pending.finished) send(slot, { type: "host-result", callId: message.callId, ok: false, error: toWireError(error) });
    } finally {
      awaitNextCall();
      if (--pending.callsPending === 0) pending.hostWaitMs += performance.now() - pending.waitingSince;
    }
  }

  // The main thread's side of hostCallSpinMicros: awake, after it answers a call, for the execution's next call or its
  // result, while executions are under way. A guest making one call after another otherwise paid this thread's wake-up
  // on every call (measured: worker → main 100–200 µs a message asleep, ~50 µs awake). Off with the worker's spin:
  // both need a core each, which the default pool leaves them.
  const awaitNextCall = stayAwake(spinMs, () => inFlightIds.size > 0);

  function finish(pending: Pending, result: ExecuteResult): void {
    pending.finished = true;
    clearTimeout(pending.timer);
    pending.gate.close();
    inFlightIds.delete(pending.envelope.requestId);
    const slot = pending.slot;
    if (slot !== undefined) {
      detach(pending);
      refreshRef(slot);
      startWaiting(slot);
      checkDrained(slot);
      idleOverflow(slot);
    } else {
      queue.remove(pending);
    }
    pending.resolve(result);
  }

  function usable(slot: Slot): boolean {
    return slot.ready && !slot.retired && slot.loading === 0;
  }

  /** Wakes the loads waiting for this slot to hold no execution. */
  function checkDrained(slot: Slot): void {
    if (slot.held.size > 0 || slot.drained.length === 0) return;
    const waiters = slot.drained;
    slot.drained = [];
    for (const resolve of waiters) resolve();
  }

  /**
   * The load watchdog: a bundle whose top-level code overran its wall limit
   * while loading (a built-in looping where the interrupt handler cannot reach)
   * fails its own load with E_TIMEOUT, and the worker is replaced. The pool
   * sends a load only to a worker holding no execution, so no other
   * extension's request goes down with it.
   */
  function onLoadWatchdog(slot: Slot, id: number, contentHash: string): void {
    if (slot.retired || slot.isExited) return;
    restarts.watchdog++;
    if (!slot.ready) {
      // A load sent before the worker reported ready: it is stopped and restarted with backoff, as one that keeps dying.
      void slot.worker.terminate();
      return;
    }
    const wall = loadWalls.get(contentHash) ?? runnerLimits.wallMs;
    slot.acks.get(id)?.resolve({
      type: "loaded",
      id,
      ok: false,
      error: {
        code: "E_TIMEOUT",
        message: `the server entry's top-level code did not finish loading within its wall limit of ${wall} ms (a built-in that never yields to the interrupt handler); its worker was terminated. The publisher must fix it and publish a new version`,
        details: { phase: "load", limit: "wallMs", wallMs: wall, path: "runtime.entry" },
      },
    });
    slot.acks.delete(id);
    retire(slot, "E_SANDBOX_CRASHED", "its worker was terminated because a bundle's top-level code overran its limits while loading");
  }

  /**
   * Sends queued executions to the least-loaded workers, several per message,
   * installs in turn (FairQueue); then lets idle workers take waiting ones
   * from busy workers.
   */
  function pump(): void {
    const batches = new Map<Slot, Pending[]>();
    while (queue.length > 0) {
      let best: Slot | undefined;
      for (const slot of slots) {
        if (!usable(slot) || slot.held.size >= capacity) continue;
        if (best === undefined || slot.held.size < best.held.size) best = slot;
      }
      if (best === undefined) break;
      if (outOfTurn(best, installOf(queue.peek()!))) {
        takeBack(best, batches);
        continue;
      }
      const pending = queue.shift()!;
      attach(best, pending);
      batch(batches, best, pending);
    }
    if (queue.length === 0) steal(batches);
    for (const [slot, items] of batches) post(slot, items);
    if (workWaits()) scheduleOverflowCheck(overflowAfterMs);
  }

  /** Something waits to start: in the queue, or sent ahead to a worker busy with another. */
  function workWaits(): boolean {
    if (queue.length > 0) return true;
    for (const slot of slots) if (slot.held.size > slot.running) return true;
    return false;
  }

  function scheduleOverflowCheck(delay: number): void {
    if (overflowWorkers === 0 || closed || overflowTimer !== undefined) return;
    overflowTimer = setTimeout(() => {
      overflowTimer = undefined;
      checkOverflow();
    }, delay);
    overflowTimer.unref();
  }

  /**
   * Starts an extra worker when work waits and every worker has been held for
   * `overflowAfterMs` by executions that all wait on host calls. Not when one
   * runs guest code (more threads than cores would not make that go faster),
   * nor while a worker is starting or loading (it takes work soon).
   */
  function checkOverflow(): void {
    if (closed || spawnUrl === undefined || !workWaits()) return;
    let extra = 0;
    let blockedUntil = 0;
    const now = performance.now();
    for (const slot of slots) {
      if (slot.retired) continue;
      if (slot.overflow) extra++;
      if (!slot.ready || slot.loading > 0 || slot.running < perWorker) return;
      for (const pending of slot.held.values()) {
        if (!pending.started) continue;
        if (pending.callsPending === 0) return;
        blockedUntil = Math.max(blockedUntil, pending.waitingSince + overflowAfterMs);
      }
    }
    if (extra >= overflowWorkers) return;
    if (blockedUntil > now) return scheduleOverflowCheck(Math.ceil(blockedUntil - now));
    slots.push(spawn(spawnUrl, 0, true));
  }

  /** An overflow worker with nothing to run stops after `overflowIdleMs`, unless it was given work meanwhile. */
  function idleOverflow(slot: Slot): void {
    if (!slot.overflow || slot.retired || slot.held.size > 0 || slot.idleTimer !== undefined) return;
    slot.idleTimer = setTimeout(() => {
      slot.idleTimer = undefined;
      if (slot.retired || slot.held.size > 0 || slot.loading > 0 || slot.acks.size > 0) return;
      slot.retired = true;
      const i = slots.indexOf(slot);
      if (i >= 0) slots.splice(i, 1);
      void slot.worker.terminate();
    }, overflowIdleMs);
    slot.idleTimer.unref();
  }

  /**
   * A worker starts what it was sent in the order sent, so the turns of the
   * queue hold only if what waits in a worker keeps them: sending `install`'s
   * execution behind more than one extra of another install's (a burst sent
   * ahead before it came) would not.
   */
  function outOfTurn(slot: Slot, install: string): boolean {
    let mixed = false;
    for (const p of slot.held.values()) {
      if (!p.started && installOf(p) !== install) {
        mixed = true;
        break;
      }
    }
    if (!mixed) return false;
    let mine = 0;
    const others = new Map<string, number>();
    for (const p of slot.held.values()) {
      if (p.started) continue;
      const key = installOf(p);
      if (key === install) mine++;
      else others.set(key, (others.get(key) ?? 0) + 1);
    }
    for (const count of others.values()) if (count > mine + 1) return true;
    return false;
  }

  /**
   * Takes back every execution waiting in a worker that it has not started
   * (an atomic claim decides, as for stealing) into the queue, in the order
   * they had, for the pump to send again in turn. What the worker started
   * meanwhile stays there.
   */
  function takeBack(slot: Slot, batches: Map<Slot, Pending[]>): void {
    const back: Pending[] = [];
    for (const pending of [...slot.held.values()]) {
      if (pending.started) continue;
      if (!revoke(slot.claims, pending.cell, pending.token)) {
        markStarted(slot, pending);
        continue;
      }
      detach(pending);
      back.push(pending);
    }
    const running = new Set<string>();
    for (const pending of slot.held.values()) running.add(installOf(pending));
    // Not posted yet: the worker need not see them at all.
    const unsent = batches.get(slot)?.filter((p) => p.slot === slot);
    if (unsent !== undefined) batches.set(slot, unsent);
    // An install with one running here has had its turn: the others go first.
    queue.requeue(back, running);
    for (const pending of back) startQueueTimer(pending);
  }

  function batch(batches: Map<Slot, Pending[]>, slot: Slot, pending: Pending): void {
    const items = batches.get(slot);
    if (items === undefined) batches.set(slot, [pending]);
    else items.push(pending);
  }

  /**
   * A worker with room to start something and nothing waiting for it takes
   * the newest execution waiting behind a busy worker, if it can revoke the
   * claim before that worker starts it: nothing waits behind a slow execution
   * while a worker idles.
   */
  function steal(batches: Map<Slot, Pending[]>): void {
    for (const idle of slots) {
      while (usable(idle) && idle.held.size < perWorker) {
        let taken: Pending | undefined;
        for (const busy of slots) {
          if (busy === idle || busy.held.size <= busy.running) continue;
          for (const p of busy.held.values()) if (!p.started) taken = p;
          if (taken !== undefined) break;
        }
        if (taken === undefined) return;
        const from = taken.slot!;
        if (!revoke(from.claims, taken.cell, taken.token)) {
          // Its worker started it a moment ago; the result that says so is on its way.
          markStarted(from, taken);
          continue;
        }
        detach(taken);
        refreshRef(from);
        checkDrained(from);
        attach(idle, taken);
        batch(batches, idle, taken);
      }
    }
  }

  function attach(slot: Slot, pending: Pending): void {
    clearTimeout(slot.idleTimer);
    slot.idleTimer = undefined;
    clearTimeout(pending.timer);
    pending.timer = undefined;
    pending.slot = slot;
    pending.cell = slot.freeCells.pop()!;
    pending.token = tokenOf(++dispatches);
    offer(slot.claims, pending.cell, pending.token);
    slot.held.set(pending.id, pending);
    refreshRef(slot);
    // The worker starts it on arrival if it has room: so does the mirror.
    if (slot.running < perWorker) markStarted(slot, pending);
  }

  function detach(pending: Pending): void {
    const slot = pending.slot!;
    clearTimeout(pending.timer);
    pending.timer = undefined;
    slot.held.delete(pending.id);
    slot.freeCells.push(pending.cell);
    if (pending.started) slot.running--;
    pending.started = false;
    pending.slot = undefined;
  }

  /**
   * The main thread's view of which executions a worker runs: the worker
   * starts them in the order sent, `executionsPerWorker` at a time, claiming
   * each before it answers the previous one, so the next in line is started
   * by the time that answer arrives. The watchdog's clock starts here.
   */
  function markStarted(slot: Slot, pending: Pending): void {
    pending.started = true;
    slot.running++;
    pending.startedAt = performance.now();
    armWatchdog(slot, pending);
  }

  /**
   * How long an execution may keep its worker busy with no host call pending.
   * Its CPU limit stops JavaScript, not a built-in running in native code
   * (`new Array(2 ** 30).join("")`): such a worker would otherwise hold out
   * until the wall limit, with every execution queued behind it waiting (on
   * the default pool of one worker, other tenants' requests timed out). Busy
   * time is wall time less host-call waits, so on a loaded machine it runs
   * ahead of CPU time: the limit allows twice the CPU limit, and at least
   * the CPU limit plus a second, before the grace. Only with one execution
   * per worker, where the worker's busy time is the execution's own.
   */
  function busyLimitMs(pending: Pending): number {
    return Math.max(2 * pending.cpuMs, pending.cpuMs + 1000) + watchdogGraceMs;
  }

  /** Times the execution out at its wall limit, or earlier when it stays busy past busyLimitMs. */
  function armWatchdog(slot: Slot, pending: Pending): void {
    const now = performance.now();
    const elapsed = now - pending.startedAt;
    const wallLeft = pending.wallMs + watchdogGraceMs - elapsed;
    if (wallLeft <= 0) return onWatchdog(slot, pending);
    let next = wallLeft;
    if (perWorker === 1) {
      const busy = elapsed - pending.hostWaitMs - (pending.callsPending > 0 ? now - pending.waitingSince : 0);
      const busyLeft = busyLimitMs(pending) - busy;
      if (busyLeft <= 0 && pending.callsPending === 0) return onBusyWatchdog(slot, pending, busy);
      // A call pending stops the busy clock: look again at least when the wall limit could pass.
      next = Math.min(wallLeft, Math.max(busyLeft, 50));
    }
    pending.timer = setTimeout(() => {
      if (slot.held.get(pending.id) === pending) armWatchdog(slot, pending);
    }, next);
  }

  function startWaiting(slot: Slot): void {
    if (slot.retired) return;
    for (const pending of slot.held.values()) {
      if (slot.running >= perWorker) return;
      if (!pending.started) markStarted(slot, pending);
    }
  }

  function toItem(pending: Pending): ExecuteItem {
    return { id: pending.id, cell: pending.cell, token: pending.token, envelope: pending.envelope };
  }

  function post(slot: Slot, items: Pending[]): void {
    if (slot.isExited) return;
    try {
      slot.worker.postMessage({ type: "execute", items: items.map(toItem) } satisfies ToWorker);
    } catch {
      // One envelope that cannot be copied must not fail the others sent with it.
      for (const pending of items) {
        try {
          slot.worker.postMessage({ type: "execute", items: [toItem(pending)] } satisfies ToWorker);
        } catch (error) {
          finish(pending, failure(pending, "E_BAD_ENVELOPE", `the envelope cannot be copied to a worker: ${(error as Error).message}`));
        }
      }
    }
  }

  function startQueueTimer(pending: Pending): void {
    const left = queueTimeoutMs - (performance.now() - pending.enqueuedAt);
    pending.timer = setTimeout(
      () => finish(pending, failure(pending, "E_RUNNER_UNAVAILABLE", `no worker became free within ${queueTimeoutMs} ms`)),
      Math.max(0, left),
    );
  }

  function onBusyWatchdog(slot: Slot, pending: Pending, busyMs: number): void {
    restarts.watchdog++;
    retire(slot, "E_SANDBOX_CRASHED", "its worker was terminated because another execution it held exceeded its CPU limit", {
      pending,
      result: failure(
        pending,
        "E_TIMEOUT",
        `the execution exceeded its CPU limit of ${pending.cpuMs} ms: its worker was busy for ${Math.round(busyMs)} ms with no host call pending (a built-in running in native code, which the CPU limit cannot interrupt), and was terminated`,
      ),
    });
  }

  function onWatchdog(slot: Slot, pending: Pending): void {
    if (slot.held.get(pending.id) !== pending) return;
    restarts.watchdog++;
    retire(slot, "E_SANDBOX_CRASHED", "its worker was terminated because another execution it held exceeded its wall limit", {
      pending,
      result: failure(pending, "E_TIMEOUT", `the execution exceeded its wall limit of ${pending.wallMs} ms and its worker was terminated`),
    });
  }

  /**
   * Empties a worker that is going away: executions it had not started are
   * revoked and go back to the front of the queue, in order; the ones it
   * started fail with `code` (the culprit with its own result).
   */
  function evacuate(slot: Slot, code: ExecuteErrorCode, message: string, culprit?: { pending: Pending; result: ExecuteResult }): void {
    const back: Pending[] = [];
    for (const pending of [...slot.held.values()]) {
      if (pending !== culprit?.pending && revoke(slot.claims, pending.cell, pending.token)) {
        detach(pending);
        back.push(pending);
      }
    }
    if (culprit !== undefined) finish(culprit.pending, culprit.result);
    for (const pending of [...slot.held.values()]) finish(pending, failure(pending, code, message));
    queue.requeue(back);
    for (const pending of back) startQueueTimer(pending);
    refreshRef(slot);
    if (back.length > 0) pump();
  }

  /** Takes a slot out of service: its executions fail or move, a replacement starts. */
  function retire(slot: Slot, code: ExecuteErrorCode, message: string, culprit?: { pending: Pending; result: ExecuteResult }): void {
    if (slot.retired) return;
    slot.retired = true;
    clearTimeout(slot.loadTimer);
    evacuate(slot, code, message, culprit);
    checkDrained(slot);
    for (const ack of slot.acks.values()) ack.resolve(undefined);
    slot.acks.clear();
    clearTimeout(slot.idleTimer);
    void slot.worker.terminate();
    // An extra worker is not replaced: the next check starts one if every worker still waits.
    if (slot.overflow) return void removeSlot(slot);
    // Replaced where it stands (found again then: overflow workers come and go meanwhile).
    if (slots.includes(slot) && !closed) void workerUrl.then((url) => replaceSlot(slot, spawn(url, 0)));
  }

  function removeSlot(slot: Slot): void {
    const i = slots.indexOf(slot);
    if (i >= 0) slots.splice(i, 1);
    // One that died before it was ready (no memory for another thread, a broken build) is not tried again at once.
    if (workWaits()) scheduleOverflowCheck(slot.ready ? 0 : OVERFLOW_RETRY_MS);
  }

  function replaceSlot(old: Slot, next: Slot): void {
    const i = slots.indexOf(old);
    if (i >= 0 && !closed) slots[i] = next;
    else void next.worker.terminate();
  }

  function onWorkerGone(slot: Slot, url: URL): void {
    if (slot.retired || closed) return;
    restarts.crash++;
    const reason = slot.lastError ? `: ${slot.lastError.message}` : "";
    const failures = slot.ready ? 0 : slot.failuresBeforeReady + 1;
    slot.retired = true;
    clearTimeout(slot.loadTimer);
    evacuate(slot, "E_SANDBOX_CRASHED", `the sandbox's worker died${reason}`);
    checkDrained(slot);
    for (const ack of slot.acks.values()) ack.resolve(undefined);
    slot.acks.clear();
    clearTimeout(slot.idleTimer);
    if (slot.overflow) return removeSlot(slot);
    if (!slots.includes(slot)) return;
    // A worker that keeps dying before it is ready (a broken build, no memory) is restarted with backoff.
    const delay = failures === 0 ? 0 : Math.min(5_000, 100 * 2 ** (failures - 1));
    const timer = setTimeout(() => {
      respawnTimers.delete(timer);
      if (!closed && slots.includes(slot)) replaceSlot(slot, spawn(url, failures));
    }, delay);
    timer.unref();
    respawnTimers.add(timer);
  }

  function failure(pending: Pending, code: ExecuteErrorCode, message: string): ExecuteResult {
    const wallMs = pending.started ? Math.round(performance.now() - pending.startedAt) : 0;
    return {
      requestId: pending.envelope.requestId,
      ok: false,
      error: { code, message },
      usage: { cpuMs: 0, wallMs, memoryPeakBytes: 0, hostCalls: pending.gate.hostCalls(), logBytes: 0 },
      logs: [],
    };
  }

  async function broadcast(make: (id: number) => ToWorker, targets: Slot[]): Promise<(FromWorker | undefined)[]> {
    return Promise.all(
      targets.map(
        (slot) =>
          new Promise<FromWorker | undefined>((resolve) => {
            if (slot.retired || slot.isExited) return resolve(undefined);
            const id = ++nextId;
            slot.acks.set(id, { resolve });
            refreshRef(slot);
            send(slot, make(id));
          }),
      ),
    );
  }

  /**
   * Loads parts on these workers, each once it holds no execution (it takes
   * none meanwhile): the load's watchdog then can only ever stop the load.
   */
  async function loadOn(targets: Slot[], parts: WorkerBundleParts): Promise<(FromWorker | undefined)[]> {
    return Promise.all(
      targets.map(async (slot) => {
        slot.loading++;
        try {
          if (slot.held.size > 0) await new Promise<void>((resolve) => slot.drained.push(resolve));
          const [ack] = await broadcast((id) => ({ type: "load", id, parts }), [slot]);
          return ack;
        } finally {
          slot.loading--;
          pump();
        }
      }),
    );
  }

  async function load(bundle: VerifiedBundle): Promise<LoadedBundle> {
    if (closed) throw new RunnerError("E_RUNNER_UNAVAILABLE", "the worker pool is closed");
    if (!isVerifiedBundle(bundle)) {
      throw new RunnerError("E_BUNDLE_UNVERIFIED", "load: expects a VerifiedBundle returned by verifyBundle(); the pool loads nothing unverified");
    }
    const cached = bundles.get(bundle.contentHash);
    if (cached) return cached.loaded;
    const inProgress = loading.get(bundle.contentHash);
    if (inProgress) return inProgress;
    const attempt = (async () => {
      await started;
      const parts = bundleParts(bundle);
      const manifest = bundle.manifest as { capabilities?: CapabilityRequest[]; limits?: ManifestLimits };
      const limits = manifestLimitsToExecutionLimits(manifest.limits);
      const loadWallMs = effectiveLimits(runnerLimits, limits).wallMs;
      loadWalls.set(bundle.contentHash, loadWallMs);
      try {
        // One worker first: a bundle whose top-level code stalls costs one worker (and only this load), never all.
        const candidates = slots.filter((s) => !s.retired);
        const probe = candidates.find((s) => s.ready && s.held.size === 0) ?? candidates.find((s) => s.ready) ?? candidates[0];
        const rest = candidates.filter((s) => s !== probe);
        const first = probe === undefined ? [] : await loadOn([probe], parts);
        const acks = first.some((a) => a?.type === "loaded" && !a.ok) ? first : [...first, ...(await loadOn(rest, parts))];
        const targets = [...(probe === undefined ? [] : [probe]), ...rest];
        const failed = acks.find((a) => a?.type === "loaded" && !a.ok);
        const ok = acks.find((a): a is Extract<FromWorker, { type: "loaded"; ok: true }> => a?.type === "loaded" && a.ok);
        if (failed?.type === "loaded" && !failed.ok) {
          await broadcast((id) => ({ type: "unload", id, contentHash: bundle.contentHash }), targets);
          throw fromWireError(failed.error, RunnerError);
        }
        if (ok === undefined) {
          const cause = targets.find((s) => s.lastError)?.lastError;
          throw new RunnerError(
            "E_SANDBOX_CRASHED",
            `every worker died while loading the bundle${cause ? ` (${cause.message})` : ""}; retry the load`,
            undefined,
            { cause },
          );
        }
        bundles.set(bundle.contentHash, {
          parts,
          loaded: ok.loaded,
          capabilities: manifest.capabilities ?? [],
          limits,
          loadWallMs,
        });
        // Workers started while this load was in flight got no copy of it; send them one now.
        const late = slots.filter((s) => !targets.includes(s) && !s.retired);
        if (late.length > 0) await loadOn(late, parts);
        return ok.loaded;
      } finally {
        loadWalls.delete(bundle.contentHash);
      }
    })();
    loading.set(bundle.contentHash, attempt);
    try {
      return await attempt;
    } finally {
      loading.delete(bundle.contentHash);
    }
  }

  async function execute(envelope: ExecuteEnvelope, options?: ExecuteOptions): Promise<ExecuteResult> {
    const requestId = typeof envelope?.requestId === "string" ? envelope.requestId : "";
    const early = (code: ExecuteErrorCode, message: string): ExecuteResult => ({
      requestId,
      ok: false,
      error: { code, message },
      usage: { cpuMs: 0, wallMs: 0, memoryPeakBytes: 0, hostCalls: {}, logBytes: 0 },
      logs: [],
    });
    if (closed) return early("E_RUNNER_UNAVAILABLE", "the worker pool is closed");
    if (startError) return early("E_RUNNER_UNAVAILABLE", `the pool could not start its workers: ${startError.message}`);
    if (requestId === "" || typeof envelope.extension?.contentHash !== "string") {
      return early("E_BAD_ENVELOPE", "envelope: requestId and extension.contentHash are required strings");
    }
    const entry = bundles.get(envelope.extension.contentHash);
    if (entry === undefined) {
      return early("E_BUNDLE_NOT_LOADED", `extension.contentHash ${envelope.extension.contentHash} is not loaded: load its verified bundle first`);
    }
    if (inFlightIds.has(requestId)) {
      return early("E_BAD_ENVELOPE", `requestId ${requestId} is already executing: every execution needs its own requestId`);
    }
    // Executions of this turn are still in the queue until the pump runs: those that will go straight to a worker do not count.
    if (queue.length >= maxQueue + room()) return early("E_RUNNER_UNAVAILABLE", `the pool's queue is full (${maxQueue} executions waiting)`);
    const limits = effectiveLimits(runnerLimits, entry.limits, envelope.limits);
    inFlightIds.add(requestId);
    return new Promise<ExecuteResult>((resolve) => {
      const pending: Pending = {
        id: ++nextId,
        envelope,
        // The pool's own workers size each call's arguments in the sandbox before posting them (see HostCallGate);
        // another worker script is sized here.
        gate: new HostCallGate(dispatchAfter(options?.dispatch ?? hostDispatch, options?.hostCallsAfter), envelope, entry.capabilities, limits, {
          measure: !ownWorkers,
        }),
        wallMs: limits.wallMs,
        cpuMs: limits.cpuMs,
        hostWaitMs: 0,
        callsPending: 0,
        waitingSince: 0,
        enqueuedAt: performance.now(),
        startedAt: 0,
        timer: undefined,
        slot: undefined,
        cell: -1,
        token: 0,
        started: false,
        finished: false,
        resolve,
      };
      queue.push(pending);
      arrivals.push(pending);
      schedulePump();
      if (options?.abandoned !== undefined) {
        const abandon = () => giveUp(pending);
        options.abandoned.then(abandon, abandon);
      }
    });
  }

  /**
   * The caller stopped waiting: an execution still in the queue, or sent
   * ahead to a worker that has not claimed it, is answered now and never
   * runs (work the caller has answered for would only delay the executions
   * queued behind it). One its worker claimed runs on.
   */
  function giveUp(pending: Pending): void {
    if (pending.finished || pending.started) return;
    const slot = pending.slot;
    if (slot !== undefined && !revoke(slot.claims, pending.cell, pending.token)) return;
    finish(pending, failure(pending, "E_TIMEOUT", "the caller stopped waiting before the execution started: it never ran"));
    // Its place in a worker is free for the next in the queue.
    if (slot !== undefined) schedulePump();
  }

  /**
   * Executions that arrive in one turn of the event loop leave in one message
   * per worker: the pump runs once, at the end of the turn (setImmediate), not
   * once per execution. Under load (several requests read from their sockets
   * in one turn) this saves a postMessage and a wake-up of the worker per
   * execution; an idle pool waits microseconds. What of this turn's arrivals
   * is still queued after that pump gets its queue timeout (most executions
   * never need the timer): only the arrivals are looked at, not the whole
   * queue, which under overload holds up to maxQueue executions that already
   * have theirs. An arrival another pump took meanwhile has a worker, and
   * one it already answered is finished; neither gets a timer.
   */
  function schedulePump(): void {
    if (pumpScheduled) return;
    pumpScheduled = true;
    setImmediate(() => {
      pumpScheduled = false;
      pump();
      for (const pending of arrivals) {
        if (!pending.finished && pending.slot === undefined && pending.timer === undefined) startQueueTimer(pending);
      }
      arrivals.length = 0;
    });
  }

  /** How many more executions the usable workers take now (sent ahead included). */
  function room(): number {
    let free = 0;
    for (const slot of slots) if (usable(slot)) free += Math.max(0, capacity - slot.held.size);
    return free;
  }

  return {
    load,
    execute,
    async unload(contentHash: string): Promise<void> {
      if (closed) return;
      if (!bundles.delete(contentHash)) return;
      await broadcast((id) => ({ type: "unload", id, contentHash }), slots.filter((s) => !s.retired));
    },
    async close(): Promise<void> {
      if (closed) {
        await Promise.all([...everyWorker].map((s) => s.exited));
        return;
      }
      closed = true;
      clearTimeout(overflowTimer);
      overflowTimer = undefined;
      for (const timer of respawnTimers) clearTimeout(timer);
      respawnTimers.clear();
      for (const pending of queue.values()) finish(pending, failure(pending, "E_RUNNER_UNAVAILABLE", "the worker pool was closed"));
      arrivals.length = 0;
      await started.catch(() => {});
      for (const slot of [...everyWorker]) {
        slot.retired = true;
        clearTimeout(slot.loadTimer);
        clearTimeout(slot.idleTimer);
        checkDrained(slot);
        for (const pending of [...slot.held.values()]) finish(pending, failure(pending, "E_RUNNER_UNAVAILABLE", "the worker pool was closed"));
        for (const ack of slot.acks.values()) ack.resolve(undefined);
        slot.acks.clear();
        void slot.worker.terminate();
      }
      await Promise.all([...everyWorker].map((s) => s.exited));
      slots.length = 0;
      bundles.clear();
    },
    stats(): WorkerPoolStats {
      let busy = 0;
      let inFlight = 0;
      let waiting = queue.length;
      for (const slot of slots) {
        if (slot.held.size > 0) busy++;
        inFlight += slot.running;
        waiting += slot.held.size - slot.running;
      }
      return {
        workers: size,
        overflowWorkers: slots.filter((slot) => slot.overflow && !slot.retired).length,
        liveWorkers: everyWorker.size,
        busyWorkers: busy,
        queued: waiting,
        inFlight,
        loadedBundles: bundles.size,
        restarts: { ...restarts },
      };
    },
  };
}

/**
 * Workers inherit the host's Node flags by default, and some of them break a
 * worker or change what it loads (`--input-type`, `-e`, `--import`, `--loader`,
 * `--require`, `--conditions`). Only diagnostic flags are passed on.
 */
const INHERITED_FLAGS = /^--(enable-source-maps|no-warnings|disable-warning|stack-trace-limit|trace-warnings|trace-uncaught|no-deprecation|trace-deprecation)(=|$)/;

function workerExecArgv(): string[] {
  return process.execArgv.filter((flag) => INHERITED_FLAGS.test(flag));
}

function defaultWorkers(): number {
  return Math.min(4, Math.max(1, availableParallelism() - 1));
}

function nonNegativeInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RunnerError("E_BAD_OPTIONS", `${name} must be a non-negative integer, got ${String(value)}`, { path: name });
  }
  return value;
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RunnerError("E_BAD_OPTIONS", `${name} must be a positive integer, got ${String(value)}`, { path: name });
  }
  return value;
}
