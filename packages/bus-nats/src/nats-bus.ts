import { BusError, parseBusMessage, type Bus, type BusConsumer, type BusHandler, type BusMessage } from "@annex/host";
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type Consumer,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { NatsBusError } from "./errors.js";
import { clearInterval, setInterval, setTimeout } from "node:timers";

export interface NatsBusOptions {
  /** A connection from `connect()` of `@nats-io/transport-node`; the bus never closes it. */
  nats: NatsConnection;
  /** The JetStream stream's name. Default "ANNEX_BUS". Every host process of one deployment names the same. */
  stream?: string | undefined;
  /** The subject deliveries are published on (the stream's only subject when the bus creates it). Default "annex.bus". */
  subject?: string | undefined;
  /** The durable pull consumer all processes fetch from (each message goes to one of them). Default "annex". */
  consumer?: string | undefined;
  /** A send JetStream has not stored within this long rejects with E_BUS_UNAVAILABLE. Default 2000 ms. */
  sendTimeoutMs?: number | undefined;
  /**
   * A message a consumer took but did not ack (its process died) is given to
   * another consumer after this long. Default 30 000 ms. A running handler
   * keeps its message (the consumer reports progress); the outbox lease
   * redelivers anything lost anyway.
   */
  ackWaitMs?: number | undefined;
  /** A message whose handler rejected is offered again after this long. Default 5000 ms. */
  retryDelayMs?: number | undefined;
  /** How long one pull waits for messages, in ms (at least 1000); also how soon a consumer notices NATS came back. Default 1000. */
  pullMs?: number | undefined;
  /** Messages older than this are discarded by the stream (the outbox lease delivers them again). Default one day. */
  maxAgeMs?: number | undefined;
}

// Stream names may not hold dots, wildcards, whitespace or path separators; subjects are dotted tokens without wildcards.
const STREAM_NAME = /^[A-Za-z0-9_-]{1,200}$/;
const SUBJECT = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const NANOS_PER_MS = 1_000_000;

/**
 * A `Bus` over a NATS JetStream stream with work-queue retention and one
 * durable pull consumer: a send is a JetStream publish (it resolves once the
 * stream stored the message), every consumer of every process fetches from
 * the one durable consumer (each message goes to one of them) and acks once
 * its handler resolved, which removes the message from the stream. The outbox
 * stays the source of truth: a message lost with NATS is delivered again when
 * its lease runs out.
 */
