import { hostname } from "node:os";
import { randomUUID } from "node:crypto";
import { BusError, parseBusMessage, type Bus, type BusConsumer, type BusHandler, type BusMessage } from "@annex/host";
import type { Redis } from "ioredis";
import { RedisStoreError } from "./errors.js";
import { isRedisClient } from "./script.js";
import { clearInterval, clearTimeout, setInterval, setTimeout } from "node:timers";

export interface RedisBusOptions {
  /** An ioredis client for sends; each consumer opens its own connection with `redis.duplicate()` (it blocks). The bus never closes this one. */
  redis: Redis;
  /** The stream's key. Default "annex:bus". Every host process of one deployment names the same. */
  stream?: string | undefined;
  /** The consumer group all processes read through (each message goes to one of them). Default "annex". */
  group?: string | undefined;
  /** A send Redis has not stored within this long rejects with E_BUS_UNAVAILABLE. Default 2000 ms. */
  sendTimeoutMs?: number | undefined;
  /**
   * A message a consumer took but did not ack (its handler failed, or its
   * process died) is taken over by another consumer after this long idle.
   * Default 30 000 ms. The outbox lease redelivers it anyway.
   */
  claimIdleMs?: number | undefined;
  /** How long one blocking read waits, in ms; also how soon a consumer notices Redis came back. Default 1000. */
  blockMs?: number | undefined;
}

/**
 * A `Bus` over a Redis stream and one consumer group: the relay's sends are
 * XADDs, each consumer (in any host process) reads with XREADGROUP and acks
 * (XACK, then XDEL) once its handler resolved. The outbox stays the source of
 * truth: a message lost with Redis is delivered again when its lease runs out.
 */
export async function createRedisBus(options: RedisBusOptions): Promise<Bus> {
  if (typeof options !== "object" || options === null || !isRedisClient(options.redis)) {
    throw new RedisStoreError("E_REDIS_OPTIONS", 'redis must be an ioredis client: new Redis("redis://127.0.0.1:6379")', { field: "redis" });
  }
  const redis = options.redis;
  const stream = options.stream ?? "annex:bus";
  const group = options.group ?? "annex";
  const sendTimeoutMs = options.sendTimeoutMs ?? 2000;
  const claimIdleMs = options.claimIdleMs ?? 30_000;
  const blockMs = options.blockMs ?? 1000;
  for (const [field, value] of Object.entries({ sendTimeoutMs, claimIdleMs, blockMs })) {
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
      throw new RedisStoreError("E_REDIS_OPTIONS", `${field} must be a positive number of milliseconds`, { field });
    }
  }
  for (const [field, value] of Object.entries({ stream, group })) {
    if (typeof value !== "string" || value === "") throw new RedisStoreError("E_REDIS_OPTIONS", `${field} must be a non-empty string`, { field });
  }

  // From id 0: messages sent before any consumer ran are held for the first one.
  const ensureGroup = async (client: Redis): Promise<void> => {
    try {
      await client.xgroup("CREATE", stream, group, "0", "MKSTREAM");
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("BUSYGROUP")) throw error;
    }
  };
  await ensureGroup(redis).catch((error: unknown) => {
    throw new BusError("E_BUS_UNAVAILABLE", `Redis did not create the stream ${stream}: ${message(error)}`, { stream }, { cause: error });
  });

  let closed = false;
  const consumers = new Set<RedisConsumer>();

  const bus: Bus = {
    name: "redis",
    async send(m: BusMessage): Promise<void> {
      if (closed) throw new BusError("E_BUS_CLOSED", "this bus is closed", { stream });
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          redis.xadd(stream, "*", "m", JSON.stringify(m)),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`Redis did not store the message within ${sendTimeoutMs} ms`)), sendTimeoutMs);
          }),
        ]);
      } catch (error) {
        throw new BusError("E_BUS_UNAVAILABLE", `the Redis stream ${stream} did not take the message: ${message(error)}`, { stream, deliveryId: m.deliveryId }, { cause: error });
      } finally {
        clearTimeout(timer);
      }
    },
    async consume(handler, consumeOptions = {}): Promise<BusConsumer> {
      if (closed) throw new BusError("E_BUS_CLOSED", "this bus is closed", { stream });
      const concurrency = consumeOptions.concurrency ?? 8;
      if (!Number.isInteger(concurrency) || concurrency < 1) {
        throw new BusError("E_BUS_MESSAGE", "consume: concurrency must be a whole number of at least 1", { field: "concurrency" });
      }
      const consumer = new RedisConsumer({ redis: redis.duplicate(), writer: redis, stream, group, handler, concurrency, claimIdleMs, blockMs, ensureGroup });
      consumers.add(consumer);
      consumer.start(() => consumers.delete(consumer));
      return { stop: () => consumer.stop() };
    },
    async close(): Promise<void> {
      closed = true;
      await Promise.all([...consumers].map((consumer) => consumer.stop()));
    },
  };
  return bus;
}

