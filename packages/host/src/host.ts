import { isAnnexError, parseTrustStore, type VerifiedBundle } from "@annex/manifest";
import { createHostDispatch, type EgressOptions, type Runner } from "@annex/runner";
import { createAuditLog, writeAudit, type AuditLog } from "./audit/audit-log.js";
import { auditDeniedCalls } from "./audit/denied-calls.js";
import type { BlobStore } from "./blobs/blob-store.js";
import { createDatabaseBlobStore } from "./blobs/database-blob-store.js";
import { createDatabaseWebhookSecrets, type DatabaseWebhookSecrets } from "./gateway/database-webhook-secrets.js";
import { lazyWorkerPool } from "./execution/default-runner.js";
import { createExecutor, type ExecuteEvent, type Executor, type InstallRevocation } from "./execution/executor.js";
import { createHostApis, executionOf } from "./execution/host-apis.js";
import { hostCallArgBytes } from "./execution/host-call-arg-bytes.js";
import { readInstallStanding } from "./execution/install-standing.js";
import { logExecutions } from "./observability/extension-logs.js";
import { defaultLogger, isLogger, type Logger } from "./observability/logger.js";
import { createHostMetrics, type HostMetrics, type HostMetricsOptions } from "./observability/metrics.js";
import { GatewayError } from "./gateway/errors.js";
import { ANSWER, type AnswerEntry } from "./gateway/answer.js";
import { createGateway, type GatewayWithAnswer } from "./gateway/gateway.js";
import type { Gateway, GatewayOptions, HostStores, RequestInfo } from "./gateway/types.js";
import { createFilesystemBlobStore } from "./blobs/filesystem-blob-store.js";
import { HostCapabilities, type HostCapability } from "./capabilities/host-capabilities.js";
import { checkMigrated, migrate } from "./database/migrate.js";
import { unreachable } from "./database/unreachable.js";
import { openDatabase, type AnnexDatabase, type DatabaseOption } from "./database/open.js";
import { DatabaseError } from "./database/errors.js";
import { postgresNotifications, type NotificationSource } from "./database/notifications.js";
import { listenInstallChanges } from "./gateway/install-changes.js";
import { INSTALL_MANAGER_METHODS, createInstallManager, type InstallManager } from "./installs/manager.js";
import { asyncMethods, createShutdownGate } from "./host-closed.js";
import type { InstallDataHook } from "./installs/types.js";
import { createRegistry, type ActorOptions, type Registry, type RegistryDeps, type TrustOptions } from "./registry/registry.js";
import type { BundleLoadLimits } from "./registry/bundle-cache.js";
import { errorSummary } from "./errors.js";
import { checkHostOptions } from "./host-options.js";
import { SecretsError } from "./secrets/errors.js";
import { SecretsKeyring, type SecretsKey, type SecretsKeyringOptions } from "./secrets/keyring.js";
import { createSecretsVault } from "./secrets/vault.js";
import type { ResealResult, UnreadableSecret } from "./secrets/reseal.js";
import { createSqlStorage, sqlLimitsOf, type SqlLimits, type SqlQueryResult, type SqlSchemaStatus } from "./storage/sql/sql-storage.js";
import { findInstallById, installExists, installNotFound } from "./installs/install-by-id.js";
import { createEventsRuntime, type EventsOptions } from "./events/runtime.js";
import type { DeadLetters, HostEvents } from "./events/host-events.js";
import { createJobsRuntime, type JobsOptions } from "./jobs/runtime.js";
import type { HostJobs } from "./jobs/host-jobs.js";
import { createKvApi } from "./storage/kv/host-kv.js";
import { createHostKv, type HostKv, type InstallKv } from "./storage/kv/install-kv.js";
import { createKvStorage, type KvOptions, type KvStorage } from "./storage/kv/storage.js";
import { startPGliteMaintenance } from "./database/pglite-maintenance.js";

