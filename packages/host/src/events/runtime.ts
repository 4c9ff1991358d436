import type { EventsApi, ExecuteResult, ExecutionLimits, HostCallScope } from "@annex/runner";
import { writeAudit } from "../audit/audit-log.js";
import type { AnnexDatabase } from "../database/open.js";
import { errorSummary } from "../errors.js";
import type { ExecutionContext, ExecutionTrigger, Executor } from "../execution/executor.js";
import { executionOf } from "../execution/host-apis.js";
import type { Logger } from "../observability/logger.js";
import type { MetricsRecorder } from "../observability/metrics.js";
import type { Registry } from "../registry/registry.js";
import type { BackoffOptions } from "./backoff.js";
import type { Bus } from "./bus.js";
import { EventsError } from "./errors.js";
import { createHostEvents, type HostEvents } from "./host-events.js";
import { createInProcessBus } from "./in-process-bus.js";
import { OutboxStore } from "./outbox.js";
import { PendingEvents } from "./pending-events.js";
import { createRelay, type Relay, type RelaySettings } from "./relay.js";
import { installStanding } from "./resolve-install.js";

export interface EventsOptions {
  /**
   * The bus deliveries travel on from the relay to a consumer. Default: the
   * in-process bus (closed by `host.close()`); a bus you pass is yours to close.
   */
  bus?: Bus | undefined;
  /** Run the relay in the background. Default true; false leaves delivery to `host.events.drain()` (tests). */
  relay?: boolean | undefined;
  /** Deliveries leased per round. Default 32. */
  batchSize?: number | undefined;
  /** Attempts before a delivery is parked in the dead letters. Default 8. */
  maxAttempts?: number | undefined;
  /** Retry delays: exponential from `baseMs` (1000) to `maxMs` (300000), with jitter. */
  backoff?: BackoffOptions | undefined;
  /** How long a relay's lease on a delivery lasts, in ms. Default: twice `timeoutMs`, at least 30 s. */
  leaseMs?: number | undefined;
  /** Poll interval when idle, in ms. Default 1000. */
  pollIntervalMs?: number | undefined;
  /** Deliveries this process runs at once. Default 8. */
  concurrency?: number | undefined;
  /** Deliveries of one install leased at once, across processes (fairness between installs). Default 2. */
  perInstall?: number | undefined;
  /** Quotas of event executions. Default: the gateway's `policy.limits`. */
  limits?: Partial<ExecutionLimits> | undefined;
  /** A delivery whose execution gives no answer within this fails, in ms. Default: limits.wallMs (or 5000) + 1000. */
  timeoutMs?: number | undefined;
  /** How long finished deliveries are kept before they are swept, in ms. Default 3600000. */
  retentionMs?: number | undefined;
  /**
   * How long a dead letter is kept after its last attempt failed, for an admin
   * to replay or discard it, before it is swept, in ms. Default 604800000 (7 days).
   */
  deadLetterRetentionMs?: number | undefined;
  /** Longest chain of events published by handlers of events. Default 8. */
  maxDepth?: number | undefined;
  /**
   * Events one install's handlers may publish, per host process: a token
   * bucket of `events` refilled over `perSeconds`. Default 6,000 per 60 s
   * (100 a second sustained, 6,000 at once); false turns it off. Past it,
   * `ctx.events.publish` throws E_EVENT_RATE_LIMITED.
   */
  publishRate?: { events: number; perSeconds: number } | false | undefined;
  /**
   * JSON bytes of payload one install's published events may hold in the
   * outbox at once, across host processes: events count from the moment they
   * are published until they are swept (delivered and kept `retentionMs`, or
   * a dead letter replayed and delivered, discarded, or kept
   * `deadLetterRetentionMs`). Default 67108864 (64 MiB); false turns it off.
   * Past it, `ctx.events.publish` throws E_EVENT_OUTBOX_FULL.
   */
  outboxBytes?: number | false | undefined;
}

export interface EventsRuntime {
  /** The runner's `events` host API (`ctx.events.publish`). */
  api: EventsApi;
  /** The executor's settle step: writes what an endpoint or job execution published, when it succeeded. */
  settle(requestId: string, trigger: ExecutionTrigger, result: ExecuteResult): Promise<ExecuteResult>;
  /** Starts the consumer (and the poller unless `relay: false`). */
  start(executor: Executor): Promise<HostEvents>;
  stop(): Promise<void>;
}

/** 256 events of the largest payload (256 KiB) at once; what 4,800 of them did to an in-memory PGlite host is 2.9 GB. */
const DEFAULT_OUTBOX_BYTES = 64 * 1024 * 1024;

function whole(value: number | undefined, fallback: number, field: string, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw new EventsError("E_EVENTS_OPTIONS", `createHost({ events: { ${field} } }) must be a whole number of at least ${min}, got ${String(value)}`, { field: `events.${field}` });
  }
  return value;
}

