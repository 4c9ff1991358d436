import { randomUUID } from "node:crypto";
import type { ExecutionLimits } from "@annex/runner";
import { errorSummary, type ErrorSummary } from "../errors.js";
import type { Executor } from "../execution/executor.js";
import type { Logger } from "../observability/logger.js";
import type { MetricsRecorder } from "../observability/metrics.js";
import { backoffDelay, type BackoffOptions } from "./backoff.js";
import type { Bus, BusConsumer, BusMessage } from "./bus.js";
import type { OutboxStore, CandidateInstall, LeasedDelivery } from "./outbox.js";
import type { PendingEvents } from "./pending-events.js";
import type { InstallStanding } from "./resolve-install.js";
import { subscribedHandler } from "./subscriptions.js";
import type { CapabilityGrant } from "@annex/manifest";
import { clearTimeout, setTimeout } from "node:timers";

export interface RelaySettings {
  /** Deliveries leased per claim, and at most in flight from one relay. Default 32. */
  batchSize: number;
  /** How long a lease holds before another relay may take the delivery over, in ms. */
  leaseMs: number;
  /** Attempts before a delivery is parked in the dead letters. Default 8. */
  maxAttempts: number;
  backoff: BackoffOptions;
  /** Wait between polls when there was nothing to do, in ms. Default 1000. */
  pollIntervalMs: number;
  /** Messages the consumer of this process runs at once. Default 8. */
  concurrency: number;
  /** Deliveries of one install leased at once, across relays. Default 2. */
  perInstall: number;
  /** Quotas of event executions (the manifest and the runner may lower them). */
  limits: Partial<ExecutionLimits> | undefined;
  /** An execution that does not answer within this is a failure. */
  timeoutMs: number;
  /** Finished deliveries are kept this long (for inspection), then swept, in ms. Default one hour. */
  retentionMs: number;
  /** Dead letters are kept this long after their last attempt failed (to be replayed or discarded), then swept, in ms. Default 7 days. */
  deadLetterRetentionMs: number;
}

export interface RelayDeps {
  store: OutboxStore;
  bus: Bus;
  executor: Executor;
  pending: PendingEvents;
  standing(installId: string): Promise<InstallStanding>;
  logger: Logger;
  metrics: MetricsRecorder | null;
  now: () => number;
  random?: (() => number) | undefined;
  /** Records a delivery parked in the dead letters (audit). */
  parked(delivery: LeasedDelivery, error: ErrorSummary, extensionId: string): Promise<void>;
  settings: RelaySettings;
}

/** What one `drain()` did. */
export interface DrainResult {
  /** Events turned into deliveries. */
  fannedOut: number;
  /** Deliveries handed to the bus (for the in-process bus: run). */
  sent: number;
  /** Deliveries dropped because their install is gone. */
  dropped: number;
}

export interface Relay {
  /** Delivers everything due now, then returns (deliveries waiting for a retry time or a disabled install stay). */
  drain(): Promise<DrainResult>;
  /** Polls in the background: at once when this process published, else every `pollIntervalMs`. */
  start(): void;
  /** Stops polling and consuming; waits for the round and the deliveries in flight. */
  stop(): Promise<void>;
  /** Asks the poller for a round now (this process just published). */
  nudge(): void;
  readonly owner: string;
}

/**
 * How long after a claim a follow-up claim (for runs that ended) may wait for half of the claim's deliveries to
 * settle: long enough to gather several runs' next deliveries (a claim costs ~2–5 ms on PGlite, a small run
 * 1–3 ms), short enough that a run's install never waits noticeably for its next delivery.
 */
const FOLLOW_UP_MS = 50;

/**
 * The relay: fans events out into deliveries, leases due deliveries (FOR
 * UPDATE SKIP LOCKED, so several relays on one database never take the same
 * one) and hands them to the bus; and the consumer: runs each message's
 * handler through the executor (the gateway's, with the same quotas) and
 * records the outcome in the outbox. A relay that dies leaves its leases to
 * run out, and another relay takes those deliveries over.
 */
