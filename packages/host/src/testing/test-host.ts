import { fileURLToPath } from "node:url";
import { AnnexError, type BundleSignature, type CapabilityGrant, type Manifest } from "@annex/manifest";
import { createInMemoryRunner, type EgressOptions, type LogEntry, type Principal, type Runner } from "@annex/runner";
import type { AuditLog } from "../audit/audit-log.js";
import type { HostCapability } from "../capabilities/host-capabilities.js";
import type { DatabaseOption } from "../database/open.js";
import type { ExecuteEvent } from "../execution/executor.js";
import type { DatabaseWebhookSecrets } from "../gateway/database-webhook-secrets.js";
import type { Gateway, GatewayPolicy, Authorize, HostStores } from "../gateway/types.js";
import { createHost, type Host, type HostOptions } from "../host.js";
import { checkOptionNames, keysOf } from "../host-options.js";
import type { Logger } from "../observability/logger.js";
import { sql } from "kysely";
import { pino } from "pino";
import type { InstallInfo, UninstallResult } from "../installs/types.js";
import type { DeadLetter, PublishOptions } from "../events/host-events.js";
import type { DrainResult } from "../events/relay.js";
import type { EventsOptions } from "../events/runtime.js";
import type { JobsOptions } from "../jobs/runtime.js";
import type { JobRunResult } from "../jobs/run-job.js";
import type { TickResult } from "../jobs/scheduler.js";
import type { PublishResult } from "../registry/registry.js";
import type { SqlQueryResult, SqlSchemaStatus } from "../storage/sql/sql-storage.js";
import { generateSecretsKey } from "../secrets/keyring.js";
import type { InstallKv } from "../storage/kv/install-kv.js";
import type { KvOptions } from "../storage/kv/storage.js";
import { startTestServer, type TestServer, type TestServerOptions } from "./frame-server.js";
import { loadBuild } from "./load-build.js";
import { PGLITE_SNAPSHOT_ENV, readPGliteSnapshot } from "./pglite-snapshot.js";

export type TestHostErrorCode = "E_TEST_HOST_SOURCE" | "E_TEST_HOST_REQUEST";

/** A test host was handed something it cannot install or send. */
export class TestHostError extends AnnexError {
  declare readonly code: TestHostErrorCode;

  constructor(code: TestHostErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
  }
}

export const TEST_TENANT = "test-tenant";
/** The origin `t.request` builds its requests on. */
export const TEST_HOST_ORIGIN = "http://annex.test";

