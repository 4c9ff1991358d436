import { AnnexError } from "@annex/manifest";

/**
 * One leased delivery of an event to one install, as the relay hands it to a
 * bus. The outbox row in PostgreSQL is the source of truth: a message only
 * carries a delivery from the relay that leased it to a consumer that runs
 * it, and the consumer's outcome is recorded in the outbox (the ack), never
 * in the bus. A message the bus loses, duplicates or delays loses nothing:
 * the lease runs out and the relay hands the delivery out again.
 *
 * A message is a pointer to its delivery (`deliveryId` and `lease`); the
 * other fields travel for adapters and logs. The consumer runs what the
 * leased row and its event say (install, tenant, type, payload, depth,
 * attempt), and drops a message any of whose fields disagrees with them
 * (counted as `stale`, reason `mismatch`): whoever can write to the broker
 * cannot make a handler run for another install, with another payload, or
 * outside the retry and event-loop limits.
 *
 * Every field is plain JSON, so a broker adapter may `JSON.stringify` it.
 */
export interface BusMessage {
  /** The delivery: the idempotency key of (event, install), seen by the handler as `event.id` / `ctx.event.id`. */
  deliveryId: string;
  /** The relay's lease on this delivery; the consumer's ack names it, so an ack of a lease that ran out changes nothing. */
  lease: string;
  /** The published event (one event fans out to one delivery per subscribed install). */
  eventId: string;
  tenant: string;
  /** The full event type, e.g. `order.created` or `ext.acme.crm.contact-added`. */
  type: string;
  installId: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** ISO 8601, when the event was published. */
  occurredAt: string;
  /** The event's payload (JSON). */
  payload: unknown;
  /** How many deliveries led to this event (0: the app published it); bounds event loops. Default 0. */
  depth?: number | undefined;
}

/**
 * Runs one message and records its outcome in the outbox. Resolving acks the
 * message to the bus; rejecting leaves it unacked (a broker may redeliver it;
 * the outbox lease makes sure it is delivered again either way).
 */
export type BusHandler = (message: BusMessage) => Promise<void>;

/** A consumer registered with `bus.consume`; `stop()` waits for the messages it is running. */
export interface BusConsumer {
  stop(): Promise<void>;
}

/**
 * How event deliveries travel from the relay that leased them to a consumer
 * that runs them. The default (`createInProcessBus`) calls the consumer of
 * this process directly; broker adapters (NATS JetStream, Redis Streams)
 * carry messages between host processes. Whatever the bus, the outbox stays
 * the source of truth, so a broker outage delays deliveries and loses none.
 *
 * What every implementation guarantees (`busContract` in
 * `@annex/host/testing/bus-contract` checks it):
 * - a message accepted by `send` reaches a consumer at least once, with every
 *   field equal (payload compared as JSON);
 * - with several consumers (on this bus, or on buses of other processes
 *   sharing the broker), each message goes to one of them, not to all;
 * - `send` rejects (a `BusError`, `E_BUS_UNAVAILABLE`) rather than report a
 *   message it could not hand over: the relay then leaves the delivery in the
 *   outbox and tries again later;
 * - a consumer's `stop()` returns once none of its handlers is running, and
 *   it is given no message afterwards;
 * - after `close()`, `send` and `consume` reject with `E_BUS_CLOSED`.
 */
export interface Bus {
  /** For logs and metrics: `in-process`, `nats`, `redis`. */
  readonly name: string;
  /**
   * Hands a leased delivery over. Resolves once the bus holds it: for the
   * in-process bus, once the consumer has run it (so a relay's drain is
   * complete when its sends are); for a broker, once the broker stored it.
   */
  send(message: BusMessage): Promise<void>;
  /** Starts giving messages to `handler`, as many at a time as `concurrency` (default 8). */
  consume(handler: BusHandler, options?: { concurrency?: number | undefined }): Promise<BusConsumer>;
  /** Stops every consumer of this bus and releases its connections. */
  close(): Promise<void>;
}

export type BusErrorCode = "E_BUS_UNAVAILABLE" | "E_BUS_CLOSED" | "E_BUS_MESSAGE";

/** A bus could not take or carry a message; the delivery stays in the outbox. */
export class BusError extends AnnexError {
  declare readonly code: BusErrorCode;

  constructor(code: BusErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

/** Checks that a value received from a broker is a BusMessage; throws E_BUS_MESSAGE naming the field. */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function parseBusMessage(value: unknown): BusMessage {
  const bad = (field: string, what: string) => new BusError("E_BUS_MESSAGE", `bus message ${field} must be ${what}`, { field });
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw bad("(root)", "an object");
  const record = value as Record<string, unknown>;
  for (const field of ["deliveryId", "lease", "eventId", "tenant", "type", "installId", "occurredAt"] as const) {
    const v = record[field];
    if (typeof v !== "string" || v === "" || v.length > 1024) throw bad(field, "a non-empty string of at most 1024 characters");
    // What the relay looks up in the outbox: PostgreSQL refuses NUL in text, and the lookup's error would leave the
    // message unacknowledged, handed out again and again. A relay never sends one, so it is not a relay's message.
    if (UNSTORABLE.test(v)) throw bad(field, "text without NUL or unpaired surrogates");
  }
  const depthOf = (v: unknown): number => {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw bad("depth", "a whole number of at least 0");
    return v;
  };
  const attempt = record["attempt"];
  if (typeof attempt !== "number" || !Number.isInteger(attempt) || attempt < 1) throw bad("attempt", "a whole number of at least 1");
  return {
    deliveryId: record["deliveryId"] as string,
    lease: record["lease"] as string,
    eventId: record["eventId"] as string,
    tenant: record["tenant"] as string,
    type: record["type"] as string,
    installId: record["installId"] as string,
    attempt,
    occurredAt: record["occurredAt"] as string,
    payload: record["payload"] ?? null,
    ...(record["depth"] === undefined ? {} : { depth: depthOf(record["depth"]) }),
  };
}
