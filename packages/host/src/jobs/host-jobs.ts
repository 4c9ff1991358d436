import type { Kysely } from "kysely";
import { writeAudit } from "../audit/audit-log.js";
import type { AnnexTables } from "../database/tables.js";
import type { InstallStanding } from "../events/resolve-install.js";
import type { ActorOptions } from "../registry/registry.js";
import { JobsError } from "./errors.js";
import type { ClaimedRun, JobInfo, JobRun, JobStore } from "./job-store.js";
import type { JobRunResult } from "./run-job.js";
import type { Scheduler, TickResult } from "./scheduler.js";

export interface JobsListFilter {
  tenant?: string | undefined;
  installId?: string | undefined;
}

export interface JobRunsFilter {
  installId: string;
  /**
   * Only runs of an install of this tenant: another tenant's install has no
   * runs, exactly as one that does not exist (an admin API acting for one
   * tenant passes it).
   */
  tenant?: string | undefined;
  name?: string | undefined;
  /** 1–1000, default 50. */
  limit?: number | undefined;
  /** The `cursor` of the previous page. */
  cursor?: string | undefined;
}

/** Who runs a job now, and (for an admin API acting for one tenant) whose install it must be. */
export interface JobRunNowOptions extends ActorOptions {
  /**
   * Runs only a job of an install of this tenant: another tenant's install
   * answers E_JOB_NOT_FOUND (`details.field` "installId"), exactly as one
   * that does not exist, and nothing is audited under the other tenant.
   */
  tenant?: string | undefined;
}

export interface HostJobs {
  /** Every job of the installs that serve or are disabled (those have no next time), by tenant, extension and name. */
  list(filter?: JobsListFilter): Promise<JobInfo[]>;
  /**
   * Runs a job now, whatever its schedule, through the same path as a
   * scheduled run, and answers when it finished (audited as `job.run` with
   * the actor). Refused with E_JOB_NOT_FOUND (`details.field` names
   * `installId` or `name`), E_JOB_INSTALL_NOT_ACTIVE, or E_JOB_RUNNING when a
   * run is in progress in any host process. The schedule is left as it was.
   */
  runNow(installId: string, name: string, options?: JobRunNowOptions): Promise<JobRunResult>;
  /** The run history of an install (one job with `name`), newest first; `cursor` (null on the last page) fetches the next page. */
  runs(filter: JobRunsFilter): Promise<{ items: JobRun[]; cursor: string | null }>;
  /** Reads every schedule again and runs every job due now, and returns when they finished (the scheduler also runs in the background unless `jobs.scheduler` is false). */
  tick(): Promise<TickResult>;
}

const ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

function checkTenant(tenant: unknown, where: string): string {
  if (typeof tenant !== "string" || tenant === "" || tenant.length > 128) throw new JobsError("E_JOBS_OPTIONS", `${where}: tenant must be a tenant name`, { field: "tenant" });
  return tenant;
}