export interface TestHostOptions {
  /** Default: a fresh in-memory PGlite. Tests that share one database pass it with a fresh `schema`. */
  database?: DatabaseOption;
  /**
   * Without `database`: a file `writePGliteSnapshot` wrote, which the in-memory
   * PGlite starts from (`{ loadDataDir }`, ≈1 s) instead of running initdb
   * (≈3 s). Default: `process.env.ANNEX_TEST_PGLITE_SNAPSHOT`; none: initdb.
   * A file that is missing or not such a snapshot fails with `E_PGLITE_SNAPSHOT`.
   */
  pgliteSnapshot?: string | undefined;
  schema?: string | undefined;
  /**
   * Trust store, mode and policy, as `createHost({ trust })` and passed through
   * as given (so `mode` defaults to "strict" there: add `mode: "dev"` to accept
   * unsigned bundles too). Needed to install a bundle signed by `annex sign`:
   * its key must be in `store`. Default: an empty store in "dev" mode, which
   * accepts unsigned bundles only.
   */
  trust?: HostOptions["trust"];
  /** Host capabilities (fakes welcome): published manifests may ask for these. */
  capabilities?: readonly HostCapability[] | undefined;
  /** kv quotas and sweeping, as `createHost({ kv })`. */
  kv?: KvOptions | undefined;
  /** Egress policy of `ctx.http.fetch`, as `createHost({ egress })`. */
  egress?: EgressOptions | false | undefined;
  /**
   * Another runner (e.g. a worker pool, to test as production runs). It gets
   * the host's APIs with every execution, like any runner given to createHost.
   * Default: an in-memory runner, closed by `close()`.
   */
  runner?: Runner | undefined;
  /** Rate-limit and replay stores, as `createHost({ stores })` (e.g. Redis-backed ones shared with other hosts). Default: in memory. */
  stores?: HostStores | undefined;
  /** Gateway policy; rate limits are off unless given. */
  policy?: GatewayPolicy | undefined;
  authorize?: Authorize | undefined;
  /** The tenant used when a call names none. Default "test-tenant". */
  tenant?: string | undefined;
  /** Frame ancestors of UI assets. */
  frameAncestors?: readonly string[] | undefined;
  now?: (() => number) | undefined;
  /** Owned-schema limits and roles, as `createHost({ sql })`. */
  sql?: HostOptions["sql"];
  /** PGlite's stand-in for autovacuum, as `createHost({ maintenanceIntervalMs })`. */
  maintenanceIntervalMs?: HostOptions["maintenanceIntervalMs"];
  /** Where the host logs. Default: a pino logger at "debug" that records into `t.logged` and prints nothing. */
  logger?: Logger | undefined;
  /**
   * Event options as `createHost({ events })`. The test host runs no relay in
   * the background unless `relay: true` is given: `t.relay.drain()` delivers,
   * so tests are deterministic. Default retries: 3 attempts, 1 s then 2 s
   * (with jitter).
   */
  events?: EventsOptions | undefined;
  /**
   * Job options as `createHost({ jobs })`. The test host runs no scheduler in
   * the background unless `scheduler: true` is given: `t.jobs.run()` runs a
   * job now and `t.jobs.tick()` runs what is due at `now`, so tests are deterministic.
   */
  jobs?: JobsOptions | undefined;
}

/** Every option of createTestHost, once (the compiler checks the list): any other is refused, as createHost refuses its own. */
const TEST_HOST_KEYS = keysOf<TestHostOptions>({
  database: true,
  pgliteSnapshot: true,
  schema: true,
  trust: true,
  capabilities: true,
  kv: true,
  egress: true,
  runner: true,
  stores: true,
  policy: true,
  authorize: true,
  tenant: true,
  frameAncestors: true,
  now: true,
  sql: true,
  maintenanceIntervalMs: true,
  logger: true,
  events: true,
  jobs: true,
});

/** One line the host's logger wrote, as pino's JSON: `level` (number), `msg`, and the fields. */
export type LoggedRecord = Record<string, unknown> & { level: number; msg: string };

/**
 * The source of an extension: its folder (path or file: URL), or .annex bytes.
 * A folder is packed as `annex pack` packs it (with @annex/build, an optional
 * peer dependency): `runtime.source` and the UI pages are built on the fly.
 */
export type ExtensionSource = string | URL | Uint8Array;

export interface TestInstallOptions {
  /** Default: exactly what the manifest requests (the test consents to everything). */
  grants?: CapabilityGrant[] | undefined;
  config?: Record<string, unknown> | undefined;
  secrets?: Record<string, string> | undefined;
  tenant?: string | undefined;
  /** A detached signature (`annex sign`'s .sig file, parsed); its key must be in `createTestHost({ trust })`. Unsigned bundles are accepted under the default dev trust. */
  signature?: BundleSignature | null | undefined;
}

export interface TestRequestOptions {
  /** The signed-in user for api endpoints: a principal, or a user id (tenant: the default, no roles). */
  as?: Principal | { user: Principal["user"]; roles?: string[]; tenant?: string } | string | undefined;
  /** Tenant of public and webhook requests. Default: the principal's, else the default tenant. */
  tenant?: string | undefined;
  /** A plain object or array is sent as JSON; a string as text; bytes as they are. */
  body?: unknown;
  headers?: Record<string, string> | undefined;
  /** Client address for per-client rate limits. */
  clientAddress?: string | undefined;
}

export interface TestLogEntry extends LogEntry {
  requestId: string;
  extensionId: string;
  handler: string;
}

