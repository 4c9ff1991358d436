/**
 * The reference host end to end in real Chromium: an admin signs in,
 * installs an extension after consenting to each capability, uses its page
 * through the bridge, changes its settings and secrets, upgrades it with
 * re-consent, disables it and sees the gateway refuse, uninstalls it with
 * purge and sees the export; a member cannot reach the console; the second
 * tenant sees nothing of the first; after sign-out, Back shows nothing
 * signed-in from the cache; the consent dialog works from the
 * keyboard alone; a dead letter replayed; a job run now from the jobs
 * panel; an owned schema in the storage panel. Screenshots of each step go to test-artifacts/ (gitignored).
 * On PGlite, and on PostgreSQL when ANNEX_TEST_DATABASE_URL is set.
 */
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createReferenceHost, loadDemoKeys, type ReferenceHost } from "../src/index.js";
import { backends } from "./support/backends.js";
import { launchChromium, signIn, type Browser } from "./support/chromium.js";
import { Client } from "./support/http-client.js";
import { releaseVariant } from "./support/variants.js";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const GREETER = join(HERE, "fixtures/greeter");
const ORDER_SYNC = join(HERE, "fixtures/order-sync");
const WEB_ANALYTICS_MIGRATIONS = join(HERE, "../../extensions/web-analytics/migrations");
const ARTIFACTS = join(HERE, "../test-artifacts");
/** A busy machine answers slowly: poll for up to 15 s. */
const poll = <T>(read: () => T | Promise<T>) => expect.poll(read, { timeout: 15_000, interval: 100 });

