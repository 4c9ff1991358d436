import { randomUUID } from "node:crypto";
import { HostCallError, type EventsApi, type HostCallScope } from "@annex/runner";
import { EventsError } from "./errors.js";
import { encodePayload, extensionEventType } from "./event-types.js";
import type { NewEvent } from "./outbox.js";
import { RateLimiter, type RateLimit } from "../gateway/rate-limit.js";

/** Events one execution may publish. */
export const MAX_EVENTS_PER_EXECUTION = 256;

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
    return events;
  }

  /** The runner's `events` host API: `ctx.events.publish(type, payload)`, after the runner checked `events.publish`. */
  api(): EventsApi {
    return {
      publish: (type: string, payload: unknown, scope: HostCallScope) => {
        this.#options.checkLive(scope);
        const depth = (this.#depths.get(scope.requestId) ?? -1) + 1;
        if (depth > this.#options.maxDepth) {
          throw new HostCallError(
            "E_EVENT_DEPTH",
            `ctx.events.publish: this event comes from a chain of ${depth} events each published by the handler of the one before; at most ${this.#options.maxDepth} are allowed (an event loop?)`,
          );
        }
        let text: string;
        try {
          text = encodePayload(payload);
        } catch (error) {
          const message = error instanceof EventsError ? error.message : String(error);
          throw new HostCallError(/too large|at most/.test(message) ? "E_PAYLOAD_TOO_LARGE" : "E_INVALID_ARGUMENT", `ctx.events.publish: ${message}`);
        }
        const list = this.#byRequest.get(scope.requestId) ?? [];
        if (list.length >= MAX_EVENTS_PER_EXECUTION) {
          throw new HostCallError("E_HOST_CALL_LIMIT", `ctx.events.publish: at most ${MAX_EVENTS_PER_EXECUTION} events per execution`);
        }
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
        const event: NewEvent = {
          id: randomUUID(),
          tenant: scope.tenant,
          type: extensionEventType(scope.extensionId, type),
          payload: text,
          source: `install:${scope.installId}`,
          depth,
          occurredAt: new Date(this.#options.now()),
        };
        list.push(event);
        this.#byRequest.set(scope.requestId, list);
        return { id: event.id };
      },
    };
  }
}