export async function createNatsBus(options: NatsBusOptions): Promise<Bus> {
  if (typeof options !== "object" || options === null || !isNatsConnection(options.nats)) {
    throw new NatsBusError("E_NATS_OPTIONS", 'nats must be a NATS connection: await connect({ servers: "127.0.0.1:4222" }) from @nats-io/transport-node', { field: "nats" });
  }
  const nc = options.nats;
  const stream = options.stream ?? "ANNEX_BUS";
  const subject = options.subject ?? "annex.bus";
  const durable = options.consumer ?? "annex";
  const sendTimeoutMs = options.sendTimeoutMs ?? 2000;
  const ackWaitMs = options.ackWaitMs ?? 30_000;
  const retryDelayMs = options.retryDelayMs ?? 5000;
  const pullMs = options.pullMs ?? 1000;
  const maxAgeMs = options.maxAgeMs ?? 24 * 3600_000;
  for (const [field, value] of Object.entries({ sendTimeoutMs, ackWaitMs, retryDelayMs, pullMs, maxAgeMs })) {
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
      throw new NatsBusError("E_NATS_OPTIONS", `${field} must be a positive number of milliseconds`, { field });
    }
  }
  if (pullMs < 1000) throw new NatsBusError("E_NATS_OPTIONS", "pullMs must be at least 1000 (JetStream's shortest pull)", { field: "pullMs" });
  for (const [field, value] of Object.entries({ stream, consumer: durable })) {
    if (typeof value !== "string" || !STREAM_NAME.test(value)) {
      throw new NatsBusError("E_NATS_OPTIONS", `${field} must be letters, digits, "_" or "-" (no dots, wildcards or spaces), got ${JSON.stringify(value)}`, { field });
    }
  }
  if (typeof subject !== "string" || !SUBJECT.test(subject)) {
    throw new NatsBusError("E_NATS_OPTIONS", `subject must be dotted tokens of letters, digits, "_" or "-" without wildcards (e.g. "annex.bus"), got ${JSON.stringify(subject)}`, { field: "subject" });
  }

  const setUp = async (): Promise<void> => {
    const jsm = await jetstreamManager(nc, { timeout: sendTimeoutMs });
    await ensureStream(jsm, { stream, subject, maxAgeMs });
    await ensureConsumer(jsm, { stream, subject, durable, ackWaitMs });
  };
  try {
    await setUp();
  } catch (error) {
    if (error instanceof NatsBusError) throw error;
    throw new BusError("E_BUS_UNAVAILABLE", `NATS JetStream did not set up the stream ${stream}: ${describe(error)}`, { stream }, { cause: error });
  }
  const js = jetstream(nc, { timeout: sendTimeoutMs });

  // A server lost without replicas comes back without the stream and its consumer, and an operator may delete
  // them: set up again what is missing when a send or a pull fails, once a second at most, one attempt shared
  // by every caller meanwhile. Until then every send failed and nothing was delivered until each process restarted.
  let settingUp: Promise<void> | undefined;
  let lastSetUp = Date.now();
  const setUpAgain = (): Promise<void> => {
    if (settingUp !== undefined) return settingUp;
    if (Date.now() - lastSetUp < 1000) return Promise.resolve();
    lastSetUp = Date.now();
    settingUp = setUp()
      .catch(() => {})
      .finally(() => (settingUp = undefined));
    return settingUp;
  };

  let closed = false;
  const consumers = new Set<NatsConsumer>();

  const publish = (m: BusMessage) =>
    // The message id makes a send retried within JetStream's duplicate window (2 min) one message.
    js.publish(subject, JSON.stringify(m), { msgID: `${m.deliveryId}/${m.lease}`, expect: { streamName: stream }, timeout: sendTimeoutMs });

  return {
    name: "nats",
    async send(m: BusMessage): Promise<void> {
      if (closed) throw new BusError("E_BUS_CLOSED", "this bus is closed", { stream });
      try {
        await publish(m);
      } catch (first) {
        await setUpAgain();
        try {
          await publish(m);
        } catch (error) {
          throw new BusError("E_BUS_UNAVAILABLE", `the NATS stream ${stream} did not take the message: ${describePublishError(error, stream, subject)}`, { stream, deliveryId: m.deliveryId }, { cause: first });
        }
      }
    },
    async consume(handler, consumeOptions = {}): Promise<BusConsumer> {
      if (closed) throw new BusError("E_BUS_CLOSED", "this bus is closed", { stream });
      const concurrency = consumeOptions.concurrency ?? 8;
      if (!Number.isInteger(concurrency) || concurrency < 1) {
        throw new BusError("E_BUS_MESSAGE", "consume: concurrency must be a whole number of at least 1", { field: "concurrency" });
      }
      const consumer = new NatsConsumer({ js, stream, durable, handler, concurrency, ackWaitMs, retryDelayMs, pullMs, setUpAgain });
      consumers.add(consumer);
      consumer.start(() => consumers.delete(consumer));
      return { stop: () => consumer.stop() };
    },
    async close(): Promise<void> {
      closed = true;
      await Promise.all([...consumers].map((consumer) => consumer.stop()));
    },
  };
}

async function ensureStream(jsm: JetStreamManager, o: { stream: string; subject: string; maxAgeMs: number }): Promise<void> {
  const existing = await jsm.streams.info(o.stream).catch((error: unknown) => {
    if (isApiError(error, 404)) return undefined;
    throw error;
  });
  if (existing === undefined) {
    try {
      await jsm.streams.add({
        name: o.stream,
        subjects: [o.subject],
        // Work queue: a message is removed once acked, and each goes to one consumer.
        retention: RetentionPolicy.Workqueue,
        storage: StorageType.File,
        max_age: o.maxAgeMs * NANOS_PER_MS,
      });
      return;
    } catch (error) {
      // Another process created it first: fall through and check it like an existing one.
      if (!isApiError(error, 400)) throw error;
    }
  }
  const info = existing ?? (await jsm.streams.info(o.stream));
  if (!info.config.subjects?.some((s) => covers(s, o.subject))) {
    throw new NatsBusError("E_NATS_STREAM", `the JetStream stream ${o.stream} exists with subjects ${JSON.stringify(info.config.subjects ?? [])}, which do not cover the bus's subject ${o.subject}`, { field: "stream", stream: o.stream, subject: o.subject });
  }
}

