import { adminCall } from "../admin/admin-client.js";
import type { AdminConnection } from "../admin/connection.js";
import { CliError, EXIT_FAILURE, EXIT_OK } from "../errors.js";
import { formatJson, formatTable, terminalSafe } from "../format.js";
import type { CommandContext } from "../io.js";

/** What the CLI reads of the admin API's jobs answers (examples/reference-host/README.md, "Admin API"). */
interface ErrorSummary {
  code: string;
  message: string;
}
export interface JobInfo {
  installId: string;
  extensionId: string;
  name: string;
  cron: string;
  timezone: string;
  nextRunAt: string | null;
  running: boolean;
  lastRun?: { finishedAt: string; outcome: "ok" | "error"; error?: ErrorSummary } | undefined;
}
interface JobRun {
  runId: string;
  version: string;
  trigger: "schedule" | "manual";
  actor: string;
  scheduledAt: string;
  startedAt: string;
  finishedAt: string | null;
  outcome?: "ok" | "error" | null;
  durationMs?: number | null;
  error?: ErrorSummary | null;
}
interface JobRunResult extends JobRun {
  outcome: "ok" | "error";
  durationMs: number;
}

/** `annex admin jobs`: every job of the tenant's installs, with its schedule and its last run. */
export async function listJobs(connection: AdminConnection, tenant: string, json: boolean, ctx: CommandContext): Promise<number> {
  const jobs = await adminCall<JobInfo[]>(connection, "GET", "/jobs");
  if (json) {
    ctx.out(formatJson(jobs));
    return EXIT_OK;
  }
  ctx.out(terminalSafe(`tenant ${tenant}: ${jobs.length === 0 ? "no jobs (no install of this tenant declares one)" : `${jobs.length} job${jobs.length === 1 ? "" : "s"}`}`));
  if (jobs.length === 0) return EXIT_OK;
  const rows = jobs.map((job) => [
    job.extensionId,
    job.name,
    job.cron,
    job.timezone,
    job.running ? "running now" : (job.nextRunAt ?? "paused"),
    job.lastRun === undefined ? "-" : `${job.lastRun.outcome === "ok" ? "ok" : `error ${job.lastRun.error?.code ?? ""}`.trim()} at ${job.lastRun.finishedAt}`,
  ]);
  for (const line of formatTable(["EXTENSION", "JOB", "CRON", "TIME ZONE", "NEXT RUN", "LAST RUN"], rows)) ctx.out(line);
  return EXIT_OK;
}

/**
 * `annex admin run <id> <job>`: runs a job now and waits for its outcome.
 * A run that failed exits 1 with the handler's error; the run is recorded
 * and audited by the host either way.
 */
export async function runJob(connection: AdminConnection, extensionId: string, name: string, json: boolean, ctx: CommandContext): Promise<number> {
  const job = await findJob(connection, extensionId, name, "run");
  const result = await adminCall<JobRunResult>(connection, "POST", `/jobs/${encodeURIComponent(job.installId)}/${encodeURIComponent(name)}/run`, {});
  if (json) ctx.out(formatJson(result));
  else if (result.outcome === "ok") ctx.out(terminalSafe(`ran ${extensionId} ${name}: ok in ${result.durationMs} ms (run ${result.runId}, version ${result.version})`));
  // The message is the handler's own error text, passed through by the host: one line, no escape sequences.
  else ctx.out(terminalSafe(`ran ${extensionId} ${name}: error in ${result.durationMs} ms (run ${result.runId}): ${result.error?.code ?? "E_UNKNOWN"}: ${result.error?.message ?? "no message"}`));
  return result.outcome === "ok" ? EXIT_OK : EXIT_FAILURE;
}

/** `annex admin runs <id> <job>`: the job's recent runs, newest first. */
export async function listRuns(connection: AdminConnection, extensionId: string, name: string, count: number, json: boolean, ctx: CommandContext): Promise<number> {
  const job = await findJob(connection, extensionId, name, "runs");
  const page = await adminCall<{ items: JobRun[]; cursor: string | null }>(connection, "GET", `/jobs/${encodeURIComponent(job.installId)}/${encodeURIComponent(name)}/runs?limit=${count}`);
  if (json) {
    ctx.out(formatJson(page.items));
    return EXIT_OK;
  }
  ctx.out(`${extensionId} ${name}: ${page.items.length === 0 ? "no runs yet" : `the last ${page.items.length} run${page.items.length === 1 ? "" : "s"}, newest first`}`);
  if (page.items.length === 0) return EXIT_OK;
  const rows = page.items.map((run) => [
    run.startedAt,
    run.trigger === "manual" ? `manual (${run.actor})` : "schedule",
    run.version,
    run.finishedAt === null ? "running" : run.outcome === "ok" ? "ok" : `error ${run.error?.code ?? ""}`.trim(),
    run.durationMs === null || run.durationMs === undefined ? "-" : `${run.durationMs} ms`,
  ]);
  for (const line of formatTable(["STARTED", "TRIGGER", "VERSION", "OUTCOME", "DURATION"], rows)) ctx.out(line);
  return EXIT_OK;
}

/** `--limit` of `annex admin runs`: 1 to 100, default 20; checked before any call to the host. */
export function runsLimit(limit: string | undefined): number {
  if (limit === undefined) return 20;
  const count = Number(limit);
  if (!/^\d+$/.test(limit) || !Number.isSafeInteger(count) || count < 1 || count > 100) {
    throw new CliError("E_USAGE", `annex admin runs: --limit must be a whole number from 1 to 100, got "${limit}".`, { field: "limit" });
  }
  return count;
}

/** The tenant's job of that extension and name, or a typed error listing the ones there are. */
async function findJob(connection: AdminConnection, extensionId: string, name: string, command: string): Promise<JobInfo> {
  const jobs = await adminCall<JobInfo[]>(connection, "GET", "/jobs");
  const job = jobs.find((candidate) => candidate.extensionId === extensionId && candidate.name === name);
  if (job !== undefined) return job;
  const ofExtension = jobs.filter((candidate) => candidate.extensionId === extensionId).map((candidate) => candidate.name);
  throw new CliError(
    "E_JOB_NOT_FOUND",
    ofExtension.length > 0
      ? `annex admin ${command}: ${extensionId} has no job "${name}" (its jobs: ${ofExtension.join(", ")}).`
      : `annex admin ${command}: this tenant has no install of ${extensionId} with jobs; \`annex admin jobs\` lists the jobs there are.`,
    { extensionId, job: name },
  );
}