describe.each(backends())("reference host console in Chromium on $name", (backend) => {
  let host: ReferenceHost;
  let browser: Browser;
  let shots: string;

  beforeAll(async () => {
    // Two attempts, 100 ms apart: a failing handler reaches the dead letters in a moment.
    host = await createReferenceHost({
      ...(await backend.options()),
      extraExtensions: [GREETER, ORDER_SYNC],
      events: { maxAttempts: 2, backoff: { baseMs: 100, maxMs: 200 }, pollIntervalMs: 100 },
    });
    browser = await launchChromium();
    shots = join(ARTIFACTS, backend.name);
    mkdirSync(shots, { recursive: true });
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await host?.close();
    await backend.cleanup();
  });

  async function signedIn(email: string): Promise<Page> {
    const page = await browser.context.newPage();
    await signIn(page, host.url, email);
    return page;
  }

  async function openConsole(page: Page): Promise<void> {
    await page.goto(`${host.url}/admin`);
    await page.waitForSelector("body[data-ready=true]");
  }

  const shot = (page: Page, name: string) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  const statusText = (page: Page) => page.locator("#status").textContent();

  it("takes an admin from install with consent to uninstall with purge", async () => {
    const page = await signedIn("ada@acme.test");
    await shot(page, "01-dashboard");
    expect(await page.getByTestId("tenant").textContent()).toBe("Acme Corp");

    // Install: the consent dialog lists each capability with the extension's reason.
    await openConsole(page);
    await page.getByRole("button", { name: "Install Greeter" }).click();
    const consent = page.locator("#consent");
    await poll(() => consent.evaluate((el) => (el as HTMLElement & { open: boolean }).open)).toBe(true);
    const listed = await consent.evaluate((el) => [...el.shadowRoot!.querySelectorAll("ul.caps > li")].map((li) => li.textContent ?? ""));
    expect(listed).toHaveLength(1);
    expect(listed[0]).toContain("Writes one line per greeting, for the admin's log view.");
    await shot(page, "02-install-consent");
    await page.getByRole("button", { name: "Approve and continue" }).click();
    await poll(() => statusText(page)).toBe("Installed acme.greeter 1.0.0.");
    const installed = await host.annex.getInstall("acme", "acme.greeter");
    expect(installed).toMatchObject({ state: "active", version: "1.0.0", grants: [{ name: "log" }], config: { greeting: "Hello", punctuation: "!" } });

    // Its page, in the product's layout (the menu lists its ui.pages), through the bridge and the gateway.
    await page.goto(`${host.url}/`);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Greeter" }).click();
    await page.waitForSelector("body[data-frame=ready]");
    const frame = page.frameLocator("#extension-frame iframe");
    // The first execution starts a pool worker and loads the bundle; on a machine loaded far past its cores
    // that can outlast the gateway's timeout (504 E_TIMEOUT): ask again, as a user would, at most twice.
    for (let attempt = 0; attempt < 3; attempt++) {
      await frame.getByRole("button", { name: "Greet" }).click();
      await poll(() => frame.locator("#answer").textContent()).toMatch(/^(Hello, Ada!|status 504)$/);
      if ((await frame.locator("#answer").textContent()) === "Hello, Ada!") break;
      await frame.locator("#answer").evaluate((el) => (el.textContent = ""));
    }
    expect(await frame.locator("#answer").textContent()).toBe("Hello, Ada!");
    expect(await page.locator("#extension-frame iframe").getAttribute("sandbox")).toBe("allow-scripts");
    await shot(page, "03-extension-page");

    // Settings: the form from the manifest's config schema; secrets write-only.
    await openConsole(page);
    await page.getByRole("button", { name: "Settings Greeter" }).click();
    await page.locator("#config").getByLabel("Greeting").selectOption("Bonjour");
    await page.locator("#config").getByRole("button", { name: "Save settings" }).click();
    await poll(() => statusText(page)).toBe("Settings saved.");
    await page.locator("#secrets").getByLabel("SIGNING_KEY").fill("s3cr3t-value");
    await page.locator("#secrets").getByRole("button").click();
    await poll(() => statusText(page)).toBe("Secrets saved: SIGNING_KEY.");
    expect(await page.locator("#secrets").getByLabel("SIGNING_KEY").inputValue()).toBe("");
    expect(await page.content()).not.toContain("s3cr3t-value");
    await shot(page, "04-settings");
    expect((await host.annex.getInstall("acme", "acme.greeter"))?.config).toEqual({ greeting: "Bonjour", punctuation: "!" });
    expect(await host.annex.listSecretNames("acme", "acme.greeter")).toEqual(["SIGNING_KEY"]);
    await page.goto(`${host.url}/apps/acme.greeter`);
    await page.waitForSelector("body[data-frame=ready]");
    await page.frameLocator("#extension-frame iframe").getByRole("button", { name: "Greet" }).click();
    await poll(() => page.frameLocator("#extension-frame iframe").locator("#answer").textContent()).toBe("Bonjour, Ada!");

    // Upgrade to a version that asks for more: the diff, then consent again.
    const keys = await loadDemoKeys((await backend.options()).dataDir!, ["acme"]);
    const v2 = await releaseVariant(GREETER, keys.publisherKeys.get("acme")!, (m) => {
      m["version"] = "2.0.0";
      (m["capabilities"] as unknown[]).push({ name: "user.read", reason: "Greets the signed-in user by name." });
    });
    const { upgraded } = await host.publish(v2.bytes, v2.signature);
    expect(upgraded).toEqual([]); // it widens: the policy waits for an admin
    await openConsole(page);
    await page.getByRole("button", { name: "Upgrade to 2.0.0 Greeter" }).click();
    await poll(() => consent.evaluate((el) => (el as HTMLElement & { open: boolean }).open)).toBe(true);
    expect(await page.locator("#upgrade-diff").evaluate((el) => (el as HTMLElement & { diff: { added: { name: string }[] } }).diff.added.map((a) => a.name))).toEqual(["user.read"]);
    await shot(page, "05-upgrade-consent");
    await page.getByRole("button", { name: "Approve and continue" }).click();
    await poll(() => statusText(page)).toBe("Upgraded acme.greeter to 2.0.0 with your consent.");
    expect(await host.annex.getInstall("acme", "acme.greeter")).toMatchObject({ version: "2.0.0", config: { greeting: "Bonjour" } });

    // Disable: the gateway refuses the extension's API at once.
    await page.getByRole("button", { name: "Disable Greeter" }).click();
    await poll(() => statusText(page)).toBe("acme.greeter: disabled.");
    const refused = await page.evaluate(async () => {
      const response = await fetch("/api/ext/acme.greeter/greet/Ada");
      return { status: response.status, code: ((await response.json()) as { code?: string }).code };
    });
    expect(refused.status).toBe(404);
    expect(refused.code).toBe("E_NOT_FOUND");
    await shot(page, "06-disabled");

    // Uninstall with purge: the export is shown, then everything is gone.
    await page.getByRole("button", { name: "Uninstall Greeter" }).click();
    await page.locator("#purge").check();
    await page.locator("#uninstall-confirm").click();
    await poll(() => statusText(page)).toBe("Uninstalled acme.greeter and purged its data; its export is below.");
    const exported = JSON.parse((await page.locator("#export").textContent()) ?? "{}") as { config?: unknown; secretNames?: unknown };
    expect(exported).toMatchObject({ config: { greeting: "Bonjour", punctuation: "!" }, secretNames: ["SIGNING_KEY"] });
    expect(await host.annex.getInstall("acme", "acme.greeter")).toBeNull();
    await shot(page, "07-uninstalled-with-purge");

    // The audit log, filtered in the table.
    const actions = await host.annex.audit.list({ tenant: "acme", target: "acme.greeter", action: "install." });
    expect(actions.map((a) => a.action)).toEqual(expect.arrayContaining(["install.install", "install.configure", "install.secrets.set", "install.upgrade", "install.disable", "install.uninstall"]));
    const shown = await page.locator("#audit").evaluate((el) => (el as HTMLElement & { shownEntries: { action: string }[] }).shownEntries.map((e) => e.action));
    expect(shown).toEqual(expect.arrayContaining(["install.uninstall", "install.upgrade"]));
    await page.close();
  }, 240_000);

  it("keeps members out of the console and its API", async () => {
    const page = await signedIn("max@acme.test");
    expect(await page.getByRole("link", { name: "Admin console" }).count()).toBe(0);
    const response = await page.goto(`${host.url}/admin`);
    expect(response?.status()).toBe(403);
    await shot(page, "08-member-forbidden");
    const api = await page.evaluate(async () => (await fetch("/admin/api/catalogue")).status);
    expect(api).toBe(403);
    await page.close();
  }, 60_000);

  it("shows nothing signed-in from the browser's cache after signing out: Back reloads and lands on the sign-in page", async () => {
    const page = await signedIn("ada@acme.test");
    await openConsole(page);
    await page.goto(`${host.url}/`);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(`${host.url}/login`);
    // As the next person at a shared computer would: Back to the dashboard, Back to the console.
    await page.goBack();
    await page.goBack();
    await page.waitForLoadState();
    expect(await page.locator("[data-testid=user]").count()).toBe(0);
    expect(new URL(page.url()).pathname).toBe("/login");
    await page.close();
  }, 60_000);

  it("shows the second tenant nothing of the first", async () => {
    await host.annex.install("acme", "acme.hello", { version: "1.0.0", grants: [{ name: "log" }, { name: "user.read" }], actor: "test" });
    const page = await signedIn("gus@globex.test");
    await openConsole(page);
    const installs = await page.locator("#catalogue").evaluate((el) => (el as HTMLElement & { installs: unknown[] }).installs);
    expect(installs).toEqual([]);
    const audit = await page.locator("#audit").evaluate((el) => (el as HTMLElement & { entries: { tenant: string | null }[] }).entries);
    expect(audit.every((entry) => entry.tenant === "globex")).toBe(true);
    expect(await page.getByRole("link", { name: "Hello" }).count()).toBe(0);
    expect((await page.goto(`${host.url}/apps/acme.hello`))?.status()).toBe(404);
    const answer = await page.evaluate(async () => (await fetch("/api/ext/acme.hello/hello/Gus")).status);
    expect(answer).toBe(404);
    await shot(page, "09-other-tenant");
    await page.close();
  }, 60_000);

  it("offers Hello 1.1.0, published at start beside 1.0.0, as an upgrade with its diff and consent; the widened capability then works", async () => {
    // acme.hello 1.0.0 was installed for Acme by the previous test (as `npm run demo` installs it on a new database).
    expect(host.examples.published).toEqual(expect.arrayContaining(["acme.hello@1.0.0", "acme.hello@1.1.0"]));
    expect((await host.annex.getInstall("acme", "acme.hello"))?.version).toBe("1.0.0");
    const page = await signedIn("ada@acme.test");
    await openConsole(page);
    await page.getByRole("button", { name: "Upgrade to 1.1.0 Hello" }).click();
    const consent = page.locator("#consent");
    await poll(() => consent.evaluate((el) => (el as HTMLElement & { open: boolean }).open)).toBe(true);
    const diff = await page.locator("#upgrade-diff").evaluate((el) => (el as HTMLElement & { diff: { added: { name: string }[]; widened: unknown[]; requiresConsent: boolean } }).diff);
    expect(diff.added.map((a) => a.name)).toEqual(["ui.toast"]);
    expect(diff.requiresConsent).toBe(true);
    const marked = await consent.evaluate((el) => [...el.shadowRoot!.querySelectorAll("ul.caps > li")].map((li) => li.textContent ?? "").filter((text) => text.includes("New")));
    expect(marked).toHaveLength(1);
    expect(marked[0]).toContain("Confirms each greeting in the host's own notifications.");
    await shot(page, "16-hello-1.1-upgrade-consent");
    await page.getByRole("button", { name: "Approve and continue" }).click();
    await poll(() => statusText(page)).toBe("Upgraded acme.hello to 1.1.0 with your consent.");
    expect((await host.annex.getInstall("acme", "acme.hello"))?.grants.map((g) => g.name).sort()).toEqual(["log", "ui.toast", "user.read"]);

    // 1.1.0's page confirms a greeting in the product's notifications: the bridge lets it, now that ui.toast is granted.
    await page.goto(`${host.url}/apps/acme.hello`);
    await page.waitForSelector("body[data-frame=ready]");
    const frame = page.frameLocator("#extension-frame iframe");
    for (let attempt = 0; attempt < 3; attempt++) {
      await frame.getByRole("button", { name: "Say hello" }).click();
      await poll(() => frame.locator("#answer").textContent()).toMatch(/^(Hello, Ada!|status 504)$/);
      if ((await frame.locator("#answer").textContent()) === "Hello, Ada!") break;
      await frame.locator("#answer").evaluate((el) => (el.textContent = ""));
    }
    await poll(() => page.locator("#toast").textContent()).toBe('Said "Hello, Ada!"');
    await page.close();
  }, 120_000);

  it("operates the consent dialog with the keyboard alone", async () => {
    const page = await signedIn("gus@globex.test");
    await openConsole(page);
    const install = page.getByRole("button", { name: "Install Docs" });
    await install.focus();
    await page.keyboard.press("Enter");
    const consent = page.locator("#consent");
    await poll(() => consent.evaluate((el) => (el as HTMLElement & { open: boolean }).open)).toBe(true);
    // Escape cancels and changes nothing.
    await page.keyboard.press("Escape");
    await poll(() => statusText(page)).toBe("Nothing was changed.");
    expect(await host.annex.getInstall("globex", "acme.docs")).toBeNull();
    // Again, and approve with Tab and Enter only.
    await install.focus();
    await page.keyboard.press("Enter");
    await poll(() => consent.evaluate((el) => (el as HTMLElement & { open: boolean }).open)).toBe(true);
    let focused = "";
    for (let i = 0; i < 6 && focused !== "approve"; i++) {
      await page.keyboard.press("Tab");
      focused = await page.evaluate(() => {
        let el: Element | null = document.activeElement;
        while (el?.shadowRoot?.activeElement) el = el.shadowRoot.activeElement;
        return el?.closest("[data-action]")?.getAttribute("data-action") ?? (el?.getRootNode() as ShadowRoot)?.host?.getAttribute("data-action") ?? el?.localName ?? "";
      });
    }
    expect(focused).toBe("approve");
    await shot(page, "10-keyboard-consent");
    await page.keyboard.press("Enter");
    await poll(() => statusText(page)).toBe("Installed acme.docs 1.0.0.");
    expect(await host.annex.getInstall("globex", "acme.docs")).toMatchObject({ state: "active" });
    await page.close();
  }, 60_000);

  it("shows an event its handler failed as a dead letter, and delivers it after the fix and a replay", async () => {
    await host.annex.install("acme", "acme.order-sync", { grants: [{ name: "log" }, { name: "events.subscribe", types: ["order.created"] }], actor: "test" });
    const install = (await host.annex.getInstall("acme", "acme.order-sync"))!;
    // The product publishes an order; the extension has no warehouse yet, so both attempts fail.
    await host.annex.events.publish("acme", "order.created", { order: 7 });
    await poll(async () => (await host.annex.events.deadLetters.list({ tenant: "acme" })).items.length).toBe(1);

    const page = await signedIn("ada@acme.test");
    await openConsole(page);
    const letters = page.locator("#dead-letters");
    const shown = () => letters.evaluate((el) => (el as HTMLElement & { letters: { type: string; extensionId: string; attempts: number; lastError: { message: string } }[] }).letters);
    expect(await shown()).toEqual([expect.objectContaining({ type: "order.created", extensionId: "acme.order-sync", attempts: 2, lastError: expect.objectContaining({ message: expect.stringContaining("no warehouse configured") }) })]);
    const row = letters.locator("tbody tr[data-delivery]");
    expect(await row.textContent()).toContain("Order sync");
    await letters.scrollIntoViewIfNeeded();
    await shot(page, "12-dead-letter");

    // The fix: a warehouse in the settings.
    await page.getByRole("button", { name: "Settings Order sync" }).click();
    await page.locator("#config").getByLabel("Warehouse").fill("Berlin");
    await page.locator("#config").getByRole("button", { name: "Save settings" }).click();
    await poll(() => statusText(page)).toBe("Settings saved.");

    // Replay asks first; Cancel changes nothing.
    await page.getByRole("button", { name: "Replay order.created for Order sync" }).click();
    const confirm = letters.locator("annex-dialog");
    await poll(() => confirm.evaluate((el) => (el as HTMLElement & { open: boolean }).open)).toBe(true);
    await shot(page, "13-dead-letter-replay-confirm");
    await confirm.getByRole("button", { name: "Cancel" }).click();
    expect(await host.annex.events.deadLetters.list({ tenant: "acme" }).then((p) => p.items.length)).toBe(1);
    await page.getByRole("button", { name: "Replay order.created for Order sync" }).click();
    await poll(() => confirm.evaluate((el) => (el as HTMLElement & { open: boolean }).open)).toBe(true);
    await confirm.getByRole("button", { name: "Replay" }).click();
    await poll(() => statusText(page)).toBe("Replayed order.created to acme.order-sync: it is delivered again now.");
    await poll(() => host.logs.recent(install.id, 50).map((l) => l.message)).toContain("order 7 sent to Berlin");
    expect((await host.annex.events.deadLetters.list({ tenant: "acme" })).items).toEqual([]);
    await openConsole(page);
    expect(await shown()).toEqual([]);
    expect(await page.locator("#audit").evaluate((el) => (el as HTMLElement & { entries: { action: string; actor: string }[] }).entries.filter((e) => e.action === "event.dead-letter.replay").map((e) => e.actor))).toEqual(["user:ada@acme.test"]);
    await page.close();
  }, 120_000);

  it("runs an extension's job now from the jobs panel and shows the run in its recent runs; its owned schema in the storage panel", async () => {
    const install = await host.annex.install("acme", "acme.web-analytics", { grants: [{ name: "log" }, { name: "storage.sql" }], actor: "test" });
    const page = await signedIn("ada@acme.test");
    await openConsole(page);
    const jobs = page.locator("#jobs");
    const row = jobs.locator(`tr[data-job="${install.id}/rollup"]`);
    expect(await row.textContent()).toMatch(/Web analytics\s*rollup\s*2 \* \* \* \*\s*UTC/);
    expect(await row.locator("td.last").textContent()).toBe("Never ran");

    await page.getByRole("button", { name: "Run rollup of Web analytics now" }).click();
    // The host answers when the run finished: its outcome beside the button, and the last run in the row.
    await poll(() => row.locator('[role="status"]').textContent()).toMatch(/^ok in \d/);
    await poll(() => row.locator("td.last").textContent()).toMatch(/^ok in /);
    await page.getByRole("button", { name: "Recent runs of rollup of Web analytics" }).click();
    const runs = jobs.locator("tr[data-run]");
    await poll(() => runs.count()).toBe(1);
    expect(await runs.textContent()).toMatch(/Run now by user:ada@acme\.test\s*1\.0\.0\s*ok/);
    await jobs.scrollIntoViewIfNeeded();
    await shot(page, "16-jobs-run-now");
    const { items } = await host.annex.jobs.runs({ installId: install.id });
    expect(items.map((r) => [r.trigger, r.actor, r.outcome])).toEqual([["manual", "user:ada@acme.test", "ok"]]);

    // The same install in the storage panel: its owned schema ready at its latest migration (no example uses kv).
    const storage = page.locator(`#storage section[data-install="${install.id}"]`);
    expect(await storage.locator("h4").textContent()).toBe("Web analytics");
    const migrations = readdirSync(WEB_ANALYTICS_MIGRATIONS).filter((file) => file.endsWith(".sql")).sort();
    const versionOf = (file: string) => file.split("_")[0]!;
    const latest = versionOf(migrations.at(-1)!);
    expect(await storage.locator('[data-field="version"]').textContent()).toBe(latest);
    expect(await storage.locator("annex-badge[data-status]").getAttribute("data-status")).toBe("ready");
    expect(await storage.locator('[data-field="schema"]').textContent()).toBe((await host.annex.getInstall("acme", "acme.web-analytics"))!.sql!.schema);
    // The applied migrations, oldest first: version and name (the migration's file).
    expect(await storage.locator("tr[data-migration] td:nth-child(1)").allTextContents()).toEqual(migrations.map(versionOf));
    expect(await storage.locator("tr[data-migration] td:nth-child(2)").allTextContents()).toEqual(migrations);
    await storage.scrollIntoViewIfNeeded();
    await shot(page, "17-storage");
    await page.close();
    // The product's pages carry the snippet while it is installed; the steps after this one do not expect it.
    await host.annex.uninstall("acme", "acme.web-analytics", { purge: true, actor: "test" });
  }, 60_000);

  it("shows installed extensions' widgets on the dashboard and their admin pages in the console, through the bridge", async () => {
    await host.annex.install("acme", "acme.ats", { grants: [{ name: "ui.toast" }], config: { companyName: "Acme Robotics" }, actor: "test" });

    // A member: the widget on the dashboard, in its sandboxed frame, with the install's settings; no admin page.
    const max = await signedIn("max@acme.test");
    await max.waitForSelector("body[data-widgets=ready]");
    const widget = max.locator('[data-widget="acme.ats/open-roles"]');
    expect(await widget.getByRole("heading").textContent()).toBe("Open roles");
    expect(await widget.locator(".widget-frame").getAttribute("data-frame")).toBe("ready");
    expect(await widget.locator("iframe").getAttribute("sandbox")).toBe("allow-scripts");
    const inside = max.frameLocator('[data-widget="acme.ats/open-roles"] iframe');
    await poll(() => inside.locator(".figure").textContent()).toBe("3");
    expect(await inside.locator(".label").textContent()).toBe("open roles in 3 teams at Acme Robotics");
    await shot(max, "14-dashboard-widget");
    expect(await max.getByRole("link", { name: "Careers page" }).count()).toBe(0);
    expect((await max.goto(`${host.url}/admin/apps/acme.ats`))?.status()).toBe(403);
    await max.close();

    // An admin: the install's "admin" page under the console in the menu, mounted like every page.
    const ada = await signedIn("ada@acme.test");
    const menu = ada.getByRole("navigation", { name: "Main" });
    expect(await menu.getByRole("listitem").allTextContents()).toEqual(expect.arrayContaining(["Admin console", "Careers page"]));
    await menu.getByRole("link", { name: "Careers page" }).click();
    await ada.waitForURL(`${host.url}/admin/apps/acme.ats`);
    await ada.waitForSelector("body[data-frame=ready]");
    expect(await ada.getByRole("link", { name: "Careers page" }).getAttribute("aria-current")).toBe("page");
    const admin = ada.frameLocator("#extension-frame iframe");
    // Its preview of the careers page, from the install's settings handed over the bridge.
    await poll(() => admin.locator("#preview").textContent()).toContain("Acme Robotics");
    await shot(ada, "15-admin-slot-page");
    // Another tenant's admin has no such page.
    const gus = await signedIn("gus@globex.test");
    expect((await gus.goto(`${host.url}/admin/apps/acme.ats`))?.status()).toBe(404);
    expect(await gus.locator("[data-widget]").count()).toBe(0);
    await gus.close();
    // Disabled: the widget and the page are gone.
    await host.annex.disable("acme", "acme.ats", { actor: "test" });
    await ada.goto(`${host.url}/`);
    expect(await ada.locator("[data-widget]").count()).toBe(0);
    expect((await ada.goto(`${host.url}/admin/apps/acme.ats`))?.status()).toBe(404);
    await ada.close();
  }, 120_000);

  it("serves an extension's public page to anyone, under the public family of its tenant", async () => {
    if ((await host.annex.getInstall("acme", "acme.greeter")) !== null) await host.annex.uninstall("acme", "acme.greeter", { purge: true });
    await host.annex.install("acme", "acme.greeter", { grants: [{ name: "log" }, { name: "user.read" }], config: { greeting: "Hola" }, actor: "test" });
    const page = await browser.context.newPage();
    await page.context().clearCookies();
    await page.goto(`${host.url}/public/acme/acme.greeter`);
    await page.waitForSelector("body[data-frame=ready]");
    await poll(() => page.frameLocator("#extension-frame iframe").locator("#motto").textContent()).toBe("Hola to everyone");
    await shot(page, "11-public-page");
    expect((await new Client(host.url).get("/public/globex/acme.greeter")).status).toBe(404);
    await page.close();
  }, 60_000);
});
