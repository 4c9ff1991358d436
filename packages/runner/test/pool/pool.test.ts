import type { VerifiedBundle } from "@annex/manifest";
import { Worker } from "node:worker_threads";
import { describe, expect, it, vi } from "vitest";
import type { ExecuteEnvelope } from "../../src/envelope.js";
import type { HostApis } from "../../src/host-apis.js";
import { createWorkerPoolRunner } from "../../src/index.js";
import { buildBundle, envelopeFor } from "../support/fixtures.js";
import { usePools } from "../support/pools.js";
import { until } from "../support/until.js";

const scripted = new URL("./fixtures/scripted-worker.mjs", import.meta.url);
const pool = usePools();


const kvApis = (reads: string[]): HostApis => ({
  kv: {
    get: (key, scope) => {
      reads.push(`${scope.tenant}:${key}`);
      return "secret-note";
    },
    set: () => {},
    delete: () => true,
    list: async () => ({ keys: [] }),
  },
});

let scriptedBundle: Promise<VerifiedBundle> | undefined;
const anyBundle = () => (scriptedBundle ??= buildBundle({ source: "export function echo() {}", capabilities: [{ name: "storage.kv", reason: "Keeps notes between requests." }], storage: { kind: "kv" } }));

function scriptedEnvelope(bundle: VerifiedBundle, handler: string, body: unknown = null, overrides: Partial<ExecuteEnvelope> = {}): ExecuteEnvelope {
  return envelopeFor(bundle, handler, { body, ...overrides });
}

/**
 * Joining a sparse array of 2^30 holes runs for about a minute and a half inside one native call (measured on
 * this machine), without allocating: only worker.terminate() stops it. (This QuickJS build's regex engine does
 * poll the interrupt handler, so a catastrophic regex is stopped by the CPU limit even without the watchdog.)
 */
const nativeBundle = () =>
  buildBundle({
    source: `
      export function native() { return new Array(2 ** 30).join("").length; }
      export function hello() { return "still here"; }
    `,
  });

