import { sql, type Kysely, type RawBuilder } from "kysely";
import { writeAudit, type NewAuditEntry } from "../audit/audit-log.js";
import type { AnnexTables } from "../database/tables.js";
import { storableError, type ErrorSummary } from "../errors.js";
import { jobTimezone, nextRun } from "./schedule.js";

/** A run this process claimed: the lease it holds and what to run. */
export interface ClaimedRun {
  runId: string;
  lease: string;
  installId: string;
  tenant: string;
  extensionId: string;
  /** The version serving when the run was claimed. */
  version: string;
  name: string;
  handler: string;
  cron: string;
  timezone: string;
  trigger: "schedule" | "manual";
  actor: string;
  scheduledAt: Date;
  startedAt: Date;
  /** The run whose lease ran out before it finished, taken over by this claim. */
  takenOverRunId: string | null;
}

/** One run, as the history keeps it. */
export interface JobRun {
  runId: string;
  installId: string;
  tenant: string;
  extensionId: string;
  /** The extension version that ran it. */
  version: string;
  name: string;
  /** `schedule` for the scheduler's runs, `manual` for `runNow`. */
  trigger: "schedule" | "manual";
  /** "system" for scheduled runs; the admin's actor for `runNow`. */
  actor: string;
  /** The time the run was due (the first missed time for a catch-up run; the call time for `runNow`). */
  scheduledAt: Date;
  startedAt: Date;
  /** Null while it runs. */
  finishedAt: Date | null;
  durationMs: number | null;
  outcome: "running" | "ok" | "error";
  error?: ErrorSummary | undefined;
}

/** One job of one install, as `host.jobs.list()` shows it. */
export interface JobInfo {
  installId: string;
  tenant: string;
  extensionId: string;
  name: string;
  cron: string;
  /** The time zone the cron is read in (see docs/jobs.md for the rule). */
  timezone: string;
  /** Null while the install is disabled (or busy with a lifecycle change). */
  nextRunAt: Date | null;
  /** Whether a run holds the job now, in any host process. */
  running: boolean;
  /** The last finished run. */
  lastRun?: { runId: string; scheduledAt: Date; startedAt: Date; finishedAt: Date; outcome: "ok" | "error"; error?: ErrorSummary | undefined } | undefined;
}

/** Install states whose job rows are kept (paused unless serving); the others' rows are deleted. */
const KEEPING_STATES = ["active", "disabled", "upgrading", "installing"];

interface InstallJobsRow {
  id: string;
  tenant: string;
  extension_id: string;
  state: string;
  resume_state: string | null;
  config: unknown;
  manifest: unknown;
}

interface JobRow {
  install_id: string;
  name: string;
  tenant: string;
  extension_id: string;
  handler: string;
  cron: string;
  timezone: string;
  next_run_at: Date | string | null;
}

interface RunRow {
  id: string;
  install_id: string;
  tenant: string;
  extension_id: string;
  version: string;
  name: string;
  trigger: "schedule" | "manual";
  actor: string;
  scheduled_at: Date | string;
  started_at: Date | string;
  finished_at: Date | string | null;
  duration_ms: number | null;
  outcome: "running" | "ok" | "error";
  error: unknown;
}

/**
 * The jobs' SQL: schedules per (install, job), their leases, and the run
 * history. Times come from the caller (the host's clock), so tests move time.
 * Statements are schema-qualified by hand, like the outbox's.
 */
export class JobStore {
  readonly #db: Kysely<AnnexTables>;
  readonly #schema: string | undefined;
  readonly #lockKey: string;

  constructor(db: Kysely<AnnexTables>, schema: string | undefined) {
    this.#db = db;
    this.#schema = schema;
    this.#lockKey = `annex_jobs_sync:${schema ?? ""}`;
  }

  table(name: string): RawBuilder<unknown> {
    return this.#schema === undefined ? sql.id(name) : sql.id(this.#schema, name);
  }