export interface HostOptions {
  /** A Kysely instance, a postgres:// URL, a PGlite instance, `{ dataDir }`, or nothing for in-memory PGlite. */
  database?: DatabaseOption;
  /** PostgreSQL schema for Annex's tables (created when missing). Default: the connection's search_path. */
  schema?: string | undefined;
  /** Connections of the `pg` pool Annex opens when `database` is a connection string. Default 10. */
  poolSize?: number | undefined;
  /** Trust store, mode and trust-class policy. Default: an empty trust store in strict mode, which accepts nothing. */
  trust?: TrustOptions | undefined;
  /** The embedding app's own APIs offered to extensions as `host:<name>`. */
  capabilities?: readonly HostCapability[] | undefined;
  /** Keys that encrypt install secrets at rest. Without one, installs cannot be given secrets. */
  secrets?: SecretsKeyringOptions | undefined;
  /** Where bundle archives live. Default: the database; `{ directory }` for files. */
  blobs?: BlobStore | { directory: string } | undefined;
  /** Verified bundles kept in memory. Default 64. */
  bundleCacheSize?: number | undefined;
  /** Bytes the verified bundles kept in memory may hold: files, archives and a per-file overhead (see bundleWeight). Default 512 MiB; a heavier bundle is served without being kept. */
  bundleCacheBytes?: number | undefined;
  /**
   * Bundles read and verified at once host-wide when not in the cache
   * (`concurrent`, default 4), strangers' UI loads that may wait for a place
   * (`queued`, default 64; one more is answered 503 with Retry-After
   * `retryAfterSeconds`, default 1). Installs, upgrades and serving installs
   * always wait and go first. See docs/gateway.md, UI assets.
   */
  bundleLoads?: BundleLoadLimits | undefined;
  bundleLimits?: RegistryDeps["bundleLimits"];
  /** `ctx.kv` (`storage.kv`): quotas per install and how often expired keys are swept. See docs/kv.md. */
  kv?: KvOptions | undefined;
  /** Export and purge hooks for extension data kept outside the install (kv, owned schemas …); the host's own kv hook always runs first. */
  dataHooks?: readonly InstallDataHook[] | undefined;
  /**
   * Owned schemas (`storage.sql`): limits of `ctx.sql.query` and, on
   * PostgreSQL, whether each install's statements run as a role of its own
   * (default true; the host's database user needs CREATEROLE). See docs/storage-sql.md.
   */
  sql?: { limits?: SqlLimits | undefined; roles?: boolean | undefined } | undefined;
  /** Run Annex's migrations at start. Default true; turn off only when a deploy step runs `migrate` itself. */
  migrate?: boolean | undefined;
  /**
   * PGlite only (it runs no autovacuum): how often, in milliseconds, the host
   * applies PostgreSQL's autovacuum rule to its own tables, running VACUUM and
   * ANALYZE on those that changed enough. Default 10000; `false` leaves them
   * to you. Ignored on PostgreSQL, whose autovacuum does this.
   */
  maintenanceIntervalMs?: number | false | undefined;
  /**
   * Where extension handlers run. Default: a worker pool (one worker per core
   * but one, at most 4), started on first use and closed by `host.close()`. A runner you
   * pass (in-memory for tests, a pool with other options, `createRemoteRunner`
   * for a runner fleet) is yours to close. Whatever the runner, the host hands
   * it its own host APIs with every execution (secrets, host capabilities,
   * storage, events, egress): a runner's own `hostApis` are not used here.
   */
  runner?: Runner | undefined;
  /**
   * Egress policy of `ctx.http.fetch` (which hosts an install may reach is
   * its `http.fetch` grant; this sets the address rules, timeouts and sizes).
   * `false` turns egress off for every extension. Default: `DEFAULT_EGRESS`.
   */
  egress?: EgressOptions | false | undefined;
  /**
   * Called after every execution (endpoint, job or event) with its result,
   * usage and log lines; errors thrown by it are ignored.
   */
  onExecute?: ((event: ExecuteEvent) => void) | undefined;
  /**
   * Where Annex logs each extension log line, each failed execution and each
   * gateway decision, with request id, tenant, install, extension, version
   * and handler: a pino logger or anything with pino's `debug/info/warn/error(fields, message)`.
   * Default: pino to stdout at `ANNEX_LOG_LEVEL` (default "info"; "silent" for none).
   */
  logger?: Logger | undefined;
  /**
   * Prometheus metrics (prom-client) per install: executions, errors by code,
   * latency, CPU, memory peak, host calls, rate-limit refusals; read them from
   * `host.metrics`. `{ registry }` registers them in your own registry;
   * `false` turns them off. Default: a registry of the host's own.
   */
  metrics?: HostMetricsOptions | false | undefined;
  /** Clock in ms since the epoch (tests). Default `Date.now`. */
  now?: (() => number) | undefined;
  /**
   * Serve extension routes through `host.handle` and the adapters: the
   * embedding app's `authenticate` hook and the gateway's policies (see
   * docs/gateway.md). Without it, `host.handle` answers 503 E_GATEWAY_NOT_CONFIGURED.
   */
  gateway?: GatewayOptions | undefined;
  /**
   * Where the gateway keeps rate-limit buckets and accepted webhook
   * deliveries. Default: in this process's memory. When several host
   * processes serve one database, give each the same shared stores (Redis:
   * `@annex/bus-redis`) so that limits and replay protection hold across them.
   */
  stores?: HostStores | undefined;
  /**
   * How this host hears install changes made by other host processes, so
   * that a disable, upgrade or uninstall made anywhere applies to its next
   * request instead of after `gateway.policy.installCacheMs` (PostgreSQL
   * LISTEN/NOTIFY: a trigger announces every change of an install row).
   * Default: PGlite's own listen, or one connection of its own when
   * `database` is a connection string. When `database` is a Kysely instance,
   * pass a postgres:// URL for that connection; `false` does not listen
   * (leaving it unset there logs a warning at start and does not listen).
   */
  notifications?: string | false | undefined;
  /**
   * Events: the outbox relay that delivers published events to subscribed
   * installs, and the bus it hands deliveries to (see docs/events.md).
   * Default: the in-process bus, a relay polling in the background.
   */
  events?: EventsOptions | undefined;
  /**
   * Jobs: the scheduler that runs each active install's `jobs[]` on their
   * cron schedules, at most one run of a job at a time across every host
   * process on the database (see docs/jobs.md). Default: a scheduler in the
   * background; `{ scheduler: false }` leaves runs to `host.jobs.tick()` and `runNow`.
   */
  jobs?: JobsOptions | undefined;
}

