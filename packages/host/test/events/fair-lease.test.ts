import { afterEach, expect, it } from "vitest";
import type { Bus } from "../../src/index.js";
import { createTestHost, type TestHost } from "../../src/testing/index.js";
import { describeBackends } from "../support/backends.js";
import { makeBundle, serviceManifest } from "../support/fixtures.js";
import { createLedger, ordersBundle, tappedBus } from "./support.js";

const TYPES = Array.from({ length: 12 }, (_, i) => `noise.t${i}`);

/** An install subscribed to 12 types, each its own queue: a burst of it is 12 queue heads at once. */
function noisyBundle(): Promise<Uint8Array> {
  return makeBundle(
    serviceManifest({
      id: "acme.noisy",
      name: "Noisy",
      endpoints: [],
      capabilities: [
        { name: "events.subscribe", types: ["noise.*"], reason: "Listens to everything." },
        { name: "host:ledger.apply", reason: "Books what it heard." },
      ],
      events: { subscribes: TYPES.map((type, i) => ({ type, handler: `onNoise${i}` })) },
    }),
    {
      "server/index.js": [
        `async function onNoise(event, ctx) { await ctx.host.call("ledger.apply", { key: event.id, note: "noise:" + event.type }); }`,
        ...TYPES.map((_, i) => `export const onNoise${i} = onNoise;`),
      ].join("\n"),
    },
  );
}

describeBackends("leases shared fairly between installs", (backend) => {
  let t: TestHost | undefined;
  let bus: Bus | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
    await bus?.close();
    bus = undefined;
  });

  it("an install's burst of many queues does not hold every lease: another tenant's delivery goes in the first round", async () => {
    const ledger = createLedger();
    const tap = tappedBus();
    bus = tap.bus;
    t = await createTestHost({
      database: await backend.connect(),
      schema: backend.freshSchema("annex_fair_lease"),
      capabilities: [ledger.capability],
      // Small rounds: before, a round leased the oldest heads, all the noisy install's, and the other tenant's
      // delivery waited behind every one of them (and behind their retries).
      events: { batchSize: 2, bus },
    });
    await t.install(await noisyBundle(), { tenant: "loud" });
    await t.install(await ordersBundle(), { tenant: "quiet" });
    for (const type of TYPES) await t.events.publish(type, {}, { tenant: "loud" });
    await t.events.publish("order.refunded", { n: 1 }, { tenant: "quiet" });
    await t.relay.drain();
    const notes = ledger.calls.map((call) => call.note);
    expect(notes).toHaveLength(TYPES.length + 1);
    // Leased in the first claim, beside one of the noisy install's.
    expect(tap.sent.slice(0, 2).map((message) => message.tenant).sort()).toEqual(["loud", "quiet"]);
    // And the noisy install still gets everything, one queue head after another.
    expect(notes.filter((note) => note.startsWith("noise:")).sort()).toEqual(TYPES.map((type) => `noise:${type}`).sort());
  });

  it("a backlog in one queue, past the claim window, drains in order at one delivery a round beside another tenant's", async () => {
    // Each claim once cost the backlog times the window (the picking was planned on the inner side of a nested
    // loop over every open row): one install's 256 pending deliveries held the host 2-3 s a claim on PGlite.
    const ledger = createLedger();
    const tap = tappedBus();
    bus = tap.bus;
    t = await createTestHost({ database: await backend.connect(), schema: backend.freshSchema("annex_fair_backlog"), capabilities: [ledger.capability], events: { bus } });
    await t.install(await ordersBundle(), { tenant: "loud" });
    await t.install(await ordersBundle(), { tenant: "quiet" });
    const backlog = 160;
    for (let n = 1; n <= backlog; n++) await t.events.publish("order.refunded", { n }, { tenant: "loud" });
    await t.events.publish("order.refunded", { n: 0 }, { tenant: "quiet" });
    await t.relay.drain();
    const notes = ledger.calls.map((call) => call.note);
    expect(notes).toHaveLength(backlog + 1);
    // The quiet tenant's one delivery went in the first claim, beside the backlog's head.
    expect(tap.sent.slice(0, 2).map((message) => message.tenant).sort()).toEqual(["loud", "quiet"]);
    const loud = notes.filter((note) => note !== "refund:0");
    expect(loud).toEqual(Array.from({ length: backlog }, (_, i) => `refund:${i + 1}`));
  }, 120_000);

  // Each install's deliveries form one queue, leased one at a time, so after the first claim every run that ends
  // makes one more delivery due. Claiming as each run ended took a claim (fan-out, orphans, the window claim: ~4
  // ms on PGlite) per delivery, and a many-tenant stream ran at 2.5× the time a delivery (events bench).
  it("claims follow ended runs together: a stream of many tenants' queues takes far fewer claims than deliveries", async () => {
    const ledger = createLedger();
    const tap = tappedBus();
    bus = tap.bus;
    t = await createTestHost({
      database: await backend.connect(),
      schema: backend.freshSchema("annex_claim_batching"),
      capabilities: [ledger.capability],
      events: { bus },
    });
    const tenants = Array.from({ length: 16 }, (_, i) => `tenant-${i}`);
    const perTenant = 4;
    const bundle = await ordersBundle();
    for (const tenant of tenants) await t.install(bundle, { tenant });
    for (let n = 1; n <= perTenant; n++) for (const tenant of tenants) await t.events.publish("order.refunded", { n }, { tenant });
    const result = await t.relay.drain();
    const deliveries = tenants.length * perTenant;
    expect(result.sent).toBe(deliveries);
    expect(ledger.calls).toHaveLength(deliveries);
    // Every queue still went in order.
    for (const tenant of tenants) {
      expect(ledger.calls.filter((call) => call.tenant === tenant).map((call) => call.note)).toEqual(["refund:1", "refund:2", "refund:3", "refund:4"]);
    }
    // The first claim takes every queue's head; each later one waits for half of what is in flight to finish (or
    // 50 ms). A claim per ended run made it 49 here.
    const claims = new Set(tap.sent.map((message) => message.lease)).size;
    expect(claims).toBeLessThan(deliveries / 2);
  });
});
