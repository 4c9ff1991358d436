import { randomUUID } from "node:crypto";
import { isAnnexError, type VerifiedBundle } from "@annex/manifest";
import type { Principal, SandboxRequest } from "@annex/runner";
import type { AuditDecision } from "../audit/audit-log.js";
import { parseAssetPath } from "../assets/asset-path.js";
import { assetSources, createAssetCsp } from "../assets/csp.js";
import { assetResponse, findAsset } from "../assets/serve-asset.js";
import { errorSummary } from "../errors.js";
import type { ResolvedInstall } from "../installs/types.js";
import { AuditSampler } from "./audit-sampler.js";
import { AuditWriter, insertAuditLines } from "./audit-writer.js";
import { parseBody, parseQuery, readBody } from "./body.js";
import { corsHeaders, preflight } from "./cors.js";
import { clientKey } from "./client-address.js";
import { CrossSiteCheck } from "./cross-site.js";
import { hostPageLoad, varyOnFetchMetadata } from "./host-page-loads.js";
import { ExecutionError } from "../execution/errors.js";
import { GatewayError } from "./errors.js";
import { HeaderPolicy } from "./headers.js";
import { InstallCache } from "./install-cache.js";
import { hasDotSegment, parseGatewayPath, resolvePrefixes, type EndpointFamily } from "./paths.js";
import { createInFlight } from "../in-flight.js";
import { ANSWER, RawAnswer, toResponse, type Answer, type AnswerEntry } from "./answer.js";
import { GatewayProblem, problem, problemAnswer } from "./problem.js";
import { RateLimiter, type RateLimit, type RateLimitStore } from "./rate-limit.js";
import { ReplayCache } from "./replay-store.js";
import { failureProblem, sandboxResponse } from "./response.js";
import { RouteTable, type RoutableEndpoint } from "./routes.js";
import type { Gateway, GatewayDeps, GatewayStats, RequestInfo } from "./types.js";
import {
  DEFAULT_WEBHOOK_TOLERANCE_SECONDS,
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOK_TIMESTAMP_HEADER,
  deliveryKey,
  verifyWebhook,
} from "./webhook-signature.js";
import { clearTimeout, setTimeout } from "node:timers";

const DEFAULT_RATE_LIMITS: Record<EndpointFamily, RateLimit> = {
  api: { requests: 6000, perSeconds: 60 },
  public: { requests: 600, perSeconds: 60 },
  webhook: { requests: 600, perSeconds: 60 },
};
/**
 * Per client address, for the anonymous classes: one caller cannot use up the
 * install's allowance alone. For `verify: "annex"` webhooks it counts only
 * deliveries that fail the check, so strangers never touch the sender's budget.
 */
const DEFAULT_CLIENT_RATE_LIMITS: Record<"public" | "webhook" | "ui", RateLimit> = {
  public: { requests: 120, perSeconds: 60 },
  webhook: { requests: 120, perSeconds: 60 },
  ui: { requests: 60, perSeconds: 60 },
};
const DEFAULT_MAX_BODY = 1024 * 1024;
const MAX_CACHED = 512;

/** Everything the audit line of one request needs, filled in as the pipeline learns it. */
interface Trail {
  requestId: string;
  family: EndpointFamily | "ui" | "unknown";
  extensionId: string | null;
  tenant: string | null;
  actor: string;
  /** Who the per-client audit budget counts this request against: the client's address key, or the signed-in user. */
  client: string;
  /** Whether the request's execution was allowed to start: its lines are then always written, never sampled. */
  ran: boolean;
  details: Record<string, unknown>;
  /** How the request ended, for the log line: set with the audit line. */
  outcome?: { decision: AuditDecision; code?: string | undefined; reason?: string | undefined } | undefined;
}

/**
 * The gateway: routes requests of the path families to the tenant's install
 * of an extension and runs the endpoint's handler through the host's
 * executor, on web-standard Request/Response. Internal: `createHost({ gateway })`
 * is the one way to make one. See docs/gateway.md for the pipeline.
 */