export async function createRelay(deps: RelayDeps): Promise<Relay> {
  const { store, bus, executor, pending, logger, metrics, settings } = deps;
  const owner = `relay-${process.pid}-${randomUUID().slice(0, 8)}`;
  const random = deps.random ?? Math.random;
  const now = () => new Date(deps.now());
  // A delivery finished here may let the next one of its (install, type) queue be leased, which no round could
  // while it ran (deliveries of one queue go in order): ask for a round now, not at the next poll. Through a
  // broker, whose send returns before the run, a burst otherwise went one event per poll interval.
  let consumer: BusConsumer | undefined = await bus.consume(
    async (message) => {
      if (await consume(message)) runEnded();
    },
    { concurrency: settings.concurrency },
  );
  let round: Promise<DrainResult> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running = false;
  let stopped = false;
  let lastSweep = 0;
  let again = false;
  // A round waiting for its sends is woken by a nudge (`wake`); one that came while it claimed is remembered:
  // `woken` for a publish, `followUp` for a run of this process that ended (see `pass`).
  let wake: (() => void) | undefined;
  let woken = false;
  let followUp = false;

  function route(event: { tenant: string; type: string }, installs: readonly CandidateInstall[]): string[] {
    const out: string[] = [];
    for (const install of installs) {
      const manifest = install.manifest as Parameters<typeof subscribedHandler>[0];
      if (subscribedHandler(manifest, install.grants as CapabilityGrant[], event.type) !== undefined) out.push(install.id);
    }
    return out;
  }

  /**
   * One round: fans events out, drops orphans and hands due deliveries to the bus until none is due and none
   * it handed over is still running. No barrier between batches: the in-process bus's send resolves when its
   * run ends, and waiting for a whole batch made every tenant's next delivery wait for the slowest handler of
   * the batch (one install's 5 s handler: 5 s a delivery for everyone else). After a full window the relay
   * leases again once half of it has finished; else when this process publishes (`nudge`), or to follow up
   * runs that ended (their installs' next deliveries may be due now): once half of what the last claim left in
   * flight has settled, so that one claim takes several installs' next deliveries (a claim per delivery, as
   * each run ended, took 2.5× the time a delivery of a many-tenant stream), at once when nothing is left in
   * flight, and at the latest FOLLOW_UP_MS after the last claim, so that slow runs never hold it.
   */
  async function pass(): Promise<DrainResult> {
    const result: DrainResult = { fannedOut: 0, sent: 0, dropped: 0 };
    const inFlight = new Set<Promise<void>>();
    const lowWater = Math.floor(settings.batchSize / 2);
    let refused = false;
    // The last claim filled its window: more may be due than it took.
    let full = true;
    let settled: (() => void) | undefined;
    // In flight just after the last claim, sends settled since, and when it ended (see followUpDue).
    let peak = 0;
    let settledSinceClaim = 0;
    let claimedAt = 0;
    let followUpTimer: ReturnType<typeof setTimeout> | undefined;
    const mayLease = () => !refused && !stopped && inFlight.size <= lowWater;
    const followUpDue = () => inFlight.size === 0 || 2 * settledSinceClaim >= peak || performance.now() - claimedAt >= FOLLOW_UP_MS;
    // Claim when there may be something to take: after a full window, after a publish, or to follow up ended
    // runs (above). A send settling alone is no reason: in-process, the consumer's nudge came before it, and a
    // second claim per delivery doubled a backlog's drain time.
    const shouldLease = () => mayLease() && (full || woken || (followUp && followUpDue()));
    for (;;) {
      if (shouldLease()) {
        full = false;
        woken = false;
        followUp = false;
        for (;;) {
          const n = await store.fanOut(now(), 256, route);
          result.fannedOut += n;
          if (n < 256) break;
        }
        const dropped = await store.dropOrphans(now());
        result.dropped += dropped.length;
        for (const d of dropped) {
          metrics?.eventDelivery("dropped", "uninstalled");
          logger.info({ tenant: d.tenant, installId: d.installId }, "event delivery dropped: the install is gone");
        }
        const lease = `${owner}:${randomUUID()}`;
        const at = now();
        const window = settings.batchSize - inFlight.size;
        const leased = await store.claim(owner, lease, at, new Date(at.getTime() + settings.leaseMs), window, settings.perInstall);
        for (const delivery of leased) {
          const sending: Promise<void> = send(delivery, lease).then((handedOver) => {
            inFlight.delete(sending);
            settledSinceClaim++;
            settled?.();
            if (handedOver) result.sent++;
            // The bus refused (a broker outage): lease no more in this round rather than the same deliveries
            // again at once; they wait in the outbox for the next poll.
            else refused = true;
          });
          inFlight.add(sending);
        }
        peak = inFlight.size;
        settledSinceClaim = 0;
        claimedAt = performance.now();
        await sweepIfDue();
        full = leased.length === window;
        if (shouldLease()) continue;
      }
      if (inFlight.size === 0 && !shouldLease()) break;
      // Until a send settles (room in the window, or the end), or a nudge. One that came while the claim ran is
      // not lost: `woken` holds it.
      await new Promise<void>((resolve) => {
        settled = resolve;
        if (shouldLease()) resolve();
        else {
          wake = resolve;
          if (followUp && mayLease()) followUpTimer = setTimeout(resolve, Math.max(0, claimedAt + FOLLOW_UP_MS - performance.now()));
        }
      });
      clearTimeout(followUpTimer);
      followUpTimer = undefined;
      settled = undefined;
      wake = undefined;
    }
    return result;

    // A round may go on for as long as deliveries keep coming: the sweep is checked in it, not after it.
    async function sweepIfDue(): Promise<void> {
      if (deps.now() - lastSweep <= Math.min(settings.retentionMs, settings.deadLetterRetentionMs, 60_000)) return;
      lastSweep = deps.now();
      try {
        const swept = await store.sweep(new Date(deps.now() - settings.retentionMs), new Date(deps.now() - settings.deadLetterRetentionMs));
        if (swept.expired > 0) {
          logger.info({ expired: swept.expired, deadLetterRetentionMs: settings.deadLetterRetentionMs }, "dead letters swept: they were neither replayed nor discarded within events.deadLetterRetentionMs");
        }
      } catch (error) {
        logger.warn({ err: errorSummary(error) }, "event outbox sweep failed");
      }
    }
  }

  /** Hands one delivery to the bus; false when the bus refused it (the lease is given back). */
  async function send(delivery: LeasedDelivery, lease: string): Promise<boolean> {
    const message: BusMessage = {
      deliveryId: delivery.deliveryId,
      lease,
      eventId: delivery.eventId,
      tenant: delivery.tenant,
      type: delivery.type,
      installId: delivery.installId,
      attempt: delivery.attempt,
      occurredAt: delivery.occurredAt.toISOString(),
      payload: delivery.payload,
      depth: delivery.depth,
    };
    try {
      await bus.send(message);
      return true;
    } catch (error) {
      // The bus could not take it: give the lease back so the next round (here or elsewhere) tries again.
      logger.warn({ err: errorSummary(error), bus: bus.name, deliveryId: delivery.deliveryId }, "event bus refused a delivery; it stays in the outbox");
      await store.release(delivery.deliveryId, lease, now(), false).catch(() => {});
      return false;
    }
  }

  /**
   * Runs the delivery a message points at. The message is only a pointer (deliveryId and lease): whoever
   * can write to the broker can put anything in it, so what runs (install, tenant, type, payload, depth,
   * attempt) is what the outbox holds. The consumer first takes the delivery under a lease of its own,
   * for as long as a run may take, and only while the relay's lease still holds: a message that waited
   * past that lease (another relay may have leased the delivery again) or a second copy of one runs
   * nothing. A message that disagrees with the outbox is dropped without running anything.
   */
  /** Runs one message; true when its delivery left the queue's head (done, failed, dropped or given back). */
  async function consume(message: BusMessage): Promise<boolean> {
    const at = deps.now();
    // Never on the bus, so neither a copy of the message nor anyone who read it there can take the run over;
    // its prefix says which lease it was taken from.
    const lease = `${message.lease}/run:${randomUUID()}`;
    let taken: Awaited<ReturnType<typeof store.take>>;
    try {
      taken = await store.take(message.deliveryId, message.lease, lease, new Date(at), new Date(at + settings.leaseMs));
    } catch (error) {
      // A value the database refuses to compare (SQLSTATE class 22) was never sent by a relay: dropped like any
      // message that is not a relay's. Thrown, it would stay unacknowledged and come back for ever.
      if (!isDataException(error)) throw error;
      metrics?.eventDelivery("stale", "mismatch");
      logger.warn({ deliveryId: message.deliveryId.slice(0, 64), bus: bus.name, err: error }, "event bus message names no delivery the outbox can look up; dropped without running it (check who can write to the bus)");
      return false;
    }
    if (taken === null) {
      // Done, taken over by another relay after the lease ran out, or taken by another copy of this message: nothing
      // to run. A copy that also disagrees with the delivery its lease's run holds is a forgery, and is reported so.
      const running = await store.takenFrom(message.deliveryId, message.lease).catch(() => null);
      const disagreeing = running === null ? [] : disagreement(message, running);
      if (running !== null && disagreeing.length > 0) forged(running, disagreeing);
      else metrics?.eventDelivery("stale", "");
      return false;
    }
    const { delivery } = taken;
    const disagreeing = disagreement(message, delivery);
    if (disagreeing.length > 0) {
      // Not a relay's message (a relay sends what it leased), so a forged or corrupted one. It must not run nor
      // count as an attempt; the relay's own message, or the lease running out, still delivers the delivery.
      await store.restore(delivery.deliveryId, lease, message.lease, taken.leasedUntil).catch(() => {});
      forged(delivery, disagreeing);
      return false;
    }
    const fields = { deliveryId: delivery.deliveryId, eventId: delivery.eventId, tenant: delivery.tenant, installId: delivery.installId, type: delivery.type, attempt: delivery.attempt };
    const standing = await deps.standing(delivery.installId);
    if (standing.kind === "gone") {
      await store.drop(delivery.deliveryId, lease, now(), { code: "E_INSTALL_GONE", message: "the install was uninstalled before the event reached it" });
      metrics?.eventDelivery("dropped", "uninstalled");
      logger.info(fields, "event delivery dropped: the install is gone");
      return true;
    }
    if (standing.kind === "waiting") {
      // Given back until the install serves again: nothing behind it can go first.
      await store.release(delivery.deliveryId, lease, now(), true);
      return false;
    }
    const { resolved } = standing;
    const handler = subscribedHandler(resolved.manifest, resolved.install.grants, delivery.type);
    if (handler === undefined) {
      await store.drop(delivery.deliveryId, lease, now(), {
        code: "E_NOT_SUBSCRIBED",
        message: `${resolved.install.extensionId}@${resolved.install.version} no longer subscribes to ${delivery.type}, or is no longer granted events.subscribe for it`,
      });
      metrics?.eventDelivery("dropped", "unsubscribed");
      logger.info({ ...fields, extensionId: resolved.install.extensionId }, "event delivery dropped: the install no longer subscribes to this type");
      return true;
    }
    const requestId = randomUUID();
    pending.setDepth(requestId, delivery.depth);
    let error: ErrorSummary | undefined;
    try {
      const result = await executor.run({
        resolved,
        requestId,
        invocation: { kind: "event", handler, event: { id: delivery.deliveryId, type: delivery.type, payload: delivery.payload, occurredAt: delivery.occurredAt.toISOString() } },
        limits: settings.limits,
        timeoutMs: settings.timeoutMs,
      });
      if (!result.ok) error = { code: result.error?.code ?? "E_HANDLER_ERROR", message: result.error?.message ?? "the handler failed" };
    } catch (thrown) {
      error = errorSummary(thrown);
    }
    const published = pending.take(requestId);
    if (error === undefined) {
      // The ack: recorded with the events the handler published, in one transaction.
      const acked = await store.ack(delivery.deliveryId, lease, now(), published);
      if (acked) {
        metrics?.eventDelivery("delivered", "");
        if (published.length > 0) metrics?.eventsPublished("extension", published.length);
        logger.debug({ ...fields, extensionId: resolved.install.extensionId, requestId }, "event delivered");
      } else {
        metrics?.eventDelivery("stale", "");
        logger.warn({ ...fields, requestId }, "event delivered, but its lease had run out and another relay took it over; the handler may run again (ctx.event.id is the same)");
      }
      return acked;
    }
    const dead = delivery.attempt >= settings.maxAttempts;
    const retryAt = dead ? null : new Date(deps.now() + backoffDelay(delivery.attempt, settings.backoff, random));
    const recorded = await store.fail(delivery.deliveryId, lease, now(), error, retryAt);
    if (!recorded) return false;
    if (dead) {
      metrics?.eventDelivery("dead", error.code);
      logger.error({ ...fields, extensionId: resolved.install.extensionId, requestId, err: error }, "event delivery failed for the last time; parked in the dead letters");
      await deps.parked(delivery, error, resolved.install.extensionId).catch(() => {});
    } else {
      metrics?.eventDelivery("failed", error.code);
      logger.warn({ ...fields, extensionId: resolved.install.extensionId, requestId, err: error, retryAt: retryAt!.toISOString() }, "event delivery failed; will retry");
    }
    return true;
  }

  function forged(delivery: LeasedDelivery, fields: string[]): void {
    metrics?.eventDelivery("stale", "mismatch");
    logger.warn(
      { deliveryId: delivery.deliveryId, tenant: delivery.tenant, installId: delivery.installId, type: delivery.type, fields, bus: bus.name },
      "event bus message disagrees with its delivery in the outbox; dropped without running it (check who can write to the bus)",
    );
  }

  /** One round at a time in this process; a drain asked for during a round runs after it. */
  function drain(): Promise<DrainResult> {
    const previous = round ?? Promise.resolve(undefined);
    const next = previous.catch(() => undefined).then(() => pass());
    round = next;
    void next.finally(() => {
      if (round === next) round = undefined;
    }).catch(() => {});
    return next;
  }

  function schedule(delay: number): void {
    if (stopped || !running) return;
    clearTimeout(timer);
    timer = setTimeout(tick, delay);
    timer.unref?.();
  }

  async function tick(): Promise<void> {
    timer = undefined;
    again = false;
    try {
      await drain();
    } catch (error) {
      logger.warn({ err: errorSummary(error) }, "event relay round failed; retrying at the next poll");
    }
    schedule(again ? 0 : settings.pollIntervalMs);
  }

  function nudge(): void {
    woken = true;
    poke();
  }

  function runEnded(): void {
    followUp = true;
    poke();
  }

  function poke(): void {
    wake?.();
    if (!running || stopped) return;
    if (timer !== undefined) schedule(0);
    else again = true;
  }

  return {
    owner,
    drain,
    start() {
      if (running || stopped) return;
      running = true;
      schedule(0);
    },
    nudge,
    async stop() {
      stopped = true;
      running = false;
      clearTimeout(timer);
      await round?.catch(() => undefined);
      const current = consumer;
      consumer = undefined;
      await current?.stop();
    },
  };
}

