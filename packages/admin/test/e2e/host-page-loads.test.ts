/**
 * The gateway's refusal of host pages loading extension content as code
 * (E_HOST_PAGE_LOAD), in real Chromium: Fetch Metadata and the HTTP cache are
 * the browser's. A page on the gateway's origin with no CSP at all, as if an
 * HTML injection were the only thing an attacker has.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createNodeHandler } from "@annex/host/node";
import { createTestHost, type TestHost } from "@annex/host/testing";
import { afterAll, beforeAll, expect, it } from "vitest";
import { launchChromium, type Browser } from "./harness.js";

let t: TestHost;
let server: Server;
let origin: string;
let browser: Browser;
let js: string;
let css: string;
const seen: Array<{ path: string; dest: string | undefined; status: number }> = [];

beforeAll(async () => {
  t = await createTestHost();
  const install = await t.install(new URL("../../../../examples/extensions/hello/", import.meta.url));
  const base = `/ext-ui/acme.hello/${install.contentHash}/ui`;
  const gateway = createNodeHandler(t.gateway);
  server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/page") return void res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(url.searchParams.get("html") ?? "");
    res.on("finish", () => seen.push({ path: url.pathname, dest: req.headers["sec-fetch-dest"] as string | undefined, status: res.statusCode }));
    gateway(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const index = await (await fetch(`${origin}${base}/index.html`)).text();
  js = new URL(/src="([^"]+\.js)"/.exec(index)![1]!, `${origin}${base}/index.html`).pathname;
  css = `${base}/style.css`;
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
  await t?.close();
});

const pageWith = async (html: string, visit: string) => {
  const page = await browser.context.newPage();
  await page.goto(`${origin}/page?v=${visit}&html=${encodeURIComponent(html)}`);
  await page.waitForLoadState("load");
  return page;
};

const state = (page: Awaited<ReturnType<typeof pageWith>>) =>
  page.evaluate(() => ({
    ran: (window as { ran?: number }).ran ?? null,
    failed: (window as { failed?: number }).failed ?? null,
    // The hello UI's module defines the ui-kit's elements; its stylesheet has rules.
    elements: typeof customElements.get("annex-input"),
    // A refused stylesheet has no readable rules (reading them throws).
    rules: (() => {
      try {
        return document.styleSheets[0]?.cssRules.length ?? 0;
      } catch {
        return 0;
      }
    })(),
  }));

it("refuses a same-origin page's <script> and <link rel=stylesheet> of an extension's UI files: nothing runs or applies", async () => {
  const page = await pageWith(`<!doctype html><link rel=stylesheet href="${css}?cold"><script type=module src="${js}?cold" onload="window.ran=1" onerror="window.failed=1"></script>`, "cold");
  await page.waitForFunction(() => (window as { failed?: number }).failed === 1 || (window as { ran?: number }).ran === 1);
  expect(await state(page)).toEqual({ ran: null, failed: 1, elements: "undefined", rules: 0 });
  expect(seen.filter((r) => r.path === js || r.path === css).map((r) => [r.dest, r.status])).toEqual(expect.arrayContaining([["script", 403], ["style", 403]]));
  await page.close();
});

it("no cache hands a file first loaded as an image or by fetch to a script tag later (Vary: Sec-Fetch-Dest)", async () => {
  // Visit 1: only destinations that run nothing, which are served (and cached a year: the files are immutable).
  const prime = await pageWith(`<!doctype html><img src="${js}"><link rel=preload as=fetch crossorigin href="${js}"><img src="${css}"><link rel=preload as=fetch crossorigin href="${css}">`, "prime");
  await prime.waitForTimeout(1000);
  await prime.close();
  expect(seen.filter((r) => r.path === js && r.status === 200).length).toBeGreaterThan(0);
  // Visit 2: the same URLs as code. Without Vary they came from the cache, the module defined its elements.
  const before = seen.length;
  const page = await pageWith(`<!doctype html><link rel=stylesheet href="${css}"><script type=module src="${js}" onload="window.ran=1" onerror="window.failed=1"></script>`, "run");
  await page.waitForFunction(() => (window as { failed?: number }).failed === 1 || (window as { ran?: number }).ran === 1);
  expect(await state(page)).toEqual({ ran: null, failed: 1, elements: "undefined", rules: 0 });
  // Both reached the gateway (not the cache), which refused them. Chromium may ask for a refused file more than once
  // (the preload scanner and the parser; seen once in CI for the stylesheet), so each destination is counted once.
  const reached = seen.slice(before).filter((r) => r.dest === "script" || r.dest === "style");
  expect([...new Set(reached.map((r) => `${r.dest} ${r.status}`))].sort()).toEqual(["script 403", "style 403"]);
  await page.close();
});
