import { randomUUID } from "node:crypto";
import { HostCallError, type EventsApi, type HostCallScope } from "@annex/runner";
import { EventsError } from "./errors.js";
import { encodePayload, extensionEventType } from "./event-types.js";
import type { NewEvent } from "./outbox.js";
import { RateLimiter, type RateLimit } from "../gateway/rate-limit.js";

/** Events one execution may publish. */
export const MAX_EVENTS_PER_EXECUTION = 256;

/**
 * What an event counts against `outboxBytes` at least: about what its rows weigh in the outbox (the event's, a
 * delivery's, their indexes: ~1.3 KB measured on PGlite), whatever its payload.
 */
export const MIN_COUNTED_EVENT_BYTES = 1024;

export interface PendingEventsOptions {
  now: () => number;
  /** Deepest chain of event → handler → event allowed; deeper publishes are refused with E_EVENT_DEPTH. */
  maxDepth: number;
  /** Whether the host call belongs to a live execution (throws otherwise). */
  checkLive(scope: HostCallScope): void;
  /**
   * Events one install's handlers may publish, in this process: a token
   * bucket of `requests` refilled over `perSeconds`. Past it a publish is
   * refused with E_EVENT_RATE_LIMITED. false: no budget.
   */
  publishRate: RateLimit | false;
  /**
   * JSON bytes of payload (at least MIN_COUNTED_EVENT_BYTES an event) one
   * install's published events may hold in the outbox at once (what `heldBytes` reads, plus what this process's running
   * executions published and have not written yet). Past it a publish is
   * refused with E_EVENT_OUTBOX_FULL. false: no budget.
   */
  outboxBytes: number | false;
  /** Bytes of payload the outbox holds for events of `source` (`install:<id>`), in every process. */
  heldBytes(source: string): Promise<number>;
}

/**
 * What handlers publish, held per execution until it ends: the events of an
 * execution that succeeded are written to the outbox (for an event delivery,
 * in the transaction that records the delivery done, so a retried delivery
 * never publishes twice); those of a failed execution are dropped with its
 * other outcome. `ctx.events.publish` answers the event id at once.
 */
export class PendingEvents {
  readonly #byRequest = new Map<string, NewEvent[]>();
  readonly #depths = new Map<string, number>();
  readonly #options: PendingEventsOptions;
  readonly #budgets: RateLimiter;
  /** Per source: bytes published by executions of this process and not written yet (with publishes still checking). */
  readonly #pendingBytes = new Map<string, number>();

  constructor(options: PendingEventsOptions) {
    this.#options = options;
    this.#budgets = new RateLimiter({ now: options.now });
  }

  /** The depth of the event an execution was started for (relay executions only). */
  setDepth(requestId: string, depth: number): void {
    this.#depths.set(requestId, depth);
  }

