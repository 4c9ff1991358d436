import type { BusMessage } from "@annex/host";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { createRedisBus } from "../src/index.js";
import { tcpProxy } from "./support/proxy.js";
import { REDIS_URL, SKIPPED, redisAvailable, testRedis } from "./support/redis.js";

const available = await redisAvailable();

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

describe.skipIf(!available)(`Redis Streams bus while Redis is down ${available ? "" : SKIPPED}`, () => {
  it("refuses sends with E_BUS_UNAVAILABLE while Redis is away (the outbox keeps them), and carries on once it is back", async () => {
    const url = new URL(REDIS_URL);
    const proxy = await tcpProxy({ host: url.hostname, port: Number(url.port || 6379) });
    const keys = testRedis();
    const client = new Redis({ host: "127.0.0.1", port: proxy.port, maxRetriesPerRequest: 1, retryStrategy: () => 50 });
    client.on("error", () => {});
    try {
      const bus = await createRedisBus({ redis: client, stream: `${keys.prefix}bus`, blockMs: 200, sendTimeoutMs: 500 });
      const got: string[] = [];
      await bus.consume(async (m) => {
        got.push(m.deliveryId);
      });
      await bus.send(message(1));
      await expect.poll(() => got, { timeout: 5000 }).toContain("d-1");

      await proxy.down();
      await expect(bus.send(message(2))).rejects.toMatchObject({ code: "E_BUS_UNAVAILABLE" });

      await proxy.up();
      // The relay sends again what was refused: nothing was lost, only delayed.
      await expect.poll(async () => bus.send(message(2)).then(() => true, () => false), { timeout: 10_000, interval: 100 }).toBe(true);
      await bus.send(message(3));
      await expect.poll(() => got, { timeout: 10_000 }).toEqual(expect.arrayContaining(["d-1", "d-2", "d-3"]));
      await bus.close();
    } finally {
      client.disconnect();
      await proxy.close();
      await keys.dispose();
    }
  });
});

describe.skipIf(!available)(`Redis Streams bus with handlers slower than claimIdleMs ${available ? "" : SKIPPED}`, () => {
  // claimIdleMs takes over messages whose handler failed or whose process died; a handler still running in a live
  // process is neither. Nothing reset an entry's idle time while it ran, so XAUTOCLAIM gave it to another consumer
  // (or its own again): one message ran four times with claimIdleMs 1 s and a 3.5 s handler.
  it("keeps a message with the consumer whose handler still runs it, and takes over one whose handler failed", async () => {
    const redis = testRedis();
    const stream = `${redis.prefix}bus`;
    const buses = await Promise.all([0, 1].map(() => createRedisBus({ redis: redis.client(), stream, blockMs: 100, claimIdleMs: 1000 })));
    try {
      const runs: Array<{ process: number; deliveryId: string }> = [];
      for (const [i, bus] of buses.entries()) {
        await bus.consume(async (m) => {
          runs.push({ process: i, deliveryId: m.deliveryId });
          if (m.deliveryId === "d-2" && runs.filter((run) => run.deliveryId === "d-2").length === 1) throw new Error("the first run of d-2 fails");
          await new Promise((resolve) => setTimeout(resolve, m.deliveryId === "d-1" ? 3500 : 10));
        });
      }
      await buses[0]!.send(message(1));
      await buses[0]!.send(message(2));
      await new Promise((resolve) => setTimeout(resolve, 4500));
      const of = (id: string) => runs.filter((run) => run.deliveryId === id);
      expect(of("d-1"), JSON.stringify(runs)).toHaveLength(1);
      // A failed handler's message is still taken over once idle for claimIdleMs.
      expect(of("d-2"), JSON.stringify(runs)).toHaveLength(2);
      // The stream is empty again: each acked and deleted once, by the consumer that ran it to its end.
      expect(await redis.client().xlen(stream)).toBe(0);
    } finally {
      for (const bus of buses) await bus.close();
      await redis.dispose();
    }
  }, 20_000);
});
