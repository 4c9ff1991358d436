/**
 * web-analytics' snippet in real Chromium: once the tenant installs the
 * extension, the product's pages load the snippet under the host's CSP, and a
 * page view sent with sendBeacon reaches the extension's owned schema through
 * the gateway. On PGlite, and on PostgreSQL when ANNEX_TEST_DATABASE_URL is set.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createReferenceHost, type ReferenceHost } from "../src/index.js";
import { backends } from "./support/backends.js";
import { launchChromium, type Browser } from "./support/chromium.js";
import { Client } from "./support/http-client.js";

interface Stats {
  topPages: Array<{ path: string; views: number }>;
  totals: { views: number; sessions: number };
}

describe.each(backends())("web-analytics in the reference host, in Chromium, on $name", (backend) => {
  let host: ReferenceHost;
  let browser: Browser;

  beforeAll(async () => {
    host = await createReferenceHost(await backend.options());
    browser = await launchChromium();
    // Headless Chromium says "HeadlessChrome" in its user agent, which the default ignoreBots counts out.
    await host.annex.install("acme", "acme.web-analytics", { grants: [{ name: "log" }, { name: "storage.sql" }], config: { ignoreBots: false }, actor: "test" });
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await host?.close();
    await backend.cleanup();
  });

  it("counts the pages a signed-in user opens, one session per tab, with nothing refused by the CSP", async () => {
    const page = await browser.context.newPage();
    const refused: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error") refused.push(message.text());
    });
    await page.goto(`${host.url}/login`);
    await page.getByLabel("Email").fill("ada@acme.test");
    await page.getByLabel("Password").fill("annex-demo");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${host.url}/`);
    await page.goto(`${host.url}/?from=test#top`);

    const ada = new Client(host.url);
    await ada.signIn("ada@acme.test");
    const read = async (): Promise<Stats> => (await (await ada.get("/api/ext/acme.web-analytics/stats")).json()) as Stats;
    await expect.poll(async () => (await read()).totals.views, { timeout: 15_000, interval: 200 }).toBe(2);
    const stats = await read();
    // Two loads of "/" (the query and fragment are never sent), in one tab: one session.
    expect(stats.topPages).toEqual([{ path: "/", views: 2 }]);
    expect(stats.totals.sessions).toBe(1);
    expect(refused).toEqual([]);
    await page.close();
  }, 60_000);
});