async function ensureConsumer(jsm: JetStreamManager, o: { stream: string; subject: string; durable: string; ackWaitMs: number }): Promise<void> {
  try {
    // Adding a durable with the same configuration is idempotent: every process does it at start.
    await jsm.consumers.add(o.stream, {
      durable_name: o.durable,
      ack_policy: AckPolicy.Explicit,
      ack_wait: o.ackWaitMs * NANOS_PER_MS,
      deliver_policy: DeliverPolicy.All,
      filter_subject: o.subject,
      max_ack_pending: -1,
    });
  } catch (error) {
    // It exists with another configuration (another deployment's settings): use it as it is.
    if (!isApiError(error, 400)) throw error;
    await jsm.consumers.info(o.stream, o.durable);
  }
}

interface ConsumerOptions {
  js: JetStreamClient;
  stream: string;
  durable: string;
  handler: BusHandler;
  concurrency: number;
  ackWaitMs: number;
  retryDelayMs: number;
  pullMs: number;
  /** Sets up the stream and the durable consumer again if they are gone. */
  setUpAgain(): Promise<void>;
}

/** One consumer: a loop of pulls from the durable consumer, running at most `concurrency` handlers. */
class NatsConsumer {
  readonly #o: ConsumerOptions;
  readonly #running = new Set<Promise<void>>();
  #stopped = false;
  #loop: Promise<void> | undefined;
  #slot: (() => void) | undefined;
  #batch: ConsumerMessages | undefined;
  #consumer: Consumer | undefined;

  constructor(options: ConsumerOptions) {
    this.#o = options;
  }

  start(onStopped: () => void): void {
    this.#loop = this.#run().finally(onStopped);
  }

  async stop(): Promise<void> {
    if (!this.#stopped) {
      this.#stopped = true;
      this.#slot?.();
      // Ends the pull at once: the server sees no interest in its reply subject and sends it nothing more.
      this.#batch?.stop();
    }
    await this.#loop;
    await Promise.allSettled([...this.#running]);
  }

  async #run(): Promise<void> {
    const { js, stream, durable, pullMs } = this.#o;
    while (!this.#stopped) {
      const free = this.#o.concurrency - this.#running.size;
      if (free <= 0) {
        await new Promise<void>((resolve) => (this.#slot = resolve));
        continue;
      }
      try {
        this.#consumer ??= await js.consumers.get(stream, durable);
        const batch = await this.#consumer.fetch({ max_messages: free, expires: pullMs });
        this.#batch = batch;
        if (this.#stopped) batch.stop();
        for await (const m of batch) {
          // Pulled as the consumer stopped: give it back at once for another consumer.
          if (this.#stopped) m.nak();
          else this.#dispatch(m);
        }
      } catch {
        if (this.#stopped) break;
        // NATS away (the connection reconnects meanwhile), or the stream or its consumer gone: look the consumer up
        // again, set up what is missing, and pull again after a little while.
        this.#consumer = undefined;
        await this.#o.setUpAgain();
        await new Promise((resolve) => setTimeout(resolve, 500));
      } finally {
        this.#batch = undefined;
      }
    }
  }

  #dispatch(m: JsMsg): void {
    const { handler, ackWaitMs, retryDelayMs } = this.#o;
    const task = (async () => {
      let parsed: BusMessage;
      try {
        parsed = parseBusMessage(m.json<unknown>());
      } catch {
        // Not a message of ours: it can never be handled (the outbox still holds the delivery).
        m.term("not an Annex bus message");
        return;
      }
      // A handler may run longer than ackWait (an execution's timeout): say it is in progress, so it is not given to another consumer meanwhile.
      const progress = setInterval(() => m.working(), Math.max(500, ackWaitMs / 2));
      try {
        await handler(parsed);
      } catch {
        m.nak(retryDelayMs); // offered again later; the outbox lease hands it out again either way
        return;
      } finally {
        clearInterval(progress);
      }
      m.ack();
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

function covers(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return s.length > i;
    if (i >= s.length || (p[i] !== "*" && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

function isApiError(error: unknown, status: number): boolean {
  return error instanceof JetStreamApiError && error.status === status;
}

function isNatsConnection(value: unknown): value is NatsConnection {
  return typeof value === "object" && value !== null && typeof (value as NatsConnection).request === "function" && typeof (value as NatsConnection).subscribe === "function";
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** JetStream answers a publish no stream takes with "no responders", which nats.js reports as JetStream not being enabled. */
function describePublishError(error: unknown, stream: string, subject: string): string {
  const text = describe(error);
  if (/no responders|not enabled/i.test(text)) return `no JetStream stream takes the subject ${subject} (is the stream ${stream} gone, and could it not be created again?): ${text}`;
  return text;
}