describe("worker pool: watchdog", () => {
  it("stops a built-in that never reaches the interrupt handler, and keeps serving", async () => {
    const p = pool({ workers: 2, watchdogGraceMs: 300 });
    const bundle = await nativeBundle();
    await p.load(bundle);
    const stuck = p.execute(envelopeFor(bundle, "native", { limits: { wallMs: 800, cpuMs: 500 } }));
    // The other worker keeps answering while one is stuck.
    const meanwhile = await p.execute(envelopeFor(bundle, "hello"));
    expect(meanwhile.response?.body).toBe("still here");
    const result = await stuck;
    expect(result.ok).toBe(false);
    expect(result.error?.code).toBe("E_TIMEOUT");
    expect(result.usage.wallMs).toBeGreaterThanOrEqual(800);
    expect(p.stats().restarts.watchdog).toBe(1);
    // The replacement worker gets the loaded bundles replayed and serves them.
    await until(() => p.stats().liveWorkers === 2 && p.stats().busyWorkers === 0);
    const after = await Promise.all([1, 2, 3, 4].map(() => p.execute(envelopeFor(bundle, "hello"))));
    expect(after.map((r) => r.response?.body)).toEqual(["still here", "still here", "still here", "still here"]);
  });

  it("a replacement adopts the loaded bundles: their top-level code runs at their first execution there, not before it takes work", async () => {
    const p = pool({ workers: 1, watchdogGraceMs: 200, overflowWorkers: 0 });
    const stuck = await nativeBundle();
    const clock = await buildBundle({ source: "const evaluatedAt = Date.now();\nexport function when() { return evaluatedAt; }" });
    await p.load(stuck);
    await p.load(clock);
    const killed = await p.execute(envelopeFor(stuck, "native", { limits: { wallMs: 300, cpuMs: 200 } }));
    expect(killed.error?.code).toBe("E_TIMEOUT");
    // Time for the replacement to start (~0.2 s here): what it evaluates while starting, it has evaluated by then.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const asked = Date.now();
    // A fresh execution starts from the image of the evaluated entry its worker took when it first evaluated it:
    // when the replacement loaded every bundle while starting (as it did before), that image held the earlier
    // time; adopted, the entry is evaluated by this execution, and the image taken then serves the next ones.
    const first = await p.execute(envelopeFor(clock, "when"));
    expect(first.response?.body).toBeGreaterThanOrEqual(asked);
    expect((await p.execute(envelopeFor(clock, "when"))).response?.body).toBe(first.response?.body);
  });

  // One worker (the default pool on two cores) stuck in a native built-in until its wall limit held every execution
  // queued behind it that long: another tenant's request timed out at the gateway. The busy clock stops it sooner.
  it("stops a built-in that never yields at its CPU limit (busy with no host call pending), not at its wall limit, and serves the queue behind it", async () => {
    const p = pool({ workers: 1, watchdogGraceMs: 300 });
    const bundle = await nativeBundle();
    await p.load(bundle);
    // Busy limit: max(2 × 100, 100 + 1000) + 300 = 1,400 ms; the wall limit is 60 s.
    const stuck = p.execute(envelopeFor(bundle, "native", { limits: { wallMs: 60_000, cpuMs: 100 } }));
    const behind = p.execute(envelopeFor(bundle, "hello"));
    const result = await stuck;
    expect(result.error?.code).toBe("E_TIMEOUT");
    expect(result.error?.message).toMatch(/exceeded its CPU limit of 100 ms: its worker was busy for \d+ ms with no host call pending/);
    expect(result.usage.wallMs).toBeLessThan(30_000);
    expect((await behind).response?.body).toBe("still here");
    expect(p.stats().restarts.watchdog).toBe(1);
  });

  it("does not count the time an execution waits for its host calls as busy", async () => {
    const bundle = await buildBundle({
      source: "export async function slow(request, ctx) { const a = await ctx.kv.get(\"a\"); const b = await ctx.kv.get(\"b\"); return { got: [a, b] }; }",
      capabilities: [{ name: "storage.kv", reason: "Reads notes." }],
      storage: { kind: "kv" },
    });
    // Two host calls of 900 ms each: 1.8 s waiting, past the busy limit of 1,400 ms, well within the wall limit.
    const slowKv: HostApis = { kv: { ...kvApis([]).kv!, get: (key) => new Promise((resolve) => setTimeout(() => resolve(key), 900)) } };
    const p = pool({ workers: 1, watchdogGraceMs: 300, hostApis: slowKv });
    await p.load(bundle);
    const result = await p.execute(envelopeFor(bundle, "slow", { limits: { wallMs: 10_000, cpuMs: 100 } }));
    expect(result.response?.body).toEqual({ got: ["a", "b"] });
    expect(p.stats().restarts.watchdog).toBe(0);
  });

  it("a hung worker fails only its own execution when workers hold one execution each", async () => {
    const bundle = await anyBundle();
    const p = pool({ workers: 2, workerUrl: scripted, watchdogGraceMs: 200 });
    await p.load(bundle);
    const [hung, fine] = await Promise.all([
      p.execute(scriptedEnvelope(bundle, "hang", null, { limits: { wallMs: 300 } })),
      p.execute(scriptedEnvelope(bundle, "wait", 50)),
    ]);
    expect(hung.error?.code).toBe("E_TIMEOUT");
    expect(fine.ok).toBe(true);
  });

  it("with several executions per worker, the watchdog's kill fails the others it held with E_SANDBOX_CRASHED", async () => {
    const bundle = await anyBundle();
    const p = pool({ workers: 1, executionsPerWorker: 2, workerUrl: scripted, watchdogGraceMs: 200 });
    await p.load(bundle);
    const waiting = p.execute(scriptedEnvelope(bundle, "wait", 5_000));
    const hung = p.execute(scriptedEnvelope(bundle, "hang", null, { limits: { wallMs: 300 } }));
    expect((await hung).error?.code).toBe("E_TIMEOUT");
    expect((await waiting).error?.code).toBe("E_SANDBOX_CRASHED");
    expect((await p.execute(scriptedEnvelope(bundle, "echo"))).ok).toBe(true);
  });
});

