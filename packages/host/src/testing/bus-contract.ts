import { packBundle } from "@annex/manifest";
import { createInMemoryRunner } from "@annex/runner";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineHostCapability } from "../capabilities/host-capabilities.js";
import { BusError, type Bus, type BusHandler, type BusMessage } from "../events/bus.js";
import { testDatabaseBackends } from "./databases.js";
import { createTestHost } from "./test-host.js";
import { clearTimeout, setTimeout } from "node:timers";

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
  /**
   * Puts a message on the world's channel as any client of the broker could,
   * without going through a bus (the host test writes forged copies of a
   * delivery in flight with it). Default: `send` on another bus of the world
   * (`shared`), else on the host's own bus. A bus whose `send` drops a second
   * message of one delivery and lease (JetStream's message id does) passes
   * this, or the forged copies would never reach the consumer.
   */
  write?(message: unknown): Promise<void> | void;
}

export interface BusContractOptions {
  /** Buses of one world share a channel (true for brokers). Default false. */
  shared?: boolean | undefined;
  /** How long a test waits for a message to arrive, in ms. Default 5000. */
  timeoutMs?: number | undefined;
  /**
   * Also runs a test host on the bus (PGlite, and PostgreSQL when
   * `ANNEX_TEST_DATABASE_URL` is set) and checks that what a message on the
   * bus says cannot change what runs. Default true; it needs
   * `@electric-sql/pglite` installed.
   */
  host?: boolean | undefined;
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

