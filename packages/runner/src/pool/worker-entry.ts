import { parentPort, workerData } from "node:worker_threads";
import type { ExecuteResult } from "../envelope.js";
import { HostCallError } from "../errors.js";
import { adoptVerifiedParts, createInMemoryRunnerWithDispatch, loadVerifiedParts } from "../in-memory-runner.js";
import { forwardingDispatch, fromWireError, toWireError } from "./host-bridge.js";
import { claimToRun } from "./claims.js";
import { stayAwake } from "./stay-awake.js";
import { bodyText, withoutBody } from "../json-body.js";
import type { ExecuteItem, FromWorker, ToWorker } from "./protocol.js";
import type { WorkerBundleParts, WorkerData } from "./worker-data.js";
import { setImmediate } from "node:timers";

/**
 * One worker of the pool: an in-memory runner whose host calls go back to the
 * main thread. It only ever hears from the main thread, which checked every
 * bundle with `isVerifiedBundle` before posting its parts here.
 */
const port = parentPort!;
const data = workerData as WorkerData;
const calls = new Map<number, { resolve(value: unknown): void; reject(error: unknown): void }>();
let nextCallId = 0;

function post(message: FromWorker): void {
  port.postMessage(message);
}

// Results wait for the end of the worker's turn and leave together: a message costs more than a small
// execution, and with executions sent ahead several finish in one turn. Nothing waits on a result longer
// than that turn (the next one starts at once, claimed before the batch is posted).
let outbox: { id: number; result: ExecuteResult; bodyText?: string }[] = [];
let flushing = false;

function postResult(id: number, result: ExecuteResult): void {
  // An object body crosses as JSON text, serialised here: see json-body.ts.
  const text = bodyText(result);
  outbox.push(text === undefined ? { id, result } : { id, result: withoutBody(result), bodyText: text });
  if (flushing) return;
  flushing = true;
  setImmediate(flushResults);
}

function flushResults(): void {
  flushing = false;
  const batch = outbox;
  outbox = [];
  if (batch.length === 1) post({ type: "result", ...batch[0]! });
  else if (batch.length > 1) post({ type: "results", results: batch });
}

// One abort listener per execution (not per call: a host-call flood would pile them up).
const openCalls = new WeakMap<AbortSignal, Set<number>>();

function track(signal: AbortSignal, callId: number): Set<number> {
  let open = openCalls.get(signal);
  if (open === undefined) {
    const set = new Set<number>();
    open = set;
    openCalls.set(signal, set);
    signal.addEventListener(
      "abort",
      () => {
        for (const id of set) {
          const pending = calls.get(id);
          calls.delete(id);
          pending?.reject(new HostCallError("E_TIMEOUT", "the execution ended before the host answered"));
        }
        set.clear();
      },
      { once: true },
    );
  }
  open.add(callId);
  return open;
}

const dispatch = forwardingDispatch(
  (requestId, call, signal) =>
    new Promise((resolve, reject) => {
      const callId = ++nextCallId;
      const open = track(signal, callId);
      const settle = () => open.delete(callId);
      calls.set(callId, {
        resolve: (value) => (settle(), resolve(value)),
        reject: (error) => (settle(), reject(error)),
      });
      post({ type: "host-call", callId, requestId, method: call.method, args: call.args });
      keepAwakeForAnswer();
    }),
);

// The worker's side of hostCallSpinMicros: awake for the main thread's answer while its calls are pending
// (bounded per call; 0 when the pool has no core to spare).
const keepAwakeForAnswer = stayAwake(data.spinMicros / 1000, () => calls.size > 0);

const runner = createInMemoryRunnerWithDispatch(data.runnerOptions, dispatch);

// A load runs alone: it waits for the executions already under way, and the ones posted after it wait for it
// (the pool also sends a load only to a worker it has drained). The pool's watchdog times it from
// "load-started", so a load never shares a worker, or a kill, with an execution.
let running = 0;
let active = 0;
let idleWaiters: (() => void)[] = [];

