/**
 * Where a fresh-context execute spends its time. A scratch profiler, not a
 * benchmark: it replays, step by step, what a fresh execution costs when the
 * realm is built from scratch (runtime, context, bootstrap, entry, marshal,
 * call, dispose: the debug build's path, and the release build's before
 * realm images) and when it is restored from a realm image (the release
 * build's path), on the same bounded-memory instances the engine uses, timing
 * every step; then it measures the real in-memory runner end to end.
 *
 *   node --conditions=source --import tsx packages/runner/bench/profile-fresh.ts
 *
 * Other processes may share the CPU: figures are process CPU (process.cpuUsage)
 * per call over many calls, plus wall-clock p50/p99 per step.
 */
import { packBundle, parseTrustStore, verifyBundle } from "@annex/manifest";
import type { QuickJSContext, QuickJSHandle, QuickJSRuntime, QuickJSWASMModule } from "quickjs-emscripten-core";
import { BOOTSTRAP_SOURCE } from "../src/engine/bootstrap.js";
import { encodeForGuest, readNative } from "../src/engine/marshal.js";
import { writeNative } from "../src/engine/native.js";
import { HELPERS } from "../src/engine/realm.js";
import { RealmImage } from "../src/engine/realm-image.js";
import { InstancePool, type WasmInstance } from "../src/engine/wasm.js";
import type { ExecuteEnvelope } from "../src/envelope.js";
import { createInMemoryRunner } from "../src/index.js";

const ITERATIONS = Number(process.env.PROFILE_ITERATIONS ?? 2000);
const HANDLER = `export function hello(request, ctx) { return { hello: request.body.name }; }`;
const enc = new TextEncoder();

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;
}

/** Times the named steps of `once` over ITERATIONS calls; prints wall p50/p99 per step and CPU per call. */
async function profile(title: string, once: (step: (name: string) => void) => unknown): Promise<number> {
  const samples = new Map<string, number[]>();
  const run = async () => {
    let last = performance.now();
    const step = (name: string) => {
      const now = performance.now();
      let list = samples.get(name);
      if (list === undefined) samples.set(name, (list = []));
      list.push((now - last) * 1000);
      last = now;
    };
    await once(step);
  };
  for (let i = 0; i < Math.min(200, ITERATIONS / 5); i++) await run();
  samples.clear();
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < ITERATIONS; i++) await run();
  const wall = ((performance.now() - start) * 1000) / ITERATIONS;
  const used = process.cpuUsage(cpu);
  const cpuUs = (used.user + used.system) / ITERATIONS;
  console.log(`\n${title}: ${cpuUs.toFixed(0)} µs CPU/call, ${wall.toFixed(0)} µs wall/call (${ITERATIONS} calls)`);
  let sumP50 = 0;
  for (const [name, list] of samples) {
    list.sort((a, b) => a - b);
    const p50 = percentile(list, 50);
    sumP50 += p50;
    console.log(`  ${name.padEnd(34)} p50 ${p50.toFixed(1).padStart(7)} µs   p99 ${percentile(list, 99).toFixed(1).padStart(8)} µs`);
  }
  if (samples.size > 1) console.log(`  ${"sum of p50s".padEnd(34)}     ${sumP50.toFixed(1).padStart(7)} µs`);
  return cpuUs;
}

function check(context: QuickJSContext, result: { error?: QuickJSHandle; value?: QuickJSHandle }): QuickJSHandle {
  if (result.error) throw new Error(JSON.stringify(context.dump(result.error)));
  return result.value!;
}