export interface RotateSecretsKeyResult {
  /** The key every secret is now sealed with. */
  keyId: string;
  /** Secrets re-sealed by this call: install secrets and webhook secrets together. */
  resealed: number;
  /** Of which install secrets (`install(…, { secrets })`, `setSecrets`). */
  installSecrets: number;
  /** Of which webhook secrets (`host.webhookSecrets`). */
  webhookSecrets: number;
  /**
   * Secrets left under their old key because their ciphertext fails
   * authentication (altered, cut short, moved): no key opens them. Set them
   * again or remove them; the old key keeps rows until then. Also audited
   * (`secrets.rotate`, decision "error").
   */
  unreadable: UnreadableSecret[];
}

/** An embedded Annex: registry, per-tenant installs and their lifecycle, audit. */
export interface Host extends InstallManager {
  /** Verifies a bundle (per the trust options) and records its version; see Registry.publish. */
  publish: Registry["publish"];
  registry: Registry;
  audit: AuditLog;
  capabilities: HostCapabilities;
  database: AnnexDatabase;
  /**
   * Installs' owned schemas: `sql.query(installId, text, params)` runs one
   * statement through the same guard as `ctx.sql.query`; `sql.status(installId)`
   * is the schema version and migration ledger. Acting for one tenant (an
   * admin API), pass `{ tenant }`: another tenant's install is then refused
   * by `query` with E_INSTALL_NOT_FOUND, as if it did not exist, and `status`
   * answers null.
   */
  sql: {
    query(installId: string, text: string, params?: unknown[], options?: { tenant?: string | undefined }): Promise<SqlQueryResult>;
    status(installId: string, options?: { tenant?: string | undefined }): Promise<SqlSchemaStatus | null>;
  };
  /**
   * Re-seals every install secret under the current key, or under `newKey`
   * after adding it to the keyring and making it current. Keep old keys in
   * the host's configuration until this has run everywhere. Calls run one at
   * a time in a process; the switch waits for writes sealing with the old key.
   */
  rotateSecretsKey(newKey?: SecretsKey, options?: ActorOptions): Promise<RotateSecretsKeyResult>;
  /**
   * Answers a request of the extension path families (`/api/ext/…`,
   * `/ext/…/public/…`, `/ext/…/hooks/…`, `/ext-ui/…`) on web-standard
   * Request/Response; adapters: `@annex/host/express`, `@annex/host/node`.
   */
  handle(request: Request, info?: RequestInfo): Promise<Response>;
  /**
   * Per-install secrets of `verify: "annex"` webhooks, in the database, sealed
   * with the host's secrets keys; set and rotate are audited. The gateway uses
   * them unless `createHost({ gateway: { webhookSecrets } })` names another store.
   */
  webhookSecrets: DatabaseWebhookSecrets;
  /** Whether a pathname is under one of the gateway's prefixes (false without a gateway): adapters pass the rest on. */
  owns(pathname: string): boolean;
  /** The gateway behind `handle`, when `createHost({ gateway })` configured one. */
  gateway: Gateway | null;
  /** The runner executions go to: the one given to `createHost`, or the host's own worker pool. */
  runner: Runner;
  /** The logger Annex writes to. */
  logger: Logger;
  /** Extensions' kv (`ctx.kv`), for the app's own tools: `host.kv.install(installId).entries()`. */
  kv: HostKv;
  /**
   * Annex's Prometheus metrics (null with `metrics: false`): mount
   * `await host.metrics.text()` (with `host.metrics.contentType`) on a route
   * only your monitoring reaches, or merge `host.metrics.registry` into yours.
   */
  metrics: HostMetrics | null;
  /**
   * Events: `publish(tenant, type, payload, { trx })` from the app, the dead
   * letters (`list`, `replay`, `discard`), `drain()`.
   */
  events: HostEvents;
  /**
   * Jobs: `list({ tenant?, installId? })`, `runNow(installId, name, { actor })`,
   * `runs({ installId, name?, limit?, cursor? })`, `tick()`.
   */
  jobs: HostJobs;
  /**
   * Lets the requests already inside the gateway and the calls already made on the host (a manual job run)
   * finish, stops the scheduler and the relay (each lets its runs finish), closes the runner and the bus the
   * host made, and the database connection if the host opened it. Runs once: later calls get the same
   * promise. From the moment it is called the host's methods, and those of its objects (`host.jobs`,
   * `host.events`, `host.kv` …), reject with HostClosedError (E_HOST_CLOSED) and the gateway answers new
   * requests 503.
   */
  close(): Promise<void>;
}

