import type { CapabilityGrant, Manifest } from "@annex/manifest";

/**
 * The data the components take. Each is the subset of an @annex/host type
 * that the console shows (this package runs in browsers and does not depend
 * on the host), so a host passes its objects as they are: an `InstallInfo`
 * is an `AdminInstall`, a `PublishedVersion` an `AdminVersion`, an
 * `AuditEntry` an `AdminAuditEntry`. Dates may be `Date`s or ISO strings, as
 * they arrive after a trip through JSON.
 */
export type DateLike = Date | string | number;

/** An install's lifecycle state, as @annex/host names them. */
export type AdminInstallState = "installing" | "active" | "disabled" | "upgrading" | "failed" | "uninstalled";

/** `InstallInfo` of @annex/host: one extension installed for one tenant. */
export interface AdminInstall {
  id: string;
  tenant: string;
  extensionId: string;
  version: string;
  contentHash: string;
  state: AdminInstallState;
  targetVersion?: string | null | undefined;
  grants: CapabilityGrant[];
  config: Record<string, unknown>;
  revision?: number | undefined;
  lastError?: { code: string; message: string } | null | undefined;
  updatedAt?: DateLike | undefined;
}

/** `PublishedVersion` of @annex/host: one published version of an extension, with its manifest and provenance. */
export interface AdminVersion {
  extensionId: string;
  version: string;
  publisher: string;
  contentHash: string;
  manifest: Manifest;
  provenance: { signed: boolean; mode?: "strict" | "dev" | undefined; keyId?: string | null | undefined; trustClass: string | null };
  publishedAt?: DateLike | undefined;
}

/** `AuditEntry` of @annex/host. */
export interface AdminAuditEntry {
  id: string;
  at: DateLike;
  actor: string;
  tenant: string | null;
  action: string;
  target: string;
  decision: "allow" | "deny" | "error";
  details: Record<string, unknown>;
}

/** `DeadLetter` of @annex/host: a delivery of an event to an install that failed every attempt. */
export interface AdminDeadLetter {
  /** What replay and discard take (the handler's `event.id`). */
  deliveryId: string;
  eventId: string;
  tenant: string;
  type: string;
  installId: string;
  /** Null when the install has been purged since. */
  extensionId: string | null;
  attempts: number;
  lastError: { code: string; message: string } | null;
  payload: unknown;
  occurredAt: DateLike;
  /** When the last attempt failed. */
  failedAt: DateLike;
  /** The install was uninstalled since (`DeadLetter.installGone` of @annex/host): nothing would run a replay. */
  installGone?: boolean | undefined;
}

/** A job's error as @annex/host records it (`ErrorSummary`): a code and a message. */
export interface AdminJobError {
  code: string;
  message: string;
}

/** `JobInfo` of @annex/host (`host.jobs.list()`): one job of one install and its schedule. */
export interface AdminJob {
  installId: string;
  tenant: string;
  extensionId: string;
  name: string;
  cron: string;
  /** The time zone the cron is read in. */
  timezone: string;
  /** Null while the install is disabled (the schedule is paused). */
  nextRunAt: DateLike | null;
  /** A run holds the job now, in some host process. */
  running: boolean;
  /** The last finished run. */
  lastRun?: { runId: string; scheduledAt: DateLike; startedAt: DateLike; finishedAt: DateLike; outcome: "ok" | "error"; error?: AdminJobError | null | undefined } | null | undefined;
}

/** `JobRun` of @annex/host (`host.jobs.runs()`): one run in a job's history. */
export interface AdminJobRun {
  runId: string;
  installId: string;
  extensionId: string;
  version: string;
  name: string;
  /** `schedule` for the scheduler's runs, `manual` for Run now. */
  trigger: "schedule" | "manual";
  actor: string;
  scheduledAt: DateLike;
  startedAt: DateLike;
  finishedAt: DateLike | null;
  durationMs: number | null;
  outcome: "running" | "ok" | "error";
  error?: AdminJobError | null | undefined;
}

