/**
 * The bridge in real Chromium: a host page on http://127.0.0.1:A mounts
 * extension pages served from http://localhost:B, built from src/ by esbuild.
 */
import type { Page } from "playwright-core";
import { beforeEach, describe, expect, it } from "vitest";
import { CONTEXT, DARK, LIGHT, type Browser, type Servers } from "../support/browser-harness.js";
import { eventually, extFrame, mount, mountOptions, useHostPage } from "./page-helpers.js";

const world = useHostPage();
let browser: Browser;
let servers: Servers;
let page: Page;
beforeEach(() => {
  ({ browser, servers, page } = world);
});

describe("handshake", () => {
  it("mounts a sandboxed frame with an opaque origin and connects over a private port", async () => {
    await mount(page, "a", mountOptions(servers));
    const ready = await page.evaluate(() => annexHost.ready("a"));
    expect(ready).toEqual({ ok: true, value: { version: 1 } });

    const described = await page.evaluate(() => annexHost.describe("a"));
    expect(described.state).toBe("ready");
    expect(described.attributes).toMatchObject({ sandbox: "allow-scripts", title: "Acme Analytics", referrerpolicy: "no-referrer", allow: "" });
    expect(described.src).toMatch(/#annex-nonce=[A-Za-z0-9_-]{43}$/);

    const frame = await extFrame(page);
    const connected = await frame.evaluate(() => connection);
    expect(connected).toEqual({ ok: true, value: { version: 1, context: { ...CONTEXT, theme: LIGHT } } });
    const inside = await frame.evaluate(() => ({ origin: self.origin, hash: location.hash, frameElement: window.frameElement }));
    // Opaque origin; the spent nonce is gone from the address; the frame cannot see its <iframe> element.
    expect(inside).toEqual({ origin: "null", hash: "", frameElement: null });

    const load = servers.hits.find((hit) => hit.server === "ext" && hit.path.endsWith("/index.html"));
    expect(load?.referer).toBeUndefined();
  });

  it("applies the host theme on :root at connect", async () => {
    await mount(page, "a", mountOptions(servers));
    const frame = await extFrame(page);
    await frame.evaluate(() => connection);
    const applied = await frame.evaluate(() => ({
      bg: getComputedStyle(document.documentElement).getPropertyValue("--annex-color-bg").trim(),
      text: getComputedStyle(document.documentElement).getPropertyValue("--annex-color-text").trim(),
      mode: document.documentElement.getAttribute("data-annex-theme"),
    }));
    expect(applied).toEqual({ bg: "#ffffff", text: "#1f2328", mode: "light" });
  });

  it("also works with a separate extension origin and allow-same-origin, and still keeps the host out of reach", async () => {
    await mount(page, "a", mountOptions(servers, { extensionOrigin: servers.extOrigin, sandboxExtras: ["allow-same-origin"] }));
    expect(await page.evaluate(() => annexHost.ready("a"))).toEqual({ ok: true, value: { version: 1 } });
    const frame = await extFrame(page);
    expect(await frame.evaluate(() => self.origin)).toBe(servers.extOrigin);
    const reach = await frame.evaluate(() => annexExt.attempt(() => window.parent.document.title));
    expect(reach).toMatchObject({ ok: false, name: "SecurityError" });
  });

  it("refuses allow-same-origin for a frame served from the host's own origin", async () => {
    const code = await page.evaluate(
      ([src, context, theme]) => {
        try {
          annexHost.mount("same", { src, extensionOrigin: location.origin, sandboxExtras: ["allow-same-origin"], title: "x", context, theme });
          return null;
        } catch (error) {
          return (error as { code?: string }).code ?? String(error);
        }
      },
      [`${servers.hostOrigin}/host.html`, CONTEXT, LIGHT] as const,
    );
    expect(code).toBe("E_BRIDGE_ORIGIN");
    expect(await page.locator("iframe").count()).toBe(0);
  });
});

describe("host API", () => {
  beforeEach(async () => {
    await mount(page, "a", mountOptions(servers, { minHeight: 50, maxHeight: 400, callTimeoutMs: 500 }));
    expect(await page.evaluate(() => annexHost.ready("a"))).toMatchObject({ ok: true });
  });

  it("api.fetch reaches the extension's own API with the user's session; the frame sees no cookie", async () => {
    const frame = await extFrame(page);
    await frame.evaluate(() => connection);
    const result = await frame.evaluate(() =>
      annexExt.attempt(() => annexExt.api.api.fetch("echo?x=1", { method: "POST", headers: { "content-type": "application/json" }, body: '{"n":1}' })),
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const { status, headers, body } = result.value;
    expect(status).toBe(200);
    expect(headers).toEqual({ "cache-control": "no-store", "content-type": "application/json", etag: '"v1"' });
    expect(JSON.parse(body as string)).toEqual({
      method: "POST",
      path: "/api/ext/acme.analytics/echo",
      query: "?x=1",
      cookie: "annex_session=s3cret",
      contentType: "application/json",
      body: '{"n":1}',
    });
    const bytes = await frame.evaluate(() => annexExt.attempt(async () => (await annexExt.api.api.fetch("echo", { responseType: "arrayBuffer" })).body instanceof ArrayBuffer));
    expect(bytes).toEqual({ ok: true, value: true });
    expect(await frame.evaluate(() => annexExt.attempt(() => document.cookie))).toMatchObject({ ok: false, name: "SecurityError" });
  });

  it("navigate and toast reach the host's handlers, which decide", async () => {
    const frame = await extFrame(page);
    await frame.evaluate(() => connection);
    expect(await frame.evaluate(() => annexExt.attempt(() => annexExt.api.navigate("reports/weekly?tab=2")))).toEqual({ ok: true, value: undefined });
    expect(await frame.evaluate(() => annexExt.attempt(() => annexExt.api.navigate("forbidden/page")))).toMatchObject({ ok: false, code: "E_BRIDGE_DENIED" });
    expect(await frame.evaluate(() => annexExt.attempt(() => annexExt.api.navigate("../../admin")))).toMatchObject({ ok: false, code: "E_BRIDGE_PATH" });
    expect(await frame.evaluate(() => annexExt.attempt(() => annexExt.api.toast({ kind: "success", message: "Saved" })))).toEqual({ ok: true, value: undefined });
    expect(await frame.evaluate(() => annexExt.attempt(() => annexExt.api.toast({ kind: "html" as "info", message: "<b>x</b>" })))).toMatchObject({ ok: false, code: "E_BRIDGE_ARGS" });
    const log = await page.evaluate(() => annexHost.log);
    expect(log.navigations).toEqual(["reports/weekly?tab=2", "forbidden/page"]);
    expect(log.toasts).toEqual([{ kind: "success", message: "Saved" }]);
  });

  it("getContext answers tenant, user, locale, theme and extension", async () => {
    const frame = await extFrame(page);
    await frame.evaluate(() => connection);
    expect(await frame.evaluate(() => annexExt.attempt(() => annexExt.api.getContext()))).toEqual({ ok: true, value: { ...CONTEXT, theme: LIGHT } });
  });

  it("getContext carries the user's id, display name and email when the install has user.read", async () => {
    const frame = await extFrame(page);
    await frame.evaluate(() => connection);
    const answer = await frame.evaluate(() => annexExt.attempt(() => annexExt.api.getContext()));
    expect(answer).toMatchObject({ ok: true, value: { user: { id: "user-1", displayName: "Ada Lovelace", email: "ada@example.com" } } });
  });

  it("resize is clamped, and auto-resize follows the content both ways", async () => {
    const frame = await extFrame(page);
    await frame.evaluate(() => connection);
    const height = () => page.evaluate(() => annexHost.describe("a").height);
    const contentHeight = () => frame.evaluate(() => Math.ceil(document.documentElement.getBoundingClientRect().height));
    expect(await eventually(async () => (await height()) === `${await contentHeight()}px`)).toBe(true);

    await frame.evaluate(() => void (document.getElementById("content")!.style.height = "1000px"));
    expect(await eventually(async () => (await height()) === "400px")).toBe(true);
    await frame.evaluate(() => void (document.getElementById("content")!.style.height = "60px"));
    const small = await contentHeight();
    expect(small).toBeLessThan(100);
    expect(await eventually(async () => (await height()) === `${small}px`)).toBe(true);

    expect(await frame.evaluate(() => annexExt.attempt(() => annexExt.api.resize(5)))).toEqual({ ok: true, value: 50 });
    expect(await height()).toBe("50px");
    expect(await frame.evaluate(() => annexExt.attempt(() => annexExt.api.resize(Infinity)))).toMatchObject({ ok: false, code: "E_BRIDGE_ARGS" });
  });

  it("a theme change from the host lands on :root and in the page's listeners", async () => {
    const frame = await extFrame(page);
    await frame.evaluate(() => connection);
    expect(await page.evaluate((theme) => annexHost.setTheme("a", theme), DARK)).toEqual({ ok: true, value: undefined });
    const applied = await frame.evaluate(() => ({
      bg: getComputedStyle(document.documentElement).getPropertyValue("--annex-color-bg").trim(),
      text: getComputedStyle(document.documentElement).getPropertyValue("--annex-color-text").trim(),
      mode: document.documentElement.getAttribute("data-annex-theme"),
      scheme: getComputedStyle(document.documentElement).colorScheme,
      seen: annexExt.themes,
      context: annexExt.api.context.theme,
    }));
    expect(applied).toEqual({ bg: "#0d1117", text: "", mode: "dark", scheme: "dark", seen: ["dark"], context: DARK });
    const refused = await page.evaluate(() => annexHost.setTheme("a", { mode: "dark", tokens: { "--annex-color-bg": "red;background:url(//evil.example)" } }));
    expect(refused).toMatchObject({ ok: false, code: "E_BRIDGE_ARGS" });
  });
});

describe("timeouts", () => {
  it("a page that never says hello fails the mount with E_BRIDGE_TIMEOUT and is removed", async () => {
    await mount(page, "s", mountOptions(servers, { src: servers.extPage("silent.html"), timeoutMs: 300 }));
    expect(await page.evaluate(() => annexHost.ready("s"))).toMatchObject({ ok: false, code: "E_BRIDGE_TIMEOUT" });
    expect(await page.evaluate(() => annexHost.describe("s"))).toMatchObject({ state: "failed", connected: false });
  });

  it("a slow host call fails with E_BRIDGE_TIMEOUT from the host, and the request is aborted", async () => {
    await mount(page, "a", mountOptions(servers, { callTimeoutMs: 300 }));
    const frame = await extFrame(page);
    await frame.evaluate(() => connection);
    const result = await frame.evaluate(() => annexExt.attempt(() => annexExt.api.api.fetch("slow")));
    expect(result).toMatchObject({ ok: false, code: "E_BRIDGE_TIMEOUT" });
    expect(await eventually(async () => servers.aborted.includes("/api/ext/acme.analytics/slow"))).toBe(true);
  });

  it("the client's own call timeout fires when the host is slower", async () => {
    await mount(page, "m", mountOptions(servers, { src: servers.extPage("manual.html"), callTimeoutMs: 5_000 }));
    const frame = await extFrame(page, "manual.html");
    expect(await frame.evaluate(() => annexExt.connect({ callTimeoutMs: 200 }))).toMatchObject({ ok: true });
    const result = await frame.evaluate(() => annexExt.attempt(() => annexExt.api.api.fetch("slow")));
    expect(result).toMatchObject({ ok: false, code: "E_BRIDGE_TIMEOUT", details: { operation: "api.fetch", timeoutMs: 200 } });
  });

  it("a page opened outside a host fails with E_BRIDGE_NO_HOST: top level at once, in a foreign frame after the timeout", async () => {
    const top = await browser.context.newPage();
    await top.goto(servers.extPage("index.html"));
    expect(await top.evaluate(() => connection)).toMatchObject({ ok: false, code: "E_BRIDGE_NO_HOST", details: { reason: "no-parent" } });
    await top.close();

    await page.evaluate((src) => {
      const iframe = document.createElement("iframe");
      iframe.src = `${src}#annex-nonce=${"x".repeat(43)}`;
      document.body.append(iframe);
    }, servers.extPage("manual.html"));
    const frame = await extFrame(page, "manual.html");
    expect(await frame.evaluate(() => annexExt.connect({ timeoutMs: 300 }))).toMatchObject({ ok: false, code: "E_BRIDGE_NO_HOST", details: { reason: "timeout" } });
  });
});

describe("dispose", () => {
  it("aborts host calls, rejects pending theme deliveries, removes the frame and its listeners", async () => {
    await mount(page, "a", mountOptions(servers, { callTimeoutMs: 5_000 }));
    const frame = await extFrame(page);
    await frame.evaluate(() => connection);
    await frame.evaluate(() => {
      annexExt.hangOnTheme = true;
      void annexExt.api.api.fetch("slow").catch(() => undefined);
    });
    expect(await eventually(async () => servers.hits.some((hit) => hit.path === "/api/ext/acme.analytics/slow"))).toBe(true);
    const disposed = await page.evaluate(async (theme) => {
      const pending = annexHost.setTheme("a", theme);
      await new Promise((resolve) => setTimeout(resolve, 100));
      annexHost.dispose("a");
      const rejectedBefore = annexHost.log.rejected.length;
      // With the listener gone, even a hostile hello is not looked at any more.
      window.postMessage({ type: "annex:hello", nonce: "x".repeat(43), versions: { min: 1, max: 1 } }, "*");
      await new Promise((resolve) => setTimeout(resolve, 100));
      return { theme: await pending, described: annexHost.describe("a"), newRejections: annexHost.log.rejected.length - rejectedBefore };
    }, DARK);
    expect(disposed.theme).toMatchObject({ ok: false, code: "E_BRIDGE_DISPOSED" });
    expect(disposed.described).toMatchObject({ state: "disposed", connected: false });
    expect(disposed.newRejections).toBe(0);
    expect(await page.locator("iframe").count()).toBe(0);
    expect(await eventually(async () => servers.aborted.includes("/api/ext/acme.analytics/slow"))).toBe(true);
    expect(page.frames()).toHaveLength(1);
  });
});

describe("grants", () => {
  const { user: _user, ...contextWithoutUser } = CONTEXT;

  it("deny by default: a frame mounted without grants cannot toast (E_BRIDGE_CAPABILITY_DENIED) and never sees the user", async () => {
    const { grants: _grants, ...options } = mountOptions(servers);
    await mount(page, "a", options);
    const frame = await extFrame(page);
    const connected = await frame.evaluate(() => connection);
    expect(connected).toEqual({ ok: true, value: { version: 1, context: { ...contextWithoutUser, theme: LIGHT } } });

    const toast = await frame.evaluate(() =>
      annexExt.attempt(async () => {
        try {
          await annexExt.api.toast({ kind: "success", message: "Saved" });
          return "shown";
        } catch (error) {
          // The page sees a real BridgeError, not plain data.
          return { isBridgeError: error instanceof Error && error.name === "BridgeError", code: (error as { code?: string }).code, details: (error as { details?: unknown }).details };
        }
      }),
    );
    expect(toast).toEqual({ ok: true, value: { isBridgeError: true, code: "E_BRIDGE_CAPABILITY_DENIED", details: { capability: "ui.toast", operation: "toast" } } });
    const context = await frame.evaluate(() => annexExt.attempt(() => annexExt.api.getContext()));
    expect(context).toEqual({ ok: true, value: { ...contextWithoutUser, theme: LIGHT } });
    expect(JSON.stringify(context)).not.toMatch(/user-1|Ada Lovelace|ada@example\.com/);
    expect((await page.evaluate(() => annexHost.log)).toasts).toEqual([]);
  });

  it("enforces each grant on its own, from the install's grants list as the registry stores it", async () => {
    const installGrants = [{ name: "log" }, { name: "http.fetch", hosts: ["api.example.com"] }, { name: "user.read" }, { name: "host:crm.contacts.read", params: { fields: ["name"] } }];
    await mount(page, "a", mountOptions(servers, { grants: installGrants }));
    const frame = await extFrame(page);
    await frame.evaluate(() => connection);
    expect(await frame.evaluate(() => annexExt.attempt(() => annexExt.api.getContext()))).toEqual({ ok: true, value: { ...CONTEXT, theme: LIGHT } });
    expect(await frame.evaluate(() => annexExt.attempt(() => annexExt.api.toast({ kind: "info", message: "hi" })))).toMatchObject({
      ok: false,
      code: "E_BRIDGE_CAPABILITY_DENIED",
    });

    await mount(page, "b", mountOptions(servers, { src: servers.extPage("manual.html"), grants: [{ name: "ui.toast" }] }));
    const other = await extFrame(page, "manual.html");
    const connected = await other.evaluate(() => annexExt.connect({ timeoutMs: 4_000 }));
    expect(connected).toEqual({ ok: true, value: { version: 1, context: { ...contextWithoutUser, theme: LIGHT } } });
    expect(await other.evaluate(() => annexExt.attempt(() => annexExt.api.toast({ kind: "info", message: "hi" })))).toEqual({ ok: true, value: undefined });
    expect((await page.evaluate(() => annexHost.log)).toasts).toEqual([{ kind: "info", message: "hi" }]);
  });
});