function publishRateOf(value: EventsOptions["publishRate"]): { requests: number; perSeconds: number } | false {
  if (value === false) return false;
  if (value === undefined) return { requests: 6000, perSeconds: 60 };
  const valid = (n: unknown) => typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= 10_000_000;
  if (typeof value !== "object" || value === null || !valid(value.events) || !valid(value.perSeconds)) {
    throw new EventsError("E_EVENTS_OPTIONS", "createHost({ events: { publishRate } }) must be { events, perSeconds } with whole numbers from 1 to 10,000,000, or false", {
      field: "events.publishRate",
    });
  }
  return { requests: value.events, perSeconds: value.perSeconds };
}

function outboxBytesOf(value: EventsOptions["outboxBytes"]): number | false {
  if (value === false) return false;
  if (value === undefined) return DEFAULT_OUTBOX_BYTES;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw new EventsError("E_EVENTS_OPTIONS", `createHost({ events: { outboxBytes } }) must be a whole number of bytes of at least 1, or false; got ${String(value)}`, {
      field: "events.outboxBytes",
    });
  }
  return value;
}

/** Events in one host: the outbox, the publish buffer, the relay and its consumer, wired once in createHost. */
export function createEventsRuntime(deps: {
  database: AnnexDatabase;
  registry: Registry;
  logger: Logger;
  metrics: MetricsRecorder | null;
  now: () => number;
  options: EventsOptions | undefined;
  gatewayLimits: Partial<ExecutionLimits> | undefined;
  contextOf(scope: HostCallScope): ExecutionContext | undefined;
}): EventsRuntime {
  const options = deps.options ?? {};
  const limits = options.limits ?? deps.gatewayLimits;
  const timeoutMs = whole(options.timeoutMs, (limits?.wallMs ?? 5000) + 1000, "timeoutMs", 1);
  const settings: RelaySettings = {
    batchSize: whole(options.batchSize, 32, "batchSize", 1),
    leaseMs: whole(options.leaseMs, Math.max(30_000, 2 * timeoutMs), "leaseMs", 1),
    maxAttempts: whole(options.maxAttempts, 8, "maxAttempts", 1),
    backoff: {
      baseMs: whole(options.backoff?.baseMs, 1000, "backoff.baseMs", 0),
      maxMs: whole(options.backoff?.maxMs, 300_000, "backoff.maxMs", 0),
    },
    pollIntervalMs: whole(options.pollIntervalMs, 1000, "pollIntervalMs", 1),
    concurrency: whole(options.concurrency, 8, "concurrency", 1),
    perInstall: whole(options.perInstall, 2, "perInstall", 1),
    limits,
    timeoutMs,
    retentionMs: whole(options.retentionMs, 3_600_000, "retentionMs", 0),
    deadLetterRetentionMs: whole(options.deadLetterRetentionMs, 7 * 24 * 3_600_000, "deadLetterRetentionMs", 0),
  };
  if (settings.leaseMs <= timeoutMs) {
    throw new EventsError("E_EVENTS_OPTIONS", `createHost({ events: { leaseMs } }) must be longer than timeoutMs (${timeoutMs} ms), or a slow delivery would be taken over while it runs`, {
      field: "events.leaseMs",
    });
  }
  const maxDepth = whole(options.maxDepth, 8, "maxDepth", 0);
  const { database, logger, metrics } = deps;
  const store = new OutboxStore(database.root, database.schema);
  const publishRate = publishRateOf(options.publishRate);
  const outboxBytes = outboxBytesOf(options.outboxBytes);
  const pending = new PendingEvents({
    now: deps.now,
    maxDepth,
    publishRate,
    outboxBytes,
    heldBytes: (source) => store.heldBytes(source),
    checkLive: (scope) => void executionOf(deps, scope),
  });
  const ownBus = options.bus === undefined;
  const bus = options.bus ?? createInProcessBus();
  let relay: Relay | undefined;

  return {
    api: pending.api(),
    async settle(requestId, trigger, result) {
      // Deliveries write their events in the ack transaction (the relay takes them).
      if (trigger === "event") return result;
      const published = pending.take(requestId);
      if (published.length === 0 || !result.ok) return result;
      try {
        await store.insert(database.root, published);
        metrics?.eventsPublished("extension", published.length);
        relay?.nudge();
        return result;
      } catch (error) {
        logger.error({ requestId, err: errorSummary(error) }, "the events an execution published could not be written to the outbox");
        return {
          ...result,
          ok: false,
          response: undefined,
          error: { code: "E_RUNNER_UNAVAILABLE", message: `the events the handler published could not be written to the outbox: ${errorSummary(error).message}` },
        };
      }
    },
    async start(executor) {
      relay = await createRelay({
        store,
        bus,
        executor,
        pending,
        standing: (installId) => installStanding(database.db, deps.registry, installId),
        logger,
        metrics,
        now: deps.now,
        settings,
        parked: (delivery, error, extensionId) =>
          writeAudit(database.db, {
            actor: "system",
            tenant: delivery.tenant,
            action: "event.dead-letter.park",
            target: extensionId,
            decision: "error",
            details: { deliveryId: delivery.deliveryId, eventId: delivery.eventId, type: delivery.type, attempts: delivery.attempt, error },
          }),
      });
      if (options.relay !== false) relay.start();
      return createHostEvents({ db: database.db, store, relay, bus, metrics, now: deps.now });
    },
    async stop() {
      await relay?.stop();
      if (ownBus) await bus.close();
    },
  };
}
