/**
 * One install's burst must not stand in front of every other install's
 * execution, in the pool's queue or in what it sent ahead to a worker: the
 * installs take turns (src/pool/fair-queue.ts). Checked with the scripted
 * worker, whose order is exact, and with the real worker and a handler that
 * sits awaiting a slow host call, as in the red team's finding (one install's
 * eight concurrent requests made another's time out behind them).
 */
import { describe, expect, it } from "vitest";
import type { ExecuteEnvelope } from "../../src/envelope.js";
import { buildBundle, envelopeFor } from "../support/fixtures.js";
import { usePools } from "../support/pools.js";
import { until } from "../support/until.js";

const scripted = new URL("./fixtures/scripted-worker.mjs", import.meta.url);
const pool = usePools();


const install = (id: string): Pick<ExecuteEnvelope, "install"> => ({ install: { id, tenant: `tenant-${id}`, config: {} } });

describe("worker pool: installs take turns", () => {
  const kvBundle = () => buildBundle({ source: "export function echo() {}", capabilities: [{ name: "storage.kv", reason: "Keeps notes." }], storage: { kind: "kv" } });

  it("runs another install's execution next, not behind the burst sent ahead to the worker", async () => {
    const bundle = await kvBundle();
    const p = pool({ workers: 1, workerUrl: scripted });
    await p.load(bundle);
    const order: string[] = [];
    const run = (name: string, who: string, ms: number) =>
      p.execute(envelopeFor(bundle, "wait", { body: ms, ...install(who) })).then((r) => {
        expect(r.ok).toBe(true);
        order.push(name);
      });
    // Long enough that a1 is still running when b1 comes, however late the poll below wakes under load.
    const burst = Array.from({ length: 6 }, (_, i) => run(`a${i + 1}`, "a", 300));
    // a1 runs; a2-a6 are sent ahead to the same worker, which starts them in the order sent.
    await until(() => p.stats().inFlight === 1);
    // b2 comes the moment b1 is answered, while a2 runs.
    const b = run("b1", "b", 1).then(() => run("b2", "b", 1));
    await Promise.all([...burst, b]);
    expect(order.slice(0, 2)).toEqual(["a1", "b1"]);
    // b2 came while a2 ran: it waits for one more of a's, not for all of them.
    expect(order.indexOf("b2")).toBe(3);
    expect(order.filter((name) => name.startsWith("a"))).toEqual(["a1", "a2", "a3", "a4", "a5", "a6"]);
    expect(p.stats()).toMatchObject({ queued: 0, inFlight: 0 });
  });

  it("alternates installs that send bursts in the same turn", async () => {
    const bundle = await kvBundle();
    const p = pool({ workers: 1, workerUrl: scripted });
    await p.load(bundle);
    const order: string[] = [];
    const run = (name: string, who: string) =>
      p.execute(envelopeFor(bundle, "wait", { body: 5, ...install(who) })).then(() => order.push(name));
    await Promise.all([...["a1", "a2", "a3"].map((n) => run(n, "a")), ...["b1", "b2", "b3"].map((n) => run(n, "b")), run("c1", "c")]);
    expect(order).toEqual(["a1", "b1", "c1", "a2", "b2", "a3", "b3"]);
  });

  it("keeps one install's own executions in the order they came, with no take-back", async () => {
    const bundle = await kvBundle();
    const p = pool({ workers: 1, workerUrl: scripted });
    await p.load(bundle);
    const order: number[] = [];
    await Promise.all(Array.from({ length: 12 }, (_, i) => p.execute(envelopeFor(bundle, "wait", { body: 2, ...install("a") })).then(() => order.push(i))));
    expect(order).toEqual(Array.from({ length: 12 }, (_, i) => i));
  });

  it("with the real worker: an install whose handlers sit awaiting a slow host call delays another's by one execution, not by its whole burst", async () => {
    const bundle = await buildBundle({
      source: `export async function note(request, ctx) { return { note: await ctx.kv.get("note") }; }`,
      capabilities: [{ name: "storage.kv", reason: "Keeps notes." }],
      storage: { kind: "kv" },
    });
    const slowKv = (ms: number) => new Promise((resolve) => setTimeout(() => resolve("slow"), ms));
    const p = pool({
      workers: 1,
      hostApis: {
        kv: {
          get: (_key, scope) => (scope.tenant === "tenant-hog" ? slowKv(300) : "quick"),
          set: () => {},
          delete: () => true,
          list: async () => ({ keys: [] }),
        },
      },
    });
    await p.load(bundle);
    const order: string[] = [];
    const run = (name: string, who: string) =>
      p.execute(envelopeFor(bundle, "note", install(who))).then((r) => {
        expect(r.error).toBeUndefined();
        order.push(name);
        return r;
      });
    const hog = Array.from({ length: 8 }, (_, i) => run(`hog${i + 1}`, "hog"));
    await until(() => p.stats().inFlight === 1);
    const bystander = await run("bystander", "bystander");
    expect(bystander.response?.body).toEqual({ note: "quick" });
    // Behind the one running when it came, and at most the next; not behind all eight.
    expect(order.indexOf("bystander")).toBeLessThanOrEqual(2);
    await Promise.all(hog);
    expect(order).toHaveLength(9);
  });
});
