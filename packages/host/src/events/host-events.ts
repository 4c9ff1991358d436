import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import { writeAudit } from "../audit/audit-log.js";
import type { AnnexTables } from "../database/tables.js";
import type { ErrorSummary } from "../errors.js";
import type { MetricsRecorder } from "../observability/metrics.js";
import type { ActorOptions } from "../registry/registry.js";
import type { Bus } from "./bus.js";
import { EventsError } from "./errors.js";
import { checkHostEventType, checkTenant, encodePayload } from "./event-types.js";
import type { OutboxStore } from "./outbox.js";
import type { DrainResult, Relay } from "./relay.js";

export interface PublishOptions {
  /**
   * The app's own Kysely transaction (on the database Annex uses): the event
   * is written in it, so it is published if and only if the app's change
   * commits. Without it, the event is written at once.
   */
  trx?: Kysely<any> | undefined;
}

/** A delivery that failed `maxAttempts` times, parked until an admin replays or discards it. */
export interface DeadLetter {
  /** The delivery (the handler's `event.id`); what replay and discard take. */
  deliveryId: string;
  eventId: string;
  tenant: string;
  type: string;
  installId: string;
  /** Null when the install has been purged since. */
  extensionId: string | null;
  attempts: number;
  lastError: ErrorSummary | null;
  payload: unknown;
  occurredAt: Date;
  /** When the last attempt failed. */
  failedAt: Date;
  /**
   * True when the install has been uninstalled (or failed, or purged) since: still listed so that an
   * admin sees it and discards it, but `replay` answers E_DEAD_LETTER_INSTALL_GONE.
   */
  installGone: boolean;
}

export interface DeadLetterFilter {
  tenant?: string | undefined;
  installId?: string | undefined;
  /** 1–1000, default 100. */
  limit?: number | undefined;
  /** The `cursor` of the previous page. */
  cursor?: string | undefined;
}

/** Who acts on a dead letter, and (for an admin API acting for one tenant) whose it must be. */
export interface DeadLetterActionOptions extends ActorOptions {
  /**
   * Acts only on a dead letter of this tenant: another tenant's delivery
   * answers E_DEAD_LETTER_NOT_FOUND, exactly as one that does not exist
   * (so an admin of one tenant learns nothing of another's).
   */
  tenant?: string | undefined;
}

export interface DeadLetters {
  /** Oldest first; `cursor` (null on the last page) fetches the next page. */
  list(filter?: DeadLetterFilter): Promise<{ items: DeadLetter[]; cursor: string | null }>;
  /**
   * Queues the delivery again with fresh attempts (audited). It goes to the
   * install's current version: upgrade first when the fix is a new version.
   * A dead letter of an install that is gone (`installGone`) is refused with
   * E_DEAD_LETTER_INSTALL_GONE: discard it.
   */
  replay(deliveryId: string, options?: DeadLetterActionOptions): Promise<void>;
  /** Drops the delivery for good (audited). */
  discard(deliveryId: string, options?: DeadLetterActionOptions): Promise<void>;
}

export interface HostEvents {
  /**
   * Publishes an event to the subscribed installs of `tenant`, from the app.
   * Types are the app's own (`order.created`); `ext.` belongs to extensions.
   * With `{ trx }` the event is written in the app's transaction.
   */
  publish(tenant: string, type: string, payload: unknown, options?: PublishOptions): Promise<{ id: string }>;
  deadLetters: DeadLetters;
  /** Delivers everything due now (the relay also runs in the background unless `events.relay` is false). */
  drain(): Promise<DrainResult>;
  /** The bus deliveries travel on. */
  readonly bus: Bus;
}

export function createHostEvents(deps: {
  db: Kysely<AnnexTables>;
  store: OutboxStore;
  relay: Relay;
  bus: Bus;
  metrics: MetricsRecorder | null;
  now: () => number;
}): HostEvents {
  const { db, store, relay, metrics } = deps;

  async function settle(action: "replay" | "discard", deliveryId: string, options: DeadLetterActionOptions | undefined): Promise<void> {
    if (typeof deliveryId !== "string" || deliveryId === "" || deliveryId.length > 128) {
      throw new EventsError("E_DEAD_LETTER_NOT_FOUND", `dead letter ${action}: deliveryId must be the deliveryId of a dead letter (see deadLetters.list())`, { field: "deliveryId" });
    }
    const actor = options?.actor ?? "system";
    const tenant = options?.tenant === undefined ? undefined : checkTenant(options.tenant);
    await db.transaction().execute(async (trx) => {
      const settled = await store.settleDead(trx, deliveryId, action, new Date(deps.now()), tenant);
      if (settled.kind === "not-found") {
        throw new EventsError("E_DEAD_LETTER_NOT_FOUND", `no dead letter ${JSON.stringify(deliveryId)}: it was replayed or discarded already, or never failed`, { deliveryId });
      }
      if (settled.kind === "install-gone") {
        // Accepting it would audit a replay that the next drain silently drops.
        throw new EventsError(
          "E_DEAD_LETTER_INSTALL_GONE",
          `dead letter ${JSON.stringify(deliveryId)} cannot be replayed: its install ${settled.installId}${settled.extensionId === null ? "" : ` (${settled.extensionId})`} was uninstalled, so nothing would run it; discard it with deadLetters.discard()`,
          { deliveryId, installId: settled.installId },
        );
      }
      await writeAudit(trx, {
        actor,
        tenant: settled.tenant,
        action: `event.dead-letter.${action}`,
        target: settled.extensionId ?? `install:${settled.installId}`,
        decision: "allow",
        details: { deliveryId, eventId: settled.eventId, type: settled.type, installId: settled.installId },
      });
    });
    if (action === "discard") metrics?.eventDelivery("dropped", "discarded");
    else relay.nudge();
  }

  return {
    bus: deps.bus,
    async publish(tenant, type, payload, options = {}) {
      const event = {
        id: randomUUID(),
        tenant: checkTenant(tenant),
        type: checkHostEventType(type),
        payload: encodePayload(payload).text,
        source: "app",
        depth: 0,
        occurredAt: new Date(deps.now()),
      };
      await store.insert(options.trx ?? (db as Kysely<any>), [event]);
      metrics?.eventsPublished("app", 1);
      relay.nudge();
      return { id: event.id };
    },
    drain: () => relay.drain(),
    deadLetters: {
      async list(filter = {}) {
        const limit = filter.limit ?? 100;
        if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
          throw new EventsError("E_EVENTS_OPTIONS", "deadLetters.list: limit must be a whole number from 1 to 1000", { field: "limit" });
        }
        if (filter.cursor !== undefined && !/^\d{1,19}$/.test(filter.cursor)) {
          throw new EventsError("E_EVENTS_OPTIONS", "deadLetters.list: cursor must be the cursor of a previous page", { field: "cursor" });
        }
        const rows = await store.listDead({ tenant: filter.tenant, installId: filter.installId, limit: limit + 1, afterSeq: filter.cursor });
        const page = rows.slice(0, limit);
        return {
          items: page.map(({ seq: _seq, ...letter }) => letter),
          cursor: rows.length > limit ? page[page.length - 1]!.seq : null,
        };
      },
      replay: (deliveryId, options) => settle("replay", deliveryId, options),
      discard: (deliveryId, options) => settle("discard", deliveryId, options),
    },
  };
}