describe("worker pool: executions sent ahead", () => {
  it("never loses or repeats the executions waiting behind one the watchdog kills: they run on the next worker, once", async () => {
    const bundle = await anyBundle();
    const p = pool({ workers: 1, prefetch: 3, workerUrl: scripted, watchdogGraceMs: 200 });
    await p.load(bundle);
    const hung = p.execute(scriptedEnvelope(bundle, "hang", null, { limits: { wallMs: 300 } }));
    const behind = ["b-1", "b-2", "b-3"].map((requestId) => p.execute(scriptedEnvelope(bundle, "echo", null, { requestId })));
    await until(() => p.stats().inFlight === 1);
    expect(p.stats().queued).toBe(3);
    expect((await hung).error?.code).toBe("E_TIMEOUT");
    const results = await Promise.all(behind);
    expect(results.map((r) => r.ok)).toEqual([true, true, true]);
    // Each ran on the replacement worker (its workerData replays the loaded bundle), in order.
    expect(results.map((r) => (r.response?.body as { ran: string; thread: number }).ran)).toEqual(["b-1", "b-2", "b-3"]);
    expect(results.every((r) => (r.response?.body as { thread: number }).thread === 1)).toBe(true);
    expect(p.stats().restarts.watchdog).toBe(1);
  });

  // The worker posts results at the end of its turn, and the execution it claims as one ends starts within that turn:
  // one stuck in a native loop kept the finished result from ever leaving. The innocent execution was answered
  // E_TIMEOUT when its own watchdog fired, and the stuck one's watchdog was never armed.
  it("answers the execution that finished before one sent ahead got stuck in a native loop, and stops that one at its own wall limit", async () => {
    const bundle = await buildBundle({
      source: `export function ping() { return "pong"; }
               export function stall() { return new Array(2 ** 30).join("").length; }`,
    });
    const p = pool({ workers: 1, limits: { cpuMs: 1000, wallMs: 5000 }, watchdogGraceMs: 500 });
    await p.load(bundle);
    expect((await p.execute(envelopeFor(bundle, "ping"))).response?.body).toBe("pong");
    const innocent = p.execute(envelopeFor(bundle, "ping", { install: { id: "inst-a", tenant: "tenant-a", config: {} } }));
    const runaway = p.execute(envelopeFor(bundle, "stall", { install: { id: "inst-b", tenant: "tenant-b", config: {} }, limits: { cpuMs: 100, wallMs: 200 } }));
    expect((await innocent).response?.body).toBe("pong");
    const stopped = await runaway;
    // Its own watchdog (its own 200 ms, not the innocent one's 5 s), blamed on it: before, E_SANDBOX_CRASHED at 5.5 s.
    expect(stopped.error).toMatchObject({ code: "E_TIMEOUT", message: expect.stringContaining("wall limit of 200 ms") });
    expect((await p.execute(envelopeFor(bundle, "ping"))).response?.body).toBe("pong");
  });

  it("moves the executions waiting behind a worker that dies to another worker", async () => {
    const bundle = await anyBundle();
    const p = pool({ workers: 2, prefetch: 2, workerUrl: scripted, maxOldGenerationSizeMb: 32 });
    await p.load(bundle);
    // The first goes to worker 1, the second to worker 2, the third waits behind the first.
    const dying = p.execute(scriptedEnvelope(bundle, "exit"));
    const slow = p.execute(scriptedEnvelope(bundle, "wait", 300));
    const behind = p.execute(scriptedEnvelope(bundle, "echo"));
    expect((await dying).error?.code).toBe("E_SANDBOX_CRASHED");
    expect((await behind).ok).toBe(true);
    expect((await slow).ok).toBe(true);
  });

  it("lets a free worker take an execution waiting behind a slow one", async () => {
    const bundle = await anyBundle();
    const p = pool({ workers: 2, prefetch: 2, workerUrl: scripted });
    await p.load(bundle);
    const order: string[] = [];
    const track = (name: string, run: Promise<unknown>) => run.then(() => order.push(name));
    // slow → worker 1, quick → worker 2, stuck → sent ahead behind slow on worker 1.
    const all = [
      track("slow", p.execute(scriptedEnvelope(bundle, "wait", 1_500))),
      track("quick", p.execute(scriptedEnvelope(bundle, "wait", 20))),
      track("behind-slow", p.execute(scriptedEnvelope(bundle, "echo"))),
    ];
    await Promise.all(all);
    // When worker 2 went idle it revoked the one waiting on worker 1 and ran it.
    expect(order).toEqual(["quick", "behind-slow", "slow"]);
  });
});

describe("worker pool: crash containment", () => {
  for (const handler of ["crash", "exit", "oom"]) {
    it(`a worker that dies (${handler}) fails only its execution with E_SANDBOX_CRASHED and is replaced`, async () => {
      const bundle = await anyBundle();
      const p = pool({ workers: 2, workerUrl: scripted, maxOldGenerationSizeMb: 32 });
      await p.load(bundle);
      const [dead, alive] = await Promise.all([p.execute(scriptedEnvelope(bundle, handler)), p.execute(scriptedEnvelope(bundle, "wait", 100))]);
      expect(dead.ok).toBe(false);
      expect(dead.error?.code).toBe("E_SANDBOX_CRASHED");
      expect(alive.ok).toBe(true);
      expect(p.stats().restarts.crash).toBe(1);
      await until(() => p.stats().liveWorkers === 2);
      // The replacement received the bundle loaded before it started, with the handlers its load found.
      const results = await Promise.all([1, 2, 3].map(() => p.execute(scriptedEnvelope(bundle, "echo"))));
      for (const r of results) {
        const body = r.response?.body as { loaded: boolean; thread: number; inherited: unknown };
        expect(body.loaded).toBe(true);
        expect(body.inherited).toEqual(body.thread > 0 ? ["echo", "wait"] : null);
      }
    });
  }
});