export function createHostJobs(deps: {
  db: Kysely<AnnexTables>;
  store: JobStore;
  scheduler: Scheduler;
  standing(installId: string): Promise<InstallStanding>;
  run(claimed: ClaimedRun): Promise<JobRunResult>;
  now: () => number;
}): HostJobs {
  const { db, store, scheduler } = deps;
  const now = () => new Date(deps.now());

  async function refuse(actor: string, tenant: string | null, target: string, details: Record<string, unknown>, error: JobsError): Promise<never> {
    // A refused run changes nothing, and says so in the audit log.
    await writeAudit(db, { actor, tenant, action: "job.run", target, decision: "deny", details: { ...details, error: { code: error.code, message: error.message } } }).catch(() => {});
    throw error;
  }

  return {
    async list(filter = {}) {
      if (filter.tenant !== undefined) checkTenant(filter.tenant, "jobs.list");
      if (filter.installId !== undefined && (typeof filter.installId !== "string" || !ID_PATTERN.test(filter.installId))) {
        throw new JobsError("E_JOBS_OPTIONS", "jobs.list: installId must be an install id", { field: "installId" });
      }
      // What this process heard changed is read first, so a listing right after a lifecycle call shows it.
      await scheduler.syncPending();
      return store.list(filter, now());
    },

    async runNow(installId, name, options = {}) {
      const actor = options.actor ?? "system";
      if (typeof installId !== "string" || !ID_PATTERN.test(installId)) {
        throw new JobsError("E_JOB_NOT_FOUND", `jobs.runNow: installId must be the id of an install, got ${JSON.stringify(String(installId)).slice(0, 80)}`, { field: "installId" });
      }
      if (typeof name !== "string" || name === "" || name.length > 64) {
        throw new JobsError("E_JOB_NOT_FOUND", `jobs.runNow: name must be the name of one of the install's jobs, got ${JSON.stringify(String(name)).slice(0, 80)}`, { field: "name" });
      }
      const onlyTenant = options.tenant === undefined ? undefined : checkTenant(options.tenant, "jobs.runNow");
      const notFound = () => new JobsError("E_JOB_NOT_FOUND", `jobs.runNow: no install ${installId} that could run jobs (it does not exist, or was uninstalled)`, { field: "installId", installId });
      const standing = await deps.standing(installId);
      if (standing.kind === "gone") throw notFound();
      const row = await db.selectFrom("annex_installs").select(["tenant", "extension_id"]).where("id", "=", installId).executeTakeFirst();
      // Another tenant's install is refused as one that does not exist, before anything that would tell them
      // apart (its state, its jobs) and without an audit line in the other tenant's log.
      if (onlyTenant !== undefined && row?.tenant !== onlyTenant) throw notFound();
      const tenant = row?.tenant ?? null;
      const target = row === undefined ? `install:${installId}` : row.extension_id;
      const details = { installId, job: name, trigger: "manual" };
      if (standing.kind === "waiting") {
        return refuse(actor, tenant, target, details, new JobsError("E_JOB_INSTALL_NOT_ACTIVE", `jobs.runNow: the install ${installId} is ${standing.state}; enable it to run its jobs`, { installId, state: standing.state }));
      }
      const { manifest, install } = standing.resolved;
      if (!manifest.jobs.some((job) => job.name === name)) {
        const declared = manifest.jobs.map((job) => job.name);
        return refuse(
          actor,
          tenant,
          target,
          details,
          new JobsError(
            "E_JOB_NOT_FOUND",
            `jobs.runNow: ${install.extensionId}@${install.version} declares no job named ${JSON.stringify(name)}${declared.length === 0 ? " (it declares no jobs)" : `; its jobs: ${declared.join(", ")}`}`,
            { field: "name", name, jobs: declared },
          ),
        );
      }
      // The schedule row of this install is read again first, so runNow works right after an install or upgrade.
      await store.sync(now(), { tenant: install.tenant, extensionId: install.extensionId });
      const claimed = await scheduler.claim(installId, name, actor);
      if (claimed === null) {
        const runId = await store.runningRun(installId, name, now());
        return refuse(actor, tenant, target, { ...details, runningRunId: runId }, new JobsError("E_JOB_RUNNING", `jobs.runNow: ${name} of install ${installId} is running (run ${runId ?? "?"}); try again when it finished`, { installId, name, runId }));
      }
      return deps.run(claimed);
    },

    async runs(filter) {
      if (filter === null || typeof filter !== "object" || typeof filter.installId !== "string" || !ID_PATTERN.test(filter.installId)) {
        throw new JobsError("E_JOBS_OPTIONS", "jobs.runs: installId must be an install id", { field: "installId" });
      }
      if (filter.name !== undefined && (typeof filter.name !== "string" || filter.name === "" || filter.name.length > 64)) {
        throw new JobsError("E_JOBS_OPTIONS", "jobs.runs: name must be a job name", { field: "name" });
      }
      if (filter.tenant !== undefined) checkTenant(filter.tenant, "jobs.runs");
      const limit = filter.limit ?? 50;
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
        throw new JobsError("E_JOBS_OPTIONS", "jobs.runs: limit must be a whole number from 1 to 1000", { field: "limit" });
      }
      if (filter.cursor !== undefined && (typeof filter.cursor !== "string" || !/^\d{1,19}$/.test(filter.cursor))) {
        throw new JobsError("E_JOBS_OPTIONS", "jobs.runs: cursor must be the cursor of a previous page", { field: "cursor" });
      }
      const rows = await store.runs({ installId: filter.installId, tenant: filter.tenant, name: filter.name, limit: limit + 1, beforeSeq: filter.cursor });
      const page = rows.slice(0, limit);
      return { items: page.map(({ seq: _seq, ...run }) => run), cursor: rows.length > limit ? page[page.length - 1]!.seq : null };
    },

    tick: () => scheduler.tick(),
  };
}
