/**
 * One execution per worker keeps a watchdog kill to its own execution, but an
 * execution awaiting a slow host call holds its worker meanwhile: on the
 * default pool of one worker (two cores), one install's slow `http.fetch` held
 * every tenant's requests. While every worker waits on host calls and work
 * waits, the pool starts extra workers (`overflowWorkers`), which stop again
 * when idle.
 */
import { describe, expect, it } from "vitest";
import type { ExecuteEnvelope } from "../../src/envelope.js";
import { RunnerError } from "../../src/errors.js";
import { createWorkerPoolRunner } from "../../src/index.js";
import { buildBundle, envelopeFor } from "../support/fixtures.js";
import { usePools } from "../support/pools.js";
import { until } from "../support/until.js";

const pool = usePools();
const install = (id: string): Pick<ExecuteEnvelope, "install"> => ({ install: { id, tenant: `tenant-${id}`, config: {} } });

/** kv.get of tenant-slow-* waits until the test opens the gate; everyone else's answers at once. */
function gatedKv() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  const kv = {
    get: async (_key: string, scope: { tenant: string }) => {
      if (!scope.tenant.startsWith("tenant-slow")) return "quick";
      await opened;
      return "slow";
    },
    set: () => {},
    delete: () => true,
    list: async () => ({ keys: [] }),
  };
  return { kv, open };
}

const noteBundle = () =>
  buildBundle({
    source: `export async function note(request, ctx) { return { note: await ctx.kv.get("note") }; }
export function spin() { let x = 0; for (let i = 0; i < 5e5; i++) x += i % 7; return { x }; }`,
    capabilities: [{ name: "storage.kv", reason: "Keeps notes." }],
    storage: { kind: "kv" },
  });

