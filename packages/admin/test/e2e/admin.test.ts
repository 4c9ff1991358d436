/**
 * @annex/admin in real Chromium, against a real host: createTestHost installs
 * the hello example (packed as `annex pack` packs it), the gateway serves its
 * page with its CSP, and a test admin page on the same origin uses the
 * components and mountInstallFrame.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createNodeHandler } from "@annex/host/node";
import { createTestHost, type TestHost } from "@annex/host/testing";
import type { Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { AdminInstall, AdminVersion } from "../../src/index.js";
import { bundle, launchChromium, type Browser } from "./harness.js";

let t: TestHost;
let server: Server;
let origin: string;
let browser: Browser;
let page: Page;
let install: AdminInstall;
let version: AdminVersion;

const PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Admin test</title><link rel="icon" href="data:,"></head>
<body><main><h1>Extensions</h1><button id="install" type="button">Install Hello…</button><annex-consent-dialog id="consent"></annex-consent-dialog><section id="slot" aria-label="Extension page"></section></main>
<script type="module" src="/admin.js"></script></body></html>`;

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** JSON-safe copies: what a host's admin API would send the console. */
const plain = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

beforeAll(async () => {
  const script = await bundle("fixtures/admin-page.ts");
  t = await createTestHost();
  install = plain(await t.install(new URL("../../../../examples/extensions/hello/", import.meta.url)));
  version = plain((await t.host.registry.getVersion(install.extensionId, install.version))!);
  const gateway = createNodeHandler(t.gateway);
  server = createServer((req, res) => {
    const path = req.url ?? "/";
    if (path === "/admin.html") return void res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(PAGE);
    if (path === "/admin.js") return void res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" }).end(script);
    if (path.startsWith("/api/ext/")) {
      // The embedding app's session says who is signed in; here it is always Ada.
      void (async () => {
        const body = req.method === "GET" || req.method === "HEAD" ? undefined : (await readBody(req)).toString("utf8");
        const answer = await t.request(req.method ?? "GET", path, { as: { user: { id: "ada", displayName: "Ada Lovelace" } }, body, headers: { "content-type": String(req.headers["content-type"] ?? "text/plain") } });
        res.writeHead(answer.status, Object.fromEntries(answer.headers)).end(Buffer.from(await answer.arrayBuffer()));
      })();
      return;
    }
    gateway(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
  await t?.close();
});

beforeEach(async () => {
  page = await browser.context.newPage();
  await page.goto(`${origin}/admin.html`);
  await page.waitForFunction(() => typeof globalThis.adminTest === "object");
});
afterEach(async () => {
  await page.close();
});

describe("consent dialog, keyboard only", () => {
  const focused = () => page.evaluate(() => adminTest.focused());
  const events = () => page.evaluate(() => adminTest.seen.map((e) => e.type));

  it("opens with Enter, keeps Tab and Shift+Tab inside, cancels with Escape and gives focus back", async () => {
    await page.evaluate((v) => adminTest.prepareConsent(v), version);
    await page.keyboard.press("Tab");
    expect(await focused()).toBe("button#install");
    await page.keyboard.press("Enter");
    expect(await focused()).toBe("region:capabilities");
    const forward: string[] = [];
    for (let i = 0; i < 5; i++) {
      await page.keyboard.press("Tab");
      forward.push(await focused());
    }
    expect(forward).toEqual(["button:cancel", "button:approve", "button:close", "region:capabilities", "button:cancel"]);
    const backward: string[] = [];
    for (let i = 0; i < 4; i++) {
      await page.keyboard.press("Shift+Tab");
      backward.push(await focused());
    }
    expect(backward).toEqual(["region:capabilities", "button:close", "button:approve", "button:cancel"]);

    // The list scrolls from the keyboard too: it is a focusable region with both capabilities.
    const listed = await page.evaluate(() => [...document.getElementById("consent")!.shadowRoot!.querySelectorAll("ul.caps > li")].map((li) => li.getAttribute("data-capability")));
    expect(listed).toEqual(["log", "user.read"]);

    await page.keyboard.press("Escape");
    expect(await page.evaluate(() => (document.getElementById("consent") as HTMLElement & { open: boolean }).open)).toBe(false);
    expect(await focused()).toBe("button#install");
    expect(await page.evaluate(() => adminTest.seen)).toEqual([{ type: "annex-consent-cancel", detail: { extensionId: "acme.hello", version: "1.0.0", reason: "escape" } }]);
  });

  it("approves with the keyboard, emitting exactly the grants the version requests", async () => {
    await page.evaluate((v) => adminTest.prepareConsent(v), version);
    await page.keyboard.press("Tab");
    await page.keyboard.press("Space");
    await page.keyboard.press("Tab");
    await page.keyboard.press("Tab");
    expect(await focused()).toBe("button:approve");
    await page.keyboard.press("Enter");
    expect(await events()).toEqual(["annex-consent"]);
    expect(await page.evaluate(() => adminTest.seen[0]!.detail)).toEqual({ extensionId: "acme.hello", version: "1.0.0", grants: [{ name: "log" }, { name: "user.read" }] });
    expect(await focused()).toBe("button#install");
  });
});

describe("mountInstallFrame", () => {
  it("mounts the installed hello page through the bridge; it calls its own API through the gateway and shows the answer", async () => {
    const ready = await page.evaluate(({ i, m }) => adminTest.mount(i, m), { i: install, m: version.manifest });
    expect(ready).toEqual({ version: 1 });
    expect(await page.evaluate(() => adminTest.describeFrame())).toEqual({
      state: "ready",
      title: "Hello: Hello",
      sandbox: "allow-scripts",
      src: `${origin}/ext-ui/acme.hello/${install.contentHash}/ui/index.html`,
    });
    const frame = page.frames().find((f) => f.url().includes("/ext-ui/acme.hello/"))!;
    await frame.waitForFunction(() => customElements.get("annex-input") !== undefined);
    // The page's theme came over the bridge.
    expect(await frame.evaluate(() => document.documentElement.style.getPropertyValue("--annex-color-primary"))).toBe("#0a5cc7");
    // Keyboard only inside the frame as well: type a name and submit.
    await frame.focus("annex-input");
    await page.keyboard.press("Control+A");
    await page.keyboard.type("Grace");
    await page.keyboard.press("Enter");
    await frame.waitForFunction(() => document.getElementById("answer")?.textContent !== "", undefined, { timeout: 10_000 });
    expect(await frame.evaluate(() => document.getElementById("answer")!.textContent)).toBe("Hello, Grace!");
    const [line] = await t.audit.list({ action: "gateway.request", order: "desc", limit: 1 });
    expect(line).toMatchObject({ actor: "user:ada", decision: "allow", details: { handler: "hello" } });
  });
});
