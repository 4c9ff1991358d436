import { afterEach, describe, expect, it } from "vitest";
import { BusError, type Bus, type BusHandler, type BusMessage } from "../events/bus.js";

/**
 * One test's world for a bus implementation: a fresh channel (a stream, a
 * subject, a key prefix), on which `connect()` opens a bus as one host
 * process would. With `shared: true` (a broker), buses opened by successive
 * `connect()` calls of one world reach each other, like host processes on one
 * broker; the in-process bus is not shared.
 */
export interface BusContractWorld {
  connect(): Promise<Bus> | Bus;
  /** Called after each test, after every bus of the world was closed. */
  dispose?(): Promise<void> | void;
}

export interface BusContractOptions {
  /** Buses of one world share a channel (true for brokers). Default false. */
  shared?: boolean | undefined;
  /** How long a test waits for a message to arrive, in ms. Default 5000. */
  timeoutMs?: number | undefined;
}

/**
 * The contract every `Bus` keeps (see the interface in `@annex/host`), as a
 * vitest suite: run it from an implementation's test file.
 *
 * ```ts
 * import { createInProcessBus } from "@annex/host";
 * import { busContract } from "@annex/host/testing/bus-contract";
 *
 * busContract("in-process", () => ({ connect: () => createInProcessBus() }));
 * ```
 */