describe("worker pool: extra workers while every worker waits on host calls", () => {
  it("runs another install's execution on an extra worker while the only worker waits on a slow host call; the extra one stops when idle", async () => {
    const gate = gatedKv();
    const p = pool({ workers: 1, overflowIdleMs: 200, hostApis: { kv: gate.kv } });
    const bundle = await noteBundle();
    await p.load(bundle);
    const order: string[] = [];
    const slow = p.execute(envelopeFor(bundle, "note", install("slow"))).then((r) => {
      order.push("slow");
      return r;
    });
    await until(() => p.stats().inFlight === 1);
    const quick = await p.execute(envelopeFor(bundle, "note", install("quick")));
    order.push("quick");
    expect(quick.response?.body).toEqual({ note: "quick" });
    expect(p.stats()).toMatchObject({ workers: 1, overflowWorkers: 1 });
    gate.open();
    expect((await slow).response?.body).toEqual({ note: "slow" });
    expect(order).toEqual(["quick", "slow"]);
    // Idle for overflowIdleMs: the extra worker stops, and is not replaced.
    await until(() => p.stats().liveWorkers === 1, { timeoutMs: 5000 });
    expect(p.stats()).toMatchObject({ workers: 1, overflowWorkers: 0, liveWorkers: 1, restarts: { watchdog: 0, crash: 0 } });
    // The pool still serves, from its own worker.
    expect((await p.execute(envelopeFor(bundle, "note", install("quick")))).response?.body).toEqual({ note: "quick" });
  });

  it("with overflowWorkers: 0, the other install's execution waits for the slow one", async () => {
    const gate = gatedKv();
    const p = pool({ workers: 1, overflowWorkers: 0, hostApis: { kv: gate.kv } });
    const bundle = await noteBundle();
    await p.load(bundle);
    const order: string[] = [];
    const slow = p.execute(envelopeFor(bundle, "note", install("slow"))).then(() => order.push("slow"));
    await until(() => p.stats().inFlight === 1);
    const quick = p.execute(envelopeFor(bundle, "note", install("quick"))).then(() => order.push("quick"));
    // Long past overflowAfterMs: nothing else starts it.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(order).toEqual([]);
    expect(p.stats()).toMatchObject({ overflowWorkers: 0, liveWorkers: 1 });
    gate.open();
    await Promise.all([slow, quick]);
    expect(order).toEqual(["slow", "quick"]);
  });

  it("starts at most overflowWorkers extra workers, however many executions wait", async () => {
    const gate = gatedKv();
    const p = pool({ workers: 1, overflowWorkers: 2, overflowAfterMs: 0, hostApis: { kv: gate.kv } });
    const bundle = await noteBundle();
    await p.load(bundle);
    const runs = Array.from({ length: 8 }, (_, i) => p.execute(envelopeFor(bundle, "note", install(`slow-${i}`))));
    await until(() => p.stats().inFlight === 3, { timeoutMs: 10_000 });
    // Every one of the three waits on the gate and five more wait for a worker: still no fourth.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(p.stats()).toMatchObject({ workers: 1, overflowWorkers: 2, liveWorkers: 3, inFlight: 3, queued: 5 });
    gate.open();
    const results = await Promise.all(runs);
    expect(results.map((r) => r.response?.body)).toEqual(Array.from({ length: 8 }, () => ({ note: "slow" })));
  });

  it("starts no extra worker while the worker runs guest code (more threads than cores would not help)", async () => {
    const p = pool({ workers: 1, overflowAfterMs: 0 });
    const bundle = await noteBundle();
    await p.load(bundle);
    let most = 0;
    const watch = setInterval(() => (most = Math.max(most, p.stats().liveWorkers)), 5);
    try {
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => p.execute(envelopeFor(bundle, "spin", install(`busy-${i}`)))));
      for (const result of results) expect(result.error).toBeUndefined();
    } finally {
      clearInterval(watch);
    }
    expect(most).toBe(1);
    expect(p.stats().overflowWorkers).toBe(0);
  });

  it("refuses bad overflow options, naming the option", () => {
    for (const [path, value] of [
      ["overflowWorkers", -1],
      ["overflowWorkers", 1.5],
      ["overflowAfterMs", -5],
      ["overflowIdleMs", Number.NaN],
    ] as const) {
      let thrown: unknown;
      try {
        createWorkerPoolRunner({ [path]: value });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(RunnerError);
      expect(thrown).toMatchObject({ code: "E_BAD_OPTIONS", details: { path } });
    }
  });

  it("waits before starting another extra worker after one died before it was ready (no tight loop of spawns)", async () => {
    const gate = gatedKv();
    const p = pool({ workers: 1, overflowAfterMs: 0, workerUrl: new URL("./fixtures/failing-spawn-worker.mjs", import.meta.url), hostApis: { kv: gate.kv } });
    const bundle = await noteBundle();
    await p.load(bundle);
    // The scripted worker's "steal" makes a kv.get in the name of the execution whose requestId is its body: its own.
    const held = envelopeFor(bundle, "steal", install("slow"));
    held.invocation = { ...held.invocation, request: { ...(held.invocation as { request: object }).request, body: held.requestId } } as ExecuteEnvelope["invocation"];
    process.env["ANNEX_TEST_FAIL_NEW_WORKERS"] = "1";
    try {
      const slow = p.execute(held);
      await until(() => p.stats().inFlight === 1);
      const waiting = p.execute(envelopeFor(bundle, "echo", install("quick")));
      await new Promise((resolve) => setTimeout(resolve, 1500));
      // Every extra worker dies before it is ready; one a second is tried, not one a turn of the event loop.
      const crashes = p.stats().restarts.crash;
      expect(crashes).toBeGreaterThanOrEqual(1);
      expect(crashes).toBeLessThanOrEqual(3);
      expect(p.stats()).toMatchObject({ liveWorkers: 1, inFlight: 1 });
      process.env["ANNEX_TEST_FAIL_NEW_WORKERS"] = "0";
      gate.open();
      expect((await slow).ok).toBe(true);
      expect((await waiting).ok).toBe(true);
    } finally {
      delete process.env["ANNEX_TEST_FAIL_NEW_WORKERS"];
    }
  });
});