function whenIdle(): Promise<void> {
  return active === 0 ? Promise.resolve() : new Promise((resolve) => idleWaiters.push(resolve));
}

async function load(parts: WorkerBundleParts, id: number) {
  await whenIdle();
  post({ type: "load-started", id, contentHash: parts.contentHash });
  return loadVerifiedParts(runner, parts);
}

// What the pool loaded before this worker started is adopted, not loaded again: each bundle's top-level code ran
// within its limits when it was loaded, and runs again here at its first execution, under that execution's limits
// and the pool's watchdog. So a replacement is ready at once, however many bundles the pool holds.
for (const bundle of data.bundles) {
  try {
    adoptVerifiedParts(runner, bundle, bundle.handlers);
  } catch {
    // Compiled once already on another worker; should it fail here, its executions fail with E_BUNDLE_NOT_LOADED.
  }
}
post({ type: "ready" });

// Loads and unloads run in order; an execution waits for the ones posted before it.
let chain: Promise<unknown> = Promise.resolve();

// Executions run `concurrency` at a time, in the order they came; the rest wait here.
const cells = new Int32Array(data.claims);
// Each remembers the loads and unloads posted before it, and waits for those only.
const waiting: { item: ExecuteItem; after: Promise<unknown> }[] = [];

function startWaiting(): void {
  let started = false;
  while (running < data.concurrency && waiting.length > 0) {
    const next = waiting.shift()!;
    // Lost claim: the pool took this one back to run it elsewhere.
    if (!claimToRun(cells, next.item.cell, next.item.token)) continue;
    running++;
    void run(next.item, next.after);
    started = true;
  }
  // What was just claimed starts its guest code before this turn ends, and a guest stuck in a native loop
  // (new Array(2 ** 30).join("")) would keep the results waiting for the turn's end from ever leaving: the pool
  // then timed out an execution that had finished, and never armed the stuck one's watchdog (it ran to the other's
  // wall limit). They leave now, after the claims, so the pool reads both together.
  if (started && outbox.length > 0) flushResults();
}

async function run({ id, envelope }: ExecuteItem, after: Promise<unknown>): Promise<void> {
  const result = await after
    .then(async () => {
      active++;
      try {
        return await runner.execute(envelope);
      } finally {
        active--;
        if (active === 0 && idleWaiters.length > 0) {
          const waiters = idleWaiters;
          idleWaiters = [];
          for (const resolve of waiters) resolve();
        }
      }
    })
    .catch(
      (error: unknown): ExecuteResult => ({
        requestId: envelope.requestId,
        ok: false,
        error: { code: "E_SANDBOX_CRASHED", message: `the runner failed: ${error instanceof Error ? error.message : String(error)}` },
        usage: { cpuMs: 0, wallMs: 0, memoryPeakBytes: 0, hostCalls: {}, logBytes: 0 },
        logs: [],
      }),
    );
  running--;
  postResult(id, result);
  // Claims the next one (and posts this result then if it did): when the pool reads this result, the claim is visible to it.
  startWaiting();
}

port.on("message", (message: ToWorker) => {
  switch (message.type) {
    case "load":
      chain = chain.then(() =>
        load(message.parts, message.id).then(
          (loaded) => post({ type: "loaded", id: message.id, ok: true, loaded }),
          (error: unknown) => post({ type: "loaded", id: message.id, ok: false, error: toWireError(error) }),
        ),
      );
      return;
    case "unload":
      chain = chain.then(() => runner.unload(message.contentHash).finally(() => post({ type: "unloaded", id: message.id })));
      return;
    case "execute":
      for (const item of message.items) waiting.push({ item, after: chain });
      startWaiting();
      return;
    case "host-result": {
      const pending = calls.get(message.callId);
      if (pending === undefined) return;
      calls.delete(message.callId);
      if (message.ok) pending.resolve(message.value);
      else pending.reject(fromWireError(message.error, HostCallError));
      return;
    }
  }
});