// What a closed host refuses on its nested objects (the compiler checks each list is complete).
const REGISTRY_METHODS = asyncMethods<Registry>({ publish: true, getVersion: true, listVersions: true, latestVersion: true, listExtensions: true, loadBundle: true });
const INSTALL_KV_METHODS = asyncMethods<InstallKv>({ get: true, getEntry: true, set: true, delete: true, list: true, entries: true, usage: true, limits: true });

export async function createHost(options: HostOptions = {}): Promise<Host> {
  checkRunnerOption(options);
  // Unknown or misshapen options are refused before anything opens: a misspelt `databse` would leave the host on an in-memory database.
  checkHostOptions(options);
  if (options.logger !== undefined && !isLogger(options.logger)) {
    throw new GatewayError("E_GATEWAY_OPTIONS", "createHost({ logger }): logger must have debug, info, warn and error methods (a pino logger fits)", { field: "logger" });
  }
  const metrics = options.metrics === false ? null : createHostMetrics(options.metrics ?? {});
  const capabilities = new HostCapabilities(options.capabilities ?? []);
  const keyring = new SecretsKeyring(options.secrets);
  const trust: TrustOptions = {
    ...options.trust,
    store: parseTrustStore(options.trust?.store ?? { trustStoreVersion: 1, keys: [] }),
  };

  // A logger the host made is the host's to flush and close; one passed in is the caller's.
  let ownLogger: ReturnType<typeof defaultLogger> | undefined;
  let logger: Logger;
  const database = await openDatabase(options.database, {
    schema: options.schema,
    poolSize: options.poolSize,
    onConnectionError: (error) => logger.warn({ err: errorSummary(error) }, "database: a pooled connection failed outside a query; the pool replaces it"),
  });
  ownLogger = options.logger === undefined ? defaultLogger() : undefined;
  logger = options.logger ?? ownLogger!.logger;
  if (Object.prototype.hasOwnProperty.call(options, "database") && options.database === undefined) {
    // Named but empty: `database: process.env.DATABASE_URL` with the variable unset is a host that forgets everything.
    logger.warn(
      { field: "database" },
      "createHost({ database }): database is undefined (is the variable it is read from, e.g. DATABASE_URL, set?): running on an in-memory PGlite database, and nothing is kept when the process ends; leave database out to mean that",
    );
  }
  try {
    if (options.migrate !== false) await migrate(database.root, { schema: database.schema });
    else await checkMigrated(database.root, { schema: database.schema });
  } catch (error) {
    await database.close();
    await ownLogger?.close();
    throw unreachable(error, options.database) ?? error;
  }
  const { db } = database;

  const blobs: BlobStore =
    options.blobs === undefined
      ? createDatabaseBlobStore(db)
      : "directory" in options.blobs && typeof options.blobs.directory === "string"
        ? createFilesystemBlobStore({ directory: options.blobs.directory })
        : (options.blobs as BlobStore);

  const registry = createRegistry({
    db,
    blobs,
    trust,
    capabilities,
    bundleCacheSize: options.bundleCacheSize,
    bundleCacheBytes: options.bundleCacheBytes,
    bundleLoads: options.bundleLoads,
    bundleLimits: options.bundleLimits,
  });
  let kv: KvStorage;
  try {
    kv = createKvStorage({ db, schema: database.schema, singleSession: database.kind === "pglite", options: options.kv, now: options.now, logger });
  } catch (error) {
    await database.close();
    await ownLogger?.close();
    throw error;
  }
  // rotateSecretsKey switches the current key while writers seal: they take a lock on the schema the switch waits for.
  keyring.guardSwitches(database.schema);
  const vault = createSecretsVault(keyring);
  const webhookSecrets = createDatabaseWebhookSecrets({ db, keyring, now: options.now });
  let sqlStorage: ReturnType<typeof createSqlStorage>;
  try {
    // poolSize: the pool openDatabase made for a connection string (default 10), which maxConcurrentTotal's default follows.
    sqlStorage = createSqlStorage({ database, limits: options.sql?.limits, roles: options.sql?.roles, poolSize: typeof options.database === "string" ? (options.poolSize ?? 10) : undefined });
  } catch (error) {
    await database.close();
    await ownLogger?.close();
    throw error;
  }
  // A version whose server code does not load (its top level throws, a handler the manifest names is not exported)
  // fails its install or upgrade, rather than serving 502s; a runner that cannot be reached now leaves it to the first
  // execution (it answers E_RUNNER_UNAVAILABLE then, as any other).
  const loadCode = async (bundle: VerifiedBundle): Promise<void> => {
    if (bundle.manifest.runtime.class !== "service" || executor === undefined) return;
    try {
      await executor.ensureLoaded(bundle);
    } catch (error) {
      if (isAnnexError(error) && error.code !== "E_RUNNER_UNAVAILABLE") throw error;
    }
  };
  const installs = createInstallManager({ db, registry, vault, keyring, loadCode, dataHooks: [kv.dataHook, sqlStorage.hook, ...(options.dataHooks ?? [])] });
  const audit = createAuditLog(db);

  // The one assembly path: every execution, whatever triggers it, runs through this executor with the host's APIs.
  const ownRunner = options.runner === undefined;
  const runner = options.runner ?? lazyWorkerPool();
  let executor: Executor | undefined;
  let events: ReturnType<typeof createEventsRuntime>;
  let jobs: ReturnType<typeof createJobsRuntime>;
  try {
    // Both refuse bad options by throwing: the database opened above must not be left open behind the error.
    events = createEventsRuntime({
      database,
      registry,
      logger,
      metrics,
      now: options.now ?? Date.now,
      options: options.events,
      gatewayLimits: options.gateway?.policy?.limits,
      contextOf: (scope) => executor?.contextOf(scope),
    });
    jobs = createJobsRuntime({
      database,
      registry,
      logger,
      metrics,
      now: options.now ?? Date.now,
      options: options.jobs,
      gatewayLimits: options.gateway?.policy?.limits,
    });
  } catch (error) {
    await database.close();
    await ownLogger?.close();
    throw error;
  }
  const hostApis = createHostApis({
    revealSecret: (tenant, extensionId, name) => installs.revealSecret(tenant, extensionId, name),
    hostFault: (error, what, install) =>
      logger.error({ err: errorSummary(error), installId: install.id, tenant: install.tenant, extensionId: install.extensionId }, `${what} failed on the host; the extension was told only that`),
    capabilities,
    contextOf: (scope) => executor?.contextOf(scope),
    egress: options.egress,
    sql: {
      // The install is the one the host resolved for this execution, never a name the guest gave.
      // The execution's signal (aborted when it ends) drops its queued statements and cancels a running one.
      query: (text, params, scope, options) => {
        const { install, manifest } = executionOf({ contextOf: (s) => executor?.contextOf(s) }, scope).resolved;
        return sqlStorage.query(install.id, text, params, sqlLimitsOf(manifest), { signal: options?.signal });
      },
    },
    events: events.api,
    kv: createKvApi(kv, { contextOf: (scope) => executor?.contextOf(scope) }),
  });
  executor = createExecutor({
    runner,
    dispatch: createHostDispatch(hostApis),
    reporters: [
      logExecutions(logger),
      auditDeniedCalls(db, logger),
      ...(metrics === null ? [] : [(event: ExecuteEvent) => metrics.observe(event)]),
      ...(options.onExecute === undefined ? [] : [options.onExecute]),
    ],
    settle: events.settle,
    // An execution that outlived a change of its install reads where it stands before its next host call.
    standing: (installId) => readInstallStanding(db, installId),
    hostCallArgBytes: hostCallArgBytes({
      kvValueBytes: kv.policy.valueBytes,
      sqlTextLength: sqlStorage.argumentLimits.maxTextLength,
      sqlParamBytes: sqlStorage.argumentLimits.maxParamBytes,
      egress: options.egress,
    }),
  });
  let hostEvents: HostEvents;
  let hostJobs: HostJobs;
  try {
    hostEvents = await events.start(executor);
    hostJobs = jobs.start(executor);
  } catch (error) {
    await jobs.stop();
    await events.stop();
    if (ownRunner) await runner.close();
    await database.close();
    await ownLogger?.close();
    throw error;
  }

  const maintenance =
    database.kind === "pglite" && options.maintenanceIntervalMs !== false
      ? startPGliteMaintenance({ db: database.root, schema: database.schema, intervalMs: options.maintenanceIntervalMs ?? 10_000, logger })
      : undefined;

  // Closed when close() begins: from then on the host's methods refuse with E_HOST_CLOSED and the gateway answers 503.
  const gate = createShutdownGate();
  let closing: Promise<void> | undefined;
  const hostKv = createHostKv(kv, db);
  const installKv = hostKv.install;
  hostKv.install = (installId, kvOptions) => gate.guard(installKv(installId, kvOptions), INSTALL_KV_METHODS, "kv.install(…).");
  const host: Host = {
    ...installs,
    ...invalidatingLifecycle(installs, (tenant, extensionId, revoked) => {
      // Before the call returns: executions already running are refused (revoked) or check the install before their next host call.
      executor?.installChanged(tenant, extensionId, revoked);
      gateway?.invalidate(tenant, extensionId);
      jobs.invalidate({ tenant, extensionId });
    }),
    publish: registry.publish,
    // Copies: the gateway and the install manager hold the originals, and a request let finish by close() may still use them.
    registry: gate.guard({ ...registry }, REGISTRY_METHODS, "registry."),
    audit: gate.guard({ ...audit }, asyncMethods<AuditLog>({ list: true, write: true }), "audit."),
    capabilities,
    database,
    sql: {
      // The app's queries get the install's limits too (its manifest's, capped by the policy), as ctx.sql.query does.
      query: async (installId, text, params, options = {}) => {
        const found = await findInstallById(db, installId, options.tenant);
        // Without a tenant an unknown id is sqlStorage's to refuse; acting for a tenant, another tenant's install does not exist.
        if (found === null && options.tenant !== undefined) throw installNotFound(installId);
        return sqlStorage.query(installId, text, params, found?.version ? sqlLimitsOf(found.version.manifest) : undefined);
      },
      status: async (installId, options = {}) => {
        if (options.tenant !== undefined && !(await installExists(db, installId, options.tenant))) return null;
        return sqlStorage.status(installId);
      },
    },
    gateway: null,
    runner,
    logger,
    kv: gate.guard(hostKv, asyncMethods<HostKv>({ sweepExpired: true }), "kv."),
    metrics,
    webhookSecrets: gate.guard({ ...webhookSecrets }, asyncMethods<DatabaseWebhookSecrets>({ set: true, rotate: true, remove: true, reseal: true }), "webhookSecrets."),
    events: gate.guard(
      { ...hostEvents, deadLetters: gate.guard({ ...hostEvents.deadLetters }, asyncMethods<DeadLetters>({ list: true, replay: true, discard: true }), "events.deadLetters.") },
      asyncMethods<HostEvents>({ publish: true, drain: true }),
      "events.",
    ),
    // runNow included: close() lets a manual run that started before it finish, as the scheduler's own.
    jobs: gate.guard({ ...hostJobs }, asyncMethods<HostJobs>({ list: true, runNow: true, runs: true, tick: true }), "jobs."),
    owns: (pathname) => gateway?.owns(pathname) ?? false,
    handle: async (request, info) => (gateway === null ? gatewayNotConfigured() : gateway.handle(request, info)),
    rotateSecretsKey(newKey, rotateOptions) {
      // One rotation at a time: a second call waits, then rotates from the key the first left current,
      // so each reports (and audits) the key it sealed every secret with.
      return keyring.serialize(async () => {
        const actor = rotateOptions?.actor ?? "system";
        const named = typeof newKey?.id === "string" ? newKey.id : undefined;
        try {
          if (newKey !== undefined) keyring.add(newKey);
          if (keyring.currentKeyId === undefined) {
            throw new SecretsError("E_SECRETS_KEY_MISSING", "rotateSecretsKey needs a secrets key: pass one, or configure createHost({ secrets: { keys } })");
          }
        } catch (error) {
          // A refused rotation changes nothing, and says so in the audit log (never with key material).
          await writeAudit(db, {
            actor,
            tenant: null,
            action: "secrets.rotate",
            target: "secrets",
            decision: "deny",
            details: { keyId: named ?? keyring.currentKeyId ?? null, error: errorSummary(error) },
          }).catch(() => {});
          throw error;
        }
        const keyId = named ?? keyring.currentKeyId!;
        await writeAudit(db, { actor, tenant: null, action: "secrets.rotate", target: "secrets", decision: "allow", details: { keyId } });
        let installSecrets: ResealResult;
        let resealedWebhooks: ResealResult;
        try {
          // Once no writer is between sealing with the old key and its commit; new writes then seal with keyId.
          await keyring.switchTo(db, keyId);
          installSecrets = await vault.reseal(db);
          resealedWebhooks = await webhookSecrets.reseal();
        } catch (error) {
          // Once switched, new writes use the new key; what was re-sealed stays re-sealed. Running it again resumes.
          await writeAudit(db, { actor, tenant: null, action: "secrets.rotate", target: "secrets", decision: "error", details: { keyId, error: errorSummary(error) } }).catch(() => {});
          throw error;
        }
        const unreadable = [...installSecrets.unreadable, ...resealedWebhooks.unreadable];
        if (unreadable.length > 0) {
          // Named, never shown; the first 50 in the line, all of them in the result.
          const rows = unreadable.slice(0, 50).map(({ kind, installId, name, keyId: under }) => ({ kind, installId, name, keyId: under }));
          await writeAudit(db, { actor, tenant: null, action: "secrets.rotate", target: "secrets", decision: "error", details: { keyId, unreadable: unreadable.length, rows } });
        }
        return {
          keyId,
          resealed: installSecrets.resealed + resealedWebhooks.resealed,
          installSecrets: installSecrets.resealed,
          webhookSecrets: resealedWebhooks.resealed,
          unreadable,
        };
      });
    },
    // Once: a second call (a signal handler and a test's cleanup both closing) gets the same promise.
    close: () =>
      (closing ??= (async () => {
        gate.close();
        await stopListening?.();
        // Requests already inside the gateway run to their answer (new ones are refused with 503) before the
        // runner and the database go: closing under them answered 502 "the sandbox crashed".
        await gateway?.idle();
        // So do the calls made on the host before close(): a manual job run, an app's publish, an upgrade.
        await gate.idle(jobs.timeoutMs + 1000);
        await gateway?.drain();
        // Jobs first: a run that ends writes what it published to the outbox.
        await jobs.stop();
        await events.stop();
        await maintenance?.stop();
        if (ownRunner) await runner.close();
        await kv.close();
        await database.close();
        await ownLogger?.close();
      })()),
  };
  gate.guard(host, [...INSTALL_MANAGER_METHODS, "publish", "rotateSecretsKey"]);
  gate.guard(host.sql, ["query", "status"], "sql.");
  let gateway: GatewayWithAnswer | null = null;
  let stopListening: (() => Promise<void>) | undefined;
  try {
    gateway =
      options.gateway === undefined
        ? null
        : createGateway({ webhookSecrets, ...options.gateway, host, executor, logger, metrics, now: options.now, stores: options.stores, closed: gate.isClosed });
    const source = notificationSource(options.notifications, database);
    // The relay runs executions too, whose host calls must hear of changes made elsewhere.
    const listens = gateway !== null || jobs.background || options.events?.relay !== false;
    if (listens && source === undefined && options.notifications === undefined && database.kind === "postgres") {
      // A Kysely instance of the app's: Annex has no connection of its own to LISTEN on, and not choosing is easy to miss.
      logger.warn(
        { option: "notifications" },
        'createHost({ notifications }): database is a Kysely instance and notifications is not set, so this host does not hear install changes made by other host processes (they apply here after gateway.policy.installCacheMs); pass notifications: "postgres://…" for the one connection Annex opens to LISTEN on, or notifications: false when this is the only host process (docs/scale-out.md)',
      );
    }
    if (listens && source !== undefined) {
      const served = gateway;
      const running = executor;
      // Changes made by other host processes (or by SQL) reach this gateway's install cache, this scheduler
      // and the executions running here at once.
      stopListening = await listenInstallChanges({
        database,
        source,
        logger,
        onChange: (change) => {
          running.installChanged(change.tenant, change.extensionId);
          served?.invalidate(change.tenant, change.extensionId);
          jobs.invalidate({ tenant: change.tenant, extensionId: change.extensionId });
        },
        onGap: () => {
          running.installChanged();
          served?.invalidate();
          jobs.invalidate();
        },
      });
    }
  } catch (error) {
    // Refused options leave nothing open behind them.
    await jobs.stop();
    await events.stop();
    await maintenance?.stop();
    if (ownRunner) await runner.close();
    await database.close();
    await ownLogger?.close();
    throw error;
  }
  host.gateway = gateway;
  // The adapters' way in: the gateway's pipeline without the final web Response (see gateway/answer.ts).
  (host as Host & { [ANSWER]: AnswerEntry })[ANSWER] = {
    handle: host.handle,
    answer: (request, info) => (gateway === null ? Promise.resolve(gatewayNotConfigured()) : gateway[ANSWER].answer(request, info)),
  };
  return host;
}

