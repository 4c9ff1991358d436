/**
 * The real @sentry/browser, unchanged, in real Chromium: a page bundled by
 * esbuild as a site would bundle it sends its errors over the SDK's fetch
 * transport, from another origin (so CORS is exercised too), to the DSN of an
 * install in createTestHost (a node:http server in front of the gateway).
 * The envelopes are the browser SDK's own: text bodies, Chrome stack frames,
 * session items beside the events. A new issue is announced as
 * ext.acme.error-tracking.issue.created, delivered by the relay to a
 * subscribed extension; more events of it are not announced.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { InstallInfo } from "@annex/host";
import { createTestHost, type TestHost } from "@annex/host/testing";
import { build } from "esbuild";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { forwardTo, type ForwardServer } from "./support/forward.js";

const KEY = "fedcba9876543210fedcba9876543210";
const HERE = fileURLToPath(new URL(".", import.meta.url));
const PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Web shop</title><script type="module" src="/app.js"></script></head>
<body><button id="checkout" type="button">Check out</button></body></html>`;

let t: TestHost;
let install: InstallInfo;
let server: ForwardServer;
let context: BrowserContext;
let profile: string;
let page: Page;

beforeAll(async () => {
  t = await createTestHost();
  install = await t.install(new URL("..", import.meta.url), { config: { publicKey: KEY } });
  await t.install(new URL("./fixtures/issue-listener", import.meta.url));
  const bundled = await build({
    entryPoints: [join(HERE, "support/browser-app.ts")],
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: "es2022",
    logLevel: "silent",
  });
  const script = bundled.outputFiles[0]!.text;
  // The shop's own files are served beside the gateway's paths; everything else goes through the gateway.
  server = await forwardTo(t, (req) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (path === "/") return { type: "text/html", body: PAGE };
    if (path === "/app.js") return { type: "text/javascript", body: script };
    return null;
  });
  const executablePath = process.env.ANNEX_CHROMIUM ?? "/usr/bin/chromium";
  if (!existsSync(executablePath)) throw new Error(`Chromium not found at ${executablePath}: run 'sh scripts/setup.sh test' or set ANNEX_CHROMIUM`);
  profile = mkdtempSync(join(tmpdir(), "annex-error-tracking-chromium-"));
  context = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"] });
  page = await context.newPage();
  const port = new URL(server.base).port;
  // The page on localhost, the DSN on 127.0.0.1: another origin, as a site and its error tracker are.
  const dsn = `http://${KEY}@127.0.0.1:${port}/ext/acme.error-tracking/public/7`;
  await page.goto(`http://localhost:${port}/?dsn=${encodeURIComponent(dsn)}`);
  await page.waitForSelector("body[data-ready=true]");
}, 180_000);

afterAll(async () => {
  await context?.close();
  if (profile !== undefined) rmSync(profile, { recursive: true, force: true });
  await server?.close();
  await t?.close();
});

const admin = { user: { id: "admin" }, roles: ["admin"] };

async function issues(): Promise<Array<Record<string, unknown>>> {
  const response = await t.request("GET", "/api/ext/acme.error-tracking/issues", { as: admin });
  expect(response.status).toBe(200);
  return ((await response.json()) as { issues: Array<Record<string, unknown>> }).issues;
}

const flush = async () => expect(await page.evaluate(() => (window as unknown as { shop: { flush(ms: number): Promise<boolean> } }).shop.flush(20_000))).toBe(true);
/** What the subscribed extension heard, in order. */
const heard = () =>
  t.logs
    .map((line) => line.message)
    .filter((message) => message.startsWith("heard "))
    .map((message) => {
      const [, type, json] = /^heard (\S+) (.*)$/.exec(message)!;
      return { type, payload: JSON.parse(json!) as Record<string, unknown> };
    });

describe("@sentry/browser in Chromium sending to the DSN", () => {
  it("stores an uncaught error from a click as an issue, with the browser SDK's frames, and a second one as another event of it", async () => {
    await page.click("#checkout");
    await page.click("#checkout");
    await flush();
    const [issue, ...others] = await issues();
    expect(others).toEqual([]);
    expect(issue).toMatchObject({ project: "7", level: "error", status: "unresolved", event_count: 2, platform: "javascript" });
    expect(issue!.title).toBe("TypeError: cart 1 is not loaded");
    expect(issue!.culprit).toMatch(/^checkout in /);
    const detail = (await (await t.request("GET", `/api/ext/acme.error-tracking/issues/${String(issue!.id)}`, { as: admin })).json()) as {
      events: Array<{ release: string; environment: string; sdk: string; message: string | null; exception: { type: string; value: string; frames: Array<{ function: string; filename?: string; module?: string }> } }>;
    };
    expect(detail.events).toHaveLength(2);
    expect(detail.events[0]).toMatchObject({ release: "web-shop@2.0.0", environment: "browser-test", sdk: "sentry.javascript.browser/11.12.0" });
    expect(detail.events.map((e) => e.exception.value).sort()).toEqual(["cart 1 is not loaded", "cart 2 is not loaded"]);
    // Chrome's stack, parsed by the SDK in the browser: the throwing function last, called from the click handler.
    const frames = detail.events[0]!.exception.frames;
    expect(frames.at(-1)!.function).toBe("checkout");
  });

  it("announces a new issue once, as ext.acme.error-tracking.issue.created, to a subscribed extension; more events of an issue are not announced", async () => {
    await t.relay.drain();
    const [first] = await issues();
    expect(heard()).toEqual([
      {
        type: "ext.acme.error-tracking.issue.created",
        payload: expect.objectContaining({ issueId: first!.id, project: "7", title: "TypeError: cart 1 is not loaded", level: "error", platform: "javascript", culprit: first!.culprit }),
      },
    ]);

    // A different error (captured by hand): a new issue, announced.
    const eventId = await page.evaluate(() => (window as unknown as { shop: { coupon(code: string): string } }).shop.coupon("SPRING"));
    await flush();
    await t.relay.drain();
    const coupon = (await issues()).find((i) => i.title === "RangeError: coupon SPRING has expired")!;
    expect(heard().map((h) => h.payload.issueId)).toEqual([first!.id, coupon.id]);
    expect(heard()[1]!.payload.eventId).toBe(eventId.replace(/-/g, ""));

    // The same two errors again: more events of known issues, nothing announced.
    await page.click("#checkout");
    await page.evaluate(() => (window as unknown as { shop: { coupon(code: string): string } }).shop.coupon("SUMMER"));
    await flush();
    await t.relay.drain();
    expect((await issues()).map((i) => i.event_count).sort()).toEqual([2, 3]);
    expect(heard()).toHaveLength(2);
    expect(await t.deadLetters()).toEqual([]);
    // Two issues in its own tables, as announced.
    const { rows } = await t.sql(install.id).query("SELECT count(*)::int AS n FROM issues");
    expect(rows[0]!.n).toBe(2);
  });
});
