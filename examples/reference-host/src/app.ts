import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHost, type EventsOptions, type Host, type InstallInfo, type Logger, type PublishResult } from "@annex/host";
import { isAnnexError, type BundleSignature, type Manifest, type UiSlot } from "@annex/manifest";
import { annexRouter } from "@annex/host/express";
import { createRemoteRunner, type Runner } from "@annex/runner";
import { baseCss } from "@annex/ui-kit";
import { csrfSync } from "csrf-sync";
import express, { type Express, type NextFunction, type Request, type Response } from "express";
import session from "express-session";
import helmet from "helmet";
import { pino } from "pino";
import { loadDemoKeys } from "./annex/demo-keys.js";
import { findExampleFolders, findExamples, publishExamples, type PublishExamplesResult } from "./annex/example-extensions.js";
import { seedDemoInstalls } from "./annex/demo-installs.js";
import { InstallLogBuffer } from "./annex/install-logs.js";
import { InstallUsage } from "./annex/install-usage.js";
import { applyAutomaticUpgrades } from "./annex/upgrade-policy.js";
import { adminApi } from "./admin/admin-api.js";
import { createApiToken } from "./admin/api-tokens.js";
import { consolePage, extensionPage } from "./web/console-page.js";
import { hashPassword, verifyPassword } from "./auth/passwords.js";
import { principalOf, type SignedInUser } from "./auth/principal.js";
import "./auth/middleware.js";
import { currentUser } from "./auth/current-user.js";
import { noStore, pageGuards } from "./auth/middleware.js";
import { AddressBudget, clientAddressKey, DEFAULT_SIGN_IN_LIMITS, type SignInLimits } from "./auth/sign-in-throttle.js";
import { AccountBudget } from "./auth/account-budget.js";
import { signInAudit } from "./auth/sign-in-audit.js";
import { rememberScheme, sessionCookieName, sessionUserReader } from "./auth/session-cookie.js";
import { DatabaseSessionStore } from "./auth/session-store.js";
import { openProductDatabase, type ProductDatabase } from "./data/database.js";
import { closeGracefully } from "./close-server.js";
import { migrateAppSchema } from "./data/migrate.js";
import { DEFAULT_API_TOKEN_DAYS, isApiTokenDays, MAX_API_TOKEN_DAYS } from "./config/api-token-lifetime.js";
import { checkTrustProxy } from "./config/trust-proxy.js";
import { SEED_USERS, seedProduct } from "./data/seed.js";
import { packageRoot } from "./package-root.js";
import { allowedHosts } from "./web/allowed-hosts.js";
import { holdsNul, refuseNulStrings } from "./web/nul-strings.js";
import { buildClientBundles } from "./web/client-bundles.js";
import { APP_CSS } from "./web/app-css.js";
import { html } from "./web/html.js";
import { layout, type MenuEntry } from "./web/layout.js";
import { PAGE_VIEW_SCRIPT, PAGE_VIEW_SCRIPT_PATH } from "./web/page-view.js";
import { dashboardPage, loginPage, type DashboardWidget } from "./web/pages.js";
import { hostTheme, hostThemeCss } from "./web/theme.js";


/**
 * The example extension whose collect endpoint the product's own page-view script (src/web/page-view.ts)
 * sends to once a tenant installs it. Never its snippet.js: see page-view.ts.
 */
