import { afterEach, expect, it } from "vitest";
import { createInProcessBus, type Bus } from "../../src/index.js";
import { createTestHost, type TestHost } from "../../src/testing/index.js";
import { describeBackends } from "../support/backends.js";
import { createLedger, ordersBundle } from "./support.js";

/** The in-process bus as a broker behaves: `send` returns once the message is handed over, before it runs. */
function brokerLikeBus(): Bus {
  const inner = createInProcessBus();
  return {
    name: "broker-like",
    async send(message) {
      setImmediate(() => void inner.send(message).catch(() => {}));
    },
    consume: (handler, options) => inner.consume(handler, options),
    close: () => inner.close(),
  };
}

describeBackends("a burst of events through a broker", (backend) => {
  let t: TestHost | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it("delivers one install's queue back to back, each as the one before it finishes, not one per poll interval", async () => {
    const ledger = createLedger();
    // A poll interval no test waits out: only the relay's own nudges can deliver the burst in time.
    t = await createTestHost({
      database: await backend.connect(),
      schema: backend.freshSchema("annex_broker_burst"),
      capabilities: [ledger.capability],
      events: { bus: brokerLikeBus(), relay: true, pollIntervalMs: 600_000 },
    });
    await t.install(await ordersBundle());
    for (let n = 0; n < 20; n++) await t.events.publish("order.created", { n });
    const deadline = Date.now() + 30_000;
    while (ledger.calls.length < 20 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    // In order: one (install, type) queue is delivered one at a time, oldest first.
    expect(ledger.notes()).toEqual(Array.from({ length: 20 }, (_, n) => `order:${n}`));
  }, 60_000);
});
