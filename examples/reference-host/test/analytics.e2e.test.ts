/**
 * Page views in real Chromium: once the tenant installs web-analytics, the product's pages include the
 * host's own page-view script (/assets/page-view.js, with the page's CSP nonce), and a page view sent
 * with sendBeacon reaches the extension's owned schema through the gateway. No code an extension serves
 * runs on the product's pages: not web-analytics' snippet (a signed release that changes only server
 * code is upgraded without consent), and not JavaScript any extension answers from its endpoints on this
 * origin, even when markup that loads it is injected into a page (the CSP's script-src is a nonce, not
 * 'self'). On PGlite, and on PostgreSQL when ANNEX_TEST_DATABASE_URL is set.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { packExtension } from "@annex/build";
import { packBundle, readBundle, signBundle } from "@annex/manifest";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createReferenceHost, loadDemoKeys, type ReferenceHost } from "../src/index.js";
import { backends } from "./support/backends.js";
import { launchChromium, signIn, type Browser } from "./support/chromium.js";
import { Client } from "./support/http-client.js";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const GREETER = join(HERE, "fixtures/greeter");
const SCRIPT_SERVER = join(HERE, "fixtures/script-server");
const WEB_ANALYTICS = join(HERE, "../../extensions/web-analytics");

interface Stats {
  topPages: Array<{ path: string; views: number }>;
  totals: { views: number; sessions: number };
}

describe.each(backends())("web-analytics in the reference host, in Chromium, on $name", (backend) => {
  let host: ReferenceHost;
  let browser: Browser;

  beforeAll(async () => {
    host = await createReferenceHost({ ...(await backend.options()), extraExtensions: [GREETER, SCRIPT_SERVER] });
    browser = await launchChromium();
    // Headless Chromium says "HeadlessChrome" in its user agent, which the default ignoreBots counts out.
    await host.annex.install("acme", "acme.web-analytics", { grants: [{ name: "log" }, { name: "storage.sql" }], config: { ignoreBots: false }, actor: "test" });
    // A public page of Acme's, counted too.
    await host.annex.install("acme", "acme.greeter", { grants: [{ name: "log" }], actor: "test" });
    // Serves JavaScript on this origin for both tenants: the pages must never run it.
    await host.annex.install("acme", "acme.script-server", { grants: [], actor: "test" });
    await host.annex.install("globex", "acme.script-server", { grants: [], actor: "test" });
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await host?.close();
    await backend.cleanup();
  });

  /** A new tab, watched from its first request, signed in as `email` (on the dashboard). */
  async function signedIn(email: string): Promise<{ page: Page; seen: Seen }> {
    const page = await browser.context.newPage();
    const seen = watch(page);
    await signIn(page, host.url, email);
    return { page, seen };
  }

  /**
   * Scripts a tab's own pages loaded, the requests the hostile scripts would send (they mark theirs with
   * from=injected-script), and what the browser logged as errors (a CSP refusal is one).
   */
  interface Seen {
    scripts: string[];
    hostile: string[];
    errors: string[];
  }
  function watch(page: Page): Seen {
    const seen: Seen = { scripts: [], hostile: [], errors: [] };
    page.on("request", (request) => {
      if (request.url().includes("from=injected-script")) seen.hostile.push(request.url());
    });
    // Scripts the product's page itself loaded (not those of an extension's sandboxed frame, nor loads the CSP refused).
    page.on("requestfinished", (request) => {
      if (request.resourceType() === "script" && request.frame() === page.mainFrame()) seen.scripts.push(new URL(request.url()).pathname);
    });
    page.on("console", (message) => {
      if (message.type() === "error") seen.errors.push(message.text());
    });
    return seen;
  }

  /** The src of every script element of the page's HTML as served (not what scripts added since). */
  async function servedScripts(path: string, client: Client): Promise<string[]> {
    const text = await (await client.get(path)).text();
    return [...text.matchAll(/<script\b[^>]*\ssrc="([^"]*)"/g)].map((m) => m[1]!);
  }

  const readStats = async (client: Client): Promise<Stats> => (await (await client.get("/api/ext/acme.web-analytics/stats")).json()) as Stats;

  it("counts the pages a signed-in user opens and the public pages, one session per tab, through the host's own script, with nothing refused by the CSP", async () => {
    const { page, seen } = await signedIn("ada@acme.test");
    await page.goto(`${host.url}/?from=test#top`);
    await page.goto(`${host.url}/public/acme/acme.greeter`);
    await page.waitForSelector("body[data-frame=ready]");

    const ada = new Client(host.url);
    await ada.signIn("ada@acme.test");
    // The sign-in redirect's "/", "/?from=test" and the public page.
    await expect.poll(async () => (await readStats(ada)).totals.views, { timeout: 15_000, interval: 200 }).toBe(3);
    const stats = await readStats(ada);
    // Two loads of "/" (the query and fragment are never sent), in one tab: one session.
    expect(stats.topPages).toEqual([
      { path: "/", views: 2 },
      { path: "/public/acme/acme.greeter", views: 1 },
    ]);
    expect(stats.totals.sessions).toBe(1);
    // The script was the host's; the extension's snippet was never asked for.
    expect(seen.scripts).toContain("/assets/page-view.js");
    expect(seen.scripts.filter((path) => !path.startsWith("/assets/"))).toEqual([]);
    expect(seen.errors).toEqual([]);
    await page.close();
  }, 60_000);

  it("serves no product page whose HTML loads a script from an extension's endpoints", async () => {
    const ada = new Client(host.url);
    await ada.signIn("ada@acme.test");
    const anonymous = new Client(host.url);
    const pages: Array<[Client, string]> = [
      [anonymous, "/login"],
      [ada, "/"],
      [ada, "/admin"],
      [ada, "/apps/acme.greeter"],
      [ada, "/admin/apps/acme.web-analytics"],
      [ada, "/apps/acme.nope"],
      [anonymous, "/public/acme/acme.greeter"],
    ];
    for (const [client, path] of pages) {
      const sources = await servedScripts(path, client);
      expect(sources.filter((src) => /^(?:https?:)?\/\/|^\/(?:api\/)?ext(?:-ui)?\//.test(src)), path).toEqual([]);
      for (const src of sources) expect(src, path).toMatch(/^\/assets\/[a-z-]+\.js$/);
    }
  }, 60_000);

  it("runs no extension-served script injected into the product's pages: the CSP refuses it", async () => {
    // The endpoints do answer JavaScript, to anyone (public) and to the signed-in user (api).
    const ada = new Client(host.url);
    await ada.signIn("ada@acme.test");
    for (const [client, path] of [
      [new Client(host.url), "/ext/acme.script-server/public/x.js?tenant=globex"],
      [new Client(host.url), "/ext/acme.script-server/public/x.js?tenant=acme"],
      [ada, "/api/ext/acme.script-server/x.js"],
    ] as const) {
      const answer = await client.get(path);
      expect(answer.status, path).toBe(200);
      expect(answer.headers.get("content-type"), path).toMatch(/^text\/javascript/);
      expect(await answer.text(), path).toContain("__pwned");
    }

    const { page, seen } = await signedIn("ada@acme.test");
    const targets: Array<[string, string | null]> = [
      ["/admin", "body[data-ready=true]"],
      ["/", null],
      ["/apps/acme.greeter", "body[data-frame=ready]"],
      ["/public/acme/acme.greeter", "body[data-frame=ready]"],
    ];
    for (const [path, ready] of targets) {
      await page.goto(`${host.url}${path}`);
      if (ready !== null) await page.waitForSelector(ready);
      // What an HTML injection in the page would add: script elements pointing at extensions' endpoints (and one inline).
      const outcome = await page.evaluate(async () => {
        const violations: string[] = [];
        document.addEventListener("securitypolicyviolation", (event) => violations.push(`${event.effectiveDirective} ${event.blockedURI}`));
        const add = (src: string | null) =>
          new Promise<string>((resolve) => {
            const script = document.createElement("script");
            if (src === null) script.textContent = "window.__pwned = (window.__pwned || 0) + 1;";
            else script.src = src;
            script.onload = () => resolve("loaded");
            script.onerror = () => resolve("error");
            document.body.append(script);
            if (src === null) setTimeout(() => resolve("inline"), 200);
          });
        const loads = [
          await add("/ext/acme.script-server/public/x.js?tenant=globex"),
          await add("/ext/acme.script-server/public/x.js?tenant=acme"),
          await add("/api/ext/acme.script-server/x.js"),
          await add(null),
        ];
        await new Promise((resolve) => setTimeout(resolve, 300));
        const marker = (window as unknown as { __pwned?: number }).__pwned;
        return { loads, marker: marker ?? null, dataset: document.documentElement.dataset["pwned"] ?? null, violations };
      });
      expect(outcome.marker, path).toBeNull();
      expect(outcome.dataset, path).toBeNull();
      expect(outcome.loads, path).toEqual(["error", "error", "error", "inline"]);
      expect(outcome.violations.filter((v) => v.startsWith("script-src")).length, `${path}: ${outcome.violations.join(", ")}`).toBe(4);
      expect(outcome.violations.some((v) => v.includes("/ext/acme.script-server/public/x.js")), path).toBe(true);
      expect(outcome.violations.some((v) => v.includes("/api/ext/acme.script-server/x.js")), path).toBe(true);
    }
    expect(seen.hostile).toEqual([]);
    expect(seen.scripts.filter((path) => !path.startsWith("/assets/"))).toEqual([]);
    await page.close();
  }, 90_000);

  it("runs none of a hostile web-analytics release's snippet on the product's pages, though the release was upgraded without consent; page views are still counted", async () => {
    // The publisher's 1.0.1: the same manifest (it widens nothing, so the upgrade policy applies it at once),
    // server code whose snippet reads the admin's session.
    const packed = await packExtension(WEB_ANALYTICS);
    const files: Record<string, Uint8Array> = Object.fromEntries(packed.files);
    const manifest = JSON.parse(new TextDecoder().decode(files["annex.json"])) as Record<string, unknown>;
    manifest["version"] = "1.0.1";
    files["annex.json"] = new TextEncoder().encode(JSON.stringify(manifest, null, 2));
    const payload = `window.__pwned = 1; document.documentElement.dataset.pwned = "snippet"; fetch("/admin/api/session?from=injected-script");`;
    const server = new TextDecoder().decode(files["server/index.js"]);
    const hostile = server.replace("body: SNIPPET }", `body: ${JSON.stringify(payload)} }`);
    expect(hostile).not.toBe(server);
    files["server/index.js"] = new TextEncoder().encode(hostile);
    delete files["server/index.js.map"];
    const bytes = await packBundle(files);
    const keys = await loadDemoKeys((await backend.options()).dataDir!, ["acme"]);
    const signature = await signBundle((await readBundle(bytes)).contentHash, keys.publisherKeys.get("acme")!);
    const { upgraded } = await host.publish(bytes, signature);
    expect(upgraded).toEqual([expect.objectContaining({ tenant: "acme", from: "1.0.0", to: "1.0.1", ok: true })]);
    const served = await new Client(host.url).get("/ext/acme.web-analytics/public/snippet.js?tenant=acme");
    expect(await served.text()).toBe(payload);

    const ada = new Client(host.url);
    await ada.signIn("ada@acme.test");
    const before = (await readStats(ada)).totals.views;
    const marked = (page: Page) => page.evaluate(() => [(window as unknown as { __pwned?: number }).__pwned ?? null, document.documentElement.dataset["pwned"] ?? null]);
    const { page, seen } = await signedIn("ada@acme.test");
    await page.waitForLoadState("load");
    expect(await marked(page)).toEqual([null, null]);
    await page.goto(`${host.url}/public/acme/acme.greeter`);
    await page.waitForSelector("body[data-frame=ready]");
    expect(await marked(page)).toEqual([null, null]);
    // The sign-in redirect's dashboard and the public page: counted by the host's script.
    await expect.poll(async () => (await readStats(ada)).totals.views, { timeout: 15_000, interval: 200 }).toBe(before + 2);
    expect(seen.hostile).toEqual([]);
    expect(seen.scripts.filter((path) => !path.startsWith("/assets/"))).toEqual([]);
    await page.close();
  }, 90_000);
});
