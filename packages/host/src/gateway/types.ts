import type { VerifiedBundle } from "@annex/manifest";
import type { ExecutionLimits, Principal } from "@annex/runner";
import type { Kysely } from "kysely";
import type { AssetCspOptions } from "../assets/csp.js";
import type { AnnexTables } from "../database/tables.js";
import type { Executor } from "../execution/executor.js";
import type { Logger } from "../observability/logger.js";
import type { MetricsRecorder } from "../observability/metrics.js";
import type { InstallInfo, ResolvedInstall } from "../installs/types.js";
import type { TrustedOrigins } from "./cross-site.js";
import type { HeaderPolicyOptions } from "./headers.js";
import type { EndpointFamily, GatewayPrefixes } from "./paths.js";
import type { RateLimit, RateLimitStore } from "./rate-limit.js";
import type { ReplayStore } from "./replay-store.js";
import type { AuditSamplingOptions } from "./audit-sampler.js";
import type { RoutableEndpoint } from "./routes.js";
import type { WebhookSecretStore } from "./webhook-secrets.js";

/** What the gateway needs of the host: a `Host` from createHost() fits. */
export interface GatewayHost {
  resolve(tenant: string, extensionId: string): Promise<ResolvedInstall | null>;
  registry: { loadBundle(contentHash: string, options?: { promote?: boolean }): Promise<VerifiedBundle>; holdsBundle?(contentHash: string): boolean };
  database: { db: Kysely<AnnexTables>; schema?: string | undefined };
}

/**
 * Who is calling an `api` endpoint, from the embedding app's own session or
 * token. Return null (or undefined) for an anonymous or invalid caller: the
 * gateway answers 401. Only `tenant`, `roles` and (with the install's
 * `user.read` grant) `user.{id,displayName,email}` reach the sandbox.
 */
export type Authenticate = (request: Request) => Principal | null | undefined | Promise<Principal | null | undefined>;

/** Per-endpoint authorization of an authenticated principal. Default: every authenticated principal of the tenant. */
export type Authorize = (principal: Principal, endpoint: RoutableEndpoint, install: InstallInfo) => boolean | Promise<boolean>;

/**
 * The tenant a request is for, from what the host knows without a session
 * (its subdomain, a path prefix it stripped, a fixed tenant of a
 * single-tenant app). Needed for `public` and `webhook` endpoints, which are
 * anonymous. For `api` endpoints the principal's tenant is used; when this
 * also names one and it differs, the request is refused (E_TENANT_MISMATCH).
 */
export type ResolveTenant =
  | string
  | ((request: Request, context: { extensionId: string; family: EndpointFamily }) => string | null | undefined | Promise<string | null | undefined>);

export interface GatewayPolicy extends HeaderPolicyOptions {
  /** Largest request body accepted, in bytes (a manifest's `limits.requestBytes` may lower it). Default 1 MiB. */
  maxBodyBytes?: number | undefined;
  /**
   * Token buckets per install and endpoint class; `false` turns one off.
   * Defaults: api 6000/60 s, public 600/60 s, webhook 600/60 s. An endpoint's
   * own `rateLimit` applies on top (per client address for public and webhook).
   */
  rateLimits?: Partial<Record<EndpointFamily, RateLimit | false>> | undefined;
  /**
   * Token buckets per install, class and client address, for the anonymous
   * classes, checked before the install's own (so one caller cannot use it up
   * alone); `false` turns one off. Defaults: public 120/60 s, webhook 120/60 s.
   * For `verify: "annex"` webhooks only deliveries that fail the signature
   * check (or are replays) count, and the install's bucket is charged only
   * once a delivery is verified: strangers without the secret cannot keep the
   * real sender at 429. Adapters give the client address (IPv6 counts by /64).
   * `ui` (default 60/60 s) counts only the UI file requests that must read and
   * verify a bundle the cache does not hold (anyone may ask for the files of
   * any published version): a stranger cycling through old versions of a
   * large bundle made every request of theirs a whole unpack and
   * verification; files of bundles in the cache are never counted.
   */
  clientRateLimits?: Partial<Record<"public" | "webhook" | "ui", RateLimit | false>> | undefined;
  /**
   * Audit lines of requests that never ran (refusals, junk paths, preflights,
   * UI files) are sampled per client and for anonymous callers together, so
   * that strangers cannot grow the append-only audit table without bound;
   * `gateway.stats().audit.skipped` counts what was not written. Defaults:
   * perClient 60/60 s, anonymous 600/60 s; `false` writes them all.
   */
  auditSampling?: AuditSamplingOptions | false | undefined;
  /** Quotas put in every execute envelope (the runner and the manifest may only lower them further). */
  limits?: Partial<ExecutionLimits> | undefined;
  /** Answer 504 after this long even if the runner never answers. Default: limits.wallMs (or 5000) + 1000 ms. */
  timeoutMs?: number | undefined;
  /** Use warm contexts for manifests that allow them (runtime.warmContext). Default true. */
  warmContexts?: boolean | undefined;
  /**
   * How long a serving install is reused without reading it again, in ms
   * (0: read it on every request). Lifecycle calls through this host apply
   * at once; changes made by other host processes (or by SQL) arrive at once
   * through PostgreSQL LISTEN/NOTIFY (`createHost({ notifications })`), and
   * within this time when the host does not listen. Default 1000.
   */
  installCacheMs?: number | undefined;
  /** Webhook timestamp skew accepted, in seconds. Default 300. */
  webhookToleranceSeconds?: number | undefined;
  /** Include guest stacks in problem documents for authenticated callers (development only). Default false. */
  exposeErrors?: boolean | undefined;
  /**
   * Let the host's own pages load extension answers and UI files as scripts,
   * stylesheets or workers (Fetch Metadata `Sec-Fetch-Dest` script, style,
   * worker … from a same-origin or same-site page). Default false: they are
   * refused with 403 E_HOST_PAGE_LOAD, since such code would run as the
   * signed-in user, outside any sandbox, and change with any release without
   * consent. Sandboxed extension frames and other sites are not affected.
   */
  hostPageScripts?: boolean | undefined;
  /** "all" (default): every decision is audited; "denials": refusals and failures only. */
  audit?: "all" | "denials" | undefined;
}

