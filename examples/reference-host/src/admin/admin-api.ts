import type { AuditFilter, Host, InstallInfo, KvLimits, KvUsage, SqlSchemaStatus } from "@annex/host";
import { parseSignature, type BundleSignature, type CapabilityGrant } from "@annex/manifest";
import express, { type NextFunction, type Request, type RequestHandler, type Response, type Router } from "express";
import type { Kysely } from "kysely";
import type { InstallLogBuffer } from "../annex/install-logs.js";
import type { InstallUsage } from "../annex/install-usage.js";
import { planUpgrade } from "../annex/upgrade-policy.js";
import { noStore, sessionActor } from "../auth/middleware.js";
import type { SignedInUser } from "../auth/principal.js";
import type { AppTables } from "../data/tables.js";
import { createApiToken, expiresInDaysOf, findApiToken, findApiTokenUser, listApiTokens, revokeApiToken } from "./api-tokens.js";
import { AdminApiError, sendError } from "./errors.js";
import { refuseCrossSiteRequests } from "./fetch-metadata.js";

export interface AdminApiDeps {
  annex: Host;
  app: Kysely<AppTables>;
  logs: InstallLogBuffer;
  usage: InstallUsage;
  /** csrf-sync's middleware: state-changing calls with a session need the session's token. */
  csrfProtection: RequestHandler;
  csrfToken: (req: Request) => string;
  /** Dev trust mode: admins may publish bundles here (`POST /extensions`, for `annex dev`). */
  dev?: boolean | undefined;
  /** Lifetime of a token made without `expiresInDays`. */
  apiTokenDays: number;
}

/** Largest bundle `POST /extensions` reads (the bundle format's own limits apply after). */
export const MAX_DEV_BUNDLE_BYTES = 32 * 1024 * 1024;

const ID = /^[a-z0-9][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)+$/;

function extensionIdOf(req: Request): string {
  const id = String(req.params["extensionId"] ?? "");
  if (!ID.test(id)) throw new AdminApiError(400, "E_BAD_REQUEST", `extensionId: ${JSON.stringify(id)} is not an extension id (publisher.name, lowercase)`, { field: "extensionId" });
  return id;
}

function objectBody(req: Request): Record<string, unknown> {
  const body: unknown = req.body;
  if (body === undefined || body === null || (typeof body === "object" && Object.keys(body as object).length === 0)) return {};
  if (typeof body !== "object" || Array.isArray(body)) throw new AdminApiError(400, "E_BAD_REQUEST", "the body must be a JSON object");
  return body as Record<string, unknown>;
}

function optionalRecord(body: Record<string, unknown>, field: string): Record<string, unknown> | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new AdminApiError(400, "E_BAD_REQUEST", `${field} must be an object`, { field });
  return value as Record<string, unknown>;
}

function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined || value === "") return undefined;
  if (typeof value !== "string") throw new AdminApiError(400, "E_BAD_REQUEST", `${field} must be a string`, { field });
  return value;
}

/** The dates a filter may name: 1970-01-01 to 9999-12-31 (UTC), well inside PostgreSQL's timestamptz (4713 BC to 294276 AD). */
const EARLIEST_DATE = Date.UTC(1970, 0, 1);
const LATEST_DATE = Date.UTC(10_000, 0, 1) - 1;

function optionalDate(value: unknown, field: string): Date | undefined {
  const text = optionalString(value, field);
  if (text === undefined) return undefined;
  const date = new Date(text);
  const time = date.getTime();
  // Out of range, the database itself refuses the date (a 500): e.g. new Date("99999-01-01") is a valid Date.
  if (Number.isNaN(time) || time < EARLIEST_DATE || time > LATEST_DATE) {
    throw new AdminApiError(400, "E_BAD_REQUEST", `${field} must be an ISO 8601 date from 1970-01-01 to 9999-12-31`, { field });
  }
  return date;
}

/**
 * What one install keeps, as `GET /admin/api/storage` answers it (the shape
 * of @annex/admin's `AdminInstallStorage`): its kv's usage against its
 * quotas when it holds `storage.kv`, and its owned schema's status.
 */
export interface InstallStorage {
  installId: string;
  extensionId: string;
  version: string;
  state: InstallInfo["state"];
  kv: { usage: KvUsage; limits: KvLimits } | null;
  sql: SqlSchemaStatus | null;
}

