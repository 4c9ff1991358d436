/**
 * The runner rows of issue 13, each printed against its floor measured in the
 * same process run, in alternating rounds (floor, Annex, floor, Annex …, the
 * order flipping every round) so that drift in the machine's load hits both
 * alike; each figure is the median over the rounds. Then a few rows for
 * scale (two workers, the remote runner, idle memory) without floors of
 * their own. Run with `pnpm bench -- runner`, which builds first: the bench
 * imports the built package (dist), as an application would.
 *
 * The floors, exactly:
 * - warm execute: raw quickjs-emscripten, one runtime and context, the
 *   handler module evaluated once; per call: the request marshalled in (JSON
 *   text into a guest string, JSON.parse in the guest), the call, the result
 *   dumped out (`context.dump`). Goal: Annex ≤ 2× its time per call.
 * - fresh-context execute p50: raw new runtime and context, the module
 *   evaluated, the handler called with the request marshalled in, its result
 *   dumped, the context and runtime disposed. Goal: Annex p50 ≤ 1 ms.
 * - worker pool, default options, 32 in flight, fresh: 2 × the raw warm
 *   floor's calls/s (two cores' worth of the cheapest possible call).
 *   Goal: ≥ 10,000/s at the default size.
 * - memory bombs, 10 in a row, 64 MiB cap: cap + 32 MB of process RSS.
 *   Goal: the peak over the burst within it, and RSS back near where it
 *   started after every bomb.
 *
 * For scale, with no goal: how long a pool worker takes to start (a new pool
 * of one worker, from its creation to the first result of a bundle it
 * loaded), against a bare worker thread that posts one message, alternating;
 * and a watchdog replacement (a guest stuck in a native loop, killed at its
 * wall limit; from its E_TIMEOUT to the next result, which the replacement
 * worker answers) with 1, 100 and 1,000 bundles loaded, which it adopts
 * without evaluating them again.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { Worker } from "node:worker_threads";
import RELEASE_SYNC from "@jitl/quickjs-wasmfile-release-sync";
import { newQuickJSWASMModuleFromVariant, type QuickJSWASMModule } from "quickjs-emscripten-core";
import { packBundle, parseTrustStore, verifyBundle, type VerifiedBundle } from "@annex/manifest";
import {
  createInMemoryRunner,
  createRemoteRunner,
  createRunnerServer,
  createWorkerPoolRunner,
  type ExecuteEnvelope,
  type ExecuteResult,
  type Runner,
} from "@annex/runner";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 700);
const MiB = 1024 * 1024;
const HANDLER = `export function hello(request, ctx) { return { hello: request.body.name }; }`;
const REQUEST = { method: "POST", path: "/hello", params: {}, query: {}, headers: {}, body: { name: "bench" } };
const enc = new TextEncoder();
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

interface Round {
  calls: number;
  perSecond: number;
  /** Median latency of one call, µs. */
  p50: number;
  /** Process CPU (all threads) per call, µs. */
  cpuUs: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Drives `call` with `inFlight` outstanding calls for `ms` and records every call's latency. */