  /**
   * Brings the schedule rows in line with the installs (all of them, or one
   * tenant's extension): a row per job of each install that serves or is
   * disabled; a new or changed schedule (cron, time zone) is next due at its
   * next time after `now`; a disabled install's rows are paused (no next
   * time) and resume from `now` when it serves again (what it missed while
   * disabled does not run). Rows of uninstalled installs and of jobs an
   * upgrade removed are deleted. One process at a time (an advisory lock),
   * so two processes never disagree on the rows they write.
   */
  async sync(now: Date, only?: { tenant: string; extensionId: string }): Promise<{ added: number; changed: number; removed: number }> {
    return this.#db.transaction().execute(async (trx) => {
      await sql`SELECT pg_advisory_xact_lock(hashtext(${this.#lockKey}))`.execute(trx);
      const where = only === undefined ? sql`` : sql`AND i.tenant = ${only.tenant} AND i.extension_id = ${only.extensionId}`;
      const installs = await sql<InstallJobsRow>`
        SELECT i.id, i.tenant, i.extension_id, i.state, i.resume_state, i.config, v.manifest FROM ${this.table("annex_installs")} i
        JOIN ${this.table("annex_extension_versions")} v ON v.extension_id = i.extension_id AND v.version = i.version
        WHERE i.state IN (${sql.join(KEEPING_STATES)}) ${where}`.execute(trx);
      const rowWhere = only === undefined ? sql`` : sql`WHERE tenant = ${only.tenant} AND extension_id = ${only.extensionId}`;
      const existing = await sql<JobRow>`
        SELECT install_id, name, tenant, extension_id, handler, cron, timezone, next_run_at FROM ${this.table("annex_jobs")} ${rowWhere}`.execute(trx);
      const current = new Map(existing.rows.map((row) => [`${row.install_id}\u0000${row.name}`, row]));
      let added = 0;
      let changed = 0;
      for (const install of installs.rows) {
        const manifest = parseJson(install.manifest) as { jobs?: Array<{ name: string; cron: string; handler: string; timezone?: string }> };
        const config = (parseJson(install.config) ?? {}) as Record<string, unknown>;
        const serving = install.state === "active" || (install.state === "upgrading" && install.resume_state === "active");
        for (const job of manifest.jobs ?? []) {
          const key = `${install.id}\u0000${job.name}`;
          const row = current.get(key);
          current.delete(key);
          const timezone = jobTimezone(job, config);
          if (row === undefined) {
            const next = serving ? nextRun(job.cron, timezone, now) : null;
            await sql`INSERT INTO ${this.table("annex_jobs")} (install_id, name, tenant, extension_id, handler, cron, timezone, next_run_at, updated_at)
              VALUES (${install.id}, ${job.name}, ${install.tenant}, ${install.extension_id}, ${job.handler}, ${job.cron}, ${timezone}, ${next}, ${now})
              ON CONFLICT (install_id, name) DO NOTHING`.execute(trx);
            added++;
            continue;
          }
          const rescheduled = row.cron !== job.cron || row.timezone !== timezone;
          const paused = row.next_run_at === null;
          let next: Date | null | undefined;
          if (!serving) next = paused ? undefined : null;
          else if (rescheduled || paused) next = nextRun(job.cron, timezone, now);
          if (next === undefined && !rescheduled && row.handler === job.handler) continue;
          await sql`UPDATE ${this.table("annex_jobs")} SET handler = ${job.handler}, cron = ${job.cron}, timezone = ${timezone}, updated_at = ${now}
              ${next === undefined ? sql`` : sql`, next_run_at = ${next}`}
            WHERE install_id = ${install.id} AND name = ${job.name}`.execute(trx);
          changed++;
        }
      }
      for (const row of current.values()) {
        await sql`DELETE FROM ${this.table("annex_jobs")} WHERE install_id = ${row.install_id} AND name = ${row.name}`.execute(trx);
      }
      return { added, changed, removed: current.size };
    });
  }

  /**
   * Leases up to `limit` jobs that are due (their next time has come) and not
   * held by a live lease, of installs that serve; rows another process is
   * claiming are skipped, never waited for. A held lease that ran out (its
   * process died) is taken over, and the run it belonged to is recorded as
   * failed. Each claim writes the run's history row in the same transaction.
   */
  /**
   * Leases up to `limit` due jobs, at most `perInstall` running of one install at once (live leases of every
   * process counted), each install's earliest before any install's second: one install's many due jobs
   * wait for each other, not for other tenants' slots.
   */
  async claimDue(owner: string, lease: string, now: Date, leaseUntil: Date, limit: number, perInstall: number): Promise<ClaimedRun[]> {
    return this.#claim(owner, lease, now, leaseUntil, { limit, perInstall }, "schedule", "system");
  }

  /** Leases one job for `runNow`, whether due or not; null when a live lease holds it (or there is no such row). */
  async claimOne(owner: string, lease: string, now: Date, leaseUntil: Date, installId: string, name: string, actor: string): Promise<ClaimedRun | null> {
    const [claimed] = await this.#claim(owner, lease, now, leaseUntil, { installId, name }, "manual", actor);
    return claimed ?? null;
  }

  async #claim(
    owner: string,
    lease: string,
    now: Date,
    leaseUntil: Date,
    target: { limit: number; perInstall: number } | { installId: string; name: string },
    trigger: "schedule" | "manual",
    actor: string,
  ): Promise<ClaimedRun[]> {
    const j = this.table("annex_jobs");
    const i = this.table("annex_installs");
    const which =
      "limit" in target
        ? sql`(j.install_id, j.name) IN (${this.#fairlyDue(now, target.limit, target.perInstall)}) AND j.next_run_at IS NOT NULL AND j.next_run_at <= ${now}`
        : sql`j.install_id = ${target.installId} AND j.name = ${target.name}`;
    return this.#db.transaction().execute(async (trx) => {
      const claimed = await sql<{
        install_id: string;
        name: string;
        tenant: string;
        extension_id: string;
        handler: string;
        cron: string;
        timezone: string;
        run_id: string;
        run_scheduled_at: Date | string;
        version: string;
        stale_run_id: string | null;
      }>`
        WITH due AS (
          SELECT j.install_id, j.name, j.run_id AS stale_run_id FROM ${j} j
          WHERE (j.lease IS NULL OR j.lease_until <= ${now}) AND ${this.#serves(sql`j`)} AND ${which}
          FOR UPDATE OF j SKIP LOCKED
        )
        UPDATE ${j} j SET run_id = gen_random_uuid()::text,
          run_scheduled_at = ${trigger === "schedule" ? sql`j.next_run_at` : sql`${now}`},
          lease = ${lease}, lease_owner = ${owner}, lease_until = ${leaseUntil}, updated_at = ${now}
        FROM due, ${i} i
        WHERE j.install_id = due.install_id AND j.name = due.name AND i.id = j.install_id
        RETURNING j.install_id, j.name, j.tenant, j.extension_id, j.handler, j.cron, j.timezone, j.run_id, j.run_scheduled_at, i.version, due.stale_run_id`.execute(trx);
      const runs: ClaimedRun[] = [];
      for (const row of claimed.rows) {
        if (row.stale_run_id !== null) {
          await sql`UPDATE ${this.table("annex_job_runs")} SET outcome = 'error', finished_at = ${now},
              error = cast(${JSON.stringify(LEASE_EXPIRED)} as jsonb)
            WHERE id = ${row.stale_run_id} AND outcome = 'running'`.execute(trx);
        }
        const scheduledAt = new Date(row.run_scheduled_at);
        await sql`INSERT INTO ${this.table("annex_job_runs")} (id, install_id, tenant, extension_id, version, name, trigger, actor, owner, scheduled_at, started_at, outcome)
          VALUES (${row.run_id}, ${row.install_id}, ${row.tenant}, ${row.extension_id}, ${row.version}, ${row.name}, ${trigger}, ${actor}, ${owner}, ${scheduledAt}, ${now}, 'running')`.execute(trx);
        runs.push({
          runId: row.run_id,
          lease,
          installId: row.install_id,
          tenant: row.tenant,
          extensionId: row.extension_id,
          version: row.version,
          name: row.name,
          handler: row.handler,
          cron: row.cron,
          timezone: row.timezone,
          trigger,
          actor,
          scheduledAt,
          startedAt: now,
          takenOverRunId: row.stale_run_id,
        });
      }
      return runs;
    });
  }

  /** Whether the install of the job row `alias` serves (active, or upgrading from active): only then are its jobs claimed. */
  #serves(alias: RawBuilder<unknown>): RawBuilder<unknown> {
    return sql`EXISTS (SELECT 1 FROM ${this.table("annex_installs")} i WHERE i.id = ${alias}.install_id AND (i.state = 'active' OR (i.state = 'upgrading' AND i.resume_state = 'active')))`;
  }

  /** How many jobs of the install of the job row `alias` run now (a live lease, any process's). */
  #running(alias: RawBuilder<unknown>, now: Date): RawBuilder<unknown> {
    return sql`(SELECT count(*) FROM ${this.table("annex_jobs")} l WHERE l.install_id = ${alias}.install_id AND l.lease IS NOT NULL AND l.lease_until > ${now})`;
  }

  /**
   * The due jobs a claim of `limit` takes, ranked within their install by due time, rank first: every install's
   * earliest due job comes before any install's second. An install already running `perInstall` jobs (a live
   * lease, any process's) gets none, one running fewer gets that many fewer. Read without locks; the claim then
   * locks what is still free (SKIP LOCKED), so two processes claiming at the same instant may together pass
   * `perInstall` by what each took.
   */
  #fairlyDue(now: Date, limit: number, perInstall: number): RawBuilder<unknown> {
    const j = this.table("annex_jobs");
    return sql`SELECT ranked.install_id, ranked.name FROM (
        SELECT d.install_id, d.name, d.next_run_at,
          row_number() OVER (PARTITION BY d.install_id ORDER BY d.next_run_at, d.name)
            + ${this.#running(sql`d`, now)} AS place
        FROM ${j} d
        WHERE d.next_run_at IS NOT NULL AND d.next_run_at <= ${now} AND (d.lease IS NULL OR d.lease_until <= ${now}) AND ${this.#serves(sql`d`)}
      ) ranked
      WHERE ranked.place <= ${perInstall}
      ORDER BY ranked.place, ranked.next_run_at, ranked.install_id, ranked.name
      LIMIT ${limit}`;
  }

  /**
   * Records a run's outcome, its audit line, and gives the lease back, in one
   * transaction. A scheduled run moves the job to its next time after `now`
   * (so missed times are not run one by one: one catch-up, then the
   * schedule resumes); a manual run leaves the schedule as it was. False when
   * the lease was no longer held (taken over): the history row is still
   * completed, the job's row is not touched.
   */
  async finish(run: ClaimedRun, now: Date, outcome: { error?: ErrorSummary | undefined }, audit: NewAuditEntry): Promise<boolean> {
    const durationMs = Math.max(0, Math.round(now.getTime() - run.startedAt.getTime()));
    const next = run.trigger === "schedule" ? nextRun(run.cron, run.timezone, new Date(Math.max(now.getTime(), run.scheduledAt.getTime()))) : undefined;
    return this.#db.transaction().execute(async (trx) => {
      // The job's row before its run's, the order a claim and an uninstall (its trigger, then the cascade) take them in.
      // The schedule moves only if it is still the one this run was claimed under (an upgrade may have changed it) and not paused.
      const moved =
        next === undefined
          ? sql``
          : sql`, next_run_at = CASE WHEN next_run_at IS NOT NULL AND cron = ${run.cron} AND timezone = ${run.timezone} THEN ${next} ELSE next_run_at END`;
      const released = await sql`UPDATE ${this.table("annex_jobs")} SET lease = NULL, lease_owner = NULL, lease_until = NULL, run_id = NULL, run_scheduled_at = NULL,
          last_run_id = ${run.runId}, updated_at = ${now} ${moved}
        WHERE install_id = ${run.installId} AND name = ${run.name} AND lease = ${run.lease}`.execute(trx);
      await sql`UPDATE ${this.table("annex_job_runs")} SET finished_at = ${now}, duration_ms = ${durationMs},
          outcome = ${outcome.error === undefined ? "ok" : "error"},
          error = ${outcome.error === undefined ? null : sql`cast(${JSON.stringify(storableError(outcome.error))} as jsonb)`}
        WHERE id = ${run.runId} AND outcome = 'running'`.execute(trx);
      await writeAudit(trx, { ...audit, details: { ...audit.details, durationMs } });
      return Number(released.numAffectedRows ?? 0) === 1;
    });
  }

  /**
   * The earliest next time of a job that a claim could take (no live lease, an install that serves): when to
   * look again. Rows a claim would skip are left out, or a process would wake at once, over and over.
   */
  async nextDue(now: Date, perInstall: number): Promise<Date | null> {
    const j = this.table("annex_jobs");
    const result = await sql<{ at: Date | string | null }>`
      SELECT min(j.next_run_at) AS at FROM ${j} j
      WHERE j.next_run_at IS NOT NULL AND (j.lease IS NULL OR j.lease_until <= ${now}) AND ${this.#serves(sql`j`)}
        AND ${this.#running(sql`j`, now)} < ${perInstall}`.execute(this.#db);
    const at = result.rows[0]?.at ?? null;
    return at === null ? null : new Date(at);
  }

  /** The run holding a job now, if a live lease does. */
  async runningRun(installId: string, name: string, now: Date): Promise<string | null> {
    const result = await sql<{ run_id: string | null }>`
      SELECT run_id FROM ${this.table("annex_jobs")} WHERE install_id = ${installId} AND name = ${name} AND lease IS NOT NULL AND lease_until > ${now}`.execute(this.#db);
    return result.rows[0]?.run_id ?? null;
  }

  async list(filter: { tenant?: string | undefined; installId?: string | undefined }, now: Date): Promise<JobInfo[]> {
    const conditions: RawBuilder<unknown>[] = [];
    if (filter.tenant !== undefined) conditions.push(sql`j.tenant = ${filter.tenant}`);
    if (filter.installId !== undefined) conditions.push(sql`j.install_id = ${filter.installId}`);
    const where = conditions.length === 0 ? sql`` : sql`WHERE ${sql.join(conditions, sql` AND `)}`;
    const result = await sql<JobRow & { running: boolean; r_id: string | null; r_scheduled_at: Date | string | null; r_started_at: Date | string | null; r_finished_at: Date | string | null; r_outcome: string | null; r_error: unknown }>`
      SELECT j.install_id, j.name, j.tenant, j.extension_id, j.handler, j.cron, j.timezone, j.next_run_at,
        (j.lease IS NOT NULL AND j.lease_until > ${now}) AS running,
        r.id AS r_id, r.scheduled_at AS r_scheduled_at, r.started_at AS r_started_at, r.finished_at AS r_finished_at, r.outcome AS r_outcome, r.error AS r_error
      FROM ${this.table("annex_jobs")} j LEFT JOIN ${this.table("annex_job_runs")} r ON r.id = j.last_run_id
      ${where}
      ORDER BY j.tenant, j.extension_id, j.name`.execute(this.#db);
    return result.rows.map((row) => {
      const info: JobInfo = {
        installId: row.install_id,
        tenant: row.tenant,
        extensionId: row.extension_id,
        name: row.name,
        cron: row.cron,
        timezone: row.timezone,
        nextRunAt: row.next_run_at === null ? null : new Date(row.next_run_at),
        running: row.running === true,
      };
      if (row.r_id !== null && row.r_finished_at !== null && (row.r_outcome === "ok" || row.r_outcome === "error")) {
        const error = parseJson(row.r_error) as ErrorSummary | null;
        info.lastRun = {
          runId: row.r_id,
          scheduledAt: new Date(row.r_scheduled_at!),
          startedAt: new Date(row.r_started_at!),
          finishedAt: new Date(row.r_finished_at),
          outcome: row.r_outcome,
          ...(error === null || error === undefined ? {} : { error }),
        };
      }
      return info;
    });
  }

  /** Runs of one install (and job), newest first, after the `beforeSeq` cursor. */
  async runs(filter: { installId: string; tenant?: string | undefined; name?: string | undefined; limit: number; beforeSeq?: string | undefined }): Promise<Array<JobRun & { seq: string }>> {
    const conditions: RawBuilder<unknown>[] = [sql`install_id = ${filter.installId}`];
    if (filter.tenant !== undefined) conditions.push(sql`tenant = ${filter.tenant}`);
    if (filter.name !== undefined) conditions.push(sql`name = ${filter.name}`);
    if (filter.beforeSeq !== undefined) conditions.push(sql`seq < ${filter.beforeSeq}`);
    const result = await sql<RunRow & { seq: string }>`
      SELECT seq::text AS seq, id, install_id, tenant, extension_id, version, name, trigger, actor, scheduled_at, started_at, finished_at, duration_ms, outcome, error
      FROM ${this.table("annex_job_runs")} WHERE ${sql.join(conditions, sql` AND `)} ORDER BY seq DESC LIMIT ${filter.limit}`.execute(this.#db);
    return result.rows.map((row) => ({ seq: row.seq, ...toRun(row) }));
  }

  async run(runId: string): Promise<JobRun | null> {
    const result = await sql<RunRow>`
      SELECT id, install_id, tenant, extension_id, version, name, trigger, actor, scheduled_at, started_at, finished_at, duration_ms, outcome, error
      FROM ${this.table("annex_job_runs")} WHERE id = ${runId}`.execute(this.#db);
    const row = result.rows[0];
    return row === undefined ? null : toRun(row);
  }

  /** Deletes finished runs older than `before`, except each job's last one (which `list` shows). */
  async sweep(before: Date): Promise<number> {
    const result = await sql`DELETE FROM ${this.table("annex_job_runs")} r WHERE r.finished_at < ${before}
      AND NOT EXISTS (SELECT 1 FROM ${this.table("annex_jobs")} j WHERE j.last_run_id = r.id)`.execute(this.#db);
    return Number(result.numAffectedRows ?? 0);
  }
}

const LEASE_EXPIRED: ErrorSummary = {
  code: "E_JOB_LEASE_EXPIRED",
  message: "the host process running this job stopped before it finished (its lease ran out); another process took the job over",
};

function toRun(row: RunRow): JobRun {
  const error = parseJson(row.error) as ErrorSummary | null;
  return {
    runId: row.id,
    installId: row.install_id,
    tenant: row.tenant,
    extensionId: row.extension_id,
    version: row.version,
    name: row.name,
    trigger: row.trigger,
    actor: row.actor,
    scheduledAt: new Date(row.scheduled_at),
    startedAt: new Date(row.started_at),
    finishedAt: row.finished_at === null ? null : new Date(row.finished_at),
    durationMs: row.duration_ms,
    outcome: row.outcome,
    ...(error === null || error === undefined ? {} : { error }),
  };
}

function parseJson(value: unknown): unknown {
  // pg and PGlite parse jsonb already; a driver that hands text gets it parsed here.
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}