/** An event the outbox holds, as `t.events.published()` lists it. */
export interface PublishedEvent {
  id: string;
  tenant: string;
  type: string;
  payload: unknown;
  /** The install whose handler published it, or "app" for `host.events.publish` (and `t.events.publish`). */
  publisher: { installId: string; extensionId: string | null } | "app";
  /** 0 for the app's events; one more than the event being handled for one a handler published. */
  depth: number;
  occurredAt: string;
}

/** Which events `t.events.published()` lists; every field narrows. */
export interface PublishedFilter {
  type?: string | undefined;
  tenant?: string | undefined;
  /** Events published by this extension's handlers (any tenant's install unless `tenant` is given). */
  extensionId?: string | undefined;
  installId?: string | undefined;
}

export interface TestHost {
  host: Host;
  gateway: Gateway;
  runner: Runner;
  audit: AuditLog;
  /** Secrets of `verify: "annex"` webhooks (the host's own store); `webhookSecret()` is the shortcut. */
  webhookSecrets: DatabaseWebhookSecrets;
  /** Every log line of every execution, oldest first. */
  logs: TestLogEntry[];
  /** Everything the host's logger wrote (extension lines, failed executions, gateway decisions), oldest first; empty when `logger` was given. */
  logged: LoggedRecord[];
  /** Every execution's result, oldest first. */
  executions: ExecuteEvent[];
  publish(source: ExtensionSource, signature?: BundleSignature | null): Promise<PublishResult>;
  /** Publishes the source and installs that version for a tenant. */
  install(source: ExtensionSource, options?: TestInstallOptions): Promise<InstallInfo>;
  /** Publishes the source and upgrades the tenant's install to it. */
  upgrade(source: ExtensionSource, options?: TestInstallOptions): Promise<InstallInfo>;
  enable(extensionId: string, options?: { tenant?: string }): Promise<InstallInfo>;
  disable(extensionId: string, options?: { tenant?: string }): Promise<InstallInfo>;
  uninstall(extensionId: string, options?: { tenant?: string; purge?: boolean }): Promise<UninstallResult>;
  /**
   * An install's own kv, for assertions on what its handlers stored (and for
   * seeding it): the store `ctx.kv` writes to, in the same namespace.
   * `t.kv(install.id).get("counter")`.
   */
  kv(installId: string): InstallKv;
  /** Sets (once) and returns the webhook secret of a tenant's install. */
  webhookSecret(extensionId: string, options?: { tenant?: string }): Promise<string>;
  /**
   * An install's owned schema, for assertions on the extension's own data:
   * `t.sql(install.id).query("SELECT …", params)` runs through the same guard
   * and limits as `ctx.sql.query`; `status()` is the schema version and ledger.
   */
  sql(installId: string): { query(text: string, params?: unknown[]): Promise<SqlQueryResult>; status(): Promise<SqlSchemaStatus | null> };
  /**
   * Serves the test host over HTTP on 127.0.0.1, with frame pages that mount
   * an install's UI page through the bridge, for browser tests:
   * `(await t.listen()).framePage("acme.hello", { as: "u1" })`. Closed by
   * `t.close()`. Needs @annex/build and @annex/iframe-bridge (dev dependencies).
   */
  listen(options?: TestServerOptions): Promise<TestServer>;
  /** Sends a request through the gateway, without a server. `path` is e.g. "/api/ext/acme.x/stats?days=7". */
  request(method: string, path: string, options?: TestRequestOptions): Promise<Response>;
  events: {
    /** Publishes an event from the app (`host.events.publish`), for the default tenant unless `tenant` is given. */
    publish(type: string, payload?: unknown, options?: PublishOptions & { tenant?: string }): Promise<{ id: string }>;
    /**
     * The events the outbox holds, oldest first, for assertions on what a
     * handler published (`ctx.events.publish`): what it wrote, whether or
     * not anything subscribes. Delivered events stay listed until the
     * outbox's retention removes them (by the host's `now`).
     */
    published(filter?: PublishedFilter): Promise<PublishedEvent[]>;
  };
  relay: {
    /** Delivers every event due now through the runner, and returns when done; move `now` forward for retries. */
    drain(): Promise<DrainResult>;
  };
  /** The dead letters of every tenant, oldest first. */
  deadLetters(): Promise<DeadLetter[]>;
  jobs: {
    /** Runs an install's job now, through the same path as a scheduled run (`host.jobs.runNow`, actor "test"), and returns its result. */
    run(installId: string, name: string): Promise<JobRunResult>;
    /** Runs every job due at the host's `now` (one catch-up each), and returns when they finished. */
    tick(): Promise<TickResult>;
  };
  close(): Promise<void>;
}