async function measure(call: () => unknown, ms: number, inFlight = 1): Promise<Round> {
  const latencies: number[] = [];
  const cpu = process.cpuUsage();
  const start = performance.now();
  const end = start + ms;
  const lane = async () => {
    while (performance.now() < end) {
      const t = performance.now();
      await call();
      latencies.push((performance.now() - t) * 1000);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  const elapsed = performance.now() - start;
  const used = process.cpuUsage(cpu);
  return { calls: latencies.length, perSecond: (latencies.length / elapsed) * 1000, p50: median(latencies), cpuUs: (used.user + used.system) / latencies.length };
}

/** Alternating rounds of two scenarios; returns the per-round figures of each. */
async function alternate(a: () => Promise<Round>, b: () => Promise<Round>): Promise<{ a: Round[]; b: Round[] }> {
  const out = { a: [] as Round[], b: [] as Round[] };
  for (let round = 0; round < ROUNDS; round++) {
    gc();
    if (round % 2 === 0) {
      out.a.push(await a());
      out.b.push(await b());
    } else {
      out.b.push(await b());
      out.a.push(await a());
    }
  }
  return out;
}

async function bundleOf(id: string, warm = false, source = HANDLER, handlers = ["hello"]): Promise<VerifiedBundle> {
  const manifest = {
    manifestVersion: 2,
    id,
    name: "Bench",
    version: "1.0.0",
    publisher: id.split(".")[0],
    description: "A benchmark extension.",
    engines: { annex: "^0.1.0" },
    runtime: { class: "service", entry: "server/index.js", ...(warm ? { warmContext: true } : {}) },
    endpoints: handlers.map((handler) => ({ class: "api", method: "POST", path: `/${handler}`, handler })),
  };
  const bytes = await packBundle({ "annex.json": enc.encode(JSON.stringify(manifest)), "server/index.js": enc.encode(source) });
  return verifyBundle(bytes, null, parseTrustStore({ trustStoreVersion: 1, keys: [] }), { mode: "dev" });
}

let seq = 0;
function envelope(bundle: VerifiedBundle, context: "fresh" | "warm"): ExecuteEnvelope {
  return {
    requestId: `b${++seq}`,
    extension: { id: (bundle.manifest as { id: string }).id, version: "1.0.0", contentHash: bundle.contentHash },
    install: { id: "inst", tenant: "t", config: {} },
    grants: [],
    invocation: { kind: "endpoint", handler: "hello", request: REQUEST },
    context,
  };
}

function check(result: ExecuteResult): void {
  if (!result.ok) throw new Error(`bench execution failed: ${result.error?.code} ${result.error?.message}`);
}

/** The warm floor: a live context, the module evaluated once; per call marshal in, call, dump out. */
function rawWarm(module: QuickJSWASMModule): { call(): void; dispose(): void } {
  const context = module.newContext();
  const namespace = context.unwrapResult(context.evalCode(HANDLER, "server/index.js", { type: "module" }));
  const hello = context.getProp(namespace, "hello");
  const parse = context.unwrapResult(context.evalCode("JSON.parse"));
  return {
    call() {
      const text = context.newString(JSON.stringify(REQUEST));
      const request = context.unwrapResult(context.callFunction(parse, context.undefined, text));
      const result = context.unwrapResult(context.callFunction(hello, context.undefined, request));
      context.dump(result);
      for (const handle of [result, request, text]) handle.dispose();
    },
    dispose() {
      for (const handle of [parse, hello, namespace]) handle.dispose();
      context.dispose();
    },
  };
}

/** The fresh floor: a new runtime and context per call, the module evaluated, the call, dispose. */
function rawFresh(module: QuickJSWASMModule): void {
  const runtime = module.newRuntime();
  const context = runtime.newContext();
  const namespace = context.unwrapResult(context.evalCode(HANDLER, "server/index.js", { type: "module" }));
  const hello = context.getProp(namespace, "hello");
  const parse = context.unwrapResult(context.evalCode("JSON.parse"));
  const text = context.newString(JSON.stringify(REQUEST));
  const request = context.unwrapResult(context.callFunction(parse, context.undefined, text));
  const result = context.unwrapResult(context.callFunction(hello, context.undefined, request));
  context.dump(result);
  for (const handle of [result, request, text, parse, hello, namespace]) handle.dispose();
  context.dispose();
  runtime.dispose();
}

/** Peak RSS since start(): the kernel's high-water mark where Linux offers a reset, else sampled. */
function rssPeak(): { stop(): number } {
  try {
    writeFileSync("/proc/self/clear_refs", "5");
    const read = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))?.[1]) * 1024;
    if (read() > 0) return { stop: read };
  } catch {
    // Sampled below.
  }
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 2);
  return { stop: () => (clearInterval(timer), Math.max(peak, process.memoryUsage().rss)) };
}

const settle = async () => {
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setTimeout(resolve, 60));
    gc();
  }
};

/** Ten memory bombs in a row under a 64 MiB cap: peak RSS growth over the burst, and the most left behind by one. */
async function bombs(make: () => Runner): Promise<{ peak: number; left: number }> {
  const runner = make();
  const bundle = await bundleOf(`acme.bomb${++seq}`, false, `${HANDLER}\nexport function bomb() { const a = []; for (;;) a.push(new Array(10000).fill({ x: 1 })); }`, ["hello", "bomb"]);
  await runner.load(bundle);
  check(await runner.execute(envelope(bundle, "fresh")));
  await settle();
  const before = process.memoryUsage().rss;
  const meter = rssPeak();
  let left = 0;
  for (let i = 0; i < 10; i++) {
    const result = await runner.execute({ ...envelope(bundle, "fresh"), invocation: { kind: "endpoint", handler: "bomb", request: REQUEST } });
    if (result.error?.code !== "E_MEMORY") throw new Error(`a bomb ended with ${result.error?.code ?? "success"}`);
    await settle();
    left = Math.max(left, process.memoryUsage().rss - before);
  }
  const peak = meter.stop() - before;
  await runner.close();
  return { peak, left };
}

