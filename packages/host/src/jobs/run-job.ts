import type { ExecuteResult, ExecutionLimits } from "@annex/runner";
import { errorSummary, type ErrorSummary } from "../errors.js";
import type { InstallStanding } from "../events/resolve-install.js";
import type { Executor } from "../execution/executor.js";
import type { Logger } from "../observability/logger.js";
import type { MetricsRecorder } from "../observability/metrics.js";
import type { ClaimedRun, JobRun } from "./job-store.js";
import type { JobStore } from "./job-store.js";

/** A finished run, with what the handler returned (`runNow`, `t.jobs.run`). */
export interface JobRunResult extends JobRun {
  outcome: "ok" | "error";
  finishedAt: Date;
  durationMs: number;
  /** The handler's return value (the body of its answer), when it succeeded. */
  output?: unknown;
}

export interface RunJobDeps {
  store: JobStore;
  executor: Executor;
  standing(installId: string): Promise<InstallStanding>;
  logger: Logger;
  metrics: MetricsRecorder | null;
  now: () => number;
  limits: Partial<ExecutionLimits> | undefined;
  timeoutMs: number;
}

/**
 * Runs one claimed job through the executor (the gateway's and the relay's:
 * same quotas, host APIs, reports, and `ctx.events.publish` written only when
 * the run succeeded), then records its outcome, its audit line and the next
 * time in one transaction, and counts and logs it.
 */
export async function runClaimedJob(deps: RunJobDeps, run: ClaimedRun): Promise<JobRunResult> {
  const { store, executor, logger, metrics } = deps;
  const fields = { runId: run.runId, tenant: run.tenant, installId: run.installId, extensionId: run.extensionId, job: run.name, trigger: run.trigger };
  if (run.takenOverRunId !== null) {
    logger.warn({ ...fields, takenOver: run.takenOverRunId }, "job run taken over: the process that held it stopped before it finished (its lease ran out)");
  }
  if (run.trigger === "schedule") metrics?.jobDelay((deps.now() - run.scheduledAt.getTime()) / 1000);
  let error: ErrorSummary | undefined;
  let version = run.version;
  let result: ExecuteResult | undefined;
  try {
    const standing = await deps.standing(run.installId);
    if (standing.kind !== "serving") {
      error = { code: "E_JOB_INSTALL_NOT_ACTIVE", message: `the install is ${standing.kind === "waiting" ? standing.state : "gone"}; its jobs do not run` };
    } else {
      const { resolved } = standing;
      version = resolved.install.version;
      // The handler of the version serving now (an upgrade may have landed since the schedule row was written).
      const job = resolved.manifest.jobs.find((candidate) => candidate.name === run.name);
      if (job === undefined) {
        error = { code: "E_JOB_NOT_FOUND", message: `${resolved.install.extensionId}@${resolved.install.version} no longer declares a job named ${run.name}` };
      } else {
        result = await executor.run({
          resolved,
          requestId: run.runId,
          invocation: { kind: "job", handler: job.handler, job: { name: run.name, scheduledAt: run.scheduledAt.toISOString() } },
          limits: deps.limits,
          timeoutMs: deps.timeoutMs,
        });
        if (!result.ok) error = { code: result.error?.code ?? "E_HANDLER_ERROR", message: result.error?.message ?? "the job handler failed" };
      }
    }
  } catch (thrown) {
    error = errorSummary(thrown);
  }
  const finishedAt = new Date(deps.now());
  const outcome = error === undefined ? "ok" : "error";
  let held = false;
  try {
    held = await store.finish(run, finishedAt, { error }, {
      actor: run.actor,
      tenant: run.tenant,
      action: "job.run",
      target: run.extensionId,
      decision: error === undefined ? "allow" : "error",
      details: {
        runId: run.runId,
        installId: run.installId,
        job: run.name,
        trigger: run.trigger,
        scheduledAt: run.scheduledAt.toISOString(),
        outcome,
        version,
        ...(error === undefined ? {} : { error }),
      },
    });
  } catch (thrown) {
    // The run happened; its record did not. The lease runs out and the job is taken over (and may run again).
    logger.error({ ...fields, err: errorSummary(thrown) }, "job run finished but its outcome could not be recorded");
  }
  metrics?.jobRun(outcome);
  const durationMs = Math.max(0, finishedAt.getTime() - run.startedAt.getTime());
  if (!held) logger.warn(fields, "job run finished after its lease ran out; another process may have taken the job over");
  if (error === undefined) logger.info({ ...fields, durationMs }, "job run ok");
  else logger.warn({ ...fields, durationMs, err: error }, "job run failed");
  return {
    runId: run.runId,
    installId: run.installId,
    tenant: run.tenant,
    extensionId: run.extensionId,
    version,
    name: run.name,
    trigger: run.trigger,
    actor: run.actor,
    scheduledAt: run.scheduledAt,
    startedAt: run.startedAt,
    finishedAt,
    durationMs,
    outcome,
    ...(error === undefined ? {} : { error }),
    ...(result?.ok === true ? { output: result.response?.body } : {}),
  };
}