/** A fresh execution that builds its realm from scratch, one step at a time. */
function replayFresh(module: QuickJSWASMModule, step: (name: string) => void, options: { reuseRuntime?: QuickJSContext["runtime"] } = {}): void {
  const runtime = options.reuseRuntime ?? module.newRuntime();
  if (options.reuseRuntime === undefined) {
    runtime.setMemoryLimit(64 * 1024 * 1024);
    runtime.setMaxStackSize(65536);
    runtime.setInterruptHandler(() => false);
    runtime.setModuleLoader(() => ({ error: new Error("no") }));
  }
  step("new runtime + settings");
  const context = runtime.newContext();
  step("new context (intrinsics)");
  const hostCall = context.newFunction("hostCall", () => undefined);
  const hostLog = context.newFunction("hostLog", () => undefined);
  step("bootstrap: natives");
  const factory = check(context, context.evalCode(BOOTSTRAP_SOURCE, "annex:bootstrap", { type: "global", strict: true }));
  step("bootstrap: compile + eval");
  const helpers = check(context, context.callFunction(factory, context.undefined, [hostCall, hostLog]));
  factory.dispose();
  step("bootstrap: call factory");
  const names = HELPERS;
  const h = new Map(names.map((n) => [n, context.getProp(helpers, n)]));
  helpers.dispose();
  hostCall.dispose();
  hostLog.dispose();
  step("bootstrap: read helpers");
  const namespace = replayCall(context, runtime, (name) => h.get(name)!, step);
  for (const handle of h.values()) handle.dispose();
  namespace.dispose();
  context.dispose();
  step("dispose context");
  if (options.reuseRuntime === undefined) runtime.dispose();
  step("dispose runtime");
}

/** The engine's fresh path on an imaged realm: restore, then the same guest-facing steps. */
function replayImaged(image: RealmImage, step: (name: string) => void): void {
  const { context, runtime } = image.realm;
  runtime.setMemoryLimit(64 * 1024 * 1024);
  runtime.setMaxStackSize(65536);
  step("set limits");
  const namespace = replayCall(context, runtime, (name) => image.realm.helper(name), step);
  namespace.dispose();
  if (!image.reset()) throw new Error("the image could not be restored");
  step("restore image (replaces dispose)");
}

async function main(): Promise<void> {
  const pool = new InstancePool({ variant: "release", maxIdle: 2, recycleAboveBytes: Number.MAX_SAFE_INTEGER });
  const instance = await pool.acquire(64 * 1024 * 1024);
  const { module } = instance;

  const steps = await profile("fresh path building the realm from scratch, step by step", (step) => replayFresh(module, step));

  {
    const runtime = module.newRuntime();
    runtime.setMemoryLimit(64 * 1024 * 1024);
    runtime.setMaxStackSize(65536);
    runtime.setInterruptHandler(() => false);
    runtime.setModuleLoader(() => ({ error: new Error("no") }));
    await profile("same, runtime reused (a new context per call)", (step) => replayFresh(module, step, { reuseRuntime: runtime }));
    runtime.dispose();
  }

  await profile("raw: new runtime + context + dispose", (step) => {
    const context = module.newContext();
    step("new runtime + context");
    context.dispose();
    step("dispose");
  });

  await profile("raw: bootstrap compile only (compileOnly)", (step) => {
    const context = module.newContext();
    step("new runtime + context");
    const compiled = check(context, context.evalCode(BOOTSTRAP_SOURCE, "annex:bootstrap", { type: "global", strict: true, compileOnly: true }));
    step("compile bootstrap (no eval)");
    compiled.dispose();
    context.dispose();
    step("dispose");
  });

  await profile("raw: evaluate-and-call floor (the bench's)", (step) => {
    const rt = module.newRuntime();
    const ctx = rt.newContext();
    step("new runtime + context");
    const mod = check(ctx, ctx.evalCode(HANDLER, "server/index.js", { type: "module" }));
    step("eval module");
    const hello = ctx.getProp(mod, "hello");
    const arg = check(ctx, ctx.evalCode(`({ body: { name: "bench" } })`));
    const out = check(ctx, ctx.callFunction(hello, ctx.undefined, arg));
    ctx.dump(out);
    for (const handle of [out, arg, hello, mod]) handle.dispose();
    step("call");
    ctx.dispose();
    rt.dispose();
    step("dispose");
  });
  pool.release(instance);

  {
    let captured: RealmImage | undefined;
    const imageMs: number[] = [];
    const imaging = new InstancePool({
      variant: "release",
      maxIdle: 2,
      recycleAboveBytes: Number.MAX_SAFE_INTEGER,
      prepare: (fresh: WasmInstance) => {
        const started = performance.now();
        captured = RealmImage.capture(fresh);
        imageMs.push(performance.now() - started);
      },
    });
    // Two instances: the first image in a process also checks the memory layout once.
    const first = await imaging.acquire(64 * 1024 * 1024);
    const imaged = await imaging.acquire(64 * 1024 * 1024);
    imaging.release(first);
    if (captured === undefined) throw new Error("no image could be taken");
    const image = captured;
    console.log(
      `\nrealm image: ${(image.byteLength / 1024).toFixed(0)} KiB, taken once per new instance in ${imageMs[1]!.toFixed(1)} ms ` +
        `(${imageMs[0]!.toFixed(1)} ms for the first in the process, which checks the layout)`,
    );
    await profile("engine's fresh path on a realm image, step by step", (step) => replayImaged(image, step));
    imaging.release(imaged);
    imaging.close();
  }
  pool.close();

  const manifest = {
    manifestVersion: 2,
    id: "acme.profile",
    name: "Profile",
    version: "1.0.0",
    publisher: "acme",
    description: "Profiles fresh executions.",
    engines: { annex: "^0.1.0" },
    runtime: { class: "service", entry: "server/index.js", warmContext: true },
    endpoints: [{ class: "api", method: "POST", path: "/hello", handler: "hello" }],
  };
  const bytes = await packBundle({ "annex.json": enc.encode(JSON.stringify(manifest)), "server/index.js": enc.encode(HANDLER) });
  const bundle = await verifyBundle(bytes, null, parseTrustStore({ trustStoreVersion: 1, keys: [] }), { mode: "dev" });
  const runner = createInMemoryRunner();
  await runner.load(bundle);
  let seq = 0;
  const envelope = (context: "fresh" | "warm"): ExecuteEnvelope => ({
    requestId: `p${++seq}`,
    extension: { id: "acme.profile", version: "1.0.0", contentHash: bundle.contentHash },
    install: { id: "inst", tenant: "t", config: {} },
    grants: [],
    invocation: { kind: "endpoint", handler: "hello", request: { method: "POST", path: "/hello", params: {}, query: {}, headers: {}, body: { name: "bench" } } },
    context,
  });
  const fresh = await profile("in-memory runner, fresh execute (end to end)", async (step) => {
    const result = await runner.execute(envelope("fresh"));
    if (!result.ok) throw new Error(result.error?.message);
    step("execute");
  });
  const warm = await profile("in-memory runner, warm execute (end to end)", async (step) => {
    const result = await runner.execute(envelope("warm"));
    if (!result.ok) throw new Error(result.error?.message);
    step("execute");
  });
  await runner.close();
  console.log(`\nCPU per call: from scratch (replayed) ${steps.toFixed(0)} µs, runner fresh ${fresh.toFixed(0)} µs, runner warm ${warm.toFixed(0)} µs`);
}

