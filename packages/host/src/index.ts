// Host
export { createHost } from "./host.js";
export type { Host, HostOptions, RotateSecretsKeyResult } from "./host.js";
export { HostOptionsError } from "./host-options.js";
export type { HostOptionsErrorCode } from "./host-options.js";

// Registry
export { RegistryError } from "./registry/errors.js";
export type { RegistryErrorCode } from "./registry/errors.js";
export type { ActorOptions, PublishResult, PublishedVersion, Registry, TrustOptions } from "./registry/registry.js";

// Installs and lifecycle
export type { InstallManager } from "./installs/manager.js";
export type {
  InstallDataHook,
  InstallExport,
  InstallInfo,
  InstallOptions,
  LifecycleOptions,
  ResolvedInstall,
  UninstallOptions,
  UninstallResult,
  UpgradeOptions,
} from "./installs/types.js";
/** What an install is granted (a list of them is `install`'s `grants`): from @annex/manifest, named here for apps that type a list ahead. */
export type { CapabilityGrant } from "@annex/manifest";
export { InstallError } from "./installs/errors.js";
export type { InstallErrorCode } from "./installs/errors.js";
export { ConfigError, validateConfig } from "./installs/config.js";
export type { ConfigIssue } from "./installs/config.js";
export { INSTALL_STATES, TRANSITIONS, LifecycleError, assertTransition, canTransition } from "./lifecycle/states.js";
export type { InstallState } from "./lifecycle/states.js";

// Secrets
export { SecretsError } from "./secrets/errors.js";
export type { SecretsErrorCode } from "./secrets/errors.js";
export { generateSecretsKey } from "./secrets/keyring.js";
export type { SecretsKey, SecretsKeyringOptions } from "./secrets/keyring.js";
export { MAX_SECRET_BYTES } from "./secrets/vault.js";
export type { ResealResult, UnreadableSecret } from "./secrets/reseal.js";

// Extension storage: kv
export * from "./storage/kv/index.js";

// Host capabilities
export { HostCapabilities, HostCapabilityError, defineHostCapability } from "./capabilities/host-capabilities.js";
export type { HostCapability, HostCapabilityContext, HostCapabilityErrorCode, InvokeHostCapability } from "./capabilities/host-capabilities.js";

// Audit
export { ANNEX_AUDIT_NAMESPACES, AuditError } from "./audit/audit-log.js";
export type { AuditDecision, AuditEntry, AuditFilter, AuditLog, NewAuditEntry } from "./audit/audit-log.js";

// Blob stores
export { HostClosedError } from "./host-closed.js";
export type { HostClosedErrorCode } from "./host-closed.js";
export { BlobStoreError } from "./blobs/blob-store.js";
export type { BlobStore, BlobStoreErrorCode } from "./blobs/blob-store.js";
export { createDatabaseBlobStore } from "./blobs/database-blob-store.js";
export { createFilesystemBlobStore } from "./blobs/filesystem-blob-store.js";
export type { FilesystemBlobStoreOptions } from "./blobs/filesystem-blob-store.js";

// Database
export { DatabaseError, MigrationError } from "./database/errors.js";
export type { DatabaseErrorCode, MigrationErrorCode } from "./database/errors.js";
export { ANNEX_MIGRATIONS } from "./database/migrations.js";
export type { Migration } from "./database/migrations.js";
export { checkMigrated, migrate, migrationChecksum, readLedger } from "./database/migrate.js";
export type { LedgerEntry, MigrateOptions, MigrateResult } from "./database/migrate.js";
export { openDatabase } from "./database/open.js";
export { lockDataDir, type DataDirLock } from "./database/data-dir-lock.js";
export type { AnnexDatabase, DatabaseOption, OpenDatabaseOptions } from "./database/open.js";
export { PGliteDialect } from "./database/pglite-dialect.js";
export type { PGlitePipeline } from "./database/pglite-dialect.js";
export type { AnnexTables } from "./database/tables.js";
export type { ErrorSummary } from "./errors.js";

// Owned schemas (storage.sql)
export { SqlStorageError } from "./storage/sql/errors.js";
export type { SqlErrorCode } from "./storage/sql/errors.js";
export { installSchemaName } from "./storage/sql/schema-name.js";
export type { SqlLimits, SqlQueryResult, SqlSchemaStatus } from "./storage/sql/sql-storage.js";

// Executions (gateway, events, jobs all run through one executor)
export { ExecutionError } from "./execution/errors.js";
export type { ExecutionErrorCode } from "./execution/errors.js";
export type { ExecuteEvent, ExecutionTrigger } from "./execution/executor.js";

// Events: the bus between the outbox relay and the consumers that run deliveries
export { BusError, parseBusMessage } from "./events/bus.js";
export type { Bus, BusConsumer, BusErrorCode, BusHandler, BusMessage } from "./events/bus.js";
export { createInProcessBus } from "./events/in-process-bus.js";
export { EventsError } from "./events/errors.js";
export type { EventsErrorCode } from "./events/errors.js";
export { MAX_EVENT_PAYLOAD_BYTES } from "./events/event-types.js";
export type { DeadLetter, DeadLetterActionOptions, DeadLetterFilter, DeadLetters, HostEvents, PublishOptions } from "./events/host-events.js";
export type { DrainResult } from "./events/relay.js";
export type { EventsOptions } from "./events/runtime.js";
export type { BackoffOptions } from "./events/backoff.js";
export { JobsError } from "./jobs/errors.js";
export type { JobsErrorCode } from "./jobs/errors.js";
export type { HostJobs, JobRunNowOptions, JobRunsFilter, JobsListFilter } from "./jobs/host-jobs.js";
export type { JobInfo, JobRun } from "./jobs/job-store.js";
export type { JobRunResult } from "./jobs/run-job.js";
export type { TickResult } from "./jobs/scheduler.js";
export type { JobsOptions } from "./jobs/runtime.js";
export { TIMEZONE_CONFIG_KEY } from "./jobs/schedule.js";

// Observability
export type { Logger } from "./observability/logger.js";
export type { HostMetrics, HostMetricsOptions } from "./observability/metrics.js";

// Gateway and UI assets
export * from "./gateway/index.js";
export * from "./assets/index.js";