const ANALYTICS_EXTENSION = "acme.web-analytics";
export interface ReferenceHostOptions {
  /** postgres://… (also `DATABASE_URL` in main.ts); absent: PGlite kept under `dataDir`. */
  databaseUrl?: string | undefined;
  /** Where the embedded database and the demo's keys live. Absent: a temporary folder removed by close(). */
  dataDir?: string | undefined;
  /** URL of a separate annex-runner (`ANNEX_RUNNER_URL`); absent: the host's own worker pool. */
  runnerUrl?: string | undefined;
  /** Shared key of that runner; default: the data folder's keys/runner.key. */
  runnerKey?: string | undefined;
  /** Port to listen on; 0 (the default) picks a free one. */
  port?: number | undefined;
  /** Address to listen on. Default 127.0.0.1. */
  listenHost?: string | undefined;
  /** The origin users reach the app at, when a proxy in front changes it (for Annex's cross-site check; its host is answered). */
  publicOrigin?: string | undefined;
  /**
   * Host names answered besides the listen address, localhost, 127.0.0.1 and [::1] at the listening port,
   * and PUBLIC_ORIGIN's host (`ALLOWED_HOSTS` in main.ts): `name` at any port, `name:port` at that port.
   * Any other `Host` gets 421 (a DNS-rebound page names its own site).
   */
  allowedHosts?: readonly string[] | undefined;
  /**
   * Dev trust mode, for an extension author's own machine (`ANNEX_DEV=1` in
   * main.ts): Annex accepts unsigned bundles, and admins may publish through
   * the admin API (`POST /admin/api/extensions`, what `annex dev` calls).
   * Off by default; never for a host others use.
   */
  dev?: boolean | undefined;
  /**
   * Express's "trust proxy" (set it behind a TLS-terminating proxy so that session cookies get Secure and sign-ins
   * are counted per client): the number of proxy hops in front (1 for one proxy) or the proxies' addresses and
   * subnets. `true` (or a subnet of every address) is refused with E_TRUST_PROXY_ALL: it trusts every
   * X-Forwarded-For entry, and the client writes the left-most one (see src/config/trust-proxy.ts).
   */
  trustProxy?: false | number | string | undefined;
  /**
   * Days an admin API token works when its creator names no `expiresInDays` (`API_TOKEN_DAYS` in main.ts),
   * 1 to 365. Default 90. Tokens from before expiries get created_at + this at the first start.
   */
  apiTokenDays?: number | undefined;
  /**
   * Sign-in throttling: wrong passwords per client address (`failures`) and per account from all addresses
   * (`accounts`), sign-in pages opened without a session per address (`pages`). Each given replaces its
   * default in DEFAULT_SIGN_IN_LIMITS.
   */
  signInLimits?: Partial<SignInLimits> | undefined;
  /** Schemas of the product's tables and of Annex's (tests on PostgreSQL use unique ones). */
  schemas?: { app?: string; annex?: string } | undefined;
  /** The example extensions published on first start. Default: the repository's examples/extensions. */
  extensionsDir?: string | undefined;
  /** More extension folders to publish at start, besides those of `extensionsDir` (tests use fixtures). */
  extraExtensions?: readonly string[] | undefined;
  /**
   * On a new database, also install Hello 1.0.0 for Acme (`npm run demo` does), so that the console has an
   * upgrade to show: Hello 1.1.0, published beside it, widens a capability and waits for consent.
   */
  demoInstalls?: boolean | undefined;
  /**
   * Password of the seeded users on a new database. Default: "annex-demo" on the embedded database (the
   * demo's data folder); on `databaseUrl` a random one, shown once by `npm run demo` when it seeds, so that a
   * reference host pointed at a shared PostgreSQL never gets admins with a password from this README.
   */
  seedPassword?: string | undefined;
  /** Annex's event delivery (attempts, backoff, poll interval); tests shorten the retries. Default: Annex's. */
  events?: EventsOptions | undefined;
  /** Where the product and Annex log. Default: pino to stdout at ANNEX_LOG_LEVEL. */
  logger?: Logger | undefined;
}

export interface ReferenceHost {
  /** http://host:port of the running app. */
  url: string;
  /** The embedded Annex (registry, installs, gateway …). */
  annex: Host;
  app: Express;
  server: Server;
  database: ProductDatabase;
  /** The seeded sign-ins (all with `password`). */
  signIns: readonly { email: string; tenant: string; role: string }[];
  /** The seeded users' password as this start would have set it: theirs only when `seeded` (or it was passed, or is the demo's). */
  password: string;
  /** Whether this start seeded the database (it was new): only then is `password` certainly the users' password. */
  seeded: boolean;
  examples: PublishExamplesResult;
  logs: InstallLogBuffer;
  usage: InstallUsage;
  /**
   * Publishes a signed bundle and applies the host's upgrade policy: every
   * install of that extension moves to the new latest release at once when it
   * widens nothing; otherwise it waits for an admin's consent in the console.
   */
  publish(bytes: Uint8Array, signature: BundleSignature, actor?: string): Promise<{ published: PublishResult; upgraded: { tenant: string; from: string; to: string; ok: boolean }[] }>;
  /** A new admin API token for a user (what POST /admin/api/tokens does, with the default lifetime), e.g. for the CLI in tests. */
  createApiToken(userId: string, label?: string): Promise<string>;
  /** Stops accepting, lets the requests under way answer (at most 10 s), then closes Annex and the databases. */
  close(): Promise<void>;
}

/** How long close() lets the requests under way run: longer than an execution's 5 s wall limit. */
const SHUTDOWN_GRACE_MS = 10_000;
/** The seeded users' password on the embedded database (the demo), as the README says. */
export const DEMO_PASSWORD = "annex-demo";
const SESSION_HOURS = 8;

/**
 * Starts the reference host: the product's database and seed data, Annex
 * (createHost with the worker pool, or a remote runner), the example
 * extensions published, and the Express app listening.
 */