/**
 * The gateway caches serving installs briefly, and the scheduler keeps
 * schedules: a lifecycle call made through this host must apply to the very
 * next request and the next claim (even without notifications), so each one
 * forgets the install when it settles, whether it succeeded or not.
 */
function invalidatingLifecycle(installs: InstallManager, invalidate: (tenant: string, extensionId: string, revoked?: InstallRevocation) => void): Partial<InstallManager> {
  const wrap =
    <A extends [string, string, ...unknown[]], R>(call: (...args: A) => Promise<R>, revokes?: InstallRevocation) =>
    async (...args: A): Promise<R> => {
      let done = false;
      try {
        const result = await call(...args);
        done = true;
        return result;
      } finally {
        // A disable, uninstall or upgrade that happened takes the authority of the install's running executions.
        invalidate(args[0], args[1], done ? revokes : undefined);
      }
    };
  return {
    install: wrap(installs.install),
    enable: wrap(installs.enable),
    disable: wrap(installs.disable, "disable"),
    upgrade: wrap(installs.upgrade, "upgrade"),
    uninstall: wrap(installs.uninstall, "uninstall"),
    recover: wrap(installs.recover),
    configure: wrap(installs.configure),
  };
}

function gatewayNotConfigured(): Response {
  return new Response(
    JSON.stringify({
      // The URN every gateway problem carries (problem.ts), so clients branch on one scheme.
      type: "urn:annex:problem:E_GATEWAY_NOT_CONFIGURED",
      title: "Extension gateway not configured",
      status: 503,
      code: "E_GATEWAY_NOT_CONFIGURED",
      detail: "Pass createHost({ gateway: { authenticate } }) to serve extension routes (see docs/gateway.md).",
    }),
    { status: 503, headers: { "content-type": "application/problem+json" } },
  );
}

