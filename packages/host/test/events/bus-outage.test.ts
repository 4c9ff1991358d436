import { afterEach, expect, it } from "vitest";
import { BusError, createInProcessBus, type Bus } from "../../src/index.js";
import { createTestHost, type TestHost } from "../../src/testing/index.js";
import { describeBackends } from "../support/backends.js";
import { createLedger, ordersBundle } from "./support.js";

/** The in-process bus behind a switch: while `down`, every send is refused as a broker's would be. */
function switchableBus(): { bus: Bus; down: boolean; sends: number } {
  const inner = createInProcessBus();
  const state = {
    down: false,
    sends: 0,
    bus: {
      name: "switchable",
      async send(message) {
        state.sends++;
        if (state.down) throw new BusError("E_BUS_UNAVAILABLE", "the broker is away");
        await inner.send(message);
      },
      consume: (handler, options) => inner.consume(handler, options),
      close: () => inner.close(),
    } satisfies Bus,
  };
  return state;
}

describeBackends("event delivery while the bus is down", (backend) => {
  let t: TestHost | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it("ends the relay's round when the bus refuses (no hot loop), keeps the deliveries pending without counting an attempt, and delivers each once when it is back", async () => {
    const ledger = createLedger();
    const state = switchableBus();
    t = await createTestHost({ database: await backend.connect(), schema: backend.freshSchema("annex_bus_down"), capabilities: [ledger.capability], events: { bus: state.bus } });
    await t.install(await ordersBundle());
    state.down = true;
    await t.events.publish("order.created", { n: 1 });
    await t.events.publish("order.refunded", { n: 2 });
    const drained = await t.relay.drain();
    expect(drained).toMatchObject({ fannedOut: 2, sent: 0 });
    // One try in the round (a claim leases one delivery per install), not a loop until the broker is back.
    expect(state.sends).toBe(1);
    const rows = await t.host.database.db.selectFrom("annex_event_deliveries").select(["state", "attempts"]).execute();
    expect(rows).toEqual([
      { state: "pending", attempts: 0 },
      { state: "pending", attempts: 0 },
    ]);
    expect(ledger.calls).toEqual([]);

    state.down = false;
    expect(await t.relay.drain()).toMatchObject({ sent: 2 });
    expect(ledger.notes().sort()).toEqual(["order:1", "refund:2"]);
    expect(await t.relay.drain()).toMatchObject({ sent: 0 });
    expect(ledger.calls).toHaveLength(2);
  });
});