/**
 * The fields of a message that disagree with its leased delivery (none for a message the relay sent). The
 * payload is compared as JSON values, so a broker's round trip through JSON text changes nothing.
 */
function disagreement(message: BusMessage, delivery: LeasedDelivery): string[] {
  const out: string[] = [];
  if (message.eventId !== delivery.eventId) out.push("eventId");
  if (message.tenant !== delivery.tenant) out.push("tenant");
  if (message.type !== delivery.type) out.push("type");
  if (message.installId !== delivery.installId) out.push("installId");
  if (message.attempt !== delivery.attempt) out.push("attempt");
  // `depth` is optional on the wire, where absent means 0 (an event the app published).
  if ((message.depth ?? 0) !== delivery.depth) out.push("depth");
  if (Date.parse(message.occurredAt) !== delivery.occurredAt.getTime()) out.push("occurredAt");
  if (!sameJson(message.payload, delivery.payload)) out.push("payload");
  return out;
}

function sameJson(a: unknown, b: unknown): boolean {
  // A loop, not recursion: a payload nested thousands deep must not overflow the stack of the consumer.
  const pairs: Array<[unknown, unknown]> = [[a, b]];
  for (let pair = pairs.pop(); pair !== undefined; pair = pairs.pop()) {
    const [x, y] = pair;
    if (x === y) continue;
    if (x === null || y === null || typeof x !== "object" || typeof y !== "object" || Array.isArray(x) !== Array.isArray(y)) return false;
    if (Array.isArray(x)) {
      const other = y as unknown[];
      if (x.length !== other.length) return false;
      for (let i = 0; i < x.length; i++) pairs.push([x[i], other[i]]);
      continue;
    }
    // jsonb orders keys its own way, and a broker may too: compare them as sets.
    const left = x as Record<string, unknown>;
    const right = y as Record<string, unknown>;
    const keys = Object.keys(left);
    if (keys.length !== Object.keys(right).length) return false;
    for (const key of keys) {
      if (!Object.prototype.hasOwnProperty.call(right, key)) return false;
      pairs.push([left[key], right[key]]);
    }
  }
  return true;
}

function isDataException(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^22[0-9A-Z]{3}$/.test(code);
}
