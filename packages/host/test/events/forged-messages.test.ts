import { afterEach, describe, expect, it } from "vitest";
import { BusError, createInProcessBus, parseBusMessage, type Bus, type BusMessage } from "../../src/index.js";
import { createTestHost, type TestHost } from "../../src/testing/index.js";
import { describeBackends } from "../support/backends.js";
import { createLedger, ordersBundle } from "./support.js";

/**
 * A bus that behaves like a broker: `send` resolves once the message is held, and the consumer gets it
 * when the test says so (`deliver`). Until then the delivery stays leased and no copy of the relay's
 * leases is left in the process, so the consumer reads the outbox for every message, as it does for a
 * message from NATS or Redis. `write` puts a message straight on the wire, as a client of the broker could.
 */
function brokerLikeBus() {
  const wire = createInProcessBus();
  const held: BusMessage[] = [];
  const bus: Bus = {
    name: "broker-like",
    async send(message) {
      held.push(JSON.parse(JSON.stringify(message)) as BusMessage);
    },
    consume: (handler, options) => wire.consume(handler, options),
    close: () => wire.close(),
  };
  return { bus, held, write: (message: BusMessage) => wire.send(JSON.parse(JSON.stringify(message)) as BusMessage) };
}

describeBackends("a relay given forged bus messages", (backend) => {
  let t: TestHost | undefined;
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await t?.close();
    await close?.();
    t = undefined;
    close = undefined;
  });

  it("runs what the leased row says: copies of a message in flight with another install, tenant, payload, attempt or depth are dropped, counted and logged", async () => {
    const ledger = createLedger();
    const broker = brokerLikeBus();
    close = () => broker.bus.close();
    t = await createTestHost({ database: await backend.connect(), schema: backend.freshSchema("annex_forged"), capabilities: [ledger.capability], events: { bus: broker.bus } });
    const a = await t.install(await ordersBundle(), { tenant: "ta" });
    const b = await t.install(await ordersBundle(), { tenant: "tb" });
    await t.host.events.publish("ta", "order.created", { n: 1, tags: { b: 2, a: 1 } });
    expect(await t.relay.drain()).toMatchObject({ sent: 1 });
    const legit = broker.held[0]!;
    expect(legit).toMatchObject({ tenant: "ta", installId: a.id, attempt: 1, depth: 0 });

    // The delivery is leased and its message is still on the wire: what someone who can write to the broker sees.
    const forgeries: Array<[BusMessage, string[]]> = [
      [{ ...legit, tenant: "tb", installId: b.id, payload: { n: 666 } }, ["tenant", "installId", "payload"]],
      // On the last attempt (the test host allows 3), a failure would park the delivery at once.
      [{ ...legit, attempt: 3, payload: { n: 666, poison: true } }, ["attempt", "payload"]],
      // Deeper than the event-loop limit allows, or shallower than the event is (a loop let through).
      [{ ...legit, depth: 9 }, ["depth"]],
      [{ ...legit, type: "order.refunded" }, ["type"]],
    ];
    for (const [forged] of forgeries) await broker.write(forged);

    expect(ledger.calls).toEqual([]);
    expect(await t.deadLetters()).toEqual([]);
    const rows = () => t!.host.database.db.selectFrom("annex_event_deliveries").select(["install_id", "state", "attempts"]).execute();
    // Each forgery took the delivery, disagreed with it and gave it back: still leased to the relay's message, no attempt counted.
    expect(await rows()).toEqual([{ install_id: a.id, state: "leased", attempts: 0 }]);
    expect(await t.host.metrics!.text()).toMatch(/annex_event_deliveries_total\{outcome="stale",reason="mismatch"\} 4/);
    const warned = t.logged.filter((line) => /disagrees with its delivery in the outbox/.test(String(line.msg)));
    expect(warned.map((line) => line["fields"])).toEqual(forgeries.map(([, fields]) => fields));
    // The log names the delivery as the outbox has it, never what the forged message claimed.
    expect(warned.every((line) => line["tenant"] === "ta" && line["installId"] === a.id)).toBe(true);

    // The relay's own message, its payload's keys in another order (as JSON through a broker may hand it), runs.
    await broker.write({ ...legit, payload: { tags: { a: 1, b: 2 }, n: 1 } });
    expect(ledger.calls).toEqual([{ key: legit.deliveryId, note: "order:1", tenant: "ta", install: a.id }]);
    expect(await rows()).toEqual([{ install_id: a.id, state: "done", attempts: 1 }]);
    // A copy that comes after the ack is stale: nothing runs.
    await broker.write(legit);
    expect(ledger.calls).toHaveLength(1);
  });

  it("drops a message whose delivery the database cannot even look up (NUL in its id) instead of failing it back to the bus for ever", async () => {
    const ledger = createLedger();
    const broker = brokerLikeBus();
    close = () => broker.bus.close();
    t = await createTestHost({ database: await backend.connect(), schema: backend.freshSchema("annex_forged_nul"), capabilities: [ledger.capability], events: { bus: broker.bus } });
    await t.install(await ordersBundle(), { tenant: "ta" });
    await t.host.events.publish("ta", "order.created", { n: 1 });
    await t.relay.drain();
    const legit = broker.held[0]!;
    // Thrown, the consumer's error left a Redis entry unacknowledged and handed out again every claimIdleMs.
    await broker.write({ ...legit, deliveryId: "d\u0000x" });
    expect(await t.host.metrics!.text()).toMatch(/annex_event_deliveries_total\{outcome="stale",reason="mismatch"\} 1/);
    expect(t.logged.some((line) => /names no delivery the outbox can look up/.test(String(line.msg)))).toBe(true);
    await broker.write(legit);
    expect(ledger.notes()).toEqual(["order:1"]);
  });
});

describe("parseBusMessage", () => {
  const message = { deliveryId: "d", lease: "l", eventId: "e", tenant: "t", type: "order.created", installId: "i", attempt: 1, occurredAt: "2026-01-01T00:00:00.000Z", payload: null };

  it("refuses text the outbox cannot look up (NUL, unpaired surrogates), naming the field: a relay never sends it", () => {
    for (const [field, value] of [["deliveryId", "d\u0000x"], ["lease", "l\uD800"], ["installId", "\uDC00i"]] as const) {
      expect(() => parseBusMessage({ ...message, [field]: value })).toThrow(BusError);
      expect(() => parseBusMessage({ ...message, [field]: value })).toThrow(new RegExp(`bus message ${field} must be text without NUL`));
    }
    expect(parseBusMessage({ ...message, tenant: "t-\uD83D\uDE00" }).tenant).toBe("t-\uD83D\uDE00");
  });
});
