/**
 * The careers extension as a host shows it, in Chromium: createTestHost packs
 * and installs it with settings, the gateway serves its pages with their CSP,
 * and a host page on the same origin mounts each page (public, admin,
 * dashboard widget) through the bridge with mountInstallFrame. Everything the
 * pages show comes from the install's settings.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { AdminInstall, AdminVersion } from "@annex/admin";
import { createNodeHandler } from "@annex/host/node";
import { createTestHost, type TestHost } from "@annex/host/testing";
import { build } from "esbuild";
import { chromium, type BrowserContext, type Frame, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

const HOST_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Host</title><link rel="icon" href="data:,"></head>
<body><main><section id="slot" aria-label="Extension page"></section></main><script type="module" src="/host.js"></script></body></html>`;

const SETTINGS = {
  companyName: "Globex <img src=x onerror=globalThis.pwned=1>",
  headline: "Join the people who make Globex.",
  openings: "Backend engineer | Engineering | Berlin | Full-time; Designer | Design | Remote | Contract; Broken entry | Design; Frontend engineer | Engineering | Remote | Full-time",
  accent: "green",
  applyEmail: "talent@globex.example",
};

/** JSON-safe copies: what a host's admin API would send its console. */
const plain = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

let t: TestHost;
let server: Server;
let origin: string;
let context: BrowserContext;
let profile: string;
let install: AdminInstall;
let manifest: AdminVersion["manifest"];
let page: Page;
let problems: string[];

