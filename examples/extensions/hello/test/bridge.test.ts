/**
 * The page in a host's frame, through the bridge, against its own handlers:
 * `t.listen()` serves the test host over HTTP with a frame page that mounts
 * the install's page as a product's page does (sandboxed iframe, the bridge's
 * host side, the install's grants), and the page's `api.fetch` calls reach
 * the handlers as the frame page's signed-in user. The recipe of
 * docs/authoring.md ("Testing a page through the bridge").
 */
import { existsSync } from "node:fs";
import { createTestHost, type TestHost, type TestServer } from "@annex/host/testing";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let t: TestHost;
let server: TestServer;
let browser: Browser;

beforeAll(async () => {
  t = await createTestHost();
  await t.install(new URL("..", import.meta.url));
  server = await t.listen();
  const executablePath = process.env.ANNEX_CHROMIUM ?? "/usr/bin/chromium";
  if (!existsSync(executablePath)) throw new Error(`Chromium not found at ${executablePath}: run 'sh scripts/setup.sh test' or set ANNEX_CHROMIUM`);
  browser = await chromium.launch({ executablePath, headless: true, args: ["--headless", "--no-sandbox", "--disable-gpu"] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close(); // closes the server too
});

/** Opens the frame page and waits for the bridge's handshake with the extension's page. */
async function open(url: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(url);
  await page.waitForFunction(() => document.documentElement.dataset.annexFrame !== "connecting", undefined, { timeout: 15_000 });
  expect(await page.evaluate(() => (window as unknown as { annexTest: { state: string; error: string | null } }).annexTest)).toMatchObject({ state: "ready", error: null });
  return page;
}

describe("the hello page through the bridge", () => {
  it("says hello: the page's api.fetch reaches the handler, and the answer shows in the page", async () => {
    const page = await open(server.framePage("acme.hello", { as: "u1" }));
    const frame = page.frameLocator("iframe");
    await frame.getByLabel("Name").fill("Grace");
    await frame.locator("#say").click();
    await expect.poll(() => frame.locator("#answer").textContent(), { timeout: 10_000 }).toBe("Hello, Grace!");
    // The handler ran, as the user of the frame page.
    expect(t.logs.some((line) => line.extensionId === "acme.hello" && String(line.message).includes("saying hello to Grace"))).toBe(true);
    await page.close();
  });

  it("shows the gateway's refusal to a visitor who is not signed in (api endpoints need a user)", async () => {
    const page = await open(server.framePage("acme.hello"));
    const frame = page.frameLocator("iframe");
    await frame.locator("#say").click();
    await expect.poll(() => frame.locator("#answer").textContent(), { timeout: 10_000 }).toBe("status 401");
    await page.close();
  });
});