/** A bare worker thread, from its creation to its first message: what any worker start costs at least. */
async function bareThreadMs(): Promise<number> {
  const t = performance.now();
  const worker = new Worker("require('node:worker_threads').parentPort.postMessage(1)", { eval: true });
  await new Promise((resolve) => worker.once("message", resolve));
  const ms = performance.now() - t;
  await worker.terminate();
  return ms;
}

async function poolStartMs(bundle: VerifiedBundle): Promise<number> {
  const t = performance.now();
  const pool = createWorkerPoolRunner({ workers: 1 });
  await pool.load(bundle);
  check(await pool.execute(envelope(bundle, "fresh")));
  const ms = performance.now() - t;
  await pool.close();
  return ms;
}

/** Milliseconds from a watchdog kill's E_TIMEOUT to the next result, once per kill, with `loaded` bundles in the pool. */
async function replacementMs(loaded: number, kills: number): Promise<number[]> {
  const stuck = await bundleOf(`acme.stuck${++seq}`, false, `${HANDLER}\nexport function native() { return new Array(2 ** 30).join("").length; }`, ["hello", "native"]);
  const pool = createWorkerPoolRunner({ workers: 1, watchdogGraceMs: 100, overflowWorkers: 0 });
  await pool.load(stuck);
  let last = stuck;
  for (let i = 1; i < loaded; i++) await pool.load((last = await bundleOf(`acme.loaded${++seq}`)));
  const out: number[] = [];
  for (let k = 0; k < kills; k++) {
    const base = envelope(stuck, "fresh");
    const killed = await pool.execute({ ...base, invocation: { ...base.invocation, handler: "native" }, limits: { wallMs: 200, cpuMs: 100 } });
    if (killed.error?.code !== "E_TIMEOUT") throw new Error(`bench: expected a watchdog kill, got ${killed.error?.code ?? "a result"}`);
    const t = performance.now();
    check(await pool.execute(envelope(last, "fresh")));
    out.push(performance.now() - t);
  }
  await pool.close();
  return out;
}

async function memoryPerIdleExtension(make: () => Runner, count: number): Promise<number> {
  const bundles: VerifiedBundle[] = [];
  for (let i = 0; i < count; i++) bundles.push(await bundleOf(`acme.idle${++seq}`, false, `${HANDLER}\nexport const n${i} = ${i};`));
  const runner = make();
  const first = await bundleOf(`acme.base${++seq}`);
  await runner.load(first);
  check(await runner.execute(envelope(first, "fresh")));
  await settle();
  const before = process.memoryUsage().rss;
  for (const bundle of bundles) await runner.load(bundle);
  await settle();
  const after = process.memoryUsage().rss;
  await runner.close();
  return (after - before) / count;
}

function table(headers: string[], rows: string[][]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  console.log(line(headers));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const row of rows) console.log(line(row));
}

const us = (n: number) => `${n.toFixed(1)} µs`;
const perSec = (n: number) => `${Math.round(n).toLocaleString("en")}/s`;
const mb = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