function notificationSource(option: HostOptions["notifications"], database: AnnexDatabase): NotificationSource | undefined {
  if (option === false) return undefined;
  if (option === undefined) return database.notifications;
  if (typeof option !== "string" || !/^postgres(ql)?:\/\//.test(option)) {
    throw new DatabaseError("E_DATABASE_CONFIG", "createHost({ notifications }): a postgres:// connection string for the LISTEN connection, or false", { field: "notifications" });
  }
  return postgresNotifications(option);
}

/** Catches the setup of earlier versions, where the runner was a gateway option. */
function checkRunnerOption(options: HostOptions): void {
  // Anything but an object is checkHostOptions' to refuse.
  if (typeof options !== "object" || options === null) return;
  if (typeof options.gateway === "object" && options.gateway !== null && "runner" in options.gateway) {
    throw new GatewayError(
      "E_GATEWAY_OPTIONS",
      "createHost({ gateway: { runner } }): the runner is a host option now, since jobs and events run through it too; pass createHost({ runner, gateway: { authenticate } })",
      { field: "gateway.runner" },
    );
  }
  const runner = options.runner as Partial<Runner> | undefined;
  if (runner !== undefined && (runner === null || typeof runner.execute !== "function" || typeof runner.load !== "function")) {
    throw new GatewayError("E_GATEWAY_OPTIONS", "createHost({ runner }): runner must be a Runner from @annex/runner (createWorkerPoolRunner(), createInMemoryRunner(), createRemoteRunner())", {
      field: "runner",
    });
  }
}