/**
 * A whole Annex host in one call, for an extension's own tests and the
 * host's: `createHost` with PGlite in memory, the in-memory runner, dev trust
 * (unsigned bundles are accepted; `trust` for signed ones), a throwaway secrets key, and the gateway
 * without a server. It is the production host with conveniences: the same
 * wiring of host APIs, gateway and audit; only the defaults differ.
 *
 * ```ts
 * const t = await createTestHost();
 * await t.install(new URL("..", import.meta.url)); // the folder holding annex.json and the built entry
 * const res = await t.request("GET", "/api/ext/acme.hello/hello/Ada", { as: "u1" });
 * expect(await res.json()).toEqual({ message: "Hello, Ada!" });
 * await t.close();
 * ```
 */
export async function createTestHost(options: TestHostOptions = {}): Promise<TestHost> {
  // Before the runner starts: `{ databse: url }` would otherwise quietly run the test on PGlite.
  checkOptionNames(options, TEST_HOST_KEYS, "createTestHost");
  const defaultTenant = options.tenant ?? TEST_TENANT;
  const ownRunner = options.runner === undefined;
  const runner = options.runner ?? createInMemoryRunner();
  const principals = new WeakMap<Request, Principal>();
  const tenants = new WeakMap<Request, string>();
  const logs: TestLogEntry[] = [];
  const executions: ExecuteEvent[] = [];
  const logged: LoggedRecord[] = [];
  const logger = options.logger ?? pino({ level: "debug" }, { write: (line: string) => void logged.push(JSON.parse(line) as LoggedRecord) });

  let host: Host;
  try {
    const snapshot = options.database === undefined ? (options.pgliteSnapshot ?? process.env[PGLITE_SNAPSHOT_ENV]) : undefined;
    host = await createHost({
      database: snapshot === undefined || snapshot === "" ? options.database : { loadDataDir: await readPGliteSnapshot(snapshot) },
      schema: options.schema,
      trust: options.trust ?? { store: { trustStoreVersion: 1, keys: [] }, mode: "dev" },
      // A throwaway key: secrets given to installs under test are sealed as in production.
      secrets: { keys: [{ id: "test", key: generateSecretsKey() }] },
      capabilities: options.capabilities,
      runner,
      egress: options.egress,
      sql: options.sql,
      kv: options.kv,
      maintenanceIntervalMs: options.maintenanceIntervalMs,
      logger,
      now: options.now,
      stores: options.stores,
      events: { maxAttempts: 3, backoff: { baseMs: 1000, maxMs: 60_000 }, ...options.events, relay: options.events?.relay === true },
      jobs: { ...options.jobs, scheduler: options.jobs?.scheduler === true },
      onExecute(event) {
        executions.push(event);
        for (const line of event.result.logs) logs.push({ ...line, requestId: event.requestId, extensionId: event.extensionId, handler: event.handler });
      },
      gateway: {
        // t.request() says who is calling; production apps read their session here.
        authenticate: (request) => principals.get(request) ?? null,
        resolveTenant: (request) => tenants.get(request) ?? null,
        authorize: options.authorize,
        policy: { rateLimits: { api: false, public: false, webhook: false }, clientRateLimits: { public: false, webhook: false }, exposeErrors: true, ...options.policy },
        assets: options.frameAncestors === undefined ? undefined : { frameAncestors: options.frameAncestors },
      },
    });
  } catch (error) {
    if (ownRunner) await runner.close();
    throw error;
  }
  const gateway = host.gateway!;
  let closing: Promise<void> | undefined;
  const servers: TestServer[] = [];

  const publish = async (source: ExtensionSource, signature: BundleSignature | null = null): Promise<PublishResult> => {
    const bytes = await bundleBytes(source);
    return host.publish(bytes, signature, { actor: "test" });
  };

  /** Publishes the source, then installs or upgrades that version for the tenant, consenting to what it requests unless told otherwise. */
  const publishAnd = async (action: "install" | "upgrade", source: ExtensionSource, options: TestInstallOptions): Promise<InstallInfo> => {
    const published = await publish(source, options.signature ?? null);
    const tenant = options.tenant ?? defaultTenant;
    return host[action](tenant, published.extensionId, {
      version: published.version,
      grants: options.grants ?? requestedGrants(published.manifest),
      config: options.config,
      secrets: options.secrets,
      actor: "test",
    });
  };

  const t: TestHost = {
    host,
    gateway,
    runner,
    audit: host.audit,
    webhookSecrets: host.webhookSecrets,
    logs,
    logged,
    executions,
    publish: (source, signature) => publish(source, signature ?? null),
    install: (source, installOptions = {}) => publishAnd("install", source, installOptions),
    upgrade: (source, upgradeOptions = {}) => publishAnd("upgrade", source, upgradeOptions),
    enable: (extensionId, lifecycle = {}) => host.enable(lifecycle.tenant ?? defaultTenant, extensionId, { actor: "test" }),
    disable: (extensionId, lifecycle = {}) => host.disable(lifecycle.tenant ?? defaultTenant, extensionId, { actor: "test" }),
    uninstall: (extensionId, lifecycle = {}) => host.uninstall(lifecycle.tenant ?? defaultTenant, extensionId, { actor: "test", purge: lifecycle.purge }),
    kv: (installId) => host.kv.install(installId),
    async webhookSecret(extensionId, secretOptions = {}) {
      const tenant = secretOptions.tenant ?? defaultTenant;
      const install = await host.getInstall(tenant, extensionId);
      if (install === null) {
        throw new TestHostError("E_TEST_HOST_REQUEST", `${extensionId} is not installed for tenant ${tenant}; install it first`, { extensionId, tenant });
      }
      const [current] = await host.webhookSecrets.secrets({ id: install.id, tenant, extensionId });
      return current ?? host.webhookSecrets.set(install.id, undefined, { actor: "test" });
    },
    sql: (installId) => ({
      query: (text, params) => host.sql.query(installId, text, params ?? []),
      status: () => host.sql.status(installId),
    }),
    async listen(serverOptions) {
      const server = await startTestServer(t, defaultTenant, serverOptions);
      servers.push(server);
      return server;
    },
    async request(method, path, requestOptions = {}) {
      if (typeof path !== "string" || !path.startsWith("/")) {
        throw new TestHostError("E_TEST_HOST_REQUEST", `request path must start with "/", e.g. "/api/ext/acme.hello/hello/Ada"; got ${JSON.stringify(String(path)).slice(0, 100)}`);
      }
      const principal = toPrincipal(requestOptions.as, defaultTenant);
      const headers = new Headers(requestOptions.headers);
      const body = encodeBody(requestOptions.body, headers);
      const request = new Request(`${TEST_HOST_ORIGIN}${path}`, { method: method.toUpperCase(), headers, ...(body === undefined ? {} : { body }) });
      if (principal !== undefined) principals.set(request, principal);
      tenants.set(request, requestOptions.tenant ?? principal?.tenant ?? defaultTenant);
      return gateway.handle(request, { clientAddress: requestOptions.clientAddress ?? "127.0.0.1" });
    },
    events: {
      publish: (type, payload = null, publishOptions = {}) => host.events.publish(publishOptions.tenant ?? defaultTenant, type, payload, publishOptions),
      published: (filter = {}) => listPublished(host, filter),
    },
    relay: { drain: () => host.events.drain() },
    jobs: {
      run: (installId, name) => host.jobs.runNow(installId, name, { actor: "test" }),
      tick: () => host.jobs.tick(),
    },
    async deadLetters() {
      const all: DeadLetter[] = [];
      let cursor: string | undefined;
      for (;;) {
        const page = await host.events.deadLetters.list({ limit: 1000, cursor });
        all.push(...page.items);
        if (page.cursor === null) return all;
        cursor = page.cursor;
      }
    },
    close() {
      // Once, as host.close(): a second call gets the same promise.
      closing ??= (async () => {
        await Promise.all(servers.map((server) => server.close()));
        await host.close();
        if (ownRunner) await runner.close();
      })();
      return closing;
    },
  };
  return t;
}