describe("worker pool: the main thread is the trust boundary", () => {
  it("refuses a worker's host call made in the name of another worker's execution", async () => {
    const bundle = await anyBundle();
    const reads: string[] = [];
    const p = pool({ workers: 2, workerUrl: scripted, hostApis: kvApis(reads) });
    await p.load(bundle);
    const victim = scriptedEnvelope(bundle, "wait", 500, { requestId: "victim-1" });
    const running = p.execute(victim);
    await until(() => p.stats().busyWorkers === 1);
    const thief = await p.execute(scriptedEnvelope(bundle, "steal", "victim-1"));
    expect(thief.response?.body).toMatchObject({ ok: false, error: { code: "E_CAPABILITY_DENIED" } });
    expect(reads).toEqual([]);
    expect((await running).ok).toBe(true);
  });

  it("re-checks grants on the main thread, whatever the worker asks", async () => {
    const bundle = await anyBundle();
    const reads: string[] = [];
    const p = pool({ workers: 1, workerUrl: scripted, hostApis: { ...kvApis(reads), secrets: { get: () => "leaked" } } });
    await p.load(bundle);
    // kv is requested by the manifest but not granted by this envelope; secrets are neither.
    const noKv = await p.execute(scriptedEnvelope(bundle, "forge", { method: "kv.get", args: ["note"] }, { grants: [] }));
    expect(noKv.response?.body).toMatchObject({ ok: false, error: { code: "E_CAPABILITY_DENIED" } });
    const secret = await p.execute(
      scriptedEnvelope(bundle, "forge", { method: "secrets.get", args: ["ROOT"] }, { grants: [{ name: "secrets.read", names: ["ROOT"] }] }),
    );
    expect(secret.response?.body).toMatchObject({ ok: false, error: { code: "E_CAPABILITY_DENIED" } });
    const notAnApi = await p.execute(scriptedEnvelope(bundle, "forge", { method: "process.exit", args: [] }));
    expect(notAnApi.response?.body).toMatchObject({ ok: false, error: { code: "E_CAPABILITY_DENIED" } });
    expect(reads).toEqual([]);
    // Granted and requested: allowed, with the scope the main thread built.
    const allowed = await p.execute(scriptedEnvelope(bundle, "forge", { method: "kv.get", args: ["note"] }));
    expect(allowed.response?.body).toMatchObject({ ok: true, value: "secret-note" });
    expect(reads).toEqual(["tenant-a:note"]);
  });

  it("refuses bundles that did not come from verifyBundle", async () => {
    const bundle = await anyBundle();
    const p = pool({ workers: 1, workerUrl: scripted });
    await expect(p.load({ ...bundle })).rejects.toMatchObject({ code: "E_BUNDLE_UNVERIFIED" });
    const result = await p.execute(scriptedEnvelope(bundle, "echo"));
    expect(result.error?.code).toBe("E_BUNDLE_NOT_LOADED");
  });
});