export async function createReferenceHost(options: ReferenceHostOptions = {}): Promise<ReferenceHost> {
  // Options checked before anything is made: a refused start leaves no folder or database behind.
  const apiTokenDays = options.apiTokenDays ?? DEFAULT_API_TOKEN_DAYS;
  if (!isApiTokenDays(apiTokenDays)) throw new RangeError(`apiTokenDays must be a whole number of days from 1 to ${MAX_API_TOKEN_DAYS}; got ${String(apiTokenDays)}`);
  const trustProxy = checkTrustProxy(options.trustProxy);
  const root = packageRoot();
  const ownDataDir = options.dataDir === undefined ? await mkdtemp(join(tmpdir(), "annex-refhost-")) : undefined;
  const dataDir = options.dataDir ?? ownDataDir!;
  const password = options.seedPassword ?? (options.databaseUrl ? randomBytes(18).toString("base64url") : DEMO_PASSWORD);
  const baseLogger: Logger = options.logger ?? pino({ name: "refhost", level: process.env["ANNEX_LOG_LEVEL"] ?? "info" });
  const logs = new InstallLogBuffer(baseLogger);
  const usage = new InstallUsage();
  const closers: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => {});
    if (ownDataDir !== undefined) await rm(ownDataDir, { recursive: true, force: true });
  };

  try {
    const database = await openProductDatabase({ databaseUrl: options.databaseUrl, dataDir: options.databaseUrl ? undefined : dataDir, appSchema: options.schemas?.app, annexSchema: options.schemas?.annex });
    closers.push(() => database.close());
    await migrateAppSchema(database.root, database.appSchema, { apiTokenDays });
    const newDatabase = await seedProduct(database.app, password);

    const examples = [...(await findExamples(options.extensionsDir ?? join(root, "../extensions"))), ...(await findExampleFolders(options.extraExtensions ?? []))];
    const keys = await loadDemoKeys(dataDir, examples.map((e) => e.publisher));

    let runner: Runner | undefined;
    if (options.runnerUrl !== undefined && options.runnerUrl !== "") {
      const remote = createRemoteRunner({ url: options.runnerUrl, key: options.runnerKey ?? keys.runnerKey });
      runner = remote;
      closers.push(() => remote.close());
    }

    const store = new DatabaseSessionStore(database.app);
    const readUser = sessionUserReader({ secrets: [keys.sessionSecret], store, lookup: (id) => currentUser(database.app, id) });
    const { requireUser, requireAdminPage } = pageGuards(database.app);

    const annex = await createHost({
      database: database.annexOption,
      schema: database.annexSchema,
      trust: { store: keys.trustStore, mode: options.dev === true ? "dev" : "strict" },
      secrets: { keys: [{ id: "demo-1", key: keys.secretsKey }] },
      runner,
      logger: logs.logger,
      onExecute: usage.onExecute,
      events: options.events,
      gateway: {
        // The product's session is the gateway's principal: tenant, user and role.
        authenticate: async (request) => {
          const user = await readUser(request);
          return user === null ? null : principalOf(user);
        },
        // Anonymous families (public pages and endpoints, webhooks) name their tenant in the query: ?tenant=acme.
        resolveTenant: (request) => new URL(request.url).searchParams.get("tenant"),
        origins: options.publicOrigin === undefined ? undefined : [options.publicOrigin],
      },
    });
    closers.push(() => annex.close());

    const tenantIds = async () => (await database.app.selectFrom("tenants").select("id").execute()).map((t) => t.id);
    const published = await publishExamples(annex, examples, keys.publisherKeys, baseLogger);
    for (const name of published.published) await applyAutomaticUpgrades(annex, await tenantIds(), name.slice(0, name.lastIndexOf("@")));
    if (options.demoInstalls === true && newDatabase) await seedDemoInstalls(annex, baseLogger);
    const bundles = await buildClientBundles(root, ["console", "extension-page", "dashboard"]);

    const app = express();
    app.disable("x-powered-by");
    if (trustProxy !== undefined) app.set("trust proxy", trustProxy);

    // Before everything, Annex included: a page of another site rebound to this address must get nothing.
    app.use(
      allowedHosts({
        listenHost: options.listenHost ?? "127.0.0.1",
        publicOrigin: options.publicOrigin,
        extra: options.allowedHosts,
        onRefused: (host, path) => baseLogger.debug({ host, path }, "reference host: request for another host name refused (421)"),
      }),
    );

    // Annex first: its families (/api/ext, /ext, /ext-ui) read their own bodies and set their own headers (the UI assets' CSP).
    // rememberScheme: the gateway's authenticate reads the session cookie of the name this request's scheme gives it.
    app.use(rememberScheme);
    app.use(annexRouter(annex));

    // A fresh nonce per response: the only scripts the product's pages run are those it rendered with it
    // (its own /assets bundles and page-view script). Not 'self': extensions answer on this origin
    // (/ext/{id}/public/…, /api/ext/…) with whatever content type they like, so 'self' would let any of
    // them run as this site's script wherever markup can be injected.
    app.use((_req, res, next) => {
      res.locals["cspNonce"] = randomBytes(16).toString("base64");
      next();
    });
    app.use(
      helmet({
        contentSecurityPolicy: {
          directives: {
            defaultSrc: ["'self'"],
            scriptSrc: [(_req, res) => `'nonce-${(res as Response).locals["cspNonce"] as string}'`],
            styleSrc: ["'self'"],
            imgSrc: ["'self'", "data:"],
            connectSrc: ["'self'"],
            // Extension pages are framed from /ext-ui/ on this origin (each frame sandboxed without allow-same-origin).
            frameSrc: ["'self'"],
            frameAncestors: ["'none'"],
            formAction: ["'self'"],
            objectSrc: ["'none'"],
            baseUri: ["'none'"],
            // Only behind HTTPS: on plain http://localhost it would send the browser to an https:// that is not there.
            upgradeInsecureRequests: options.publicOrigin?.startsWith("https://") ? [] : null,
          },
        },
      }),
    );
    // httpOnly; Secure, and named __Host-refhost.sid, whenever the request came over HTTPS (set trustProxy behind a
    // proxy); SameSite=Lax plus CSRF tokens. express-session takes one cookie name, so one middleware per scheme, each
    // with a store object of its own (it keeps per-middleware cookie options on the store): the same table behind both.
    const sessionOver = (secure: boolean, sessionStore: DatabaseSessionStore) =>
      session({
        name: sessionCookieName(secure),
        secret: [keys.sessionSecret],
        store: sessionStore,
        resave: false,
        saveUninitialized: false,
        rolling: true,
        cookie: { httpOnly: true, sameSite: "lax", secure, path: "/", maxAge: SESSION_HOURS * 3_600_000 },
      });
    const httpsSession = sessionOver(true, new DatabaseSessionStore(database.app));
    const httpSession = sessionOver(false, store);
    app.use((req, res, next) => (req.secure ? httpsSession : httpSession)(req, res, next));
    const prune = setInterval(() => void store.prune().catch(() => {}), 3_600_000);
    prune.unref();
    closers.push(async () => clearInterval(prune));

    app.use(express.urlencoded({ extended: false, limit: "16kb" }));
    app.use(express.json({ limit: "256kb" }));
    app.use(refuseNulStrings((req) => req.method === "POST" && req.path === "/login"));

    const csrf = csrfSync({
      getTokenFromRequest: (req) => (typeof req.body?._csrf === "string" ? req.body._csrf : req.get("x-csrf-token")),
      // Requests with an API token carry no cookie, so they cannot be forged cross-site.
      skipCsrfProtection: (req) => req.authenticatedBy === "token",
    });
    const csrfToken = (req: Request) => csrf.generateToken(req);
    // What a sign-in with an unknown email is checked against (see POST /login): a hash no password matches.
    const unknownUserHash = hashPassword(randomBytes(32).toString("base64url"));

    app.get("/healthz", (_req, res) => void res.json({ ok: true }));
    app.get("/assets/app.css", (_req, res) => void res.type("text/css").set("cache-control", "no-cache").send(`${hostThemeCss}\n${baseCss}\n${APP_CSS}`));
    app.get(PAGE_VIEW_SCRIPT_PATH, (_req, res) => void res.type("text/javascript").set("cache-control", "no-cache").send(PAGE_VIEW_SCRIPT));
    app.get("/assets/:file", (req, res, next) => {
      const text = bundles.get(String(req.params["file"]));
      if (text === undefined) return next();
      res.type("text/javascript").set("cache-control", "no-cache").send(text);
    });

    const tenantName = async (id: string) => (await database.app.selectFrom("tenants").select("name").where("id", "=", id).executeTakeFirst())?.name ?? id;

    /** The tenant's serving installs (state active) with the manifest of the installed version. */
    async function servingInstalls(tenant: string): Promise<{ installs: InstallInfo[]; serving: { install: InstallInfo; manifest: Manifest }[] }> {
      const installs = (await annex.listInstalls(tenant)).filter((i) => i.state !== "uninstalled");
      const serving = [];
      for (const install of installs) {
        if (install.state !== "active") continue;
        const version = await annex.registry.getVersion(install.extensionId, install.version);
        if (version !== null) serving.push({ install, manifest: version.manifest as Manifest });
      }
      return { installs, serving };
    }

    /**
     * Where the host's page-view script sends a page view of `tenant`: the web-analytics example's
     * collect endpoint, when the tenant has it installed and active (else undefined: no script). The
     * product's own pages (dashboard, extension pages, public pages) include the script; the admin
     * console and sign-in do not. Its query names the tenant, as anonymous requests do here.
     */
    async function pageViewsFor(tenant: string): Promise<string | undefined> {
      const install = await annex.getInstall(tenant, ANALYTICS_EXTENSION);
      return install?.state === "active" ? `/ext/${ANALYTICS_EXTENSION}/public/collect?tenant=${encodeURIComponent(tenant)}` : undefined;
    }

    /**
     * The menu: the dashboard, the extension pages of the tenant's serving installs (ui.pages in the "app"
     * slot), and for admins the console followed by the installs' pages in the "admin" slot.
     */
    async function menuFor(user: SignedInUser, current: string): Promise<{ menu: MenuEntry[]; installs: InstallInfo[]; serving: { install: InstallInfo; manifest: Manifest }[] }> {
      const { installs, serving } = await servingInstalls(user.tenant);
      const menu: MenuEntry[] = [{ href: "/", label: "Dashboard" }];
      const pagesOf = (slot: UiSlot, base: string) =>
        serving.flatMap(({ install, manifest }) =>
          manifest.ui.pages.filter((page) => page.slot === slot).map((page) => ({ href: `${base}/${install.extensionId}${page.path === "/" ? "" : page.path}`, label: page.title ?? manifest.name })),
        );
      menu.push(...pagesOf("app", "/apps"));
      if (user.role === "admin") menu.push({ href: "/admin", label: "Admin console" }, ...pagesOf("admin", "/admin/apps").map((entry) => ({ ...entry, sub: true })));
      return { menu: menu.map((entry) => ({ ...entry, current: entry.href === current })), installs, serving };
    }

    /**
     * What a frame needs of an install (what mountInstallFrame reads; the settings reach the page as
     * context.config), and nothing else: public pages put it in the HTML for anyone. An allowlist, so that a
     * field InstallInfo gains later (its id, last error and owned schema's status are already there) stays
     * out of the page until someone decides the frame needs it.
     */
    const frameInstall = (install: InstallInfo) => ({
      extensionId: install.extensionId,
      tenant: install.tenant,
      version: install.version,
      contentHash: install.contentHash,
      state: install.state,
      grants: install.grants,
      config: install.config,
    });

    const signInLimits = { ...DEFAULT_SIGN_IN_LIMITS, ...options.signInLimits };
    const failedSignIns = new AddressBudget(signInLimits.failures);
    const failedForAccount = new AccountBudget(signInLimits.accounts);
    const signInPages = new AddressBudget(signInLimits.pages);
    const tooMany = (res: Response, seconds: number, what: string) =>
      void res.status(429).set("retry-after", String(seconds)).type("html").send(`<!doctype html><title>Too many requests</title><p>${what} Try again in ${Math.ceil(seconds / 60)} minute(s).</p>`);

    app.get("/login", noStore, (req, res) => {
      // The page's CSRF token is kept in a session: a visit without one makes a new session row.
      if (req.session.csrfToken === undefined) {
        const wait = signInPages.retryAfter(clientAddressKey(req.ip));
        if (wait > 0) return tooMany(res, wait, "Too many sign-in pages were opened from your address.");
        signInPages.spend(clientAddressKey(req.ip));
      }
      res.type("html").send(loginPage({ nonce: nonceOf(res), csrfToken: csrfToken(req), next: safeNext(req.query["next"]) }));
    });
    const signIns = signInAudit(annex.audit);
    // A refusal stands without its audit line: the log failing must not let a wrong password in, nor lift the throttle.
    const auditDenial = (line: Promise<void>) =>
      line.catch((error: unknown) => baseLogger.error({ err: error instanceof Error ? error.message : String(error) }, "reference host: a refused sign-in's audit line was not written"));
    app.post("/login", noStore, csrf.csrfSynchronisedProtection, async (req, res, next) => {
      const client = clientAddressKey(req.ip);
      const email = typeof req.body?.email === "string" ? req.body.email.trim().toLowerCase() : "";
      // Counted as a failure before the password is checked (scrypt is slow): attempts under way count against the
      // address's budget, so that wrong passwords sent in parallel cannot all pass the check before the first one is
      // counted. A right password gives its attempt back; so does an attempt this server failed to check.
      const attempt = failedSignIns.reserve(client);
      if (attempt.wait > 0) {
        // Audited once per throttle window, not per refusal: a refusal costs the client nothing (no password is
        // checked), so a line each would let anyone grow the append-only log as fast as they can send requests.
        if (attempt.firstRefusal) await auditDenial(signIns.throttled(email, client, attempt.wait, "address"));
        return tooMany(res, attempt.wait, "Too many wrong passwords were tried from your address.");
      }
      // The account's budget, counted from every address together (an attacker with many addresses would otherwise
      // aim all their budgets at one account), for any email, whether an account has it or not: a refusal says
      // nothing about which emails have accounts. Past it the right password waits too, or it would bound nothing.
      const forAccount = failedForAccount.reserve(email);
      if (forAccount.wait > 0) {
        // Nothing was checked: the address spent nothing.
        attempt.giveBack();
        if (forAccount.firstRefusal) await auditDenial(signIns.throttled(email, client, forAccount.wait, "account"));
        return tooMany(res, forAccount.wait, "Too many wrong passwords were tried for this email address.");
      }
      let wrong = false;
      try {
        const given = typeof req.body?.password === "string" ? req.body.password : "";
        // No account's email holds a NUL (the database refuses one in a query): a wrong sign-in, counted like any other.
        const row = holdsNul(email) ? undefined : await database.app.selectFrom("users").selectAll().where("email", "=", email).executeTakeFirst();
        // An unknown email costs the same scrypt as a wrong password: the answer's timing must not say which emails have accounts.
        const verified = await verifyPassword(given, row?.password_hash ?? (await unknownUserHash));
        if (row === undefined || !verified) {
          wrong = true;
          // The same line for an unknown email and a wrong password (see sign-in-audit.ts); bounded by the throttle's budget.
          await auditDenial(signIns.failed(email, client));
          res.status(401).type("html").send(loginPage({ nonce: nonceOf(res), csrfToken: csrfToken(req), next: safeNext(req.body?.next), error: "Unknown email or wrong password.", email: email.replaceAll("\u0000", "") }));
          return;
        }
        attempt.giveBack();
        forAccount.giveBack();
        const user: SignedInUser = { id: row.id, tenant: row.tenant, email: row.email, displayName: row.display_name, role: row.role };
        // Audited before the session exists, as Annex audits an allowed action before its effects: no sign-in without its line.
        await signIns.succeeded(user, client);
        // A new session id at sign-in (no fixation), with a new CSRF token.
        req.session.regenerate((error) => {
          if (error) return next(error);
          req.session.user = user;
          csrf.generateToken(req, true);
          req.session.save((saveError) => (saveError ? next(saveError) : res.redirect(303, safeNext(req.body?.next))));
        });
      } catch (error) {
        if (!wrong) {
          attempt.giveBack();
          forAccount.giveBack();
        }
        next(error);
      }
    });
    app.post("/logout", noStore, csrf.csrfSynchronisedProtection, (req, res, next) => {
      req.session.destroy((error) => {
        if (error) return next(error);
        // With the attributes it was set with: browsers ignore a __Host- cookie's removal without Secure and Path=/.
        res.clearCookie(sessionCookieName(req.secure), { httpOnly: true, sameSite: "lax", secure: req.secure, path: "/" }).redirect(303, "/login");
      });
    });

    app.get("/", requireUser, async (req, res) => {
      const user = req.actor!;
      const { menu, installs, serving } = await menuFor(user, "/");
      const extensions = [];
      for (const install of installs) {
        const version = await annex.registry.getVersion(install.extensionId, install.version);
        extensions.push({ extensionId: install.extensionId, name: version?.manifest.name ?? install.extensionId, version: install.version, state: install.state });
      }
      // Widgets: every "dashboard.widget" page of a serving install, mounted through the bridge by src/client/dashboard.ts.
      const widgets: DashboardWidget[] = serving.flatMap(({ install, manifest }) =>
        manifest.ui.pages
          .filter((page) => page.slot === "dashboard.widget")
          .map((page) => ({ install: frameInstall(install), manifest, page: { slot: "dashboard.widget" as const, path: page.path }, title: page.title ?? manifest.name })),
      );
      res.type("html").send(
        dashboardPage({ user, tenantName: await tenantName(user.tenant), csrfToken: csrfToken(req), menu, extensions, widgets, theme: hostTheme, frameUser: { id: user.id, displayName: user.displayName, email: user.email }, nonce: nonceOf(res), pageViews: await pageViewsFor(user.tenant) }),
      );
    });

    app.get("/admin", requireAdminPage, async (req, res) => {
      const user = req.actor!;
      const { menu } = await menuFor(user, "/admin");
      res.type("html").send(consolePage({ user, tenantName: await tenantName(user.tenant), csrfToken: csrfToken(req), menu, theme: hostTheme, nonce: nonceOf(res) }));
    });
    app.use("/admin/api", adminApi({ annex, app: database.app, logs, usage, csrfProtection: csrf.csrfSynchronisedProtection, csrfToken, dev: options.dev === true, apiTokenDays }));

    /** The install's page for `slot` at `path`, when the tenant's install serves; what the frame needs of it (its settings reach the page as context.config). */
    async function pageOf(tenant: string, extensionId: string, slot: UiSlot, path: string) {
      let install: InstallInfo | null;
      try {
        install = await annex.getInstall(tenant, extensionId);
      } catch (error) {
        // A path segment that is no extension id (anyone can type one): no such page, not a failure.
        if (isAnnexError(error, "E_INVALID_ARGUMENT")) return null;
        throw error;
      }
      if (install === null || install.state !== "active") return null;
      const version = await annex.registry.getVersion(extensionId, install.version);
      const page = version?.manifest.ui.pages.find((p) => p.slot === slot && p.path === path);
      if (version === null || page === undefined) return null;
      return { install: frameInstall(install), manifest: version.manifest as Manifest, page: { slot, path: page.path }, title: page.title ?? version.manifest.name };
    }

    // Extension pages (ui.pages, slot "app") in the product's layout, for the tenant's users.
    app.get("/apps/:extensionId{/*rest}", requireUser, async (req, res) => {
      const user = req.actor!;
      const path = `/${([] as string[]).concat(req.params["rest"] ?? []).join("/")}`;
      const found = await pageOf(user.tenant, String(req.params["extensionId"]), "app", path);
      const current = `/apps/${String(req.params["extensionId"])}${path === "/" ? "" : path}`;
      const { menu } = await menuFor(user, current);
      if (found === null) return void res.status(404).type("html").send(notFoundPage(nonceOf(res), user, menu, await tenantName(user.tenant), csrfToken(req)));
      res.type("html").send(
        extensionPage({
          user,
          tenantName: await tenantName(user.tenant),
          csrfToken: csrfToken(req),
          menu,
          title: found.title,
          theme: hostTheme,
          mount: { install: found.install, manifest: found.manifest, page: found.page, user: { id: user.id, displayName: user.displayName, email: user.email }, publicTenant: null },
          nonce: nonceOf(res),
          pageViews: await pageViewsFor(user.tenant),
        }),
      );
    });

    // Extension pages in the "admin" slot, inside the console's layout: for the tenant's admins only.
    app.get("/admin/apps/:extensionId{/*rest}", requireAdminPage, async (req, res) => {
      const user = req.actor!;
      const path = `/${([] as string[]).concat(req.params["rest"] ?? []).join("/")}`;
      const found = await pageOf(user.tenant, String(req.params["extensionId"]), "admin", path);
      const current = `/admin/apps/${String(req.params["extensionId"])}${path === "/" ? "" : path}`;
      const { menu } = await menuFor(user, current);
      if (found === null) return void res.status(404).type("html").send(notFoundPage(nonceOf(res), user, menu, await tenantName(user.tenant), csrfToken(req)));
      res.type("html").send(
        extensionPage({
          user,
          tenantName: await tenantName(user.tenant),
          csrfToken: csrfToken(req),
          menu,
          title: found.title,
          theme: hostTheme,
          mount: { install: found.install, manifest: found.manifest, page: found.page, user: { id: user.id, displayName: user.displayName, email: user.email }, publicTenant: null },
          nonce: nonceOf(res),
        }),
      );
    });

    // Public pages (ui.pages, slot "public") for anyone: the frame's api.fetch is sent to the public family, /ext/{id}/public/…?tenant=.
    app.get("/public/:tenant/:extensionId{/*rest}", async (req, res) => {
      const tenant = String(req.params["tenant"]);
      const path = `/${([] as string[]).concat(req.params["rest"] ?? []).join("/")}`;
      const found = /^[a-z0-9-]{1,64}$/.test(tenant) ? await pageOf(tenant, String(req.params["extensionId"]), "public", path) : null;
      if (found === null) {
        // The tenant's own name, and only of a tenant that exists: the URL's segment is anyone's text (a link saying "call this number").
        const known = /^[a-z0-9-]{1,64}$/.test(tenant) ? await database.app.selectFrom("tenants").select("name").where("id", "=", tenant).executeTakeFirst() : undefined;
        return void res.status(404).type("html").send(notFoundPage(nonceOf(res), null, [], known?.name, undefined));
      }
      res.type("html").send(
        extensionPage({
          user: null,
          tenantName: await tenantName(tenant),
          menu: [],
          title: found.title,
          theme: hostTheme,
          mount: { install: found.install, manifest: found.manifest, page: found.page, user: null, publicTenant: tenant },
          nonce: nonceOf(res),
          pageViews: await pageViewsFor(tenant),
        }),
      );
    });

    app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
      // Before requestError: csrf-sync's error is an http-errors 403 too, answered with its own code.
      if (error === csrf.invalidCsrfTokenError) {
        res.status(403);
        if (req.accepts(["json", "html"]) === "json") return void res.json({ code: "E_CSRF", message: "missing or invalid CSRF token: send the page's token as _csrf or x-csrf-token" });
        return void res.type("html").send("<!doctype html><title>Forbidden</title><p>The form expired or did not come from this site. Go back, reload and try again.</p>");
      }
      const refused = requestError(error);
      if (refused !== null) {
        // The caller's mistake (a body that is not JSON, too large, too many fields; a path that cannot be decoded): theirs to fix, not an error of this server.
        baseLogger.debug({ path: req.path, code: refused.code, reason: refused.reason }, "reference host: request refused");
        res.status(refused.status);
        if (req.accepts(["json", "html"]) === "html") return void res.type("html").send(`<!doctype html><title>Bad request</title><p>${refused.message}</p>`);
        return void res.json({ code: refused.code, message: refused.message });
      }
      baseLogger.error({ err: error instanceof Error ? { message: error.message, stack: error.stack } : String(error), path: req.path }, "reference host: request failed");
      if (!res.headersSent) res.status(500).json({ code: "E_INTERNAL", message: "internal error" });
    });

    const server = createServer(app);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? 0, options.listenHost ?? "127.0.0.1", () => resolve());
    });
    // Closed first (closers run in reverse): the requests under way get their answers before Annex closes.
    closers.push(() => closeGracefully(server, SHUTDOWN_GRACE_MS));
    const address = server.address() as AddressInfo;
    const shownHost = address.family === "IPv6" ? `[${address.address}]` : address.address;

    return {
      url: `http://${shownHost}:${address.port}`,
      annex,
      app,
      server,
      database,
      signIns: SEED_USERS.map((u) => ({ email: u.email, tenant: u.tenant, role: u.role })),
      password,
      seeded: newDatabase,
      examples: published,
      logs,
      usage,
      async publish(bytes, signature, actor = "system:reference-host") {
        const result = await annex.publish(bytes, signature, { actor });
        return { published: result, upgraded: await applyAutomaticUpgrades(annex, await tenantIds(), result.extensionId) };
      },
      async createApiToken(userId, label = "cli") {
        const user = await database.app.selectFrom("users").select(["id", "tenant", "email"]).where("id", "=", userId).executeTakeFirstOrThrow();
        return (await createApiToken(database.app, user, label, apiTokenDays)).token;
      },
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/** The response's CSP nonce, set for every request past the Annex router (see the middleware before helmet). */
function nonceOf(res: Response): string {
  const nonce: unknown = res.locals["cspNonce"];
  if (typeof nonce !== "string") throw new Error("no CSP nonce for this response");
  return nonce;
}

/** `tenantName`: the name of a tenant that exists (never a segment of the URL), or undefined to name none. */
function notFoundPage(nonce: string, user: SignedInUser | null, menu: MenuEntry[], tenantName: string | undefined, csrfToken: string | undefined): string {
  const where = tenantName === undefined ? html`here` : html`for ${tenantName}`;
  return layout({ title: "Not found", nonce, user, tenantName, csrfToken, menu, body: html`<h1>Not found</h1><p>No such page here, or its extension is not installed and enabled ${where}.</p>` });
}

/**
 * Errors that are the caller's 4xx, not this server's 500 (which would also
 * write an error-level log line with a stack, for any anonymous caller). Null
 * for anything else. The messages are fixed texts: nothing of the request is
 * echoed back (the HTML answer would carry it).
 *
 * - body-parser's refusals (express.json, express.urlencoded): a 4xx with a
 *   `type` such as entity.parse.failed or entity.too.large;
 * - the router's: a path parameter with a malformed percent-escape
 *   (`/apps/%ff`) is a URIError with status 400 ("Failed to decode param");
 * - any other error that carries a 4xx `status` or `statusCode` (http-errors'
 *   convention), answered with that status.
 */
function requestError(error: unknown): { status: number; code: string; message: string; reason: string } | null {
  const { status: given, statusCode, type } = (error ?? {}) as { status?: unknown; statusCode?: unknown; type?: unknown };
  const status = typeof given === "number" ? given : statusCode;
  const is4xx = typeof status === "number" && Number.isInteger(status) && status >= 400 && status <= 499;
  if (typeof type === "string" && is4xx) {
    if (status === 413) return { status, code: "E_PAYLOAD_TOO_LARGE", message: "the request body is too large", reason: type };
    if (status === 415) return { status, code: "E_UNSUPPORTED_MEDIA_TYPE", message: "the request body's encoding or character set is not supported", reason: type };
    return { status: 400, code: "E_BAD_REQUEST", message: "the request body cannot be read: send JSON (or a form) of the expected shape", reason: type };
  }
  if (error instanceof URIError) return { status: 400, code: "E_BAD_REQUEST", message: "the URL cannot be decoded: it holds a malformed percent-escape", reason: "uri.decode.failed" };
  if (is4xx) {
    const name = error instanceof Error ? error.name : typeof error;
    return { status, code: HTTP_4XX_CODES[status] ?? "E_BAD_REQUEST", message: "the request cannot be served as it is", reason: `${name} ${status}` };
  }
  return null;
}

/** Codes of the 4xx statuses an error from Express's stack may carry (see requestError). */
const HTTP_4XX_CODES: Record<number, string> = { 401: "E_UNAUTHENTICATED", 403: "E_FORBIDDEN", 404: "E_NOT_FOUND", 405: "E_METHOD_NOT_ALLOWED", 413: "E_PAYLOAD_TOO_LARGE", 415: "E_UNSUPPORTED_MEDIA_TYPE" };

/** Only paths on this site: an open redirect after sign-in would hand the session to a phishing page. */
function safeNext(value: unknown): string {
  return typeof value === "string" && value.startsWith("/") && !value.startsWith("//") && !value.startsWith("/\\") ? value : "/";
}