/** The grants that cover exactly what a manifest requests (its requests minus their reasons). */
export function requestedGrants(manifest: Manifest): CapabilityGrant[] {
  return manifest.capabilities.map(({ reason: _reason, ...grant }) => grant as CapabilityGrant);
}

async function listPublished(host: Host, filter: PublishedFilter): Promise<PublishedEvent[]> {
  let query = host.database.db
    .selectFrom("annex_events as e")
    .leftJoin("annex_installs as i", (join) => join.on((eb) => eb("e.source", "=", eb.fn<string>("concat", [sql.lit("install:"), eb.ref("i.id")]))))
    .select(["e.id", "e.tenant", "e.type", "e.payload", "e.source", "e.depth", "e.occurred_at", "i.extension_id"])
    .orderBy("e.seq");
  if (filter.type !== undefined) query = query.where("e.type", "=", filter.type);
  if (filter.tenant !== undefined) query = query.where("e.tenant", "=", filter.tenant);
  if (filter.installId !== undefined) query = query.where("e.source", "=", `install:${filter.installId}`);
  if (filter.extensionId !== undefined) query = query.where("i.extension_id", "=", filter.extensionId);
  const rows = await query.execute();
  return rows.map((row) => ({
    id: row.id,
    tenant: row.tenant,
    type: row.type,
    payload: row.payload,
    publisher: row.source.startsWith("install:") ? { installId: row.source.slice("install:".length), extensionId: row.extension_id ?? null } : "app",
    depth: row.depth,
    occurredAt: new Date(row.occurred_at).toISOString(),
  }));
}

