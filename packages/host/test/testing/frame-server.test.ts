/**
 * t.listen(): the test host over HTTP, with frame pages for browser tests
 * (examples/extensions/hello/test/bridge.test.ts drives one in Chromium).
 * Here, over plain HTTP: what the frame page carries, whose requests the
 * calls behind its cookie are, and what it says when asked for something
 * that is not there.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestHost, type TestHost, type TestServer } from "../../src/testing/index.js";
import { makeBundle, serviceManifest } from "../support/fixtures.js";

let t: TestHost;
let server: TestServer;

beforeAll(async () => {
  t = await createTestHost();
  const manifest = serviceManifest({
    id: "acme.pages",
    capabilities: [{ name: "user.read", reason: "Greets the user." }],
    endpoints: [{ class: "api", method: "POST", path: "/who", handler: "who" }],
    ui: { pages: [{ slot: "app", path: "/", entry: "ui/index.html", title: "Pages </script>" }, { slot: "settings", path: "/settings", entry: "ui/settings.html", title: "Settings" }] },
  });
  const bundle = await makeBundle(manifest, {
    "server/index.js": "export function who(request, ctx) { return { user: ctx.principal.user.id, tenant: ctx.install.tenant, body: request.body }; }",
    "ui/index.html": "<p>app</p>",
    "ui/settings.html": "<p>settings</p>",
  });
  await t.install(bundle);
  await t.install(bundle, { tenant: "other" });
  server = await t.listen();
});
afterAll(() => t.close());

const configOf = (html: string) => JSON.parse(/<script type="application\/json" id="annex-frame-config">([^<]*)<\/script>/.exec(html)![1]!) as Record<string, any>;

describe("t.listen()", () => {
  it("serves a frame page that mounts the install's page with its grants, its user and its tenant, under a strict CSP", async () => {
    const response = await fetch(server.framePage("acme.pages", { as: { user: { id: "u1", displayName: "Ada" } } }));
    expect(response.status).toBe(200);
    expect(response.headers.get("content-security-policy")).toContain("script-src 'self'");
    const html = await response.text();
    // The title is the extension's: escaped in the document, and no "</script>" in the inline JSON.
    expect(html).toContain("<title>Pages &#60;/script> (Annex test frame)</title>");
    const config = configOf(html);
    expect(config).toMatchObject({
      extensionId: "acme.pages",
      entry: "ui/index.html",
      title: "Pages </script>",
      grants: [{ name: "user.read" }],
      context: { tenant: "test-tenant", user: { id: "u1", displayName: "Ada" }, extension: { id: "acme.pages", version: "1.0.0" } },
    });
    expect(config.contentHash).toMatch(/^sha256:/);
    const settings = configOf(await (await fetch(server.framePage("acme.pages", { page: { slot: "settings" }, tenant: "other" }))).text());
    expect(settings).toMatchObject({ entry: "ui/settings.html", context: { tenant: "other" } });
    expect(settings.context.user).toBeUndefined();
  });

  it("serves the bridge's host side as one script", async () => {
    const script = await fetch(`${server.url}/__annex/frame.js`);
    expect(script.headers.get("content-type")).toMatch(/^text\/javascript/);
    const code = await script.text();
    expect(code).toContain("annexTest");
    expect(code).not.toMatch(/from\s*["']@annex\//);
  });

  it("sends the calls made behind a frame page's cookie as its user and tenant, through t.request; the page's own assets too", async () => {
    const page = await fetch(server.framePage("acme.pages", { as: "u7", tenant: "test-tenant" }));
    const cookie = page.headers.get("set-cookie")!.split(";")[0]!;
    const who = await fetch(`${server.url}/api/ext/acme.pages/who`, { method: "POST", headers: { cookie, "content-type": "application/json" }, body: JSON.stringify({ n: 1 }) });
    expect(await who.json()).toEqual({ user: "u7", tenant: "test-tenant", body: { n: 1 } });
    // Without the cookie nobody is signed in: the gateway's 401.
    expect((await fetch(`${server.url}/api/ext/acme.pages/who`, { method: "POST" })).status).toBe(401);
    const config = configOf(await page.text());
    const asset = await fetch(`${server.url}/ext-ui/acme.pages/${config.contentHash}/ui/index.html`);
    expect(asset.status).toBe(200);
    expect(await asset.text()).toBe("<p>app</p>");
  });

  it("takes a state-changing call from the frame page's own origin as from the host's own page; another origin is still refused", async () => {
    const page = await fetch(server.framePage("acme.pages", { as: "u7" }));
    const cookie = page.headers.get("set-cookie")!.split(";")[0]!;
    // What a browser sends with the bridge's api.fetch, which runs in the frame page (same origin).
    const post = (origin: string, site: string) =>
      fetch(`${server.url}/api/ext/acme.pages/who`, { method: "POST", headers: { cookie, origin, "sec-fetch-site": site, "content-type": "application/json" }, body: "{}" });
    const own = await post(server.url, "same-origin");
    expect(own.status).toBe(200);
    expect(await own.json()).toMatchObject({ user: "u7" });
    const other = await post("https://evil.example", "cross-site");
    expect(other.status).toBe(403);
    expect(await other.json()).toMatchObject({ code: "E_CROSS_SITE" });
  });

  it("says what to do for an extension that is not installed, a page the manifest lacks, or an unknown frame page", async () => {
    const missing = await fetch(server.framePage("acme.nothing"));
    expect(missing.status).toBe(404);
    expect(await missing.text()).toContain("acme.nothing is not installed for tenant test-tenant: t.install() it first");
    const noPage = await fetch(server.framePage("acme.pages", { page: { slot: "dashboard" } }));
    expect(noPage.status).toBe(404);
    expect(await noPage.text()).toContain('has no UI page {"slot":"dashboard"}');
    expect((await fetch(`${server.url}/__annex/frame/nope`)).status).toBe(404);
    expect(() => server.framePage("")).toThrow(expect.objectContaining({ code: "E_TEST_HOST_REQUEST" }));
  });
});
