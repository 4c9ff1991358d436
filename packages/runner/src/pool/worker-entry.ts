import { parentPort, workerData } from "node:worker_threads";
import type { ExecuteResult } from "../envelope.js";
import { HostCallError } from "../errors.js";
import { createInMemoryRunnerWithDispatch, loadVerifiedParts } from "../in-memory-runner.js";
import { forwardingDispatch, fromWireError, toWireError } from "./host-bridge.js";
import type { FromWorker, ToWorker } from "./protocol.js";
import type { WorkerBundleParts, WorkerData } from "./worker-data.js";

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
    }),
);

const runner = createInMemoryRunnerWithDispatch(data.runnerOptions, dispatch);

async function load(parts: WorkerBundleParts) {
  return loadVerifiedParts(runner, parts);
}

// Loads and unloads run in order; an execution waits for the ones posted before it.
let chain: Promise<unknown> = Promise.all(data.bundles.map((parts) => load(parts).catch(() => undefined)));
void chain.then(() => post({ type: "ready" }));

port.on("message", (message: ToWorker) => {
  switch (message.type) {
    case "load":
      chain = chain.then(() =>
        load(message.parts).then(
          (loaded) => post({ type: "loaded", id: message.id, ok: true, loaded }),
          (error: unknown) => post({ type: "loaded", id: message.id, ok: false, error: toWireError(error) }),
        ),
      );
      return;
    case "unload":
      chain = chain.then(() => runner.unload(message.contentHash).finally(() => post({ type: "unloaded", id: message.id })));
      return;
    case "execute": {
      const { id, envelope } = message;
      void chain
        .then(() => runner.execute(envelope))
        .catch(
          (error: unknown): ExecuteResult => ({
            requestId: envelope.requestId,
            ok: false,
            error: { code: "E_SANDBOX_CRASHED", message: `the runner failed: ${error instanceof Error ? error.message : String(error)}` },
            usage: { cpuMs: 0, wallMs: 0, memoryPeakBytes: 0, hostCalls: {}, logBytes: 0 },
            logs: [],
          }),
        )
        .then((result) => post({ type: "result", id, result }));
      return;
    }
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