beforeAll(async () => {
  const script = (
    await build({
      entryPoints: [fileURLToPath(new URL("fixtures/host-page.ts", import.meta.url))],
      bundle: true,
      write: false,
      format: "esm",
      platform: "browser",
      target: "es2022",
      conditions: ["source"],
      logLevel: "silent",
    })
  ).outputFiles[0]!.text;
  t = await createTestHost();
  install = plain(await t.install(new URL("..", import.meta.url), { config: SETTINGS }));
  manifest = plain((await t.host.registry.getVersion("acme.ats", install.version))!.manifest);
  const gateway = createNodeHandler(t.gateway);
  server = createServer((req, res) => {
    if (req.url === "/host.html") return void res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(HOST_PAGE);
    if (req.url === "/host.js") return void res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" }).end(script);
    // A page that frames a UI file without being a host (no bridge): the gateway serves UI files to frames only.
    if (req.url?.startsWith("/frame.html?") === true) return void res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(`<!doctype html><iframe src="${new URL(req.url, "http://x").searchParams.get("src") ?? ""}"></iframe>`);
    gateway(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const executablePath = process.env.ANNEX_CHROMIUM ?? "/usr/bin/chromium";
  if (!existsSync(executablePath)) throw new Error(`Chromium not found at ${executablePath}: run 'sh scripts/setup.sh test' or set ANNEX_CHROMIUM`);
  profile = mkdtempSync(join(tmpdir(), "annex-ats-chromium-"));
  context = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"] });
}, 120_000);

afterAll(async () => {
  await context?.close();
  if (profile !== undefined) rmSync(profile, { recursive: true, force: true });
  await new Promise((resolve) => server?.close(resolve));
  await t?.close();
});

afterEach(async () => {
  // Nothing went wrong in any frame: in particular the CSP refused nothing and no script failed.
  expect(problems).toEqual([]);
  await page?.close();
});

async function mount(slot: "public" | "admin" | "dashboard.widget", entry: string): Promise<Frame> {
  page = await context.newPage();
  problems = [];
  page.on("console", (message) => {
    if (message.type() === "error" || /Content Security Policy/i.test(message.text())) problems.push(message.text());
  });
  page.on("pageerror", (error) => problems.push(error.message));
  await page.goto(`${origin}/host.html`);
  await page.evaluate(({ i, m, s }) => atsHost.mount(i, m, s), { i: install, m: manifest, s: slot });
  const frame = page.frames().find((candidate) => candidate.url().startsWith(`${origin}/ext-ui/acme.ats/${install.contentHash}/${entry}`));
  if (frame === undefined) throw new Error(`no frame of ${entry}`);
  return frame;
}

describe("the careers page (slot public)", () => {
  it("shows the company, headline and the openings from the settings, as text, with the accent chosen", async () => {
    const frame = await mount("public", "ui/careers.html");
    await frame.locator("annex-card.opening").first().waitFor({ timeout: 10_000 });
    expect(await frame.locator("h1").textContent()).toBe("Careers at Globex <img src=x onerror=globalThis.pwned=1>");
    expect(await frame.locator(".headline").textContent()).toBe("Join the people who make Globex.");
    // The settings' markup is text: no element was made of it and nothing ran.
    expect(await frame.locator("img").count()).toBe(0);
    expect(await frame.evaluate(() => (globalThis as { pwned?: unknown }).pwned)).toBeUndefined();
    // The entry that cannot be read is left out; the others keep their references.
    expect(await frame.locator("annex-card.opening").evaluateAll((cards) => cards.map((card) => `${card.getAttribute("data-ref")} ${card.getAttribute("heading")}`))).toEqual([
      "R-001 Backend engineer",
      "R-002 Designer",
      "R-004 Frontend engineer",
    ]);
    expect(await frame.locator("annex-card.opening").first().locator(".apply").textContent()).toBe("Apply: write to talent@globex.example, quoting R-001.");
    const looks = await frame.evaluate(() => ({
      accent: document.getElementById("careers")!.dataset.accent,
      border: getComputedStyle(document.querySelector(".opening")!).borderLeftColor,
      success: getComputedStyle(document.documentElement).getPropertyValue("--annex-color-success-border").trim(),
    }));
    expect(looks.accent).toBe("green");
    expect(looks.border).toBe("rgb(74, 194, 107)"); // --annex-color-success-border, #4ac26b: the style sheet's rule for data-accent="green"
    expect(looks.success).toBe("#4ac26b");
  });

  it("filters by team with the ui-kit select (a native select inside)", async () => {
    const frame = await mount("public", "ui/careers.html");
    await frame.locator("annex-card.opening").first().waitFor({ timeout: 10_000 });
    expect(await frame.locator(".count").textContent()).toBe("3 open roles");
    await frame.locator("annex-select select").selectOption("Design");
    expect(await frame.locator(".count").textContent()).toBe("1 open role in Design");
    expect(await frame.locator("annex-card.opening").evaluateAll((cards) => cards.map((card) => card.getAttribute("heading")))).toEqual(["Designer"]);
  });
});

describe("the admin page (slot admin)", () => {
  it("lists what it read and what it could not, previews the careers page, and toasts through the host", async () => {
    const frame = await mount("admin", "ui/admin.html");
    const warning = frame.locator("#checks annex-alert");
    await warning.first().waitFor({ timeout: 10_000 });
    expect(await warning.evaluateAll((alerts) => alerts.map((alert) => `${alert.getAttribute("heading")}: ${alert.textContent}`))).toEqual([
      'Opening 3 is not shown: "Broken entry | Design" has 2 fields; write Title | Team | Location | Type.',
    ]);
    const rows = await frame.locator("annex-table#openings").evaluate((table) => (table as unknown as { rows: Array<{ ref: string }> }).rows.map((row) => row.ref));
    expect(rows).toEqual(["R-001", "R-002", "R-004"]);
    expect(await frame.locator("#preview h1").textContent()).toBe("Careers at Globex <img src=x onerror=globalThis.pwned=1>");
    await frame.locator("annex-button#check").click();
    await page.waitForFunction(() => atsHost.toasts.length > 0, undefined, { timeout: 10_000 });
    expect(await page.evaluate(() => atsHost.toasts)).toEqual([{ kind: "warning", message: "1 of 4 openings cannot be shown." }]);
  });
});

describe("the dashboard widget (slot dashboard.widget)", () => {
  it("counts the open roles and teams", async () => {
    const frame = await mount("dashboard.widget", "ui/widget.html");
    await frame.locator(".figure").waitFor({ timeout: 10_000 });
    expect(await frame.locator(".figure").textContent()).toBe("3");
    expect(await frame.locator(".label").textContent()).toBe("open roles in 2 teams at Globex <img src=x onerror=globalThis.pwned=1>");
  });
});

describe("a page opened outside a host", () => {
  it("says to open it from the application instead of failing, when framed by a page that is no host", async () => {
    page = await context.newPage();
    problems = [];
    page.on("pageerror", (error) => problems.push(error.message));
    const file = `/ext-ui/acme.ats/${install.contentHash}/ui/careers.html`;
    const served = page.waitForResponse((response) => response.url().endsWith(file));
    await page.goto(`${origin}/frame.html?src=${encodeURIComponent(file)}`);
    const bundle = `${origin}/ext-ui/acme.ats/${install.contentHash}/`;
    expect((await served).headers()["content-security-policy"]).toContain(`script-src ${bundle}; style-src ${bundle};`);
    const frame = (await (await page.waitForSelector("iframe")).contentFrame())!;
    await frame.locator("annex-alert").waitFor({ timeout: 10_000 });
    expect(await frame.locator("annex-alert").getAttribute("heading")).toBe("Open this page from the application");
  });

  it("is not served as a top-level page: the gateway refuses the navigation", async () => {
    page = await context.newPage();
    const response = await page.goto(`${origin}/ext-ui/acme.ats/${install.contentHash}/ui/careers.html`);
    expect(response?.status()).toBe(403);
    expect(await response?.json()).toMatchObject({ code: "E_FORBIDDEN" });
  });
});
