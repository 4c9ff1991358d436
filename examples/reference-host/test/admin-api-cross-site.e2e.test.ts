/**
 * The admin API refuses other sites and navigations (Fetch Metadata), in Chromium: `GET /installs/:id/export`
 * takes no CSRF token (a GET) but locks the install and writes an `install.export` line as the admin, and
 * SameSite=Lax sends the session cookie on another site's top-level navigation. A page of another site
 * (http://localhost:… against the host at http://127.0.0.1:…) that sends a signed-in admin there, directly or
 * through `/login?next=…`, gets `403 E_CROSS_SITE` and no line; the console's own fetches still work.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createReferenceHost, type ReferenceHost } from "../src/index.js";
import { backends } from "./support/backends.js";
import { launchChromium, signIn, type Browser } from "./support/chromium.js";
import { Client } from "./support/http-client.js";

const GREETER = join(fileURLToPath(new URL(".", import.meta.url)), "fixtures/greeter");
const EXPORT = "/admin/api/installs/acme.greeter/export";

describe.each(backends().slice(0, 1))("admin API against other sites in Chromium on $name", (backend) => {
  let host: ReferenceHost;
  let browser: Browser;
  let attacker: Server;
  let attackerUrl: string;
  const exports = async () => (await host.annex.audit.list({ tenant: "acme", action: "install.export" })).length;

  beforeAll(async () => {
    host = await createReferenceHost({ ...(await backend.options()), extraExtensions: [GREETER] });
    const ada = new Client(host.url);
    await ada.signIn("ada@acme.test");
    const csrf = ((await (await ada.get("/admin/api/session")).json()) as { csrfToken: string }).csrfToken;
    expect((await ada.request("POST", "/admin/api/installs", { json: { extensionId: "acme.greeter", version: "1.0.0", grants: [{ name: "log" }] }, headers: { "x-csrf-token": csrf } })).status).toBe(201);
    // Another site: links that send its visitor to the export, directly and through the sign-in page's `next`.
    attacker = createServer((_req, res) => {
      res.setHeader("content-type", "text/html");
      res.end(`<!doctype html><a id="direct" href="${host.url}${EXPORT}">win a prize</a> <a id="via-login" href="${host.url}/login?next=${encodeURIComponent(EXPORT)}">or here</a>`);
    });
    await new Promise<void>((resolve) => attacker.listen(0, "127.0.0.1", resolve));
    attackerUrl = `http://localhost:${(attacker.address() as AddressInfo).port}/`;
    browser = await launchChromium();
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    attacker?.close();
    await host?.close();
    await backend.cleanup();
  });

  it("refuses another site's navigation of a signed-in admin to the export: 403 E_CROSS_SITE, nothing audited", async () => {
    const page = await browser.context.newPage();
    await signIn(page, host.url, "ada@acme.test");
    const before = await exports();
    await page.goto(attackerUrl);
    const [answer] = await Promise.all([page.waitForResponse((response) => response.url().endsWith(EXPORT)), page.click("#direct")]);
    expect(answer.status()).toBe(403);
    expect(await answer.json()).toMatchObject({ code: "E_CROSS_SITE" });
    expect(await page.textContent("body")).not.toContain("secretNames");
    expect(await exports()).toBe(before);
    await page.close();
  });

  it("refuses it through /login?next=…, where this site's own redirect makes the navigation same-origin", async () => {
    const page = await browser.context.newPage();
    await page.context().clearCookies();
    const before = await exports();
    await page.goto(attackerUrl);
    await Promise.all([page.waitForURL(/\/login\?next=/), page.click("#via-login")]);
    await page.getByLabel("Email").fill("ada@acme.test");
    await page.getByLabel("Password").fill("annex-demo");
    const [answer] = await Promise.all([page.waitForResponse((response) => response.url().endsWith(EXPORT)), page.getByRole("button", { name: "Sign in" }).click()]);
    expect(answer.status()).toBe(403);
    expect(await answer.json()).toMatchObject({ code: "E_CROSS_SITE" });
    expect(await exports()).toBe(before);

    // Signed in all the same: the console's own calls (fetch from this origin) are answered.
    await page.goto(`${host.url}/admin`);
    const status = await page.evaluate(async (path) => (await fetch(path)).status, EXPORT);
    expect(status).toBe(200);
    expect(await exports()).toBe(before + 1);
    await page.close();
  });
});
