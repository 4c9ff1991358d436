import { randomUUID } from "node:crypto";
import { errorSummary } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import type { ClaimedRun, JobStore } from "./job-store.js";
import type { JobRunResult } from "./run-job.js";
import { clearTimeout, setTimeout } from "node:timers";

/** The shortest wait between two background rounds (unless a run finished or an install changed). */
const RECHECK_MS = 5;

export interface SchedulerSettings {
  /** Longest wait between looks at the table, in ms (other processes' changes, missed notifications). */
  pollIntervalMs: number;
  /** How long a claimed run's lease holds before another process may take the job over, in ms. */
  leaseMs: number;
  /** Runs this process executes at once. */
  concurrency: number;
  /** Runs of one install at once, over every process on the database. */
  perInstall: number;
  /** Finished runs are kept this long (each job's last one always), in ms. */
  historyMs: number;
  /** How often every schedule is read again from the installs, whatever was heard, in ms. */
  resyncMs: number;
}

/** What one `tick()` did. */
export interface TickResult {
  /** Runs started and finished. */
  ran: number;
  ok: number;
  failed: number;
}

export interface Scheduler {
  readonly owner: string;
  /** Reads every schedule again, runs every job due now (at most one catch-up each), and returns when they finished. */
  tick(): Promise<TickResult>;
  /** Claims one job for `runNow` (null when a live lease holds it). */
  claim(installId: string, name: string, actor: string): Promise<ClaimedRun | null>;
  /** Reads the schedules of installs this process heard changed and has not read again yet (before a listing). */
  syncPending(): Promise<void>;
  /** An install changed (or everything may have: no argument): its schedules are read again before the next claim. */
  invalidate(change?: { tenant: string; extensionId: string }): void;
  /** Looks for due jobs in the background: at each job's next time, and at least every `pollIntervalMs`. */
  start(): void;
  /** Stops looking; waits for the runs in flight. */
  stop(): Promise<void>;
}

export interface SchedulerDeps {
  store: JobStore;
  run(claimed: ClaimedRun): Promise<JobRunResult>;
  logger: Logger;
  now: () => number;
  settings: SchedulerSettings;
}

/**
 * The scheduler of one host process. The table is the schedule: each
 * (install, job) row says when it is next due; any process may claim a due
 * row (a conditional UPDATE under FOR UPDATE SKIP LOCKED), so across all
 * processes on one database a job runs at most once at a time. A process
 * sleeps until the earliest next time it knows of (so a run starts within a
 * few ms of its time) or `pollIntervalMs`, whichever comes first.
 */