/** What the embedding app configures of the gateway: `createHost({ gateway })`. */
export interface GatewayOptions {
  /**
   * Who is calling an `api` endpoint: your session or token → `{ tenant, user, roles }`,
   * or null (401). Required.
   */
  authenticate: Authenticate;
  authorize?: Authorize | undefined;
  resolveTenant?: ResolveTenant | undefined;
  /**
   * The host's own origins besides the request's own (`https://app.example.com`),
   * or a function deciding per request. State-changing `api` requests
   * (anything but GET, HEAD, OPTIONS) from any other origin are refused with
   * 403 E_CROSS_SITE. Name your public origin here when a proxy in front
   * changes the scheme or host the app sees. See docs/gateway.md.
   */
  origins?: TrustedOrigins | undefined;
  prefixes?: Partial<GatewayPrefixes> | undefined;
  policy?: GatewayPolicy | undefined;
  /** Secrets of `verify: "annex"` webhooks. Default: the host's `host.webhookSecrets` (in its database). */
  webhookSecrets?: WebhookSecretStore | undefined;
  /** CSP of UI assets: the host's origin(s) as frame ancestors, sandbox flags. */
  assets?: AssetCspOptions | undefined;
}

/**
 * Where the gateway keeps what it remembers between requests: `createHost({ stores })`.
 * The defaults keep it in the process, so with several host processes a rate
 * limit holds per process and a webhook replay sent to another process
 * passes; give every process the same shared stores (Redis: `@annex/bus-redis`)
 * to keep one budget and one replay record. See docs/scale-out.md.
 */
export interface HostStores {
  /** Token buckets of the rate limits. Default: in memory (`createMemoryRateLimitStore`). */
  rateLimits?: RateLimitStore | undefined;
  /** Accepted `verify: "annex"` webhook deliveries. Default: in memory (`createMemoryReplayStore`). */
  replays?: ReplayStore | undefined;
  /** A store call that takes longer fails the request with 503 E_STORE_UNAVAILABLE. Default 1000 ms. */
  timeoutMs?: number | undefined;
}

/** What createHost hands the gateway besides the app's options. Internal. */
export interface GatewayDeps extends GatewayOptions {
  host: GatewayHost;
  stores?: HostStores | undefined;
  executor: Executor;
  logger: Logger;
  metrics: MetricsRecorder | null;
  /** Clock in ms. */
  now?: (() => number) | undefined;
  /** True once the host's close() has begun: requests are then refused with 503 E_HOST_CLOSED. */
  closed?: (() => boolean) | undefined;
}

/** Facts about the connection that a web Request does not carry; adapters fill them in. */
export interface RequestInfo {
  /** The client's IP address, keying per-client rate limits of anonymous endpoints. */
  clientAddress?: string | undefined;
}

export interface Gateway {
  /** Answers one request of the gateway's families; never throws. */
  handle(request: Request, info?: RequestInfo): Promise<Response>;
  /** Whether a pathname is under one of the gateway's prefixes (adapters pass the rest on). */
  owns(pathname: string): boolean;
  readonly prefixes: Readonly<GatewayPrefixes>;
  /** Resolves when every audit line queued so far is written (tests, graceful shutdown). */
  drain(): Promise<void>;
  /** Counters since the gateway started, for the embedding app's metrics. */
  stats(): GatewayStats;
  /**
   * Forgets cached installs (one, a tenant's, or all) so that a lifecycle
   * change made in this process applies to the next request.
   */
  invalidate(tenant?: string, extensionId?: string): void;
}

/** What `gateway.stats()` reports: counters since the gateway started. */
export interface GatewayStats {
  audit: {
    /** Audit lines stored. */
    written: number;
    /** Of those, lines stored without their details (the database refused them; `details.unstorable` says so). */
    reduced: number;
    /** Lines that could not be stored (the database was down or refused even the reduced line). */
    failed: number;
    /**
     * Lines not written by design: lines of requests that never ran past a
     * client's or all anonymous callers' audit budget (`policy.auditSampling`),
     * and repeated 429s of one bucket within a second.
     */
    skipped: number;
  };
}