  /** Takes (and forgets) what an execution published. */
  take(requestId: string): NewEvent[] {
    const events = this.#byRequest.get(requestId) ?? [];
    this.#byRequest.delete(requestId);
    this.#depths.delete(requestId);
    if (this.#options.outboxBytes !== false) for (const event of events) this.#release(event.source, event.bytes ?? 0);
    return events;
  }

  #release(source: string, bytes: number): void {
    const left = (this.#pendingBytes.get(source) ?? 0) - bytes;
    if (left > 0) this.#pendingBytes.set(source, left);
    else this.#pendingBytes.delete(source);
  }

  /** The runner's `events` host API: `ctx.events.publish(type, payload)`, after the runner checked `events.publish`. */
  api(): EventsApi {
    return {
      publish: async (type: string, payload: unknown, scope: HostCallScope) => {
        this.#options.checkLive(scope);
        const depth = (this.#depths.get(scope.requestId) ?? -1) + 1;
        if (depth > this.#options.maxDepth) {
          throw new HostCallError(
            "E_EVENT_DEPTH",
            `ctx.events.publish: this event comes from a chain of ${depth} events each published by the handler of the one before; at most ${this.#options.maxDepth} are allowed (an event loop?)`,
          );
        }
        let text: string;
        let bytes: number;
        try {
          ({ text, bytes } = encodePayload(payload));
        } catch (error) {
          const message = error instanceof EventsError ? error.message : String(error);
          throw new HostCallError(/too large|at most/.test(message) ? "E_PAYLOAD_TOO_LARGE" : "E_INVALID_ARGUMENT", `ctx.events.publish: ${message}`);
        }
        // Counted as at least what its rows weigh: 5,888 events of payload `0` held 5,888 bytes of the budget and
        // 7.5 MB of the outbox, so tiny payloads made the budget bound nothing.
        bytes = Math.max(bytes, MIN_COUNTED_EVENT_BYTES);
        const perExecution = () => {
          if ((this.#byRequest.get(scope.requestId)?.length ?? 0) >= MAX_EVENTS_PER_EXECUTION) {
            throw new HostCallError("E_HOST_CALL_LIMIT", `ctx.events.publish: at most ${MAX_EVENTS_PER_EXECUTION} events per execution`);
          }
        };
        perExecution();
        // The depth limit bounds a chain, not its width: a handler of its own events publishing two of them per
        // delivery made 511 executions of one event at depth 8, and up to 256 per execution is allowed. A budget
        // per install bounds how fast any loop or fan-out can grow the outbox, whatever its shape.
        const rate = this.#options.publishRate;
        if (rate !== false) {
          const decision = this.#budgets.take(scope.installId, rate);
          if (!decision.ok) {
            throw new HostCallError(
              "E_EVENT_RATE_LIMITED",
              `ctx.events.publish: this install published more than ${rate.requests} events in ${rate.perSeconds} s; retry in ${decision.retryAfterSeconds} s, publish fewer events (one event can carry a list), or check for an event loop`,
              { retryAfterSeconds: decision.retryAfterSeconds },
            );
          }
        }
        const source = `install:${scope.installId}`;
        // The rate bounds events, not what they weigh, nor how long the outbox keeps them (a disabled subscriber's
        // backlog, dead letters): 4,800 events of 250 KB within the rate grew an in-memory PGlite host by 2.9 GB.
        // This budget bounds what one install's events hold at once, in every process.
        const limit = this.#options.outboxBytes;
        if (limit !== false) {
          // Reserved before the read, so that publishes awaiting it at once see each other.
          this.#pendingBytes.set(source, (this.#pendingBytes.get(source) ?? 0) + bytes);
          let held: number;
          try {
            held = await this.#options.heldBytes(source);
            this.#options.checkLive(scope);
            perExecution();
          } catch (error) {
            this.#release(source, bytes);
            if (rate !== false) this.#budgets.refund(scope.installId, rate);
            throw error;
          }
          const pending = this.#pendingBytes.get(source) ?? bytes;
          if (held + pending > limit) {
            this.#release(source, bytes);
            if (rate !== false) this.#budgets.refund(scope.installId, rate);
            throw new HostCallError(
              "E_EVENT_OUTBOX_FULL",
              `ctx.events.publish: this install's events already hold ${held + pending - bytes} bytes of payload in the outbox, and this one (${bytes} bytes) would pass the ${limit} bytes the host allows (events.outboxBytes); ` +
                "events leave the outbox once delivered and kept for events.retentionMs, and dead letters once replayed, discarded or kept for events.deadLetterRetentionMs: retry later, publish smaller payloads (an id, and let subscribers fetch the rest), or ask the host's operator to raise events.outboxBytes",
              { heldBytes: held + pending - bytes, bytes, limitBytes: limit },
            );
          }
        }
        const event: NewEvent = {
          id: randomUUID(),
          tenant: scope.tenant,
          type: extensionEventType(scope.extensionId, type),
          payload: text,
          source,
          depth,
          occurredAt: new Date(this.#options.now()),
          bytes,
        };
        const list = this.#byRequest.get(scope.requestId) ?? [];
        list.push(event);
        this.#byRequest.set(scope.requestId, list);
        return { id: event.id };
      },
    };
  }
}
