import type { ExecutionLimits } from "@annex/runner";
import type { AnnexDatabase } from "../database/open.js";
import { installStanding } from "../events/resolve-install.js";
import type { Executor } from "../execution/executor.js";
import type { Logger } from "../observability/logger.js";
import type { MetricsRecorder } from "../observability/metrics.js";
import type { Registry } from "../registry/registry.js";
import { JobsError } from "./errors.js";
import { createHostJobs, type HostJobs } from "./host-jobs.js";
import { JobStore } from "./job-store.js";
import { runClaimedJob } from "./run-job.js";
import { createScheduler, type Scheduler, type SchedulerSettings } from "./scheduler.js";

export interface JobsOptions {
  /** Run the scheduler in the background. Default true; false leaves runs to `host.jobs.tick()` and `runNow` (tests, admin-only processes). */
  scheduler?: boolean | undefined;
  /** Longest wait between looks at the schedule table, in ms. Default 1000 (a process also wakes at each job's next time). */
  pollIntervalMs?: number | undefined;
  /** How long a run's lease lasts before another process may take the job over, in ms. Default: twice `timeoutMs`, at least 30 s. */
  leaseMs?: number | undefined;
  /** Quotas of job executions. Default: the gateway's `policy.limits`. */
  limits?: Partial<ExecutionLimits> | undefined;
  /** A run whose execution gives no answer within this fails with E_TIMEOUT, in ms. Default: limits.wallMs (or 5000) + 1000. */
  timeoutMs?: number | undefined;
  /** Runs this process executes at once. Default 4. */
  concurrency?: number | undefined;
  /**
   * Runs of one install at once, counted over every process on the database (live leases). Default 2: an
   * install with many slow jobs due together waits for its own runs instead of taking every slot from other tenants.
   */
  perInstall?: number | undefined;
  /** How long finished runs are kept in the history (each job's last one always), in ms. Default 7 days. */
  historyMs?: number | undefined;
}

export interface JobsRuntime {
  /** Starts the scheduler (unless `scheduler: false`) and answers the public API. */
  start(executor: Executor): HostJobs;
  /** An install changed (no argument: anything may have); its schedules are read again. */
  invalidate(change?: { tenant: string; extensionId: string }): void;
  /** Whether the scheduler runs in the background (and so wants to hear install changes). */
  readonly background: boolean;
  /** How long one run may take before it is given up, in ms (close() waits for a manual run at most this long). */
  readonly timeoutMs: number;
  stop(): Promise<void>;
}

function whole(value: number | undefined, fallback: number, field: string, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw new JobsError("E_JOBS_OPTIONS", `createHost({ jobs: { ${field} } }) must be a whole number of at least ${min}, got ${String(value)}`, { field: `jobs.${field}` });
  }
  return value;
}

/** Jobs in one host: the schedule table, the scheduler, the public API, wired once in createHost. Options are checked here, before anything starts. */
export function createJobsRuntime(deps: {
  database: AnnexDatabase;
  registry: Registry;
  logger: Logger;
  metrics: MetricsRecorder | null;
  now: () => number;
  options: JobsOptions | undefined;
  gatewayLimits: Partial<ExecutionLimits> | undefined;
}): JobsRuntime {
  const options = deps.options ?? {};
  if (options === null || typeof options !== "object") {
    throw new JobsError("E_JOBS_OPTIONS", "createHost({ jobs }) must be an object", { field: "jobs" });
  }
  if (options.scheduler !== undefined && typeof options.scheduler !== "boolean") {
    throw new JobsError("E_JOBS_OPTIONS", `createHost({ jobs: { scheduler } }) must be true or false, got ${String(options.scheduler)}`, { field: "jobs.scheduler" });
  }
  if (options.limits !== undefined && (options.limits === null || typeof options.limits !== "object")) {
    throw new JobsError("E_JOBS_OPTIONS", "createHost({ jobs: { limits } }) must be an object of execution limits", { field: "jobs.limits" });
  }
  const limits = options.limits ?? deps.gatewayLimits;
  const timeoutMs = whole(options.timeoutMs, (limits?.wallMs ?? 5000) + 1000, "timeoutMs", 1);
  const settings: SchedulerSettings = {
    pollIntervalMs: whole(options.pollIntervalMs, 1000, "pollIntervalMs", 1),
    leaseMs: whole(options.leaseMs, Math.max(30_000, 2 * timeoutMs), "leaseMs", 1),
    concurrency: whole(options.concurrency, 4, "concurrency", 1),
    perInstall: whole(options.perInstall, 2, "perInstall", 1),
    historyMs: whole(options.historyMs, 7 * 24 * 3_600_000, "historyMs", 0),
    resyncMs: 60_000,
  };
  if (settings.leaseMs <= timeoutMs) {
    throw new JobsError("E_JOBS_OPTIONS", `createHost({ jobs: { leaseMs } }) must be longer than timeoutMs (${timeoutMs} ms), or a slow run would be taken over while it runs`, {
      field: "jobs.leaseMs",
    });
  }
  const background = options.scheduler !== false;
  const { database, logger, metrics } = deps;
  const store = new JobStore(database.db, database.schema);
  const standing = (installId: string) => installStanding(database.db, deps.registry, installId);
  let scheduler: Scheduler | undefined;

  return {
    background,
    timeoutMs,
    start(executor) {
      const run = (claimed: Parameters<typeof runClaimedJob>[1]) =>
        runClaimedJob({ store, executor, standing, logger, metrics, now: deps.now, limits, timeoutMs }, claimed);
      scheduler = createScheduler({ store, run, logger, now: deps.now, settings });
      if (background) scheduler.start();
      return createHostJobs({ db: database.db, store, scheduler, standing, run, now: deps.now });
    },
    invalidate(change) {
      scheduler?.invalidate(change);
    },
    async stop() {
      await scheduler?.stop();
    },
  };
}
