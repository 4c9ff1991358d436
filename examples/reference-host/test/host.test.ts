/**
 * The reference host in-process on a random port, over HTTP: seed data,
 * sign-in with sessions and CSRF, security headers (no-store on everything
 * that depends on the session), the examples published
 * signed, the Annex gateway behind the product's session, and a restart
 * that keeps everything. On PGlite, and on PostgreSQL when
 * ANNEX_TEST_DATABASE_URL is set.
 */
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createReferenceHost, type ReferenceHost } from "../src/index.js";
import { PAGE_VIEW_SCRIPT } from "../src/web/page-view.js";
import { backends } from "./support/backends.js";
import { Client } from "./support/http-client.js";

describe.each(backends())("reference host on $name", (backend) => {
  let host: ReferenceHost;

  beforeAll(async () => {
    host = await createReferenceHost({ ...(await backend.options()), demoInstalls: true });
  }, 120_000);
  afterAll(async () => {
    await host?.close();
    await backend.cleanup();
  });

  it("publishes the example extensions signed with the demo key, trusted as first-party", async () => {
    expect(host.examples.published).toEqual(expect.arrayContaining(["acme.hello@1.0.0", "acme.docs@1.0.0"]));
    expect(host.examples.failed).toEqual([]);
    const hello = await host.annex.registry.getVersion("acme.hello", "1.0.0");
    expect(hello?.provenance).toMatchObject({ signed: true, trustClass: "first-party", keyId: "acme-demo" });
  });

  it("publishes Hello 1.1.0 beside 1.0.0 and, on a new demo database, installs 1.0.0 for Acme: the upgrade waits for consent", async () => {
    expect(host.examples.published).toEqual(expect.arrayContaining(["acme.hello@1.0.0", "acme.hello@1.1.0"]));
    expect((await host.annex.registry.latestVersion("acme.hello"))?.version).toBe("1.1.0");
    const install = await host.annex.getInstall("acme", "acme.hello");
    expect(install).toMatchObject({ version: "1.0.0", state: "active", grants: [{ name: "log" }, { name: "user.read" }] });
    expect(await host.annex.getInstall("globex", "acme.hello")).toBeNull();
    const ada = new Client(host.url);
    await ada.signIn("ada@acme.test");
    const plan = await (await ada.get("/admin/api/installs/acme.hello/upgrade")).json();
    expect(plan).toMatchObject({ from: "1.0.0", to: "1.1.0", policy: "consent", diff: { requiresConsent: true, added: [expect.objectContaining({ name: "ui.toast" })] } });
  });

  it("sends anonymous visitors to the sign-in page and refuses a wrong password", async () => {
    const client = new Client(host.url);
    const dashboard = await client.get("/");
    expect(dashboard.status).toBe(303);
    expect(dashboard.headers.get("location")).toBe("/login?next=%2F");
    const wrong = await client.signIn("ada@acme.test", "not-the-password");
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toContain("Unknown email or wrong password.");
  });

  it("refuses a sign-in form without its CSRF token", async () => {
    const client = new Client(host.url);
    await client.get("/login");
    const forged = await client.request("POST", "/login", { form: { email: "ada@acme.test", password: "annex-demo" } });
    expect(forged.status).toBe(403);
    const wrongToken = await client.request("POST", "/login", { form: { _csrf: "0".repeat(64), email: "ada@acme.test", password: "annex-demo" } });
    expect(wrongToken.status).toBe(403);
  });

  it("signs in with a fresh session id, an HttpOnly SameSite=Lax cookie, and never redirects off-site", async () => {
    const client = new Client(host.url);
    await client.get("/login");
    const before = client.cookie("refhost.sid");
    const token = await client.csrfFrom("/login");
    const response = await client.request("POST", "/login", { form: { _csrf: token, email: "ada@acme.test", password: "annex-demo", next: "//evil.example/x" } });
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe("/");
    const setCookie = response.headers.getSetCookie().join("\n");
    expect(setCookie).toMatch(/refhost\.sid=.*HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Lax/);
    expect(client.cookie("refhost.sid")).not.toBe(before);
    const page = await client.get("/");
    expect(page.status).toBe(200);
    const text = await page.text();
    expect(text).toContain("Acme Corp");
    expect(text).toContain("Ada Lovelace");
    expect(text).toContain('href="/admin"');
  });

  it("sets helmet's headers with a CSP whose scripts are only those the page carries with its nonce (no 'self'), and this origin's frames", async () => {
    const response = await new Client(host.url).get("/login");
    const csp = response.headers.get("content-security-policy") ?? "";
    expect(csp).toMatch(/(?:^|;)script-src 'nonce-[A-Za-z0-9+/]{22}=='(?:;|$)/);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("frame-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("x-powered-by")).toBeNull();
  });

  it("gives every HTML page a fresh CSP nonce that each of its scripts carries, and no script from an extension's endpoints", async () => {
    // A public page (ats' careers page for Globex) and a dashboard with a widget (its module script): pages with scripts.
    await host.annex.install("globex", "acme.ats", { grants: [{ name: "ui.toast" }], config: { companyName: "Globex" }, actor: "test" });
    await host.annex.install("acme", "acme.web-analytics", { grants: [{ name: "log" }, { name: "storage.sql" }], actor: "test" });
    try {
      const ada = new Client(host.url);
      await ada.signIn("ada@acme.test");
      const gus = new Client(host.url);
      await gus.signIn("gus@globex.test");
      const anonymous = new Client(host.url);
      const pages: Array<[Client, string, number]> = [
        [anonymous, "/login", 200],
        [ada, "/", 200],
        [ada, "/admin", 200],
        [ada, "/apps/acme.hello", 200],
        [ada, "/apps/acme.nope", 404],
        [ada, "/admin/apps/acme.web-analytics", 200],
        [ada, "/admin/apps/acme.nope", 404],
        [gus, "/", 200],
        [anonymous, "/public/globex/acme.ats/careers", 200],
        [anonymous, "/public/acme/acme.nope", 404],
      ];
      const nonces = new Set<string>();
      const seen = new Set<string>();
      for (const [client, path, status] of pages) {
        const response = await client.get(path);
        expect(response.status, path).toBe(status);
        const csp = response.headers.get("content-security-policy") ?? "";
        const scriptSrc = /(?:^|;)script-src ([^;]*)/.exec(csp)?.[1] ?? "";
        expect(scriptSrc, path).not.toContain("'self'");
        expect(scriptSrc, path).not.toContain("'unsafe-inline'");
        const nonce = /^'nonce-([A-Za-z0-9+/]{22}==)'$/.exec(scriptSrc)?.[1];
        expect(nonce, `${path}: ${scriptSrc}`).toBeDefined();
        expect(nonces.has(nonce!), path).toBe(false);
        nonces.add(nonce!);
        for (const tag of (await response.text()).match(/<script\b[^>]*>/g) ?? []) {
          const src = /\ssrc="([^"]*)"/.exec(tag)?.[1];
          if (src === undefined) {
            // No inline script runs on the product's pages: only the page's JSON, which is not executed.
            expect(tag, path).toBe('<script type="application/json" id="page-data">');
            continue;
          }
          seen.add(src);
          expect(src, path).toMatch(/^\/assets\/[a-z-]+\.js$/);
          expect(/\snonce="([^"]*)"/.exec(tag)?.[1], `${path}: ${tag}`).toBe(nonce);
        }
      }
      // Every script the product renders was among those checked.
      expect([...seen].sort()).toEqual(["/assets/console.js", "/assets/dashboard.js", "/assets/extension-page.js", "/assets/page-view.js"]);
      // Two answers for the same page: two nonces.
      const first = (await ada.get("/")).headers.get("content-security-policy");
      const second = (await ada.get("/")).headers.get("content-security-policy");
      expect(first).not.toBe(second);
    } finally {
      await host.annex.uninstall("globex", "acme.ats", { purge: true, actor: "test" });
      await host.annex.uninstall("acme", "acme.web-analytics", { purge: true, actor: "test" });
    }
  });

  it("answers everything that depends on the session with Cache-Control: no-store (Back after sign-out shows nothing from the cache); assets keep theirs", async () => {
    const cacheControl = async (answer: Promise<Response>) => (await answer).headers.get("cache-control");
    const ada = new Client(host.url);
    // The sign-in page (its CSRF token is the session's), its refusal and its redirect.
    expect(await cacheControl(ada.get("/login"))).toBe("no-store");
    expect(await cacheControl(ada.signIn("ada@acme.test", "not-the-password"))).toBe("no-store");
    expect(await cacheControl(ada.signIn("ada@acme.test"))).toBe("no-store");
    for (const path of ["/", "/admin", "/apps/acme.hello", "/apps/acme.nope", "/admin/apps/acme.nope", "/admin/api/session", "/admin/api/installs", "/admin/api/audit", "/admin/api/nope"]) {
      expect(await cacheControl(ada.get(path)), path).toBe("no-store");
    }
    // The gateway's answers for the signed-in user: Annex's own no-store.
    expect(await cacheControl(ada.get("/api/ext/acme.hello/hello/Grace"))).toBe("no-store");
    // Refusals that depend on who calls: a member at the console, anyone without a session.
    const max = new Client(host.url);
    await max.signIn("max@acme.test");
    expect(await cacheControl(max.get("/admin"))).toBe("no-store");
    expect(await cacheControl(max.get("/admin/api/installs"))).toBe("no-store");
    const anonymous = new Client(host.url);
    expect(await cacheControl(anonymous.get("/"))).toBe("no-store");
    expect(await cacheControl(anonymous.get("/admin/api/installs"))).toBe("no-store");
    const token = await ada.csrfFrom("/");
    expect(await cacheControl(ada.request("POST", "/logout", { form: { _csrf: token } }))).toBe("no-store");
    // Static assets are the same for everyone: revalidated, not refused to caches.
    expect(await cacheControl(anonymous.get("/assets/console.js"))).toBe("no-cache");
    expect(await cacheControl(anonymous.get("/assets/app.css"))).toBe("no-cache");
  });

  it("signs out only with the form's CSRF token", async () => {
    const client = new Client(host.url);
    await client.signIn("max@acme.test");
    expect((await client.request("POST", "/logout", { form: {} })).status).toBe(403);
    expect((await client.get("/")).status).toBe(200);
    const token = await client.csrfFrom("/");
    expect((await client.request("POST", "/logout", { form: { _csrf: token } })).status).toBe(303);
    expect((await client.get("/")).status).toBe(303);
  });

  it("serves extension endpoints through the gateway to the signed-in user's tenant only", async () => {
    // acme.hello 1.0.0, installed for Acme by the demo seed.
    const ada = new Client(host.url);
    await ada.signIn("ada@acme.test");
    const answer = await ada.get("/api/ext/acme.hello/hello/Grace");
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ message: "Hello, Grace!" });
    expect(host.logs.recent((await host.annex.getInstall("acme", "acme.hello"))!.id).map((l) => l.message)).toContain("saying hello to Grace");

    expect((await new Client(host.url).get("/api/ext/acme.hello/hello/Grace")).status).toBe(401);
    const gus = new Client(host.url);
    await gus.signIn("gus@globex.test");
    const other = await gus.get("/api/ext/acme.hello/hello/Grace");
    expect(other.status).toBe(404);
  });

  it("includes the host's own page-view script, sending to web-analytics' collect, in the product's pages once a tenant installs it (never the extension's snippet), and counts what it sends", async () => {
    const ada = new Client(host.url);
    await ada.signIn("ada@acme.test");
    const scriptTag = /<script src="\/assets\/page-view\.js" data-collect="\/ext\/acme\.web-analytics\/public\/collect\?tenant=acme" nonce="[A-Za-z0-9+/=]+" defer><\/script>/;
    expect(await (await ada.get("/")).text()).not.toContain("page-view.js");
    await host.annex.install("acme", "acme.web-analytics", { grants: [{ name: "log" }, { name: "storage.sql" }], actor: "test" });
    const dashboard = await (await ada.get("/")).text();
    expect(dashboard).toMatch(scriptTag);
    expect(dashboard).not.toContain("snippet.js");
    // Not in the admin console, and not in another tenant's pages.
    expect(await (await ada.get("/admin")).text()).not.toContain("page-view.js");
    const gus = new Client(host.url);
    await gus.signIn("gus@globex.test");
    expect(await (await gus.get("/")).text()).not.toContain("page-view.js");

    // The script is the host's, the same for everyone, whatever the extension serves.
    const script = await new Client(host.url).get("/assets/page-view.js");
    expect(script.status).toBe(200);
    expect(script.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(script.headers.get("cache-control")).toBe("no-cache");
    expect(await script.text()).toBe(PAGE_VIEW_SCRIPT);
    // The extension's snippet stays, for sites on other origins.
    const snippet = await new Client(host.url).get("/ext/acme.web-analytics/public/snippet.js?tenant=acme");
    expect(snippet.status).toBe(200);
    expect(snippet.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    // What sendBeacon sends: a text/plain JSON body, no cookie needed.
    const beacon = await fetch(`${host.url}/ext/acme.web-analytics/public/collect?tenant=acme`, {
      method: "POST",
      headers: { "content-type": "text/plain;charset=UTF-8", "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0" },
      body: JSON.stringify({ path: "/", referrer: null, session: "0123456789abcdef01234567" }),
    });
    expect(beacon.status).toBe(204);
    const stats = await ada.get("/api/ext/acme.web-analytics/stats");
    expect(stats.status).toBe(200);
    expect(((await stats.json()) as { totals: { views: number } }).totals.views).toBe(1);
    const run = await host.annex.jobs.runNow((await host.annex.getInstall("acme", "acme.web-analytics"))!.id, "rollup", { actor: "test" });
    expect(run.outcome).toBe("ok");
  });

  it("closes gracefully: a request under way when close() is called gets its answer, then Annex closes", async () => {
    const ada = new Client(host.url);
    await ada.signIn("ada@acme.test");
    const { port, hostname } = new URL(host.url);
    const body = JSON.stringify({ name: "Grace" });
    // A request whose headers have arrived and whose body has not: under way at the HTTP level when close() comes.
    const socket = connect(Number(port), hostname);
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    let received = "";
    socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
    const ended = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    socket.write(
      [
        "POST /api/ext/acme.hello/greetings HTTP/1.1",
        `Host: ${new URL(host.url).host}`,
        `Origin: ${host.url}`,
        `Cookie: refhost.sid=${ada.cookie("refhost.sid")!}`,
        "Content-Type: application/json",
        `Content-Length: ${Buffer.byteLength(body)}`,
        "",
        "",
      ].join("\r\n"),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    let closed = false;
    const closing = host.close().then(() => (closed = true));
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Not accepting anymore, and still open behind the request: Annex has not closed.
    await expect(fetch(`${host.url}/login`)).rejects.toThrow();
    expect(closed).toBe(false);
    socket.write(body);
    await closing;
    await ended;
    expect(received).toMatch(/^HTTP\/1\.1 201 /);
    expect(received).toContain('"message":"Hello, Grace!"');
    host = await createReferenceHost({ ...(await backend.options()), demoInstalls: true });
  }, 120_000);

  it("keeps its state across a restart: users stay signed in, installs stay, examples are not published again", async () => {
    const ada = new Client(host.url);
    await ada.signIn("ada@acme.test");
    await host.close();
    host = await createReferenceHost({ ...(await backend.options()), demoInstalls: true });
    expect(host.examples.published).toEqual([]);
    expect(host.examples.skipped).toEqual(expect.arrayContaining(["acme.hello@1.0.0", "acme.docs@1.0.0"]));
    const again = new Client(host.url);
    // The same cookie, against the restarted process (on another port).
    const cookie = ada.cookie("refhost.sid")!;
    const page = await again.get("/", { cookie: `refhost.sid=${cookie}` });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("acme.hello");
  }, 120_000);
});

describe("reference host with a separate annex-runner", () => {
  it("runs extension handlers in the runner process reached at runnerUrl, with the demo trust store and key", async () => {
    const { createRunnerServer, createWorkerPoolRunner } = await import("@annex/runner");
    const [backend] = backends();
    const options = await backend!.options();
    // The first start makes the data folder's keys; the runner is given the same trust store and key, as scripts/with-runner.mjs does.
    const { loadDemoKeys } = await import("../src/index.js");
    const keys = await loadDemoKeys(options.dataDir!, ["acme"]);
    const runnerServer = createRunnerServer({ key: keys.runnerKey, trustStore: keys.trustStore, runner: (hostDispatch) => createWorkerPoolRunner({ workers: 1, hostDispatch }) });
    const runnerUrl = await runnerServer.listen(0);
    let executed = 0;
    runnerServer.server.on("request", (req) => {
      if (req.url?.startsWith("/v1/execute")) executed += 1;
    });
    const host = await createReferenceHost({ ...options, runnerUrl });
    try {
      expect(host.annex.runner).not.toBeUndefined();
      await host.annex.install("acme", "acme.hello", { version: "1.0.0", grants: [{ name: "log" }, { name: "user.read" }], actor: "test" });
      const ada = new Client(host.url);
      await ada.signIn("ada@acme.test");
      const answer = await ada.get("/api/ext/acme.hello/hello/Runner");
      expect(await answer.json()).toEqual({ message: "Hello, Runner!" });
      expect(executed).toBe(1);
    } finally {
      await host.close();
      await runnerServer.close();
      await backend!.cleanup();
    }
  }, 120_000);
});