interface ConsumerOptions {
  /** The consumer's own connection, for its blocking reads. */
  redis: Redis;
  /** The bus's client, for acks: they must go through even while the consumer stops (its connection is cut). */
  writer: Redis;
  stream: string;
  group: string;
  handler: BusHandler;
  concurrency: number;
  claimIdleMs: number;
  blockMs: number;
  ensureGroup(client: Redis): Promise<void>;
}

type Entry = [id: string, fields: string[]];

/** One consumer: a loop of blocking reads on its own connection, running at most `concurrency` handlers. */
class RedisConsumer {
  readonly #o: ConsumerOptions;
  readonly #name = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  readonly #running = new Set<Promise<void>>();
  /** Ids of the entries whose handler runs here now. */
  readonly #inHand = new Set<string>();
  #stopped = false;
  #loop: Promise<void> | undefined;
  #slot: (() => void) | undefined;
  #lastClaim = 0;

  constructor(options: ConsumerOptions) {
    this.#o = options;
    // Errors surface through the commands; the connection reconnects on its own.
    this.#o.redis.on("error", () => {});
  }

  start(onStopped: () => void): void {
    this.#loop = this.#run().finally(onStopped);
  }

  async stop(): Promise<void> {
    if (!this.#stopped) {
      this.#stopped = true;
      this.#slot?.();
      // Ends a blocking read at once; what it would have returned stays pending in the group for another consumer.
      this.#o.redis.disconnect();
    }
    await this.#loop;
    await Promise.allSettled([...this.#running]);
  }

  async #run(): Promise<void> {
    const { redis, blockMs } = this.#o;
    while (!this.#stopped) {
      const free = this.#o.concurrency - this.#running.size;
      if (free <= 0) {
        await new Promise<void>((resolve) => (this.#slot = resolve));
        continue;
      }
      try {
        const claimed = await this.#claimIdle(free);
        const entries = claimed.length > 0 ? claimed : await this.#read(free, blockMs);
        for (const entry of entries) this.#dispatch(entry);
      } catch (error) {
        if (this.#stopped) break;
        if (error instanceof Error && error.message.startsWith("NOGROUP")) await this.#o.ensureGroup(redis).catch(() => {});
        // Redis away: wait a little and read again (the client reconnects meanwhile).
        await new Promise((resolve) => setTimeout(resolve, Math.min(blockMs, 500)));
      }
    }
  }

  async #read(count: number, blockMs: number): Promise<Entry[]> {
    const { redis, stream, group } = this.#o;
    const reply = (await redis.xreadgroup("GROUP", group, this.#name, "COUNT", count, "BLOCK", blockMs, "STREAMS", stream, ">")) as Array<[string, Entry[]]> | null;
    return reply?.[0]?.[1] ?? [];
  }

  /** Takes over messages another consumer took and left unacked for claimIdleMs (its handler failed, or its process died). */
  async #claimIdle(count: number): Promise<Entry[]> {
    const now = Date.now();
    if (now - this.#lastClaim < Math.min(this.#o.claimIdleMs, 5000)) return [];
    this.#lastClaim = now;
    const { redis, stream, group, claimIdleMs } = this.#o;
    const reply = (await redis.xautoclaim(stream, group, this.#name, claimIdleMs, "0", "COUNT", count)) as [string, Entry[]];
    // One of this consumer's own, idle only because its keep-alive came late: it is running here already.
    return (reply[1] ?? []).filter((entry): entry is Entry => Array.isArray(entry) && entry[1] !== null && !this.#inHand.has(entry[0]));
  }

  #dispatch([id, fields]: Entry): void {
    const { writer: redis, stream, group, handler } = this.#o;
    const task = (async () => {
      let parsed: BusMessage;
      try {
        const raw = fields[fields.indexOf("m") + 1];
        parsed = parseBusMessage(JSON.parse(raw ?? "null"));
      } catch {
        // Not a message of ours: drop it, it can never be handled (the outbox still holds the delivery).
        await redis.xack(stream, group, id).catch(() => {});
        await redis.xdel(stream, id).catch(() => {});
        return;
      }
      // A handler may run longer than claimIdleMs (an execution's timeout): the entry's idle time is reset while it
      // runs (XCLAIM to itself, JUSTID: its delivery count unchanged), so no consumer takes over a message still in
      // hand. It did, and one message ran four times with claimIdleMs 1 s and a 3.5 s handler.
      this.#inHand.add(id);
      const keepAlive = setInterval(() => void redis.xclaim(stream, group, this.#name, 0, id, "JUSTID").catch(() => {}), Math.max(200, this.#o.claimIdleMs / 3));
      try {
        await handler(parsed);
      } catch {
        return; // Left unacked: another consumer claims it after claimIdleMs, or the outbox lease hands it out again.
      } finally {
        clearInterval(keepAlive);
        this.#inHand.delete(id);
      }
      await redis.xack(stream, group, id).catch(() => {});
      await redis.xdel(stream, id).catch(() => {});
    })();
    this.#running.add(task);
    void task.finally(() => {
      this.#running.delete(task);
      const wake = this.#slot;
      this.#slot = undefined;
      wake?.();
    });
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