export function busContract(name: string, world: () => Promise<BusContractWorld> | BusContractWorld, options: BusContractOptions = {}): void {
  const timeoutMs = options.timeoutMs ?? 5000;

  describe(`bus contract: ${name}`, () => {
    let opened: Bus[] = [];
    let current: BusContractWorld | undefined;

    async function connect(): Promise<Bus> {
      current ??= await world();
      const bus = await current.connect();
      opened.push(bus);
      return bus;
    }

    afterEach(async () => {
      const buses = opened;
      opened = [];
      await Promise.allSettled(buses.map((bus) => bus.close()));
      const done = current;
      current = undefined;
      await done?.dispose?.();
    });

    it("hands a sent message to a consumer with every field intact", async () => {
      const bus = await connect();
      const got = collector();
      await bus.consume(got.handler);
      const sent = message(1, {
        text: "héllo ✓ \u0000 \"quoted\" \n",
        number: 12.5,
        nested: { list: [1, null, true, { deep: "x" }], empty: {} },
        big: "x".repeat(200_000),
      });
      await bus.send(sent);
      await got.until(1, timeoutMs);
      expect(got.messages).toEqual([sent]);
      expect(typeof bus.name).toBe("string");
    });

    it("gives each message to one of several competing consumers, once", async () => {
      const bus = await connect();
      const got = collector();
      await bus.consume(got.handler, { concurrency: 4 });
      await bus.consume(got.handler, { concurrency: 4 });
      if (options.shared) await (await connect()).consume(got.handler, { concurrency: 4 });
      const sent = Array.from({ length: 60 }, (_, i) => message(i));
      await Promise.all(sent.map((m) => bus.send(m)));
      await got.until(60, timeoutMs);
      // A little longer: a duplicate would arrive now.
      await sleep(100);
      expect(got.messages.map((m) => m.deliveryId).sort()).toEqual(sent.map((m) => m.deliveryId).sort());
    });

    it("runs at most `concurrency` messages at a time in one consumer", async () => {
      const bus = await connect();
      let running = 0;
      let most = 0;
      const got = collector();
      await bus.consume(
        async (m) => {
          running++;
          most = Math.max(most, running);
          await sleep(15);
          running--;
          await got.handler(m);
        },
        { concurrency: 2 },
      );
      await Promise.all(Array.from({ length: 10 }, (_, i) => bus.send(message(i))));
      await got.until(10, timeoutMs);
      expect(most).toBeGreaterThanOrEqual(1);
      expect(most).toBeLessThanOrEqual(2);
    });

    it("keeps consuming after a handler rejects (the unacked message is left to the outbox or redelivered)", async () => {
      const bus = await connect();
      const got = collector();
      let failed = false;
      await bus.consume(async (m) => {
        if (m.deliveryId === "d-0" && !failed) {
          failed = true;
          throw new Error("handler failed before the ack");
        }
        await got.handler(m);
      });
      await bus.send(message(0));
      await bus.send(message(1));
      await got.until(1, timeoutMs, (m) => m.deliveryId === "d-1");
      expect(failed).toBe(true);
    });

    it("stop() waits for the consumer's running handlers and gives it nothing afterwards", async () => {
      const bus = await connect();
      const gate = deferred();
      const started = deferred();
      const first: string[] = [];
      const consumer = await bus.consume(async (m) => {
        first.push(m.deliveryId);
        started.resolve();
        await gate.promise;
      });
      const sending = bus.send(message(0));
      await withTimeout(started.promise, timeoutMs, "the first consumer never got the message");
      let stopped = false;
      const stopping = consumer.stop().then(() => (stopped = true));
      await sleep(30);
      expect(stopped).toBe(false);
      gate.resolve();
      await withTimeout(stopping, timeoutMs, "stop() did not return after the handler finished");
      await sending;

      const got = collector();
      await bus.consume(got.handler);
      await bus.send(message(1));
      await got.until(1, timeoutMs, (m) => m.deliveryId === "d-1");
      expect(first).toEqual(["d-0"]);
    });

    it("never reports a send it cannot hand over: with no consumer it rejects, or holds the message for the next one", async () => {
      const bus = await connect();
      let accepted: boolean;
      try {
        await bus.send(message(7));
        accepted = true;
      } catch (error) {
        expect(error).toBeInstanceOf(BusError);
        expect((error as BusError).code).toBe("E_BUS_UNAVAILABLE");
        accepted = false;
      }
      if (accepted) {
        const got = collector();
        await bus.consume(got.handler);
        await got.until(1, timeoutMs, (m) => m.deliveryId === "d-7");
      }
    });

    it("refuses send and consume after close() with E_BUS_CLOSED", async () => {
      const bus = await connect();
      await bus.consume(async () => {});
      await bus.close();
      await expect(bus.send(message(1))).rejects.toMatchObject({ code: "E_BUS_CLOSED" });
      await expect(bus.consume(async () => {})).rejects.toMatchObject({ code: "E_BUS_CLOSED" });
    });

    if (options.shared) {
      it("carries a message sent by one process to a consumer of another", async () => {
        const sender = await connect();
        const receiver = await connect();
        const got = collector();
        await receiver.consume(got.handler);
        const sent = message(3, { from: "another process" });
        await sender.send(sent);
        await got.until(1, timeoutMs);
        expect(got.messages).toEqual([sent]);
      });
    }
  });
}

let runId = 0;

function message(i: number, payload: unknown = { i }): BusMessage {
  runId++;
  return {
    deliveryId: `d-${i}`,
    lease: `lease-${runId}`,
    eventId: `e-${i}`,
    tenant: "contract-tenant",
    type: "contract.tested",
    installId: `install-${i % 3}`,
    attempt: 1 + (i % 2),
    occurredAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i % 60)).toISOString(),
    payload,
  };
}

function collector() {
  const messages: BusMessage[] = [];
  const waiters: Array<() => void> = [];
  const handler: BusHandler = async (m) => {
    messages.push(m);
    for (const wake of waiters.splice(0)) wake();
  };
  async function until(count: number, timeoutMs: number, match: (m: BusMessage) => boolean = () => true): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (messages.filter(match).length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`waited ${timeoutMs} ms for ${count} message(s), got ${messages.filter(match).length}`);
      await Promise.race([new Promise<void>((resolve) => waiters.push(resolve)), sleep(Math.min(left, 50))]);
    }
  }
  return { messages, handler, until };
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(what)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