    if (options.host !== false) {
      describe.each(testDatabaseBackends())("a host on this bus, on $name", (backend) => {
        beforeAll(async () => {
          await backend.connect();
        });
        afterAll(() => backend.cleanup());

        // Whoever can write to the broker can copy a message of a delivery in flight (its deliveryId and lease)
        // and change the rest. The host must run the delivery as its outbox row says, and drop the copy.
        it("runs a delivery as its outbox row says: a copy forged on the bus with other fields is dropped, not run", async () => {
          const bus = await connect();
          const seen: BusMessage[] = [];
          // What a reader of the broker sees: the relay's messages.
          const tapped = sendingThrough(bus, async (m) => {
            seen.push(structuredClone(m));
            await bus.send(m);
          });
          const runs: Array<{ id: string; type: string; payload: string; tenant: string; installId: string }> = [];
          const entered = deferred();
          const gate = deferred();
          const record = defineHostCapability({
            name: "contract.record",
            description: "Records what an event handler ran with",
            args: z.object({ id: z.string(), type: z.string(), payload: z.string() }),
            result: z.object({ ok: z.boolean() }),
            handler: async (args, { install }) => {
              runs.push({ ...args, tenant: install.tenant, installId: install.id });
              // The first run holds its lease until the forged copies were handled.
              if (runs.length === 1) {
                entered.resolve();
                await gate.promise;
              }
              return { ok: true };
            },
          });
          // Room for the first run to wait on the gate; the event executions' limits follow the runner's.
          const runner = createInMemoryRunner({ limits: { wallMs: 30_000 } });
          const t = await createTestHost({
            database: await backend.connect(),
            schema: backend.freshSchema("annex_bus_contract"),
            runner,
            capabilities: [record],
            events: { bus: tapped, limits: { wallMs: 30_000 } },
          });
          let draining: Promise<unknown> | undefined;
          try {
            const a = await t.install(await forgeBundle(), { tenant: "contract-a" });
            const b = await t.install(await forgeBundle(), { tenant: "contract-b" });
            await t.host.events.publish("contract-a", "contract.tested", { n: 1, nested: { b: 2, a: [1, { z: null }] } });
            // A drain on the in-process bus returns once the consumer ran the delivery: not awaited here.
            draining = t.relay.drain();
            await withTimeout(entered.promise, timeoutMs, "the delivery never reached its handler");
            const legit = seen[0]!;
            expect(legit).toMatchObject({ tenant: "contract-a", installId: a.id, type: "contract.tested", attempt: 1 });
            const forgeries: BusMessage[] = [
              { ...legit, tenant: "contract-b", installId: b.id, payload: { forged: "another tenant's install" }, depth: 0 },
              { ...legit, installId: b.id },
              { ...legit, payload: { forged: "payload" } },
              { ...legit, type: "contract.other" },
              { ...legit, depth: 5 },
              { ...legit, attempt: legit.attempt + 7 },
              { ...legit, eventId: "forged-event" },
              { ...legit, occurredAt: new Date(0).toISOString() },
            ];
            // Another client of the broker, or (the in-process bus) anything holding this process's bus.
            const world = current!;
            const forger = world.write === undefined ? (options.shared ? await connect() : bus) : undefined;
            for (const forged of forgeries) await (forger === undefined ? world.write!(forged) : forger.send(forged));
            const mismatches = async () => Number(/annex_event_deliveries_total\{outcome="stale",reason="mismatch"\} (\d+)/.exec(await t.host.metrics!.text())?.[1] ?? 0);
            const deadline = Date.now() + timeoutMs;
            while ((await mismatches()) < forgeries.length && Date.now() < deadline) await sleep(20);
            gate.resolve();
            await draining;
            const state = async () => t.host.database.db.selectFrom("annex_event_deliveries").select(["install_id", "state", "attempts"]).execute();
            while ((await state()).some((d) => d.state !== "done") && Date.now() < deadline + timeoutMs) await sleep(20);
            await sleep(100); // a forged copy run late would show now

            expect(runs.map((run) => ({ ...run, payload: JSON.parse(run.payload) as unknown }))).toEqual([
              { id: legit.deliveryId, type: "contract.tested", payload: { n: 1, nested: { b: 2, a: [1, { z: null }] } }, tenant: "contract-a", installId: a.id },
            ]);
            expect(await mismatches()).toBe(forgeries.length);
            expect(await state()).toEqual([{ install_id: a.id, state: "done", attempts: 1 }]);
            expect(await t.deadLetters()).toEqual([]);
            expect(t.logged.filter((line) => /disagrees with its delivery/.test(String(line.msg)))).toHaveLength(forgeries.length);
          } finally {
            gate.resolve();
            await draining?.catch(() => undefined);
            await t.close();
            await runner.close();
          }
        }, 60_000);

        // A broker may hand a message over late (its consumers were busy past the lease) or twice (a send retried
        // after a lost reply, a message claimed from a consumer still running it). The outbox decides: a consumer
        // takes the delivery only while the message's lease holds, and only once.
        it("runs a delivery once whatever the bus does with its message: a copy past its lease runs nothing, two copies at once run it once", async () => {
          const bus = await connect();
          const held: BusMessage[] = [];
          // The relay's sends are kept here; the test hands them to the bus when it chooses.
          const holding = sendingThrough(bus, async (m) => {
            held.push(structuredClone(m));
          });
          const runs: string[] = [];
          const record = defineHostCapability({
            name: "contract.record",
            description: "Records what an event handler ran with",
            args: z.object({ id: z.string(), type: z.string(), payload: z.string() }),
            result: z.object({ ok: z.boolean() }),
            handler: async (args) => {
              runs.push(args.id);
              await sleep(50); // long enough for a second copy to arrive while it runs
              return { ok: true };
            },
          });
          let now = Date.UTC(2026, 0, 1);
          const t = await createTestHost({
            database: await backend.connect(),
            schema: backend.freshSchema("annex_bus_contract"),
            capabilities: [record],
            now: () => now,
            events: { bus: holding },
          });
          const counted = async (outcome: string, reason: string) =>
            Number(new RegExp(`annex_event_deliveries_total\\{outcome="${outcome}",reason="${reason}"\\} (\\d+)`).exec(await t.host.metrics!.text())?.[1] ?? 0);
          const deliveries = () => t.host.database.db.selectFrom("annex_event_deliveries").select(["id", "state", "attempts"]).execute();
          const until = async (check: () => Promise<boolean>, what: string) => {
            const deadline = Date.now() + timeoutMs;
            while (!(await check())) {
              if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms: ${what}`);
              await sleep(20);
            }
          };
          try {
            await t.install(await forgeBundle(), { tenant: "contract-a" });
            await t.host.events.publish("contract-a", "contract.tested", { n: 1 });
            await t.relay.drain();
            expect(held).toHaveLength(1);
            now += 10 * 60_000; // the message reaches a consumer after its lease ran out
            await bus.send(held[0]!);
            await until(async () => (await counted("stale", "")) >= 1, "the late message was never consumed");
            expect(runs).toEqual([]);
            // Not an attempt: the delivery is leased again, as if the message had been lost.
            expect(await deliveries()).toEqual([{ id: held[0]!.deliveryId, state: "leased", attempts: 0 }]);

            now += 10 * 60_000;
            await t.relay.drain();
            expect(held).toHaveLength(2);
            expect(held[1]).toMatchObject({ deliveryId: held[0]!.deliveryId, attempt: 1 });
            expect(held[1]!.lease).not.toBe(held[0]!.lease);
            await Promise.all([bus.send(held[1]!), bus.send(held[1]!)]);
            await until(async () => (await deliveries())[0]?.state === "done", "the delivery never ran");
            await sleep(200); // a second run would show now
            expect(runs).toEqual([held[0]!.deliveryId]);
            expect(await deliveries()).toEqual([{ id: held[0]!.deliveryId, state: "done", attempts: 1 }]);
            expect(await t.deadLetters()).toEqual([]);
          } finally {
            await t.close();
          }
        }, 60_000);
      });
    }

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

/** `bus`, its sends going through `send` instead: a tap of what the relay sends, or a holder of it. */
function sendingThrough(bus: Bus, send: Bus["send"]): Bus {
  return { name: bus.name, send, consume: (handler, consumeOptions) => bus.consume(handler, consumeOptions), close: () => bus.close() };
}

/** An extension that records what each of its event handler runs was given (the contract's host test). */
function forgeBundle(): Promise<Uint8Array> {
  const manifest = {
    manifestVersion: 2,
    id: "contract.forge",
    name: "Forge",
    version: "1.0.0",
    publisher: "contract",
    description: "Records the events it handles.",
    engines: { annex: "^0.1.0" },
    runtime: { class: "service", entry: "server/index.js" },
    capabilities: [
      { name: "events.subscribe", types: ["contract.*"], reason: "Records the events it handles." },
      { name: "host:contract.record", reason: "Records the events it handles." },
    ],
    endpoints: [],
    events: {
      subscribes: [
        { type: "contract.tested", handler: "onEvent" },
        { type: "contract.other", handler: "onOther" },
      ],
    },
  };
  const server = `export async function onEvent(event, ctx) {
  await ctx.host.call("contract.record", { id: event.id, type: event.type, payload: JSON.stringify(event.payload) });
}
export const onOther = onEvent;
`;
  const encode = (text: string) => new TextEncoder().encode(text);
  return packBundle({ "annex.json": encode(JSON.stringify(manifest)), "server/index.js": encode(server) });
}

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