await main();

/** The guest-facing steps of one execution, the same on both paths: entry, marshal in, ctx, invoke, marshal out, memory. */
function replayCall(
  context: QuickJSContext,
  runtime: QuickJSRuntime,
  helper: (name: (typeof HELPERS)[number]) => QuickJSHandle,
  step: (name: string) => void,
): QuickJSHandle {
  const namespace = check(context, context.evalCode(HANDLER, "server/index.js", { type: "module", strict: true }));
  context.getPromiseState(namespace);
  step("entry: compile + evaluate");
  const fn = context.getProp(namespace, "hello");
  context.typeof(fn);
  // Request and meta cross in one string, as the engine sends them (meta keys: see bootstrap's makeCtx).
  const input = encodeForGuest(
    [
      { method: "POST", path: "/hello", params: {}, query: {}, headers: {}, body: { name: "bench" } },
      { r: "r", t: "tok", m: 0, c: 65536, i: { id: "i", tenant: "t", config: {} }, p: null },
    ],
    1024 * 1024,
  );
  const json = context.newString(input.json);
  step("marshal in (request, meta)");
  const promise = check(context, context.callFunction(helper("run"), context.undefined, [fn, json, context.undefined]));
  json.dispose();
  fn.dispose();
  while (runtime.hasPendingJob()) {
    const r = runtime.executePendingJobs(-1);
    if (r.error) r.error.dispose();
    else r.dispose();
  }
  const state = context.getPromiseState(promise);
  step("decode + ctx + invoke + run jobs");
  if (state.type !== "fulfilled") throw new Error("handler did not fulfil");
  const written = writeNative(context, state.value, 5 * 1024 * 1024);
  if (!state.notAPromise) state.value.dispose();
  promise.dispose();
  if (!written.ok) throw new Error("the result could not be written");
  readNative(written.bytes);
  step("marshal out");
  void runtime;
  return namespace;
}