describe("worker pool: queueing and limits", () => {
  it("queues executions beyond its workers and answers them all", async () => {
    const bundle = await anyBundle();
    const p = pool({ workers: 2, workerUrl: scripted });
    await p.load(bundle);
    const all = Array.from({ length: 10 }, () => p.execute(scriptedEnvelope(bundle, "wait", 20)));
    // The executions of one turn leave at the end of it: wait for that pump.
    await until(() => p.stats().inFlight > 0);
    expect(p.stats().inFlight).toBe(2);
    expect(p.stats().queued).toBeGreaterThan(0);
    const results = await Promise.all(all);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(p.stats()).toMatchObject({ queued: 0, inFlight: 0 });
  });

  it("sends the executions that arrive in one turn to a worker in one message", async () => {
    const bundle = await anyBundle();
    const p = pool({ workers: 1, workerUrl: scripted });
    await p.load(bundle);
    const posted = vi.spyOn(Worker.prototype, "postMessage");
    try {
      const all = Array.from({ length: 5 }, () => p.execute(scriptedEnvelope(bundle, "wait", 5)));
      const results = await Promise.all(all);
      expect(results.every((r) => r.ok)).toBe(true);
      const executes = posted.mock.calls.map(([message]) => message as { type: string; items?: unknown[] }).filter((m) => m.type === "execute");
      expect(executes.map((m) => m.items?.length)).toEqual([5]);
    } finally {
      posted.mockRestore();
    }
  });

  it("refuses work beyond maxQueue with E_RUNNER_UNAVAILABLE", async () => {
    const bundle = await anyBundle();
    const p = pool({ workers: 1, workerUrl: scripted, maxQueue: 2, prefetch: 0 });
    await p.load(bundle);
    const results = await Promise.all(Array.from({ length: 5 }, () => p.execute(scriptedEnvelope(bundle, "wait", 50))));
    expect(results.filter((r) => r.error?.code === "E_RUNNER_UNAVAILABLE")).toHaveLength(2);
    expect(results.filter((r) => r.ok)).toHaveLength(3);
  });

  it("counts only the pool's own queue against maxQueue, not the executions sent ahead to workers", async () => {
    const bundle = await anyBundle();
    const p = pool({ workers: 1, workerUrl: scripted, maxQueue: 2, prefetch: 2 });
    await p.load(bundle);
    // 1 running + 2 sent ahead + 2 queued are accepted; the last two are refused.
    const all = Array.from({ length: 7 }, () => p.execute(scriptedEnvelope(bundle, "wait", 50)));
    await until(() => p.stats().inFlight === 1);
    expect(p.stats().queued).toBe(4);
    const results = await Promise.all(all);
    expect(results.filter((r) => r.error?.code === "E_RUNNER_UNAVAILABLE")).toHaveLength(2);
    expect(results.filter((r) => r.ok)).toHaveLength(5);
  });

  it("fails what waits in the queue past queueTimeoutMs, once each, and leaves the executions that got a worker alone", async () => {
    const bundle = await anyBundle();
    const p = pool({ workers: 1, workerUrl: scripted, prefetch: 0, queueTimeoutMs: 150 });
    await p.load(bundle);
    // One turn: the first goes to the worker at the end of it, the other three wait for it (400 ms) and time out first.
    const results = await Promise.all(Array.from({ length: 4 }, () => p.execute(scriptedEnvelope(bundle, "wait", 400))));
    expect(results[0]!.ok).toBe(true);
    for (const r of results.slice(1)) {
      expect(r.error?.code).toBe("E_RUNNER_UNAVAILABLE");
      expect(r.error?.message).toMatch(/no worker became free within 150 ms/);
    }
    // A late arrival, in a turn of its own, is timed from its own arrival.
    const late = await Promise.all([p.execute(scriptedEnvelope(bundle, "wait", 300)), new Promise((r) => setTimeout(r, 20)).then(() => p.execute(scriptedEnvelope(bundle, "wait", 10)))]);
    expect(late[0].ok).toBe(true);
    expect(late[1].error?.message).toMatch(/no worker became free within 150 ms/);
    expect(p.stats().queued).toBe(0);
  });

  describe.each([
    { where: "in the pool's queue", prefetch: 0 },
    { where: "sent ahead to a busy worker", prefetch: 1 },
  ])("an execution its caller abandoned while it waited $where", ({ prefetch }) => {
    it("is answered E_TIMEOUT at once and never runs; the one running and the ones behind it are not disturbed", async () => {
      const bundle = await anyBundle();
      const p = pool({ workers: 1, workerUrl: scripted, prefetch });
      await p.load(bundle);
      const order: string[] = [];
      let giveUp!: () => void;
      const abandoned = new Promise<void>((resolve) => (giveUp = resolve));
      const first = p.execute(scriptedEnvelope(bundle, "wait", 400)).then((r) => (order.push("first"), r));
      const late = p.execute(scriptedEnvelope(bundle, "wait", 400), { abandoned }).then((r) => (order.push("abandoned"), r));
      await until(() => p.stats().inFlight === 1 && p.stats().queued === 1);
      giveUp();
      const refused = await late;
      expect(refused).toMatchObject({ ok: false, error: { code: "E_TIMEOUT", message: expect.stringContaining("never ran") } });
      // Answered while the first still runs, not after it.
      expect(order).toEqual(["abandoned"]);
      expect(p.stats().queued).toBe(0);
      expect((await first).ok).toBe(true);
      // The worker started the first and this one: the abandoned execution never ran.
      const next = await p.execute(scriptedEnvelope(bundle, "started"));
      expect(next.response?.body).toBe(2);
    });
  });

  it("lets an execution its worker already started run on when its caller gives up (the caller refuses its host calls)", async () => {
    const bundle = await anyBundle();
    const p = pool({ workers: 1, workerUrl: scripted });
    await p.load(bundle);
    let giveUp!: () => void;
    const running = p.execute(scriptedEnvelope(bundle, "wait", 150), { abandoned: new Promise<void>((resolve) => (giveUp = resolve)) });
    await until(() => p.stats().inFlight === 1);
    giveUp();
    expect(await running).toMatchObject({ ok: true, response: { body: "waited" } });
    // Given up on before the pool took it (the promise settled in the caller's own turn): it never runs.
    expect(await p.execute(scriptedEnvelope(bundle, "wait", 10), { abandoned: Promise.resolve() })).toMatchObject({ ok: false, error: { code: "E_TIMEOUT" } });
  });

  it("keeps a worker waiting on a host call running for hostCallSpinMicros at most, then lets it sleep", async () => {
    const bundle = await buildBundle({
      source: "export async function slow(request, ctx) { return { got: await ctx.kv.get(\"k\") }; }",
      capabilities: [{ name: "storage.kv", reason: "Reads a note." }],
      storage: { kind: "kv" },
    });
    // A host call that takes 600 ms: a worker spinning for it all along would burn ~600 ms of CPU.
    const slowKv: HostApis = { kv: { ...kvApis([]).kv!, get: () => new Promise((resolve) => setTimeout(() => resolve("late"), 600)) } };
    const p = pool({ workers: 1, hostCallSpinMicros: 5_000, hostApis: slowKv });
    await p.load(bundle);
    await p.execute(envelopeFor(bundle, "slow"));
    const before = process.cpuUsage();
    const result = await p.execute(envelopeFor(bundle, "slow"));
    const used = process.cpuUsage(before);
    expect(result.response?.body).toEqual({ got: "late" });
    // Every thread of this process: the spin (5 ms), the execution and the messages, far from 600 ms.
    expect((used.user + used.system) / 1000).toBeLessThan(300);
  });

  it("refuses a hostCallSpinMicros that is not 0 to 10,000 whole microseconds", () => {
    for (const value of [-1, 10_001, 1.5, Number.NaN]) {
      expect(() => createWorkerPoolRunner({ hostCallSpinMicros: value })).toThrow(expect.objectContaining({ code: "E_BAD_OPTIONS", details: { path: "hostCallSpinMicros" } }));
    }
  });

  it("refuses a requestId that is already executing", async () => {
    const bundle = await anyBundle();
    const p = pool({ workers: 2, workerUrl: scripted });
    await p.load(bundle);
    const [a, b] = await Promise.all([
      p.execute(scriptedEnvelope(bundle, "wait", 50, { requestId: "twice" })),
      p.execute(scriptedEnvelope(bundle, "wait", 50, { requestId: "twice" })),
    ]);
    expect([a.ok, b.ok].sort()).toEqual([false, true]);
    expect([a, b].find((r) => !r.ok)?.error?.code).toBe("E_BAD_ENVELOPE");
  });

  it("close fails queued and running executions with E_RUNNER_UNAVAILABLE and stops every worker", async () => {
    const bundle = await anyBundle();
    const p = pool({ workers: 1, workerUrl: scripted });
    await p.load(bundle);
    const pending = [p.execute(scriptedEnvelope(bundle, "wait", 5_000)), p.execute(scriptedEnvelope(bundle, "wait", 5_000))];
    await until(() => p.stats().inFlight === 1);
    await p.close();
    for (const r of await Promise.all(pending)) expect(r.error?.code).toBe("E_RUNNER_UNAVAILABLE");
    expect(p.stats().liveWorkers).toBe(0);
  });

  it("refuses malformed options with E_BAD_OPTIONS", () => {
    expect(() => createWorkerPoolRunner({ workers: 0 })).toThrow(expect.objectContaining({ code: "E_BAD_OPTIONS" }));
    expect(() => createWorkerPoolRunner({ executionsPerWorker: 1.5 })).toThrow(expect.objectContaining({ code: "E_BAD_OPTIONS" }));
    expect(() => createWorkerPoolRunner({ prefetch: -1 })).toThrow(expect.objectContaining({ code: "E_BAD_OPTIONS", details: { path: "prefetch" } }));
  });
});
