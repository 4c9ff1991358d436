import type { BusMessage } from "@annex/host";
import { jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { createNatsBus } from "../src/index.js";
import { tcpProxy } from "./support/proxy.js";
import { NATS_URL, SKIPPED, natsAvailable, testNats } from "./support/nats.js";

const available = await natsAvailable();

const message = (i: number): BusMessage => ({
  deliveryId: `d-${i}`,
  lease: `l-${i}`,
  eventId: `e-${i}`,
  tenant: "t",
  type: "order.created",
  installId: "i-1",
  attempt: 1,
  occurredAt: new Date(0).toISOString(),
  payload: { i },
});

/** A bus on the test's stream whose consumer records what it got, once a first message went through. */
async function deliveringBus(nc: Parameters<typeof createNatsBus>[0]["nats"], nats: ReturnType<typeof testNats>) {
  const bus = await createNatsBus({ nats: nc, stream: nats.stream, subject: nats.subject, sendTimeoutMs: 500 });
  const got: string[] = [];
  await bus.consume(async (m) => {
    got.push(m.deliveryId);
  });
  await bus.send(message(1));
  await expect.poll(() => got, { timeout: 5000 }).toContain("d-1");
  return { bus, got };
}

describe.skipIf(!available)(`NATS JetStream bus while NATS is down ${available ? "" : SKIPPED}`, () => {
  it("refuses sends with E_BUS_UNAVAILABLE while NATS is away (the outbox keeps them), and carries on once it is back", async () => {
    const [host, port] = NATS_URL.replace(/^nats:\/\//, "").split(":");
    const proxy = await tcpProxy({ host: host!, port: Number(port || 4222) });
    const nats = testNats();
    try {
      // Reconnects for ever, quickly: the outage is the proxy's, the server stays up.
      const nc = await nats.connection({ servers: `127.0.0.1:${proxy.port}`, reconnectTimeWait: 100, maxReconnectAttempts: -1, ignoreClusterUpdates: true });
      const { bus, got } = await deliveringBus(nc, nats);

      await proxy.down();
      await expect(bus.send(message(2))).rejects.toMatchObject({ code: "E_BUS_UNAVAILABLE" });

      await proxy.up();
      // The relay sends again what was refused: nothing was lost, only delayed.
      await expect.poll(async () => bus.send(message(2)).then(() => true, () => false), { timeout: 10_000, interval: 100 }).toBe(true);
      await bus.send(message(3));
      await expect.poll(() => got, { timeout: 10_000 }).toEqual(expect.arrayContaining(["d-1", "d-2", "d-3"]));
      await bus.close();
    } finally {
      await proxy.close();
      await nats.dispose();
    }
  });

  it("refuses to start with typed errors naming the option", async () => {
    const nats = testNats();
    try {
      const nc = await nats.connection();
      await expect(createNatsBus({ nats: {} as never })).rejects.toMatchObject({ code: "E_NATS_OPTIONS", details: { field: "nats" } });
      await expect(createNatsBus({ nats: nc, stream: "has.dots" })).rejects.toMatchObject({ code: "E_NATS_OPTIONS", details: { field: "stream" } });
      await expect(createNatsBus({ nats: nc, subject: "annex.*" })).rejects.toMatchObject({ code: "E_NATS_OPTIONS", details: { field: "subject" } });
      await expect(createNatsBus({ nats: nc, pullMs: 10 })).rejects.toMatchObject({ code: "E_NATS_OPTIONS", details: { field: "pullMs" } });
      await expect(createNatsBus({ nats: nc, sendTimeoutMs: -1 })).rejects.toMatchObject({ code: "E_NATS_OPTIONS", details: { field: "sendTimeoutMs" } });
      // The stream exists for another subject: refused rather than publishing where nobody consumes.
      await createNatsBus({ nats: nc, stream: nats.stream, subject: nats.subject });
      await expect(createNatsBus({ nats: nc, stream: nats.stream, subject: `${nats.subject}.other` })).rejects.toMatchObject({ code: "E_NATS_STREAM", details: { field: "stream" } });
    } finally {
      await nats.dispose();
    }
  });

  it("drops a message that is not an Annex bus message and goes on with the next", async () => {
    const nats = testNats();
    try {
      const nc = await nats.connection();
      const bus = await createNatsBus({ nats: nc, stream: nats.stream, subject: nats.subject });
      const got: string[] = [];
      await bus.consume(async (m) => {
        got.push(m.deliveryId);
      });
      nc.publish(nats.subject, JSON.stringify({ deliveryId: "", hostile: true }));
      nc.publish(nats.subject, "not json");
      await bus.send(message(4));
      await expect.poll(() => got, { timeout: 5000 }).toEqual(["d-4"]);
      await bus.close();
    } finally {
      await nats.dispose();
    }
  });

  it("sets up a lost stream and its consumer again, so that sends and consumers resume without a restart", async () => {
    const nats = testNats();
    try {
      const nc = await nats.connection();
      const { bus, got } = await deliveringBus(nc, nats);

      // The server is replaced by one without the stream (no replicas), or an operator deleted it. Before, every
      // send failed with "jetstream is not enabled" and nothing was delivered until each process restarted.
      const jsm = await jetstreamManager(nc);
      await jsm.streams.delete(nats.stream);

      // The relay sends again each poll (the outbox keeps the delivery). Give it 8 s of rounds.
      const errors: string[] = [];
      const sent = await (async () => {
        const until = Date.now() + 8000;
        while (Date.now() < until) {
          try {
            await bus.send(message(2));
            return true;
          } catch (error) {
            errors.push(`${(error as { code?: string }).code}: ${(error as Error).message}`);
            await new Promise((resolve) => setTimeout(resolve, 500));
          }
        }
        return false;
      })();
      expect(sent, `every send refused: ${errors.slice(-1)[0]}`).toBe(true);
      await expect.poll(() => got, { timeout: 10_000 }).toContain("d-2");
      await bus.close();
    } finally {
      await nats.dispose();
    }
  }, 40_000);
});