export function createScheduler(deps: SchedulerDeps): Scheduler {
  const { store, logger, settings } = deps;
  const owner = `jobs-${process.pid}-${randomUUID().slice(0, 8)}`;
  const now = () => new Date(deps.now());
  const inFlight = new Set<Promise<unknown>>();
  /** Installs whose schedules must be read again; "all" after a gap, at start, and every resyncMs. */
  let dirty: "all" | Map<string, { tenant: string; extensionId: string }> = "all";
  let lastResync = 0;
  let lastSweep = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running = false;
  let stopped = false;
  let round: Promise<void> | undefined;
  let again = false;

  /** Syncs in progress: each took its changes out of `dirty` before its rows were written. */
  const syncing = new Set<Promise<void>>();

  async function syncDirty(force: boolean): Promise<void> {
    const work = (async () => {
      if (force || dirty === "all" || deps.now() - lastResync >= settings.resyncMs) {
        dirty = new Map();
        lastResync = deps.now();
        await store.sync(now());
        return;
      }
      const changes = [...dirty.values()];
      dirty = new Map();
      for (const change of changes) await store.sync(now(), change);
    })();
    syncing.add(work);
    try {
      await work;
    } finally {
      syncing.delete(work);
    }
  }

  function claimDue(limit: number): Promise<ClaimedRun[]> {
    const at = now();
    return store.claimDue(owner, `${owner}:${randomUUID()}`, at, new Date(at.getTime() + settings.leaseMs), limit, settings.perInstall);
  }

  function launch(claimed: ClaimedRun): Promise<JobRunResult | undefined> {
    const done = deps.run(claimed).catch((error: unknown) => {
      logger.error({ runId: claimed.runId, job: claimed.name, installId: claimed.installId, err: errorSummary(error) }, "job run failed in the scheduler");
      return undefined;
    });
    inFlight.add(done);
    void done.finally(() => {
      inFlight.delete(done);
      // A slot is free: look again at once (another job may be waiting for it).
      if (running && !stopped) schedule(0);
    });
    return done;
  }

  async function sweep(): Promise<void> {
    if (deps.now() - lastSweep < Math.min(settings.historyMs, 3_600_000)) return;
    lastSweep = deps.now();
    await store.sweep(new Date(deps.now() - settings.historyMs)).catch((error: unknown) => logger.warn({ err: errorSummary(error) }, "job history sweep failed"));
  }

  /** One background round: claims what fits in the free slots, starts it, and says when to look next. */
  async function backgroundRound(): Promise<number> {
    await syncDirty(false);
    for (;;) {
      const free = settings.concurrency - inFlight.size;
      if (free <= 0) return settings.pollIntervalMs;
      const claimed = await claimDue(free);
      for (const run of claimed) void launch(run);
      if (claimed.length < free) break;
    }
    await sweep();
    const next = await store.nextDue(now(), settings.perInstall);
    if (next === null) return settings.pollIntervalMs;
    // A job due now that this round could not claim is being claimed by another process: look again shortly, not at once.
    return Math.min(settings.pollIntervalMs, Math.max(RECHECK_MS, next.getTime() - deps.now()));
  }

  function schedule(delay: number): void {
    if (stopped || !running) return;
    if (round !== undefined) {
      // A round is on: it will decide the next wake; ask it to look again at once.
      if (delay === 0) again = true;
      return;
    }
    clearTimeout(timer);
    timer = setTimeout(tickInBackground, delay);
    timer.unref?.();
  }

  function tickInBackground(): void {
    timer = undefined;
    again = false;
    const current = (async () => {
      let delay = settings.pollIntervalMs;
      try {
        delay = await backgroundRound();
      } catch (error) {
        logger.warn({ err: errorSummary(error) }, "job scheduler round failed; retrying at the next poll");
      }
      return delay;
    })();
    round = current.then(() => undefined);
    void current.then((delay) => {
      round = undefined;
      schedule(again ? 0 : delay);
    });
  }

  return {
    owner,
    async tick() {
      await round;
      await syncDirty(true);
      const result: TickResult = { ran: 0, ok: 0, failed: 0 };
      for (;;) {
        const claimed = await claimDue(Math.max(1, settings.concurrency));
        if (claimed.length === 0) break;
        const finished = await Promise.all(claimed.map((run) => launch(run)));
        for (const run of finished) {
          result.ran++;
          if (run?.outcome === "ok") result.ok++;
          else result.failed++;
        }
      }
      await sweep();
      return result;
    },
    async claim(installId, name, actor) {
      const at = now();
      return store.claimOne(owner, `${owner}:${randomUUID()}`, at, new Date(at.getTime() + settings.leaseMs), installId, name, actor);
    },
    async syncPending() {
      // A background round may have taken the changes out of `dirty` and still be writing their rows: a listing
      // that did not wait would read the table before them (on PostgreSQL, whose pool runs both at once).
      await Promise.all([...syncing].map((work) => work.catch(() => {})));
      if (dirty !== "all" && dirty.size === 0) return;
      await syncDirty(false);
    },
    invalidate(change) {
      if (change === undefined || dirty === "all") dirty = "all";
      else dirty.set(`${change.tenant}\u0000${change.extensionId}`, change);
      schedule(0);
    },
    start() {
      if (running || stopped) return;
      running = true;
      schedule(0);
    },
    async stop() {
      stopped = true;
      running = false;
      clearTimeout(timer);
      await round;
      await Promise.all([...inFlight]);
    },
  };
}