function toPrincipal(as: TestRequestOptions["as"], tenant: string): Principal | undefined {
  if (as === undefined) return undefined;
  if (typeof as === "string") return { tenant, user: { id: as }, roles: [] };
  return { tenant: as.tenant ?? tenant, user: as.user, roles: as.roles ?? [] };
}

function encodeBody(body: unknown, headers: Headers): BodyInit | undefined {
  if (body === undefined || body === null) return undefined;
  if (body instanceof Uint8Array) {
    if (!headers.has("content-type")) headers.set("content-type", "application/octet-stream");
    return body as Uint8Array<ArrayBuffer>;
  }
  if (typeof body === "string") {
    if (!headers.has("content-type")) headers.set("content-type", "text/plain; charset=utf-8");
    return body;
  }
  if (!headers.has("content-type")) headers.set("content-type", "application/json");
  return JSON.stringify(body);
}

async function bundleBytes(source: ExtensionSource): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source;
  const dir = source instanceof URL && source.protocol === "file:" ? fileURLToPath(source) : source;
  if (typeof dir !== "string") {
    throw new TestHostError("E_TEST_HOST_SOURCE", "install() takes the extension's folder (a path or file: URL) or .annex bytes");
  }
  return packFolder(dir);
}

/**
 * Packs an extension folder exactly as `annex pack` does, in memory, with
 * @annex/build's `packExtension`: the server entry built from
 * `runtime.source`, the UI pages built, the ignore rules and checks applied.
 * A test always runs the sources it sits next to, never a stale build, and
 * installs the very bytes `annex pack` would write (the same content hash).
 * Errors are @annex/build's (E_BUILD, E_PACK_MISSING_FILE, E_UI_* …).
 */
export async function packFolder(dir: string): Promise<Uint8Array> {
  const { packExtension } = await loadBuild();
  return (await packExtension(dir)).bytes;
}
