import { afterEach, expect, it } from "vitest";
import type { Bus } from "../../src/index.js";
import { createTestHost, type TestHost } from "../../src/testing/index.js";
import { describeBackends } from "../support/backends.js";
import { createLedger, ordersBundle, tappedBus } from "./support.js";

describeBackends("the relay's claims", (backend) => {
  let t: TestHost | undefined;
  let bus: Bus | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
    await bus?.close();
    bus = undefined;
  });

  // Each install's deliveries form one queue, leased one at a time, so after the first claim every run that ends
  // makes one more delivery due. Claiming as each run ended took a claim (fan-out, orphans, the window claim: ~4
  // ms on PGlite) per delivery, and a many-tenant stream ran at 2.5× the time a delivery (events bench).
  it("follow one another's ended runs together: a stream of many tenants' queues takes far fewer claims than deliveries", async () => {
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