async function main(): Promise<void> {
  const started = performance.now();
  const loadAtStart = loadavg()[0]!;
  // Memory first: the throughput runs leave garbage and fragmentation behind that blur a per-bundle figure.
  const idle = await memoryPerIdleExtension(() => createInMemoryRunner(), 100);
  const module = await newQuickJSWASMModuleFromVariant(RELEASE_SYNC);
  const fresh = await bundleOf("acme.bench");
  const warm = await bundleOf("acme.benchwarm", true);
  const floor = rawWarm(module);
  const warmup = async (call: () => unknown, ms = 300) => void (await measure(call, ms));

  // Row 1: warm execute.
  const memory = createInMemoryRunner();
  await memory.load(warm);
  await memory.load(fresh);
  const warmCall = async () => check(await memory.execute(envelope(warm, "warm")));
  await warmup(() => floor.call());
  await warmup(warmCall);
  const row1 = await alternate(() => measure(() => floor.call(), ROUND_MS), () => measure(warmCall, ROUND_MS));

  // Row 2: fresh-context execute p50.
  const freshCall = async () => check(await memory.execute(envelope(fresh, "fresh")));
  await warmup(() => rawFresh(module));
  await warmup(freshCall);
  const row2 = await alternate(() => measure(() => rawFresh(module), ROUND_MS), () => measure(freshCall, ROUND_MS));
  await memory.close();

  // Row 3: the worker pool with its defaults, 32 in flight, fresh, against 2 × the raw warm floor's calls/s.
  const pool = createWorkerPoolRunner();
  const workers = pool.stats().workers;
  await pool.load(fresh);
  const poolCall = async () => check(await pool.execute(envelope(fresh, "fresh")));
  await warmup(poolCall, 600);
  const row3 = await alternate(() => measure(() => floor.call(), ROUND_MS), () => measure(poolCall, ROUND_MS * 2, 32));
  await pool.close();

  // For scale: two workers, and the remote runner (a server with the default pool) over loopback.
  const two = createWorkerPoolRunner({ workers: 2 });
  await two.load(fresh);
  await warmup(async () => check(await two.execute(envelope(fresh, "fresh"))), 500);
  const twoWorkers = await measure(async () => check(await two.execute(envelope(fresh, "fresh"))), ROUND_MS * 2, 32);
  await two.close();
  const key = "bench-key-0123456789abcdef0123456789abcdef";
  const server = createRunnerServer({ key, trustStore: parseTrustStore({ trustStoreVersion: 1, keys: [] }), mode: "dev", runner: (hostDispatch) => createWorkerPoolRunner({ hostDispatch }) });
  const remote = createRemoteRunner({ url: await server.listen(0), key });
  await remote.load(fresh);
  await warmup(async () => check(await remote.execute(envelope(fresh, "fresh"))), 500);
  const remote32 = await measure(async () => check(await remote.execute(envelope(fresh, "fresh"))), ROUND_MS * 2, 32);
  await remote.close();
  await server.close();
  floor.dispose();

  // For scale: a worker's start, against a bare thread's, alternating; then watchdog replacements.
  const starts = { bare: [] as number[], pool: [] as number[] };
  for (let round = 0; round < 6; round++) {
    if (round % 2 === 0) {
      starts.bare.push(await bareThreadMs());
      starts.pool.push(await poolStartMs(fresh));
    } else {
      starts.pool.push(await poolStartMs(fresh));
      starts.bare.push(await bareThreadMs());
    }
  }
  const replaced1 = await replacementMs(1, 3);
  const replaced100 = await replacementMs(100, 3);
  const replaced1000 = await replacementMs(1000, 3);

  // Row 4: memory bombs, 10 in a row, 64 MiB cap, through the default pool and the in-memory runner.
  const bombLimits = { memoryBytes: 64 * MiB, cpuMs: 5000, wallMs: 20_000 };
  const poolBombs = await bombs(() => createWorkerPoolRunner({ limits: bombLimits }));
  const memoryBombs = await bombs(() => createInMemoryRunner({ limits: bombLimits }));

  const warmFloor = median(row1.a.map((r) => r.p50));
  const warmAnnex = median(row1.b.map((r) => r.p50));
  const warmRatio = median(row1.b.map((r, i) => r.p50 / row1.a[i]!.p50));
  const warmCpuRatio = median(row1.b.map((r, i) => r.cpuUs / row1.a[i]!.cpuUs));
  const freshFloor = median(row2.a.map((r) => r.p50));
  const freshAnnex = median(row2.b.map((r) => r.p50));
  const poolFloor = 2 * median(row3.a.map((r) => r.perSecond));
  const poolAnnex = median(row3.b.map((r) => r.perSecond));
  const cap = 64 * MiB;
  const bombBudget = cap + 32 * 1000 * 1000;
  const met = (ok: boolean) => (ok ? "met" : "NOT met");

  console.log(
    `\nRunner rows of issue 13: trivial JSON handler; ${ROUNDS} alternating rounds of ${ROUND_MS} ms per scenario (pool rounds ${2 * ROUND_MS} ms), medians. ` +
      `Node ${process.version}, ${availableParallelism()} cores, 1-minute load average ${loadAtStart.toFixed(1)} at the start and ${loadavg()[0]!.toFixed(1)} at the end.\n`,
  );
  table(
    ["row", "floor (same run)", "floor", "Annex", "Annex / floor", "goal", ""],
    [
      ["warm execute (in-memory, warm context), p50", "raw: live context, module evaluated once; marshal in, call, dump out", us(warmFloor), us(warmAnnex), `${warmRatio.toFixed(2)}×`, "≤ 2×", met(warmRatio <= 2)],
      ["fresh-context execute (in-memory), p50", "raw: new runtime + context, evaluate, call, dispose", us(freshFloor), us(freshAnnex), `${(freshAnnex / freshFloor).toFixed(2)}×`, "≤ 1 ms", met(freshAnnex <= 1000)],
      [`worker pool, default options (${workers} worker${workers > 1 ? "s" : ""}), 32 in flight, fresh`, "2 × raw warm floor's calls/s", perSec(poolFloor), perSec(poolAnnex), `${(poolAnnex / poolFloor).toFixed(3)}×`, "≥ 10,000/s", met(poolAnnex >= 10_000)],
      ["memory bombs, 10 in a row, 64 MiB cap: worker pool, peak RSS over the burst", "cap + 32 MB", mb(bombBudget), mb(poolBombs.peak), `${(poolBombs.peak / bombBudget).toFixed(2)}×`, "≤ cap + 32 MB", met(poolBombs.peak <= bombBudget)],
      ["  … most RSS left after one bomb (settled)", "", "", mb(poolBombs.left), "", "back every time", ""],
      ["memory bombs, 10 in a row, 64 MiB cap: in-memory runner, peak RSS over the burst", "cap + 32 MB", mb(bombBudget), mb(memoryBombs.peak), `${(memoryBombs.peak / bombBudget).toFixed(2)}×`, "≤ cap + 32 MB", met(memoryBombs.peak <= bombBudget)],
      ["  … most RSS left after one bomb (settled)", "", "", mb(memoryBombs.left), "", "back every time", ""],
    ],
  );
  console.log("\nPer round (floor / Annex):");
  console.log(`  warm p50 µs:     ${row1.a.map((r, i) => `${r.p50.toFixed(1)}/${row1.b[i]!.p50.toFixed(1)}`).join("  ")}`);
  console.log(`  fresh p50 µs:    ${row2.a.map((r, i) => `${r.p50.toFixed(1)}/${row2.b[i]!.p50.toFixed(1)}`).join("  ")}`);
  console.log(`  pool calls/s:    ${row3.a.map((r, i) => `${Math.round(2 * r.perSecond)}/${Math.round(row3.b[i]!.perSecond)}`).join("  ")}`);
  console.log(`  warm, CPU per call instead of p50: ${warmCpuRatio.toFixed(2)}× the floor`);
  console.log(
    `  CPU µs per call: raw warm ${median(row1.a.map((r) => r.cpuUs)).toFixed(1)}, in-memory warm ${median(row1.b.map((r) => r.cpuUs)).toFixed(1)}, ` +
      `in-memory fresh ${median(row2.b.map((r) => r.cpuUs)).toFixed(1)}, pool ${median(row3.b.map((r) => r.cpuUs)).toFixed(1)} (all threads)`,
  );
  console.log("\nFor scale (no floor of their own):");
  table(
    ["scenario", "in flight", "calls/s", "p50", "CPU µs/call"],
    [
      ["worker pool, 2 workers, fresh", "32", perSec(twoWorkers.perSecond), us(twoWorkers.p50), twoWorkers.cpuUs.toFixed(0)],
      ["remote runner over loopback (default pool behind it), fresh", "32", perSec(remote32.perSecond), us(remote32.p50), remote32.cpuUs.toFixed(0)],
    ],
  );
  console.log(
    `\nWorker start, medians of 6 alternating rounds: a pool of one worker, created to its first result ${median(starts.pool).toFixed(0)} ms; ` +
      `a bare worker thread to its first message ${median(starts.bare).toFixed(0)} ms.\n` +
      `Watchdog replacement (E_TIMEOUT to the next result, medians of 3): ${median(replaced1).toFixed(0)} ms with 1 bundle loaded, ${median(replaced100).toFixed(0)} ms with 100, ${median(replaced1000).toFixed(0)} ms with 1,000.`,
  );
  console.log(`\nMemory per loaded-but-idle extension (100 bundles, in-memory runner): ${(idle / 1024).toFixed(1)} KiB of RSS`);
  console.log(`\nbench: done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

await main();