/**
 * What a Run now came to, as the host passes it to `runFinished()`: a
 * `JobRunResult` of `host.jobs.runNow()` (the run's outcome, its error and
 * duration), or a refusal (`E_JOB_RUNNING`, `E_JOB_INSTALL_NOT_ACTIVE` …)
 * as `{ outcome: "error", error }`, nothing having run.
 */
export interface AdminJobRunResult {
  outcome: "ok" | "error";
  error?: AdminJobError | null | undefined;
  durationMs?: number | null | undefined;
  runId?: string | undefined;
}

/** One applied migration of an owned schema (`SqlSchemaStatus.migrations` of @annex/host). */
export interface AdminSqlMigration {
  version: string;
  name: string;
  /** `sha256:<hex>` of the migration file's bytes (the component shows the first 12 hex digits). */
  checksum: string;
  appliedAt: DateLike;
  durationMs: number;
}

/** `SqlSchemaStatus` of @annex/host (`InstallInfo.sql`): an install's owned schema and its migrations. */
export interface AdminSqlSchema {
  schema: string;
  /** The last applied migration (`0003`), null before the first. */
  version: string | null;
  /** `failed`: the last install or upgrade stopped at a migration; the schema stays at `version`. */
  status: "pending" | "ready" | "failed";
  /** Applied migrations, oldest first. */
  migrations: AdminSqlMigration[];
  lastError: { code: string; message: string } | null;
  /** Disk its tables take with their indexes, bytes (absent when the host could not measure it). */
  bytes?: number | undefined;
  /** The host's quota for `bytes` (`maxSchemaBytes`): at it, writes that can grow the schema fail with E_SQL_QUOTA. */
  maxBytes?: number | undefined;
}

/**
 * An install's kv (`storage.kv`): what it uses (`host.kv.install(id).usage()`,
 * a `KvUsage`) against its quotas (`host.kv.install(id).limits()`, a
 * `KvLimits`: the manifest's `storage.limits` capped by the host's policy).
 */
export interface AdminKvStorage {
  usage: { keys: number; bytes: number };
  limits: { keys: number; totalBytes: number; keyBytes?: number | undefined; valueBytes?: number | undefined };
}

/** One install's storage as `<annex-storage>` shows it: its kv, its owned schema, or both. */
export interface AdminInstallStorage {
  installId: string;
  extensionId: string;
  version: string;
  /** The install's lifecycle state. */
  state?: AdminInstallState | undefined;
  kv?: AdminKvStorage | null | undefined;
  sql?: AdminSqlSchema | null | undefined;
}

/** The filter fields of @annex/host's `AuditFilter` that the audit table offers. */
export interface AdminAuditFilter {
  actor?: string | undefined;
  /** An exact action, or a prefix ending in "." (e.g. "install."). */
  action?: string | undefined;
  target?: string | undefined;
  decision?: "allow" | "deny" | "error" | undefined;
  /** A Date, or an ISO string or epoch milliseconds as they arrive through JSON. */
  since?: DateLike | undefined;
  until?: DateLike | undefined;
}

/** One problem with a config value, as @annex/host's `ConfigError.issues` lists them (`path`: `config.<key>`). */
export interface ConfigIssue {
  path: string;
  message: string;
}

/**
 * One execution of an install, for the usage panel. @annex/host's
 * `ExecuteEvent` (from `onExecute`) maps to it with `usageRecordOf(event)`.
 */
export interface UsageRecord {
  at: DateLike;
  ok: boolean;
  /** The typed error code of a failed execution, e.g. E_TIMEOUT. */
  errorCode?: string | undefined;
  wallMs: number;
  cpuMs: number;
  memoryPeakBytes: number;
}

/** What the usage panel shows; `summarizeUsage(records)` computes it, or a host fills it from its metrics. */
export interface UsageSummary {
  executions: number;
  errors: number;
  /** Failed executions by error code. */
  errorsByCode: Record<string, number>;
  latencyMs: { p50: number; p95: number; max: number };
  cpuMs: { total: number; p95: number };
  memoryPeakBytes: { max: number };
  /** Executions per time bucket, oldest first (for the chart); may be empty. */
  series: Array<{ t: DateLike; executions: number; errors: number; p95Ms: number }>;
}