/** The storage of an install the caller already found in its own tenant (never by an id from the request). */
async function storageOf(annex: Host, install: InstallInfo): Promise<InstallStorage> {
  let kv: InstallStorage["kv"] = null;
  if (install.grants.some((grant) => grant.name === "storage.kv")) {
    const store = annex.kv.install(install.id, { tenant: install.tenant });
    const [usage, limits] = await Promise.all([store.usage(), store.limits()]);
    kv = { usage, limits };
  }
  return { installId: install.id, extensionId: install.extensionId, version: install.version, state: install.state, kv, sql: install.sql ?? null };
}

/**
 * The admin API behind the console (and the `annex` CLI's admin commands):
 * JSON, for the admins of one tenant. A call is authenticated either by the
 * session of a signed-in admin (state-changing calls then need the
 * session's CSRF token in `x-csrf-token`) or by `Authorization: Bearer
 * <token>` (an API token an admin created; no cookie, so no CSRF token).
 * Every call acts on the caller's own tenant only. Documented in README.md.
 */
export function adminApi(deps: AdminApiDeps): Router {
  const { annex, app } = deps;
  const router = express.Router();

  // Every answer is the caller's (their tenant's data, their session's CSRF token): never kept by a cache.
  router.use(noStore);
  // Before anything reads the session: another site's request, and any navigation, get nothing (see fetch-metadata.ts).
  router.use(refuseCrossSiteRequests);

  // Who calls: a bearer token, else the session; admins only.
  router.use(async (req: Request, res: Response, next: NextFunction) => {
    try {
      const header = req.get("authorization");
      if (header !== undefined) {
        const match = /^Bearer\s+(\S+)$/i.exec(header);
        // An expired token gets the answer of an unknown one: the caller learns nothing of which tokens existed.
        const user = match === null ? undefined : await findApiTokenUser(app, match[1]!);
        if (user === undefined) return void res.status(401).json({ code: "E_UNAUTHENTICATED", message: "unknown, expired or malformed API token (Authorization: Bearer annex_…)" });
        req.actor = user;
        req.authenticatedBy = "token";
      } else {
        const user = await sessionActor(app, req);
        if (user === null) return void res.status(401).json({ code: "E_UNAUTHENTICATED", message: "sign in as an admin, or send Authorization: Bearer <API token>" });
        req.actor = user;
        req.authenticatedBy = "session";
      }
      if (req.actor.role !== "admin") return void res.status(403).json({ code: "E_FORBIDDEN", message: "the admin API is for administrators of the tenant" });
      next();
    } catch (error) {
      next(error);
    }
  });
  router.use(deps.csrfProtection);

  const actorName = (user: SignedInUser) => `user:${user.email}`;
  /** Wraps a handler: typed errors answered with their status, the rest passed on. */
  const route =
    (handler: (req: Request, res: Response, user: SignedInUser) => Promise<unknown>) =>
    async (req: Request, res: Response, next: NextFunction): Promise<void> => {
      try {
        const result = await handler(req, res, req.actor!);
        if (!res.headersSent) res.json(result);
      } catch (error) {
        if (!sendError(res, error)) next(error);
      }
    };
  const requireInstall = async (tenant: string, extensionId: string) => {
    const install = await annex.getInstall(tenant, extensionId);
    if (install === null) throw new AdminApiError(404, "E_INSTALL_NOT_FOUND", `${extensionId} is not installed for this tenant`, { extensionId });
    return install;
  };

  router.get(
    "/session",
    route(async (req, _res, user) => ({ user, authenticatedBy: req.authenticatedBy, csrfToken: req.authenticatedBy === "session" ? deps.csrfToken(req) : null })),
  );

  router.get(
    "/catalogue",
    route(async (_req, _res, user) => {
      const versions = [];
      for (const extension of await annex.registry.listExtensions()) versions.push(...(await annex.registry.listVersions(extension.id)));
      return { versions, installs: await annex.listInstalls(user.tenant) };
    }),
  );
  router.get("/extensions", route(async () => annex.registry.listExtensions()));
  router.get("/extensions/:extensionId/versions", route(async (req) => annex.registry.listVersions(extensionIdOf(req))));

  // Publishing from the admin API is a dev-host feature (`annex dev`): a production host publishes from its
  // release pipeline, with host.publish and bundles signed by keys it trusts. Refused before the body is read.
  router.post(
    "/extensions",
    (_req: Request, res: Response, next: NextFunction) => {
      if (deps.dev === true) return next();
      res.status(403).json({
        code: "E_DEV_MODE_REQUIRED",
        message: "publishing through the admin API is only for a host in dev trust mode (start the reference host with ANNEX_DEV=1); publish releases with host.publish",
        details: {},
      });
    },
    (req: Request, res: Response, next: NextFunction) =>
      express.raw({ type: () => true, limit: MAX_DEV_BUNDLE_BYTES })(req, res, (error?: unknown) => {
        if (error === undefined || error === null) return next();
        const status = (error as { status?: number }).status;
        if (status === 413) return void res.status(413).json({ code: "E_BODY_TOO_LARGE", message: `a bundle of at most ${MAX_DEV_BUNDLE_BYTES} bytes`, details: {} });
        next(error);
      }),
    route(async (req, res, user) => {
      if (!Buffer.isBuffer(req.body) || req.body.byteLength === 0) {
        throw new AdminApiError(400, "E_BAD_REQUEST", "send the .annex bundle's bytes as the body (content-type: application/octet-stream), its signature (if any) in x-annex-signature", { field: "body" });
      }
      let signature: BundleSignature | null = null;
      const header = req.get("x-annex-signature");
      if (header !== undefined && header !== "") {
        let parsed: unknown;
        try {
          parsed = JSON.parse(Buffer.from(header, "base64").toString("utf8"));
        } catch {
          throw new AdminApiError(400, "E_BAD_REQUEST", "x-annex-signature must be the .sig file's JSON, base64-encoded", { field: "x-annex-signature" });
        }
        signature = parseSignature(parsed);
      }
      const published = await annex.publish(new Uint8Array(req.body), signature, { actor: actorName(user) });
      res.status(published.created ? 201 : 200);
      return published;
    }),
  );

  router.get("/installs", route(async (_req, _res, user) => annex.listInstalls(user.tenant)));
  router.get(
    "/installs/:extensionId",
    route(async (req, _res, user) => {
      const install = await requireInstall(user.tenant, extensionIdOf(req));
      const version = await annex.registry.getVersion(install.extensionId, install.version);
      return { install, manifest: version?.manifest ?? null, secretNames: await annex.listSecretNames(user.tenant, install.extensionId) };
    }),
  );
  router.post(
    "/installs",
    route(async (req, res, user) => {
      const body = objectBody(req);
      const extensionId = String(body["extensionId"] ?? "");
      if (!ID.test(extensionId)) throw new AdminApiError(400, "E_BAD_REQUEST", "extensionId is required (publisher.name)", { field: "extensionId" });
      const install = await annex.install(user.tenant, extensionId, {
        version: optionalString(body["version"], "version"),
        grants: body["grants"] as CapabilityGrant[],
        config: optionalRecord(body, "config"),
        secrets: optionalRecord(body, "secrets") as Record<string, string> | undefined,
        actor: actorName(user),
      });
      res.status(201);
      return install;
    }),
  );
  for (const action of ["enable", "disable"] as const) {
    router.post(
      `/installs/:extensionId/${action}`,
      route(async (req, _res, user) => annex[action](user.tenant, extensionIdOf(req), { actor: actorName(user) })),
    );
  }
  router.put(
    "/installs/:extensionId/config",
    route(async (req, _res, user) => {
      const config = optionalRecord(objectBody(req), "config");
      if (config === undefined) throw new AdminApiError(400, "E_BAD_REQUEST", "config is required: { config: { … } }", { field: "config" });
      return annex.configure(user.tenant, extensionIdOf(req), config, { actor: actorName(user) });
    }),
  );
  router.put(
    "/installs/:extensionId/secrets",
    route(async (req, _res, user) => {
      const secrets = optionalRecord(objectBody(req), "secrets");
      if (secrets === undefined) throw new AdminApiError(400, "E_BAD_REQUEST", "secrets is required: { secrets: { NAME: \"value\" } }", { field: "secrets" });
      const extensionId = extensionIdOf(req);
      await annex.setSecrets(user.tenant, extensionId, secrets as Record<string, string>, { actor: actorName(user) });
      // Write-only: the answer names the secrets that have a value, never a value.
      return { secretNames: await annex.listSecretNames(user.tenant, extensionId) };
    }),
  );
  router.get(
    "/installs/:extensionId/upgrade",
    route(async (req, _res, user) => {
      const version = optionalString(req.query["version"], "version");
      const install = await requireInstall(user.tenant, extensionIdOf(req));
      const target = version ?? (await annex.registry.latestVersion(install.extensionId))?.version;
      if (target === undefined) throw new AdminApiError(404, "E_VERSION_NOT_FOUND", "nothing published to upgrade to");
      return planUpgrade(annex, install, target);
    }),
  );
  router.post(
    "/installs/:extensionId/upgrade",
    route(async (req, _res, user) => {
      const body = objectBody(req);
      const version = optionalString(body["version"], "version");
      if (version === undefined) throw new AdminApiError(400, "E_BAD_REQUEST", "version is required", { field: "version" });
      return annex.upgrade(user.tenant, extensionIdOf(req), {
        version,
        grants: body["grants"] as CapabilityGrant[] | undefined,
        config: optionalRecord(body, "config"),
        actor: actorName(user),
      });
    }),
  );
  router.post(
    "/installs/:extensionId/uninstall",
    route(async (req, _res, user) => {
      const purge = objectBody(req)["purge"];
      if (purge !== undefined && typeof purge !== "boolean") throw new AdminApiError(400, "E_BAD_REQUEST", "purge must be true or false", { field: "purge" });
      return annex.uninstall(user.tenant, extensionIdOf(req), { purge: purge === true, actor: actorName(user) });
    }),
  );
  router.get("/installs/:extensionId/export", route(async (req, _res, user) => annex.exportData(user.tenant, extensionIdOf(req), { actor: actorName(user) })));
  router.get(
    "/installs/:extensionId/usage",
    route(async (req, _res, user) => {
      const install = await requireInstall(user.tenant, extensionIdOf(req));
      return deps.usage.summary(annex.metrics, install.id);
    }),
  );
  router.get(
    "/installs/:extensionId/logs",
    route(async (req, _res, user) => {
      const install = await requireInstall(user.tenant, extensionIdOf(req));
      const limit = Math.min(200, Math.max(1, Number(req.query["limit"] ?? 100) || 100));
      return deps.logs.recent(install.id, limit);
    }),
  );

  // Dead letters: deliveries of events that failed every attempt. Always the caller's tenant: the host
  // answers E_DEAD_LETTER_NOT_FOUND for another tenant's delivery, as for one that does not exist.
  router.get(
    "/dead-letters",
    route(async (req, _res, user) => {
      const extensionId = optionalString(req.query["extensionId"], "extensionId");
      if (extensionId !== undefined && !ID.test(extensionId)) throw new AdminApiError(400, "E_BAD_REQUEST", "extensionId must be an extension id (publisher.name)", { field: "extensionId" });
      const installId = extensionId === undefined ? undefined : (await requireInstall(user.tenant, extensionId)).id;
      const limit = Math.min(200, Math.max(1, Number(req.query["limit"] ?? 50) || 50));
      return annex.events.deadLetters.list({ tenant: user.tenant, installId, limit, cursor: optionalString(req.query["cursor"], "cursor") });
    }),
  );
  for (const action of ["replay", "discard"] as const) {
    router.post(
      `/dead-letters/:deliveryId/${action}`,
      route(async (req, _res, user) => {
        const deliveryId = String(req.params["deliveryId"] ?? "");
        // The host audits it (event.dead-letter.replay / .discard) with the admin as the actor.
        await annex.events.deadLetters[action](deliveryId, { actor: actorName(user), tenant: user.tenant });
        return { deliveryId, [action === "replay" ? "replayed" : "discarded"]: true };
      }),
    );
  }

  // Jobs: every job of the tenant's installs, Run now and each job's history. The install is named by its id
  // (what host.jobs.list answers), so each call passes the caller's tenant to the host, which answers
  // E_JOB_NOT_FOUND for another tenant's install exactly as for one that does not exist.
  router.get("/jobs", route(async (_req, _res, user) => annex.jobs.list({ tenant: user.tenant })));
  router.post(
    "/jobs/:installId/:job/run",
    route(async (req, _res, user) =>
      // Answers when the run finished: a run that failed is a 200 with outcome "error" (it did run); refusals
      // (not found, disabled, already running) are typed errors. The host audits it (job.run) with the admin as actor.
      annex.jobs.runNow(String(req.params["installId"] ?? ""), String(req.params["job"] ?? ""), { actor: actorName(user), tenant: user.tenant }),
    ),
  );
  router.get(
    "/jobs/:installId/:job/runs",
    route(async (req, _res, user) => {
      const installId = String(req.params["installId"] ?? "");
      const name = String(req.params["job"] ?? "");
      // Another tenant's job (or none by that name) is a 404, not an empty history: the same answer as Run now's.
      const job = (await annex.jobs.list({ tenant: user.tenant })).find((j) => j.installId === installId && j.name === name);
      if (job === undefined) throw new AdminApiError(404, "E_JOB_NOT_FOUND", `no job ${JSON.stringify(name)} of install ${JSON.stringify(installId)} for this tenant`, { installId, name });
      const limit = Math.min(100, Math.max(1, Number(req.query["limit"] ?? 20) || 20));
      return annex.jobs.runs({ installId, name, tenant: user.tenant, limit, cursor: optionalString(req.query["cursor"], "cursor") });
    }),
  );

  // Storage: each install's kv usage against its quotas and its owned schema's migrations. Installs come from the
  // caller's tenant (listInstalls, getInstall), so another tenant's install is a 404 like one that does not exist.
  router.get(
    "/storage",
    route(async (_req, _res, user) => {
      const installs = await annex.listInstalls(user.tenant);
      const storage = await Promise.all(installs.map((install) => storageOf(annex, install)));
      return storage.filter((entry) => entry.kv !== null || entry.sql !== null);
    }),
  );
  router.get(
    "/installs/:extensionId/storage",
    route(async (req, _res, user) => storageOf(annex, await requireInstall(user.tenant, extensionIdOf(req)))),
  );

  router.get(
    "/audit",
    route(async (req, _res, user) => {
      const q = req.query;
      const decision = optionalString(q["decision"], "decision");
      if (decision !== undefined && !["allow", "deny", "error"].includes(decision)) throw new AdminApiError(400, "E_BAD_REQUEST", "decision must be allow, deny or error", { field: "decision" });
      const limit = Math.min(500, Math.max(1, Number(q["limit"] ?? 100) || 100));
      const filter: AuditFilter = {
        // Always the caller's tenant: an admin never reads another tenant's lines.
        tenant: user.tenant,
        actor: optionalString(q["actor"], "actor"),
        action: optionalString(q["action"], "action"),
        target: optionalString(q["target"], "target"),
        decision: decision as AuditFilter["decision"],
        since: optionalDate(q["since"], "since"),
        until: optionalDate(q["until"], "until"),
        afterId: optionalString(q["afterId"], "afterId"),
        limit: limit + 1,
        order: "desc",
      };
      const entries = await annex.audit.list(filter);
      return { entries: entries.slice(0, limit), hasMore: entries.length > limit };
    }),
  );

  router.get("/tokens", route(async (_req, _res, user) => listApiTokens(app, user.tenant)));
  router.post(
    "/tokens",
    route(async (req, res, user) => {
      // Only a signed-in admin makes tokens: a token that could make tokens would let whoever holds a leaked one mint
      // itself a successor, with a longer lifetime, that outlives the leaked one's revocation.
      if (req.authenticatedBy !== "session") {
        throw new AdminApiError(
          403,
          "E_SESSION_REQUIRED",
          "API tokens are made by a signed-in admin (the session cookie and its CSRF token), never with another API token; sign in and make it there",
        );
      }
      const body = objectBody(req);
      const label = optionalString(body["label"], "label") ?? "cli";
      if (label.length > 100) throw new AdminApiError(400, "E_BAD_REQUEST", "label: at most 100 characters", { field: "label" });
      const days = expiresInDaysOf(body["expiresInDays"], deps.apiTokenDays);
      const made = await createApiToken(app, user, label, days);
      // Written once the token exists (its id is the line's target); should the write fail, the token is taken back.
      await annex.audit
        .write({ actor: actorName(user), tenant: user.tenant, action: "auth.api-token.create", target: `token:${made.id}`, decision: "allow", details: { label, expiresAt: made.expiresAt.toISOString(), via: req.authenticatedBy } })
        .catch(async (error: unknown) => {
          await revokeApiToken(app, user.tenant, made.id);
          throw error;
        });
      res.status(201);
      return { ...made, label, tenant: user.tenant };
    }),
  );
  router.delete(
    "/tokens/:tokenId",
    route(async (req, res, user) => {
      const id = String(req.params["tokenId"] ?? "");
      const token = await findApiToken(app, user.tenant, id);
      // Another tenant's token is answered as a missing one: an admin learns nothing of other tenants' tokens.
      if (token === undefined) throw new AdminApiError(404, "E_TOKEN_NOT_FOUND", `no API token ${id.slice(0, 64)} in this tenant; GET /admin/api/tokens lists them`, { tokenId: id.slice(0, 64) });
      // The line first: the revocation never happens unaudited.
      await annex.audit.write({ actor: actorName(user), tenant: user.tenant, action: "auth.api-token.revoke", target: `token:${token.id}`, decision: "allow", details: { label: token.label, user: token.user, via: req.authenticatedBy } });
      await revokeApiToken(app, user.tenant, token.id);
      res.status(204);
      res.end();
      return undefined;
    }),
  );

  router.use((_req: Request, res: Response) => void res.status(404).json({ code: "E_NOT_FOUND", message: "no such admin API endpoint; see examples/reference-host/README.md" }));
  return router;
}
