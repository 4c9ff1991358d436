import { createWorkerPoolRunner, type Runner } from "@annex/runner";
import { afterEach, expect, it } from "vitest";
import { z } from "zod";
import { defineHostCapability } from "../../src/index.js";
import { createTestHost, type TestHost } from "../../src/testing/index.js";
import { describeBackends } from "../support/backends.js";
import { makeBundle, serviceManifest } from "../support/fixtures.js";
import { createLedger, ordersBundle } from "./support.js";

/**
 * A gate a handler waits at until the test opens it (or `holdMs` passes, below the execution's time limit, so
 * that a relay that does wait for it fails the test's assertions, not its timeout).
 */
function createGate(holdMs = 4000) {
  const log: string[] = [];
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  let entered!: () => void;
  const waiting = new Promise<void>((resolve) => (entered = resolve));
  const capability = defineHostCapability({
    name: "gate.wait",
    description: "Waits until the test opens the gate",
    args: z.object({}),
    result: z.object({ opened: z.boolean() }),
    handler: async () => {
      entered();
      const byTest = await Promise.race([opened.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), holdMs))]);
      log.push(byTest ? "gate:opened" : "gate:timed-out");
      return { opened: byTest };
    },
  });
  return { capability, log, waiting, open };
}

/** An install whose handler of `slow.work`, and endpoint `GET /wait`, wait at the gate. */
function slowBundle(): Promise<Uint8Array> {
  return makeBundle(
    serviceManifest({
      id: "acme.slow",
      name: "Slow",
      endpoints: [{ class: "api", method: "GET", path: "/wait", handler: "onWait" }],
      capabilities: [
        { name: "events.subscribe", types: ["slow.work"], reason: "Works slowly." },
        { name: "host:gate.wait", reason: "Waits." },
      ],
      events: { subscribes: [{ type: "slow.work", handler: "onWork" }] },
    }),
    {
      "server/index.js": [
        `export async function onWork(event, ctx) { await ctx.host.call("gate.wait", {}); }`,
        `export async function onWait(request, ctx) { return await ctx.host.call("gate.wait", {}); }`,
      ].join("\n"),
    },
  );
}

async function until(condition: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

describeBackends("one install's slow handler does not hold up other installs' deliveries", (backend) => {
  let t: TestHost | undefined;
  let runner: Runner | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
    await runner?.close();
    runner = undefined;
  });

  it.each(["in-memory", "worker pool"])("a drain delivers another tenant's queue, one delivery a round, while the slow run goes on (%s runner)", async (kind) => {
    const gate = createGate();
    const ledger = createLedger();
    // The pool as createHost makes it (one worker on two cores, one execution per worker): the slow run holds
    // that worker while it waits, and the quiet tenant's deliveries run on an extra one (`overflowWorkers`).
    runner = kind === "worker pool" ? createWorkerPoolRunner() : undefined;
    t = await createTestHost({
      database: await backend.connect(),
      schema: backend.freshSchema("annex_slow_drain"),
      capabilities: [gate.capability, ledger.capability],
      runner,
    });
    await t.install(await slowBundle(), { tenant: "slow" });
    await t.install(await ordersBundle(), { tenant: "quiet" });
    await t.events.publish("slow.work", {}, { tenant: "slow" });
    // One queue: each of these is leased only after the one before it finished, so each is a round of its own.
    // Every round used to wait for the whole batch before it, the slow run included.
    const quiet = 4;
    for (let n = 1; n <= quiet; n++) await t.events.publish("order.refunded", { n }, { tenant: "quiet" });
    const draining = t.relay.drain();
    await gate.waiting;
    expect(await until(() => ledger.calls.length === quiet, 3000)).toBe(true);
    expect(gate.log).toEqual([]);
    expect(ledger.notes()).toEqual(["refund:1", "refund:2", "refund:3", "refund:4"]);
    gate.open();
    // The drain still ends only once the slow run did, having sent all five.
    expect(await draining).toMatchObject({ sent: quiet + 1 });
    expect(gate.log).toEqual(["gate:opened"]);
  });

  it("the background relay delivers what is published while the slow run goes on", async () => {
    const gate = createGate();
    const ledger = createLedger();
    t = await createTestHost({
      database: await backend.connect(),
      schema: backend.freshSchema("annex_slow_background"),
      capabilities: [gate.capability, ledger.capability],
      events: { relay: true, pollIntervalMs: 60_000 },
    });
    await t.install(await slowBundle(), { tenant: "slow" });
    await t.install(await ordersBundle(), { tenant: "quiet" });
    await t.events.publish("slow.work", {}, { tenant: "slow" });
    await gate.waiting;
    // Published while the round that sent the slow delivery waits for it: the publish's nudge wakes that round
    // (the poll, a minute away, would not).
    await t.events.publish("order.refunded", { n: 1 }, { tenant: "quiet" });
    await t.events.publish("order.refunded", { n: 2 }, { tenant: "quiet" });
    expect(await until(() => ledger.calls.length === 2, 3000)).toBe(true);
    expect(gate.log).toEqual([]);
    expect(ledger.notes()).toEqual(["refund:1", "refund:2"]);
    gate.open();
    expect(await until(() => gate.log.length === 1, 3000)).toBe(true);
    expect(gate.log).toEqual(["gate:opened"]);
  });

  it("through the gateway and the default pool: another tenant's request is answered while a slow one waits", async () => {
    const gate = createGate();
    runner = createWorkerPoolRunner();
    t = await createTestHost({ database: await backend.connect(), schema: backend.freshSchema("annex_slow_request"), capabilities: [gate.capability], runner });
    await t.install(await slowBundle(), { tenant: "slow" });
    await t.install(await makeBundle(serviceManifest()), { tenant: "quick" });
    const slow = t.request("GET", "/api/ext/acme.slow/wait", { as: { user: { id: "u-slow" }, tenant: "slow" } });
    await gate.waiting;
    const quick = await t.request("GET", "/api/ext/acme.hello/hello/ada", { as: { user: { id: "u-quick" }, tenant: "quick" } });
    expect(quick.status).toBe(200);
    expect(await quick.json()).toEqual({ hello: "ada" });
    expect(gate.log).toEqual([]);
    gate.open();
    const answered = await slow;
    expect(answered.status).toBe(200);
    expect(await answered.json()).toEqual({ opened: true });
  });
});
