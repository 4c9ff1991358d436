import { defineHostCapability } from "@annex/host";
import { createTestHost } from "@annex/host/testing";
import { packBundle } from "@annex/manifest";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { createNatsBus } from "../src/index.js";
import { NATS_URL, SKIPPED, natsAvailable, testNats } from "./support/nats.js";
import { tcpProxy } from "./support/proxy.js";

const available = await natsAvailable();

const SERVER = `
export async function onOrder(event, ctx) {
  await ctx.host.call("ledger.record", { key: event.id, n: event.payload.n });
}
`;
const MANIFEST = {
  manifestVersion: 2,
  id: "acme.orders",
  name: "Orders",
  version: "1.0.0",
  publisher: "acme",
  description: "Books orders.",
  engines: { annex: "^0.1.0" },
  runtime: { class: "service", entry: "server/index.js" },
  capabilities: [
    { name: "events.subscribe", types: ["order.created"], reason: "Books orders." },
    { name: "host:ledger.record", reason: "Books orders." },
  ],
  endpoints: [],
  events: { subscribes: [{ type: "order.created", handler: "onOrder" }] },
};

describe.skipIf(!available)(`a host whose NATS bus goes down and comes back ${available ? "" : SKIPPED}`, () => {
  it("keeps the deliveries in the outbox while NATS is away and delivers each once when it is back", async () => {
    const [host, port] = NATS_URL.replace(/^nats:\/\//, "").split(":");
    const proxy = await tcpProxy({ host: host!, port: Number(port || 4222) });
    const nats = testNats();
    const ledger: Array<{ key: string; n: number }> = [];
    const capability = defineHostCapability({
      name: "ledger.record",
      description: "Records a handler run",
      args: z.object({ key: z.string(), n: z.number() }),
      result: z.object({ ok: z.boolean() }),
      handler: (args) => {
        ledger.push(args);
        return { ok: true };
      },
    });
    const nc = await nats.connection({ servers: `127.0.0.1:${proxy.port}`, reconnectTimeWait: 100, maxReconnectAttempts: -1, ignoreClusterUpdates: true });
    const bus = await createNatsBus({ nats: nc, stream: nats.stream, subject: nats.subject, sendTimeoutMs: 500 });
    const t = await createTestHost({ capabilities: [capability], events: { bus } });
    try {
      await t.install(await packBundle({ "annex.json": new TextEncoder().encode(JSON.stringify(MANIFEST)), "server/index.js": new TextEncoder().encode(SERVER) }));
      const open = async () => (await t.host.database.db.selectFrom("annex_event_deliveries").select(["id", "state"]).where("state", "<>", "done").execute()).length;

      // Up: the relay hands the delivery to the stream, the host's consumer runs it and acks in the outbox.
      await t.events.publish("order.created", { n: 1 });
      expect(await t.relay.drain()).toMatchObject({ sent: 1 });
      await expect.poll(() => ledger.map((e) => e.n), { timeout: 10_000 }).toEqual([1]);
      await expect.poll(open, { timeout: 10_000 }).toBe(0);
      // Down: the sends are refused, and the deliveries stay in the outbox, pending.
      await proxy.down();
      await t.events.publish("order.created", { n: 2 });
      await t.events.publish("order.created", { n: 3 });
      await t.relay.drain();
      const waiting = await t.host.database.db.selectFrom("annex_event_deliveries").select(["state", "attempts"]).where("state", "<>", "done").execute();
      // The lease on n=2 was given back (n=3 waits behind it: order per install and type); no attempt is counted.
      expect(waiting).toEqual([
        { state: "pending", attempts: 0 },
        { state: "pending", attempts: 0 },
      ]);
      expect(ledger.map((e) => e.n)).toEqual([1]);
      // Back: the next rounds deliver both, each once.
      await proxy.up();
      const deadline = Date.now() + 20_000;
      while ((await open()) > 0 || ledger.length < 3) {
        if (Date.now() > deadline) throw new Error(`not delivered within 20 s after NATS came back: ${await open()} open`);
        await t.relay.drain();
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await new Promise((resolve) => setTimeout(resolve, 300)); // a duplicate would arrive now
      expect(ledger.map((e) => e.n)).toEqual([1, 2, 3]);
      expect(new Set(ledger.map((e) => e.key)).size).toBe(3);
    } finally {
      await t.close();
      await bus.close();
      await proxy.close();
      await nats.dispose();
    }
  }, 120_000);
});
