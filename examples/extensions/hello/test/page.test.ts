import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createNodeHandler } from "@annex/host/node";
import { createTestHost, type TestHost } from "@annex/host/testing";
import { chromium, type BrowserContext, type Frame, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The page as a host serves it: packed by the test host exactly as `annex pack` packs it (main.ts and
// style.css bundled with @annex/ui-kit and the bridge client), served by the gateway with its strict
// Content-Security-Policy, and run in Chromium.
let t: TestHost;
let server: Server;
let context: BrowserContext;
let profile: string;
let pageUrl: string;

beforeAll(async () => {
  t = await createTestHost();
  const install = await t.install(new URL("..", import.meta.url));
  const gateway = createNodeHandler(t.gateway);
  // A page that frames the UI file as a host's page does (the gateway serves UI files to frames only, never as top-level pages).
  server = createServer((req, res) => {
    if (req.url === "/favicon.ico") return void res.writeHead(204).end();
    // A script the host's origin serves outside the bundle (as another extension's public endpoint could).
    if (req.url === "/elsewhere.js") return void res.writeHead(200, { "content-type": "text/javascript" }).end("window.__elsewhere = true;");
    if (req.url === "/frame.html") return void res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(`<!doctype html><iframe src="${new URL(pageUrl).pathname}"></iframe>`);
    gateway(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  pageUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ext-ui/acme.hello/${install.contentHash}/ui/index.html`;
  const executablePath = process.env.ANNEX_CHROMIUM ?? "/usr/bin/chromium";
  if (!existsSync(executablePath)) throw new Error(`Chromium not found at ${executablePath}: run 'sh scripts/setup.sh test' or set ANNEX_CHROMIUM`);
  profile = mkdtempSync(join(tmpdir(), "annex-hello-chromium-"));
  context = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"] });
}, 120_000);

afterAll(async () => {
  await context?.close();
  if (profile !== undefined) rmSync(profile, { recursive: true, force: true });
  await new Promise((resolve) => server?.close(resolve));
  await t?.close();
});

async function open(): Promise<{ page: Page; frame: Frame; problems: string[] }> {
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error" || /Content Security Policy/i.test(message.text())) problems.push(message.text());
  });
  page.on("pageerror", (error) => problems.push(error.message));
  const served = page.waitForResponse((response) => response.url() === pageUrl);
  await page.goto(pageUrl.replace(/\/ext-ui\/.*$/, "/frame.html"));
  const response = await served;
  expect(response.status()).toBe(200);
  const bundle = pageUrl.replace(/ui\/index\.html$/, "");
  expect(response.headers()["content-security-policy"]).toContain(`script-src ${bundle}; style-src ${bundle};`);
  const frame = await (await page.waitForSelector("iframe")).contentFrame();
  return { page, frame: frame!, problems };
}

describe("the hello page in Chromium, under the host's CSP", () => {
  it("loads its built script and stylesheet from the bundle: ui-kit components render with the kit's tokens", async () => {
    const { page, frame, problems } = await open();
    await frame.waitForFunction(() => customElements.get("annex-card") !== undefined && customElements.get("annex-input") !== undefined, undefined, { timeout: 10_000 });
    const looks = await frame.evaluate(() => {
      const card = document.querySelector("annex-card")!;
      return {
        surface: getComputedStyle(document.documentElement).getPropertyValue("--annex-color-surface").trim(),
        mainPadding: getComputedStyle(document.querySelector("main")!).paddingTop,
        cardRendered: (card.shadowRoot?.childNodes.length ?? 0) > 0 && card.getBoundingClientRect().height > 0,
        heading: card.shadowRoot?.textContent?.includes("Hello") ?? false,
        scripts: [...document.scripts].map((script) => script.getAttribute("src")),
      };
    });
    expect(looks).toEqual({ surface: "#ffffff", mainPadding: "16px", cardRendered: true, heading: true, scripts: ["main.js"] });
    // Nothing goes wrong but connect() finding no host (this test page mounts no bridge): in particular the CSP refuses nothing.
    expect(problems.filter((problem) => !/not mounted by an Annex host|no Annex host answered/.test(problem))).toEqual([]);
    await page.close();
  });

  it("runs no script of the host's origin but its own bundle's: the CSP names the bundle's path, not 'self'", async () => {
    const { page, frame } = await open();
    await frame.waitForFunction(() => customElements.get("annex-card") !== undefined, undefined, { timeout: 10_000 });
    const outcome = await frame.evaluate(
      () =>
        new Promise<{ loaded: boolean; ran: boolean; violation: string | null }>((resolve) => {
          let violation: string | null = null;
          document.addEventListener("securitypolicyviolation", (event) => (violation = `${event.effectiveDirective} ${event.blockedURI}`));
          const script = document.createElement("script");
          script.src = "/elsewhere.js";
          const done = (loaded: boolean) => setTimeout(() => resolve({ loaded, ran: (window as { __elsewhere?: boolean }).__elsewhere === true, violation }), 50);
          script.onload = () => done(true);
          script.onerror = () => done(false);
          document.head.append(script);
        }),
    );
    expect(outcome).toEqual({ loaded: false, ran: false, violation: expect.stringMatching(/^script-src-elem http:\/\/127\.0\.0\.1:\d+\/elsewhere\.js$/) });
    await page.close();
  });
});
