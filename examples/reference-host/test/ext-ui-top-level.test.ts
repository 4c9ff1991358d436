/**
 * Extension UI files are not top-level pages of the product's origin. They are served on it,
 * `/ext-ui/{id}/{hash}/…`, to be framed by the product's pages (`Sec-Fetch-Dest: iframe`); opened from a
 * link, any published extension's HTML (installed by no tenant at all) would be a page at the product's own
 * URL with its scripts running: a sign-in look-alike whose script sends what is typed to the extension's own
 * public endpoint. The gateway refuses the top-level navigation (403 E_FORBIDDEN, a problem document).
 */
import type { Response as PwResponse } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createReferenceHost, type ReferenceHost } from "../src/index.js";
import { backends } from "./support/backends.js";
import { launchChromium, type Browser } from "./support/chromium.js";

describe.each(backends().slice(0, 1))("extension UI files as top-level pages on $name", (backend) => {
  let host: ReferenceHost;
  let browser: Browser;
  let careers: string;

  beforeAll(async () => {
    host = await createReferenceHost({ ...(await backend.options()) });
    const version = await host.annex.registry.getVersion("acme.ats", "1.0.0");
    // No tenant installed acme.ats: its files are served to frames all the same (UI files are public code).
    careers = `${host.url}/ext-ui/acme.ats/${version!.contentHash}/ui/careers.html`;
    browser = await launchChromium();
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await host?.close();
    await backend.cleanup();
  });

  it("still serves a UI file to a frame", async () => {
    const framed = await fetch(careers, { headers: { "sec-fetch-dest": "iframe", "sec-fetch-mode": "navigate", "sec-fetch-site": "same-origin" } });
    expect(framed.status).toBe(200);
  });

  it("does not serve an extension's HTML as a top-level page of the host's origin", async () => {
    const page = await browser.context.newPage();
    // Whatever the answer loads (the page's module script, its stylesheet) would be requested after it.
    const requested: string[] = [];
    page.on("request", (request) => void requested.push(request.url()));
    const response = (await page.goto(careers)) as PwResponse;
    expect(response.status()).toBe(403);
    expect(response.headers()["content-type"] ?? "").not.toContain("text/html");
    expect(await response.json()).toMatchObject({ code: "E_FORBIDDEN" });
    // The refusal is a sandboxed problem document: nothing of the extension's was loaded after it.
    await page.waitForLoadState("load");
    expect(requested.filter((url) => url !== careers && url.includes("/ext-ui/"))).toEqual([]);
    await page.close();
  });
});
