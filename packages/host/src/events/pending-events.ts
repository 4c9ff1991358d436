import { randomUUID } from "node:crypto";
import { HostCallError, type EventsApi, type HostCallScope } from "@annex/runner";
import { EventsError } from "./errors.js";
import { encodePayload, extensionEventType } from "./event-types.js";
import type { NewEvent } from "./outbox.js";

/** Events one execution may publish. */
export const MAX_EVENTS_PER_EXECUTION = 256;

export interface PendingEventsOptions {
  now: () => number;
  /** Deepest chain of event → handler → event allowed; deeper publishes are refused with E_EVENT_DEPTH. */
  maxDepth: number;
  /** Whether the host call belongs to a live execution (throws otherwise). */
  checkLive(scope: HostCallScope): void;
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

  constructor(options: PendingEventsOptions) {
    this.#options = options;
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