export function createGateway(options: GatewayDeps): GatewayWithAnswer {
  const { host, executor } = options;
  if (typeof options.authenticate !== "function") {
    throw new GatewayError("E_GATEWAY_OPTIONS", "createHost({ gateway }): gateway.authenticate(request) must be a function returning the principal or null", {
      field: "gateway.authenticate",
    });
  }
  const policy = options.policy ?? {};
  const maxBody = positive(policy.maxBodyBytes, DEFAULT_MAX_BODY, "policy.maxBodyBytes");
  const tolerance = positive(policy.webhookToleranceSeconds, DEFAULT_WEBHOOK_TOLERANCE_SECONDS, "policy.webhookToleranceSeconds");
  const timeoutMs = positive(policy.timeoutMs, (policy.limits?.wallMs ?? 5000) + 1000, "policy.timeoutMs");
  const rateLimits = { ...DEFAULT_RATE_LIMITS, ...policy.rateLimits };
  const clientRateLimits = { ...DEFAULT_CLIENT_RATE_LIMITS, ...policy.clientRateLimits };
  const sampling = policy.auditSampling === false ? { perClient: false as const, anonymous: false as const } : (policy.auditSampling ?? {});
  for (const [field, limit] of [
    ...Object.entries(rateLimits).map(([family, limit]) => [`policy.rateLimits.${family}`, limit] as const),
    ...Object.entries(clientRateLimits).map(([family, limit]) => [`policy.clientRateLimits.${family}`, limit] as const),
    ["policy.auditSampling.perClient", sampling.perClient] as const,
    ["policy.auditSampling.anonymous", sampling.anonymous] as const,
  ]) {
    if (limit === false || limit === undefined) continue;
    if (typeof limit !== "object" || limit === null || !Number.isInteger(limit.requests) || limit.requests < 1 || !(limit.perSeconds > 0) || !Number.isFinite(limit.perSeconds)) {
      throw new GatewayError("E_GATEWAY_OPTIONS", `${field} must be { requests: integer ≥ 1, perSeconds: > 0 } or false`, { field });
    }
  }
  const auditAllowed = (policy.audit ?? "all") === "all";
  const warm = policy.warmContexts ?? true;
  const exposeErrors = policy.exposeErrors ?? false;
  const hostPageScripts = policy.hostPageScripts ?? false;
  const prefixes = resolvePrefixes(options.prefixes);
  const headers = new HeaderPolicy(policy);
  const crossSite = new CrossSiteCheck(options.origins);
  const csp = createAssetCsp(options.assets);
  // Where else browsers may reach this host (behind a proxy that rewrites Host): the origins it names as its own.
  const pageOrigins = [
    ...(Array.isArray(options.origins) ? (options.origins as readonly string[]) : []),
    ...(options.assets?.frameAncestors ?? []).filter((origin) => origin !== "'self'"),
  ];
  const now = options.now ?? Date.now;
  // Buckets keyed by what the registry says (install, class, endpoint) apart from those keyed by what callers say
  // (their addresses): however many addresses a caller makes up, it cannot evict an install's bucket.
  // A shared store (stores.rateLimits) keeps both kinds: its keys are disjoint, and it bounds itself.
  const limiter: RateLimitStore = options.stores?.rateLimits ?? new RateLimiter({ now });
  const clientLimiter: RateLimitStore = options.stores?.rateLimits ?? new RateLimiter({ now });
  const replays = options.stores?.replays ?? new ReplayCache();
  const storeTimeoutMs = positive(options.stores?.timeoutMs, 1000, "stores.timeoutMs");
  const audit = new AuditWriter(insertAuditLines(host.database.db, host.database.schema));
  const sampler = new AuditSampler({ ...sampling, now });
  const routeTables = new Map<string, RouteTable>();
  const installCacheMs = policy.installCacheMs === 0 ? 0 : positive(policy.installCacheMs, 1000, "policy.installCacheMs");
  const installs = new InstallCache({ ttlMs: installCacheMs, now });

  function routesOf(resolved: ResolvedInstall): RouteTable {
    const hash = resolved.bundle.contentHash;
    let table = routeTables.get(hash);
    if (table === undefined) {
      table = new RouteTable(resolved.manifest);
      if (routeTables.size >= MAX_CACHED) routeTables.delete(routeTables.keys().next().value as string);
      routeTables.set(hash, table);
    }
    return table;
  }

  async function record(trail: Trail, decision: AuditDecision, extra: Record<string, unknown> = {}): Promise<void> {
    await audit.write({
      actor: trail.actor,
      tenant: trail.tenant,
      action: trail.family === "ui" ? "gateway.asset" : "gateway.request",
      target: trail.extensionId ?? "-",
      decision,
      details: { requestId: trail.requestId, family: trail.family, ...trail.details, ...extra },
    });
  }

  /**
   * Whether a line of a request that never ran is written (see AuditSampler):
   * what strangers can cause for free must not grow the audit table without
   * bound. Returns the extra details of a written line.
   */
  function sampled(trail: Trail): Record<string, unknown> | null {
    if (trail.ran) return {};
    const verdict = sampler.admit(trail.client, trail.actor === "anonymous");
    if (!verdict.write) return null;
    return verdict.skipped > 0 ? { skippedLines: verdict.skipped } : {};
  }

  /** Writes the audit line of a refusal or failure; the answer goes out even if the audit log is down. */
  async function refuse(trail: Trail, failure: GatewayProblem, decision: AuditDecision = "deny"): Promise<Answer> {
    trail.outcome = { decision, code: failure.problem.code, reason: failure.reason };
    const extra = sampled(trail);
    if (extra !== null) {
      try {
        await record(trail, decision, {
          status: failure.problem.status,
          code: failure.problem.code,
          ...(failure.reason === undefined ? {} : { reason: failure.reason }),
          ...extra,
        });
      } catch {
        // The caller is refused either way; a failing audit log must not turn a refusal into an acceptance.
      }
    }
    return problemAnswer(failure.problem, trail.requestId);
  }

  /**
   * Writes the allow line; `effectFree` for requests that run nothing (a UI
   * file, a preflight), whose lines are sampled like refusals. The line of an
   * execution is written before its effects, or the request fails with 503.
   */
  async function allow(trail: Trail, extra: Record<string, unknown> = {}, options: { effectFree?: boolean } = {}): Promise<void> {
    // An execution's lines are never sampled, also when allow lines are not written (policy.audit "denials").
    if (options.effectFree !== true) trail.ran = true;
    if (!auditAllowed) return;
    if (options.effectFree === true) {
      const more = sampled(trail);
      if (more === null) return;
      extra = { ...extra, ...more };
    }
    try {
      await record(trail, "allow", extra);
    } catch (error) {
      // Written before the effect, or no effect: the request does not run unaudited.
      throw problem(503, "E_AUDIT_UNAVAILABLE", "the request cannot be recorded right now; retry later", {
        headers: { "retry-after": "1" },
        reason: errorSummary(error).message,
      });
    }
  }

  async function tenantFor(request: Request, extensionId: string, family: EndpointFamily): Promise<string | null> {
    const resolver = options.resolveTenant;
    if (resolver === undefined) return null;
    const tenant = typeof resolver === "string" ? resolver : await resolver(request, { extensionId, family });
    return typeof tenant === "string" && tenant !== "" ? tenant : null;
  }

  async function serveUi(request: Request, trail: Trail, rawHash: string, rawFile: string): Promise<Response> {
    trail.details["method"] = request.method;
    if (request.method !== "GET" && request.method !== "HEAD") {
      throw problem(405, "E_METHOD_NOT_ALLOWED", "UI assets are read with GET or HEAD", { headers: { allow: "GET, HEAD" } });
    }
    // A UI file opened as a top-level page would be a page of the host's own URL built by any publisher (a
    // sign-in look-alike, its scripts running), for any published bundle. Frames send `iframe`; a browser that
    // sends no Fetch Metadata is let through, as everywhere else.
    if (request.headers.get("sec-fetch-dest") === "document") {
      throw problem(403, "E_FORBIDDEN", "extension UI files are served to the extension's frame in the host's page, not as a page of their own", {
        reason: "top-level navigation (Sec-Fetch-Dest: document)",
      });
    }
    const parsed = parseAssetPath(rawHash, rawFile);
    if (!parsed.ok) throw problem(404, "E_NOT_FOUND", "no such UI file", { reason: parsed.reason });
    trail.details["contentHash"] = parsed.contentHash;
    trail.details["path"] = parsed.path;
    // A bundle the cache does not hold is read and verified whole to serve one file: that costs the asker's budget.
    const coldLimit = clientRateLimits.ui;
    if (coldLimit !== false && host.registry.holdsBundle?.(parsed.contentHash) === false) {
      await charge(clientLimiter, `ui|${trail.client}`, coldLimit, "UI loads of bundles not in the cache, per client");
    }
    let bundle: VerifiedBundle;
    try {
      // Anyone can ask for any published version's files, as often as they like: never a use that protects a bundle in the cache.
      bundle = await host.registry.loadBundle(parsed.contentHash, { promote: false });
    } catch (error) {
      if (isAnnexError(error, "E_VERSION_NOT_FOUND")) throw problem(404, "E_NOT_FOUND", "no such UI file", { reason: "unknown content hash" });
      if (isAnnexError(error, "E_BUNDLE_LOADS_BUSY")) {
        const seconds = error.details?.["retryAfterSeconds"];
        throw problem(503, "E_BUNDLE_LOADS_BUSY", "too many extension bundles are being loaded right now; retry shortly", {
          headers: { "retry-after": String(typeof seconds === "number" ? seconds : 1) },
          reason: error.message,
        });
      }
      throw unreadable(error);
    }
    if (bundle.manifest.id !== trail.extensionId) throw problem(404, "E_NOT_FOUND", "no such UI file", { reason: `content hash belongs to ${bundle.manifest.id}` });
    const asset = findAsset(bundle, parsed.path);
    if (!asset.ok) throw problem(404, "E_NOT_FOUND", "no such UI file", { reason: asset.reason });
    await allow(trail, { version: bundle.manifest.version }, { effectFree: true });
    const sources = assetSources([new URL(request.url).origin, ...pageOrigins], prefixes.ui, prefixes.ext, bundle.manifest.id, parsed.contentHash);
    return assetResponse(asset, request, csp, bundle.manifest.ui.csp?.scriptHashes ?? [], sources);
  }

  async function serveEndpoint(request: Request, info: RequestInfo, trail: Trail, url: URL, family: EndpointFamily, extensionId: string, route: string): Promise<Answer> {
    trail.details["method"] = request.method;
    let principal: Principal | undefined;
    let tenant: string | null;
    if (family === "api") {
      principal = sanitisePrincipal(await callHook(() => options.authenticate(request), "authenticate"));
      if (principal === undefined) {
        throw problem(401, "E_UNAUTHENTICATED", "this endpoint needs a signed-in user", { reason: "authenticate returned no principal" });
      }
      trail.actor = `user:${principal.user.id}`;
      trail.client = `user:${principal.tenant}/${principal.user.id}`;
      trail.tenant = principal.tenant;
      const claimed = await callHook(() => tenantFor(request, extensionId, family), "resolveTenant");
      if (claimed !== null && claimed !== principal.tenant) {
        throw problem(403, "E_TENANT_MISMATCH", "the signed-in user belongs to another tenant than this request addresses", {
          reason: `principal of tenant ${principal.tenant}, request for tenant ${claimed}`,
        });
      }
      tenant = principal.tenant;
      // A browser sends the session cookie from any site: where the request comes from decides.
      const verdict = await callHook(() => crossSite.check(request, url), "origins");
      if (!verdict.ok) {
        throw problem(403, "E_CROSS_SITE", verdict.detail, { reason: verdict.reason });
      }
    } else {
      tenant = await callHook(() => tenantFor(request, extensionId, family), "resolveTenant");
      // Said to the caller: which tenant a URL names is the app's public routing (resolveTenant), not a secret, and
      // "no such endpoint" sent an author looking for a typo in a path that was right.
      if (tenant === null) {
        throw problem(404, "E_NOT_FOUND", "no such extension endpoint: no tenant was resolved for this request (the host's resolveTenant names one for requests without a signed-in user)", {
          reason: "no tenant resolved for an anonymous request",
        });
      }
      trail.tenant = tenant;
    }

    let resolved: ResolvedInstall | null;
    // Read before the install: a change heard after it (while a slow body arrives, say) makes the execution check.
    const resolvedAt = executor.generation;
    try {
      resolved = await installs.get(tenant, extensionId, () => host.resolve(tenant!, extensionId));
    } catch (error) {
      throw unreadable(error);
    }
    // Not installed, disabled, failed or uninstalled all look the same from outside: the audit line says which.
    if (resolved === null) throw problem(404, "E_NOT_FOUND", "no such extension endpoint", { reason: "no serving install for this tenant" });
    const { install, manifest } = resolved;
    trail.details["installId"] = install.id;
    trail.details["version"] = install.version;
    const table = routesOf(resolved);

    if (request.method === "OPTIONS" && family === "public") {
      const candidates = table.at("public", route).filter((endpoint) => endpoint.class === "public" && endpoint.cors !== undefined);
      if (candidates.length > 0) {
        const answer = preflight(candidates, request, headers);
        if (!answer.ok) throw problem(403, "E_CORS_ORIGIN", "this cross-origin request is not allowed", { reason: answer.reason });
        await allow(trail, { preflight: true }, { effectFree: true });
        return new Response(null, { status: 204, headers: answer.headers });
      }
    }

    const match = table.match(family, request.method, route);
    if (match.kind === "malformed") throw problem(400, "E_BAD_REQUEST", "a path parameter is not valid percent-encoding");
    if (match.kind === "none") throw problem(404, "E_NOT_FOUND", "no such extension endpoint", { reason: "no endpoint matches the path" });
    if (match.kind === "method") {
      throw problem(405, "E_METHOD_NOT_ALLOWED", `this endpoint answers ${match.allow.join(", ")}`, { headers: { allow: match.allow.join(", ") } });
    }
    const { endpoint, params } = match;
    const serving = resolved;
    trail.details["route"] = endpoint.path;
    trail.details["handler"] = endpoint.handler;

    if (family === "api" && options.authorize !== undefined) {
      const allowed = await callHook(() => options.authorize!(principal!, endpoint, install), "authorize");
      if (allowed !== true) throw problem(403, "E_FORBIDDEN", "you may not call this endpoint", { reason: "authorize refused" });
    }

    const client = clientKey(info.clientAddress);
    const webhook = endpoint.class === "webhook" ? endpoint : undefined;
    const checkedByGateway = webhook?.verify === "annex";
    const clientLimit = family === "api" ? false : clientRateLimits[family];
    const clientBucket = `${install.id}|${family}|${client}`;
    // For gateway-checked webhooks the token is taken now (so that a burst in parallel cannot pass before the
    // first failures count) and given back when the delivery verifies: only strangers spend it.
    if (clientLimit !== false) await charge(clientLimiter, clientBucket, clientLimit, checkedByGateway ? "webhook class per client (failed deliveries)" : `${family} class per client`);
    // What the install as a whole may take: for gateway-checked webhooks only once the delivery proved it holds the secret.
    if (!checkedByGateway) await chargeInstall(install.id, family, endpoint, match.index, client);

    const limit = Math.min(maxBody, manifest.limits.requestBytes ?? Infinity, policy.limits?.requestBytes ?? Infinity);
    const bytes = await readBody(request, limit);
    if (!checkedByGateway) return execute(bytes);
    const delivery = await checkSignature(request, install, bytes);
    // Claimed atomically (of two processes sharing the store, one wins), before anything else is charged, under a
    // claimant of this request's own: a store's client that sends the claim again (its reply lost) finds its own.
    const claimant = randomUUID();
    let claimed: boolean;
    try {
      claimed = await shared("replay store", () => replays.claim(install.id, delivery.key, delivery.expiresAtSeconds, delivery.nowSeconds, claimant));
    } catch (error) {
      // Answered 503 before any effect, so the sender's retry must run: the claim may have landed all the same. Not
      // awaited: the store is the one that just failed to answer, and the answer must not wait for it again.
      void releaseClaim(install.id, delivery.key, claimant);
      throw error;
    }
    if (!claimed) {
      throw problem(409, "E_WEBHOOK_REPLAYED", "this webhook delivery was already accepted", { reason: "replayed delivery (same timestamp and body)" });
    }
    // A delivery counts as accepted once its handler may have had an effect: it answered, or it made a host call
    // (its only effects). Refused or failed before that (429, a body it cannot read, 503, a runner that could not
    // start it, a handler that failed without a host call), the claim is given back so the sender's retry runs.
    const outcome = { effects: false };
    try {
      // Verified: not a stranger's, so it costs the client's budget nothing (a failure or a replay keeps the token).
      if (clientLimit !== false) await shared("rate-limit store", () => clientLimiter.refund(clientBucket, clientLimit));
      await chargeInstall(install.id, family, endpoint, match.index, client);
      const answer = await execute(bytes, outcome);
      if (!outcome.effects) await releaseClaim(install.id, delivery.key, claimant);
      return answer;
    } catch (error) {
      if (!outcome.effects) await releaseClaim(install.id, delivery.key, claimant);
      throw error;
    }

    async function execute(bytes: Uint8Array | null, outcome?: { effects: boolean }): Promise<Answer> {
      const verifiedByExtension = webhook?.verify === "extension";
      const sandboxRequest: SandboxRequest = {
        method: request.method === "HEAD" ? "GET" : request.method,
        path: route,
        params,
        query: parseQuery(url.searchParams),
        headers: headers.toSandbox(request.headers, verifiedByExtension ? (webhook?.headers ?? []) : []),
        body: parseBody(bytes, request.headers.get("content-type"), verifiedByExtension),
      };
      // The audit line is written while the sandbox starts: the handler may compute meanwhile, but its
      // host calls (its only effects) wait for the line, and so does the response.
      const audited = allow(trail);
      const execution = executor
        .run({
          requestId: trail.requestId,
          resolved: serving,
          invocation: { kind: "endpoint", handler: endpoint.handler, request: sandboxRequest },
          principal: endpoint.class === "api" ? principal : undefined,
          family,
          limits: policy.limits,
          warm,
          hostCallsAfter: audited,
          resolvedAt,
          timeoutMs,
        })
        .catch((error: unknown) => {
          if (error instanceof ExecutionError) throw bundleRejected(error.cause ?? error);
          throw error;
        });
      try {
        await audited;
      } catch (error) {
        // Answered 503 now; the execution's host calls fail, and its outcome is dropped.
        execution.catch(() => {});
        throw error;
      }
      const result = await execution;
      if (outcome !== undefined) outcome.effects = result.ok || Object.values(result.usage?.hostCalls ?? {}).some((count) => count > 0);
      if (!result.ok || result.response === undefined) {
        const failure = failureProblem(result.error ?? { code: "E_SANDBOX_CRASHED", message: "the runner returned no response" }, {
          authenticated: principal !== undefined,
          exposeErrors,
        });
        return refuse(trail, failure, "error");
      }
      return sandboxResponse(result.response, headers, {
        head: request.method === "HEAD",
        requestUrl: url,
        cacheable: family === "public",
        method: request.method,
        ownPaths: [`${prefixes.api}/${extensionId}/`, `${prefixes.ext}/${extensionId}/`],
        extraHeaders: {
          ...corsHeaders(endpoint, request.headers.get("origin")),
          // A signed-in user's answer, whatever type the extension gives it: another site's <script> or <link> must not read it.
          ...(family === "public" ? {} : { "cross-origin-resource-policy": "same-origin" }),
          "x-request-id": trail.requestId,
        },
      });
    }
  }

  /** Gives a webhook delivery's claim back (see serveEndpoint); a store that fails here only means the retry is refused as a replay. */
  async function releaseClaim(installId: string, key: string, claimant: string): Promise<void> {
    await Promise.resolve()
      .then(() => replays.release(installId, key, claimant))
      .catch(() => {});
  }

  /** The install's buckets: its class, and the endpoint's own `rateLimit` (per client for anonymous classes). */
  async function chargeInstall(installId: string, family: EndpointFamily, endpoint: RoutableEndpoint, index: number, client: string): Promise<void> {
    const classLimit = rateLimits[family];
    if (classLimit !== false && classLimit !== undefined) await charge(limiter, `${installId}|${family}`, classLimit, `${family} class`);
    if (endpoint.rateLimit !== undefined) {
      // Anonymous classes are limited per client as well, so one caller cannot use up everyone's allowance.
      if (family === "api") await charge(limiter, `${installId}|${family}|${index}`, endpoint.rateLimit, `endpoints[${index}]`);
      else await charge(clientLimiter, `${installId}|${family}|${index}|${client}`, endpoint.rateLimit, `endpoints[${index}] per client`);
    }
  }

  async function charge(buckets: RateLimitStore, key: string, limit: RateLimit, scope: string): Promise<void> {
    const decision = await shared("rate-limit store", () => buckets.take(key, limit));
    if (decision.ok) return;
    const suppressed = decision.suppressed > 0 ? `; ${decision.suppressed} refusals not audited since the last line` : "";
    const failure = problem(429, "E_RATE_LIMITED", `too many requests; retry in ${decision.retryAfterSeconds} s`, {
      headers: { "retry-after": String(decision.retryAfterSeconds) },
      reason: `${scope} limit ${limit.requests}/${limit.perSeconds}s${suppressed}`,
    });
    // Only the first refusal of a bucket each second is audited: a flood must not become a flood of audit lines.
    throw decision.audit ? failure : new UnauditedProblem(failure);
  }

  /**
   * Calls a rate-limit or replay store: one that throws or does not answer
   * within stores.timeoutMs refuses the request with 503 (a limit or a replay
   * check is never skipped because its store is down). The memory stores
   * answer synchronously and pay nothing for this.
   */
  async function shared<T>(what: string, call: () => T | Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const answer = call();
      if (!(answer instanceof Promise)) return answer;
      return await Promise.race([
        answer,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${storeTimeoutMs} ms`)), storeTimeoutMs);
        }),
      ]);
    } catch (error) {
      throw problem(503, "E_STORE_UNAVAILABLE", "the gateway cannot check its limits right now; retry later", {
        headers: { "retry-after": "1" },
        reason: `${what}: ${errorSummary(error).message}`,
      });
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }

  /** Checks a `verify: "annex"` delivery; returns what identifies it for the replay cache. */
  async function checkSignature(
    request: Request,
    install: ResolvedInstall["install"],
    bytes: Uint8Array | null,
  ): Promise<{ key: string; nowSeconds: number; expiresAtSeconds: number }> {
    const secrets = options.webhookSecrets === undefined ? [] : await callHook(() => options.webhookSecrets!.secrets({ id: install.id, tenant: install.tenant, extensionId: install.extensionId }), "webhookSecrets");
    const nowSeconds = Math.floor(now() / 1000);
    const verdict = verifyWebhook({
      secrets,
      timestampHeader: request.headers.get(WEBHOOK_TIMESTAMP_HEADER),
      signatureHeader: request.headers.get(WEBHOOK_SIGNATURE_HEADER),
      body: bytes,
      nowSeconds,
      toleranceSeconds: tolerance,
    });
    if (!verdict.ok) {
      if (verdict.reason === "stale") {
        throw problem(401, "E_WEBHOOK_TIMESTAMP", `the webhook timestamp is more than ${tolerance} s from now; sign deliveries when sending them`, { reason: "timestamp outside the skew window" });
      }
      const reason = verdict.reason === "no-secret" ? "no webhook secret is set for this install" : `signature ${verdict.reason}`;
      throw problem(401, "E_WEBHOOK_SIGNATURE", `the webhook signature is missing or wrong: send ${WEBHOOK_TIMESTAMP_HEADER} and ${WEBHOOK_SIGNATURE_HEADER} (HMAC-SHA256 of timestamp + "." + body)`, { reason });
    }
    // Any signature over the same timestamp and body is the same delivery (a sender mid-rotation signs it with each secret).
    return { key: deliveryKey(verdict.timestamp, bytes), nowSeconds, expiresAtSeconds: verdict.timestamp + tolerance };
  }

  // Requests inside the pipeline, so that close() can let them finish before the runner and the database go.
  const requests = createInFlight();

  function handle(request: Request, info: RequestInfo = {}): Promise<Answer> {
    return requests.run(() => handleOne(request, info));
  }

  async function handleOne(request: Request, info: RequestInfo): Promise<Answer> {
    const started = performance.now();
    const trail: Trail = {
      requestId: randomUUID(),
      family: "unknown",
      extensionId: null,
      tenant: null,
      actor: "anonymous",
      client: clientKey(info.clientAddress),
      ran: false,
      details: {},
    };
    const response = await answer(request, info, trail);
    // What the browser loaded an answer as decides whether it is served (hostPageLoad): a cache must not hand an
    // answer fetched as an image or by fetch() to a script tag of the host's page later.
    // UI files (cached a year) vary on it whatever the policy: a file first framed must not be served from the cache to a top-level navigation.
    if (!hostPageScripts || trail.family === "ui") varyOnFetchMetadata(response.headers);
    report(trail, response.status, performance.now() - started);
    // Whatever produced it, a HEAD answer carries headers only.
    if (request.method !== "HEAD" || response.body === null) return response;
    return response instanceof RawAnswer ? new RawAnswer(response.status, response.headers, null) : new Response(null, { status: response.status, headers: response.headers });
  }

  /** One log line per request for the operator, and the request counters; never changes the answer. */
  function report(trail: Trail, status: number, ms: number): void {
    try {
      const outcome = trail.outcome ?? { decision: "allow" as const };
      const { installId, version, handler, method, route } = trail.details;
      if (options.metrics !== null) {
        options.metrics.request(trail.family, status, outcome.code);
        if (outcome.code === "E_RATE_LIMITED" && typeof installId === "string") {
          options.metrics.rateLimited({ tenant: trail.tenant ?? "", extension: trail.extensionId ?? "", install: installId, family: trail.family });
        }
      }
      const fields = {
        requestId: trail.requestId,
        family: trail.family,
        tenant: trail.tenant,
        extensionId: trail.extensionId,
        installId,
        version,
        handler,
        method,
        route,
        actor: trail.actor,
        decision: outcome.decision,
        status,
        ...(outcome.code === undefined ? {} : { code: outcome.code }),
        ...(outcome.reason === undefined ? {} : { reason: outcome.reason }),
        ms: Math.round(ms * 100) / 100,
      };
      if (status >= 500 && outcome.code === "E_INTERNAL") options.logger.error(fields, "gateway.request");
      else if (outcome.decision === "error") options.logger.warn(fields, "gateway.request");
      else options.logger.info(fields, "gateway.request");
    } catch {
      // A failing logger must not fail the request.
    }
  }

  async function answer(request: Request, info: RequestInfo, trail: Trail): Promise<Answer> {
    try {
      let url: URL;
      try {
        url = new URL(request.url);
      } catch {
        throw problem(400, "E_BAD_REQUEST", "the request URL cannot be parsed");
      }
      const path = parseGatewayPath(url.pathname, prefixes);
      if (path === null || path.kind === "unknown") {
        trail.extensionId = path?.extensionId ?? null;
        throw problem(404, "E_NOT_FOUND", "no such extension path", { reason: "not a path of any family" });
      }
      trail.family = path.kind;
      trail.extensionId = path.extensionId;
      // Shutting down: the runner and the database are going away. Not audited: the audit log is one of them.
      if (options.closed?.() === true) throw new UnauditedProblem(hostClosed());
      if (!hostPageScripts) {
        const load = hostPageLoad(request);
        if (load !== null) {
          throw problem(403, "E_HOST_PAGE_LOAD", "extension content is not loaded as a script, stylesheet or worker by the host's own pages: it would run as the signed-in user; frame the extension's UI instead", { reason: load });
        }
      }
      if (path.kind === "ui") return await serveUi(request, trail, path.hash, path.file);
      if (hasDotSegment(path.route)) throw problem(404, "E_NOT_FOUND", "no such extension endpoint", { reason: "dot segment" });
      return await serveEndpoint(request, info, trail, url, path.kind, path.extensionId, path.route);
    } catch (error) {
      if (error instanceof UnauditedProblem) {
        trail.outcome = { decision: "deny", code: error.failure.problem.code, reason: error.failure.reason };
        sampler.skip(trail.client);
        return problemAnswer(error.failure.problem, trail.requestId);
      }
      if (error instanceof GatewayProblem) return refuse(trail, error, error.problem.status >= 500 ? "error" : "deny");
      return refuse(trail, problem(500, "E_INTERNAL", "the gateway failed; the problem was recorded", { reason: errorSummary(error).message }), "error");
    }
  }

  const handleResponse = async (request: Request, info?: RequestInfo): Promise<Response> => toResponse(await handle(request, info));
  return {
    handle: handleResponse,
    [ANSWER]: { handle: handleResponse, answer: handle },
    owns(pathname) {
      return parseGatewayPath(pathname, prefixes) !== null;
    },
    prefixes: Object.freeze({ ...prefixes }),
    drain: () => audit.drain(),
    // Each request ends by its execution's deadline; the bound covers what comes before it (a body still arriving).
    idle: () => requests.idle(timeoutMs + 1000),
    stats(): GatewayStats {
      return { audit: { ...audit.stats(), skipped: sampler.skipped } };
    },
    invalidate: (tenant, extensionId) => installs.invalidate(tenant, extensionId),
  };
}

/** The gateway as createHost holds it: with the pipeline that stops short of a web Response, for the adapters. */
export interface GatewayWithAnswer extends Gateway {
  [ANSWER]: AnswerEntry;
  /** Resolves when no request is inside the pipeline, or after the gateway's timeout and a second more. */
  idle(): Promise<void>;
}

/** A refusal whose audit line is skipped (rate-limit floods). */
class UnauditedProblem extends Error {
  constructor(readonly failure: GatewayProblem) {
    super(failure.message);
  }
}

/**
 * Why an install or its bundle could not be read. The registry's typed errors
 * are about the bundle (tampered, revoked, missing): an administrator must act.
 * Anything else is the database or the blob store failing (down, closed): the
 * caller may retry, and "republish the bundle" would send the administrator
 * the wrong way.
 */
function unreadable(error: unknown): GatewayProblem {
  if (isAnnexError(error, "E_HOST_CLOSED")) return hostClosed();
  if (isAnnexError(error)) return bundleRejected(error);
  return problem(503, "E_REGISTRY_UNAVAILABLE", "the extension's install or bundle cannot be read right now; retry later", {
    headers: { "retry-after": "1" },
    reason: errorSummary(error).message,
  });
}

function hostClosed(): GatewayProblem {
  return problem(503, "E_HOST_CLOSED", "this server is shutting down; retry the request", { headers: { "retry-after": "1" }, reason: "host.close() was called" });
}

function bundleRejected(error: unknown): GatewayProblem {
  const summary = errorSummary(error);
  const byPolicy = summary.code === "E_POLICY" || summary.code === "E_HOST_CAPABILITY_UNKNOWN";
  const detail = byPolicy
    ? "this host's trust policy no longer allows the extension's bundle to run; an administrator must change the policy or install another version"
    : "the extension's bundle failed verification and cannot run; an administrator must republish it";
  return problem(500, "E_BUNDLE_REJECTED", detail, { reason: `${summary.code}: ${summary.message}` });
}

/** Runs one of the embedding app's hooks; if it throws, the request fails with 500 and the audit line names the hook. */
async function callHook<T>(fn: () => T | Promise<T>, name: string): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof GatewayProblem) throw error;
    throw problem(500, "E_INTERNAL", "the gateway failed; the problem was recorded", { reason: `${name} threw: ${errorSummary(error).message}` });
  }
}

/** Only the fields the envelope defines, so nothing else of the host's session object reaches a sandbox. */
function sanitisePrincipal(value: unknown): Principal | undefined {
  if (value === null || value === undefined) return undefined;
  // The reason names each field at fault and its kind, never its value (the app's session data); the client sees a bare 500.
  const kind = (field: unknown): string =>
    field === null ? "null" : Array.isArray(field) ? "an array" : field === "" ? "an empty string" : `a ${typeof field}`;
  const fault = (name: string, expected: string, field: unknown, hint = ""): string =>
    field === undefined ? `${name} is missing (${expected})${hint}` : `${name} must be ${expected}, got ${kind(field)}${hint}`;
  const faults: string[] = [];
  if (typeof value !== "object" || Array.isArray(value)) {
    faults.push(`it returned ${kind(value)}, not an object (return null for an anonymous caller)`);
  } else {
    const given = value as Record<string, unknown>;
    if (typeof given["tenant"] !== "string" || given["tenant"] === "") {
      const alias = ["tenantId", "tenant_id", "tenantID"].find((key) => key in given);
      faults.push(fault("tenant", "a non-empty string", given["tenant"], alias === undefined ? "" : `: it has "${alias}", name it "tenant"`));
    }
    const user = given["user"];
    if (typeof user !== "object" || user === null || Array.isArray(user)) {
      faults.push(fault("user", "an object { id, displayName?, email? }", user));
    } else {
      const id = (user as { id?: unknown }).id;
      if (typeof id !== "string" || id === "") faults.push(fault("user.id", "a non-empty string", id, typeof id === "number" ? ": convert it with String(id)" : ""));
    }
    const roles = given["roles"];
    if (!Array.isArray(roles)) {
      faults.push(fault("roles", "an array of strings, [] for none", roles));
    } else {
      const bad = roles.findIndex((role) => typeof role !== "string");
      if (bad !== -1) faults.push(`roles must be an array of strings, but roles[${bad}] is ${kind(roles[bad])}`);
    }
  }
  if (faults.length > 0) {
    throw problem(500, "E_INTERNAL", "the gateway failed; the problem was recorded", {
      reason: `authenticate returned something that is not a principal { tenant, user: { id }, roles }: ${faults.join("; ")}`,
    });
  }
  const candidate = value as Principal;
  const user = candidate.user;
  return {
    tenant: candidate.tenant,
    user: {
      id: user.id,
      ...(typeof user.displayName === "string" ? { displayName: user.displayName } : {}),
      ...(typeof user.email === "string" ? { email: user.email } : {}),
    },
    roles: [...candidate.roles],
  };
}

function positive(value: number | undefined, fallback: number, field: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new GatewayError("E_GATEWAY_OPTIONS", `${field} must be a positive number`, { field });
  }
  return value;
}
