/**
 * Hostile cases in real Chromium: forged hellos, a frame that moved to
 * another origin, replayed nonces, escape attempts from the sandbox, raw
 * comlink messages on the port, and api.fetch aimed at another extension.
 */
import type { Frame, Page } from "playwright-core";
import { beforeEach, describe, expect, it } from "vitest";
import { DARK, type Browser, type Servers } from "../support/browser-harness.js";
import { eventually, extFrame, frameWhere, mount, mountOptions, useHostPage } from "./page-helpers.js";

const world = useHostPage();
let browser: Browser;
let servers: Servers;
let page: Page;
beforeEach(() => {
  ({ browser, servers, page } = world);
});

const rejections = () => page.evaluate(() => annexHost.log.rejected);

/** The nonce a not-yet-connected frame was given, read from its own address. */
const nonceOf = (frame: Frame) => frame.evaluate(() => new URLSearchParams(location.hash.slice(1)).get("annex-nonce") ?? "");

async function connectedFrame(): Promise<Frame> {
  await mount(page, "a", mountOptions(servers));
  const frame = await extFrame(page);
  expect(await frame.evaluate(() => connection)).toMatchObject({ ok: true });
  return frame;
}

describe("the handshake under attack", () => {
  it("reports nothing when honest frames on one page say hello: each hello reaches every mounted frame's listener", async () => {
    const first = await connectedFrame();
    await mount(page, "b", mountOptions(servers, { src: servers.extPage("manual.html") }));
    const second = await extFrame(page, "manual.html");
    // The second frame's hello reaches the first one's listener too: it carries another nonce, so it is not the
    // first frame's business (it was reported, blaming an honest neighbour in the first install's audit log).
    expect(await second.evaluate(() => annexExt.connect({ timeoutMs: 4_000 }))).toMatchObject({ ok: true });
    expect(await first.evaluate(() => connection)).toMatchObject({ ok: true });
    expect(await rejections()).toEqual([]);
  });

  it("refuses a hello from another window — a second frame, or the host page itself — even with the right nonce", async () => {
    await mount(page, "a", mountOptions(servers, { src: servers.extPage("manual.html") }));
    const real = await extFrame(page, "manual.html");
    const nonce = await nonceOf(real);
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);

    await page.evaluate((src) => {
      const intruder = document.createElement("iframe");
      intruder.setAttribute("sandbox", "allow-scripts");
      intruder.src = src;
      document.body.append(intruder);
    }, `${servers.extPage("manual.html")}?intruder=1`);
    const intruder = await frameWhere(page, (url) => url.includes("intruder=1"));
    await intruder.evaluate((n) => window.parent.postMessage({ type: "annex:hello", nonce: n, versions: { min: 1, max: 1 } }, "*"), nonce);
    await page.evaluate((n) => window.postMessage({ type: "annex:hello", nonce: n, versions: { min: 1, max: 1 } }, "*"), nonce);

    const refused = await eventually(async () => ((await rejections()).length >= 2 ? rejections() : null));
    expect(refused?.map((r) => [r.code, (r.details as { reason: string }).reason])).toEqual([
      ["E_BRIDGE_ORIGIN", "source"],
      ["E_BRIDGE_ORIGIN", "source"],
    ]);
    expect(await page.evaluate(() => annexHost.describe("a").state)).toBe("connecting");
    // The nonce was not burnt by the forgeries: the real frame still connects.
    expect(await real.evaluate(() => annexExt.connect())).toMatchObject({ ok: true, value: { version: 1 } });
    expect(await page.evaluate(() => annexHost.ready("a"))).toEqual({ ok: true, value: { version: 1 } });
  });

  it("refuses a hello from the right frame once it moved to another origin (spoofed origin)", async () => {
    await mount(page, "a", mountOptions(servers, { src: servers.extPage("manual.html"), extensionOrigin: servers.extOrigin, sandboxExtras: ["allow-same-origin"], timeoutMs: 3_000 }));
    const frame = await extFrame(page, "manual.html");
    // The frame carries its nonce to a page on a third origin, which then says hello from the same window.
    await frame.evaluate((third) => void (location.href = `${third}/spoof.html${location.hash}`), servers.thirdOrigin);
    const spoof = await frameWhere(page, (url) => url.includes("/spoof.html"));
    expect(await spoof.evaluate(() => self.origin)).toBe(servers.thirdOrigin);
    expect(await spoof.evaluate(() => annexExt.connect({ timeoutMs: 500 }))).toMatchObject({ ok: false, code: "E_BRIDGE_NO_HOST", details: { reason: "timeout" } });
    const refused = await eventually(async () => ((await rejections()).length > 0 ? rejections() : null));
    expect(refused).toEqual([
      expect.objectContaining({ code: "E_BRIDGE_ORIGIN", details: { reason: "origin", origin: servers.thirdOrigin, expected: servers.extOrigin } }),
    ]);
    expect(await page.evaluate(() => annexHost.ready("a"))).toMatchObject({ ok: false, code: "E_BRIDGE_TIMEOUT" });
  });

  it("answers a nonce once: a replayed hello gets no second port", async () => {
    await mount(page, "a", mountOptions(servers, { src: servers.extPage("manual.html") }));
    const frame = await extFrame(page, "manual.html");
    const first = await frame.evaluate(async () => {
      const state = { ports: [] as MessagePort[], hello: { type: "annex:hello", nonce: new URLSearchParams(location.hash.slice(1)).get("annex-nonce"), versions: { min: 1, max: 1 } } };
      (globalThis as unknown as { replay: typeof state }).replay = state;
      const welcomed = new Promise<boolean>((resolve) => {
        setTimeout(() => resolve(false), 5_000);
        window.addEventListener("message", (event) => {
          if ((event.data as { type?: string })?.type !== "annex:welcome") return;
          state.ports.push(event.ports[0]!);
          resolve(true);
        });
      });
      window.parent.postMessage(state.hello, "*");
      return welcomed;
    });
    expect(first).toBe(true);
    await frame.evaluate(() => {
      const { hello } = (globalThis as unknown as { replay: { hello: unknown } }).replay;
      window.parent.postMessage(hello, "*");
      window.parent.postMessage(hello, "*");
    });
    const refused = await eventually(async () => ((await rejections()).length >= 2 ? rejections() : null));
    expect(refused?.map((r) => [r.code, (r.details as { reason: string }).reason])).toEqual([
      ["E_BRIDGE_NONCE", "replay"],
      ["E_BRIDGE_NONCE", "replay"],
    ]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await frame.evaluate(() => (globalThis as unknown as { replay: { ports: unknown[] } }).replay.ports.length)).toBe(1);
  });
});

describe("escaping the sandbox", () => {
  it("cannot navigate the top window", async () => {
    const frame = await connectedFrame();
    const before = page.url();
    const attempts = await frame.evaluate(async () => ({
      assign: await annexExt.attempt(() => {
        window.top!.location.href = "http://127.0.0.1:9/evil";
        return "no error";
      }),
      replace: await annexExt.attempt(() => {
        window.top!.location.replace("http://127.0.0.1:9/evil");
        return "no error";
      }),
      open: await annexExt.attempt(() => window.open("http://127.0.0.1:9/evil", "_top") === null),
    }));
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(page.url()).toBe(before);
    expect(await page.evaluate(() => typeof annexHost)).toBe("object");
    expect(attempts).toEqual({
      assign: expect.objectContaining({ ok: false, name: "SecurityError" }),
      replace: expect.objectContaining({ ok: false, name: "SecurityError" }),
      open: { ok: true, value: true },
    });
  });

  it("cannot read the host's document, globals, location, cookies or storage", async () => {
    const frame = await connectedFrame();
    const probes = await frame.evaluate(async () => ({
      parentDocument: await annexExt.attempt(() => window.parent.document.title),
      topDocument: await annexExt.attempt(() => window.top!.document.title),
      parentGlobal: await annexExt.attempt(() => (window.parent as unknown as { annexHost: { log: unknown } }).annexHost.log),
      parentHref: await annexExt.attempt(() => window.parent.location.href),
      cookie: await annexExt.attempt(() => document.cookie),
      storage: await annexExt.attempt(() => localStorage.length),
    }));
    for (const [probe, result] of Object.entries(probes)) {
      expect({ probe, result }).toMatchObject({ probe, result: { ok: false, name: "SecurityError" } });
    }
  });

  it("calling the host API directly gets neither the session cookie nor the answer", async () => {
    const frame = await connectedFrame();
    const direct = await frame.evaluate((origin) => annexExt.attempt(async () => (await fetch(`${origin}/api/ext/acme.analytics/echo?direct=1`, { credentials: "include" })).text()), servers.hostOrigin);
    expect(direct.ok).toBe(false);
    // The request leaves (CORS reads are blocked, not sends) but without the SameSite session cookie.
    const hits = servers.hits.filter((hit) => hit.path.includes("direct=1"));
    expect(hits).toHaveLength(1);
    expect(hits[0]).toMatchObject({ cookie: undefined, origin: "null" });
  });
});

describe("the port under attack", () => {
  it("drops raw comlink GET, SET, constructor calls and RELEASE; the host realm stays clean and the API keeps working", async () => {
    await mount(page, "a", mountOptions(servers, { src: servers.extPage("manual.html") }));
    const frame = await extFrame(page, "manual.html");
    const answers = await frame.evaluate(async () => {
      const port = await annexExt.rawPort();
      port.start();
      const call = (message: Record<string, unknown>, waitMs = 300) =>
        new Promise((resolve) => {
          const id = Math.random().toString(36).slice(2);
          const timer = setTimeout(() => resolve("no answer"), waitMs);
          port.addEventListener("message", function listener(event) {
            if ((event.data as { id?: string }).id !== id) return;
            clearTimeout(timer);
            port.removeEventListener("message", listener);
            resolve(event.data);
          });
          port.postMessage({ ...message, id });
        });
      return {
        set: await call({ type: "SET", path: ["__proto__", "polluted"], value: { type: "RAW", value: "yes" } }),
        setMethod: await call({ type: "SET", path: ["fetch"], value: { type: "RAW", value: 1 } }),
        get: await call({ type: "GET", path: ["fetch", "constructor"] }),
        fn: await call({ type: "APPLY", path: ["constructor", "constructor"], argumentList: [{ type: "RAW", value: "return document.cookie" }] }),
        release: await call({ type: "RELEASE" }),
        context: await call({ type: "APPLY", path: ["getContext"], argumentList: [] }, 5_000),
      };
    });
    expect(answers).toMatchObject({ set: "no answer", setMethod: "no answer", get: "no answer", fn: "no answer", release: "no answer" });
    expect(answers.context).toMatchObject({ type: "RAW", value: { ok: true, value: { tenant: "tenant-1" } } });
    expect(await page.evaluate(() => ({} as Record<string, unknown>).polluted)).toBeUndefined();
    expect((await eventually(async () => ((await rejections()).length >= 5 ? rejections() : null)))?.filter((r) => r.code === "E_BRIDGE_PROTOCOL")).toHaveLength(5);
  });

  it("a forged answer to a theme delivery rejects setTheme with E_BRIDGE_PROTOCOL, carrying nothing the page chose", async () => {
    await mount(page, "a", mountOptions(servers, { src: servers.extPage("manual.html") }));
    const frame = await extFrame(page, "manual.html");
    const subscribed = await frame.evaluate(async () => {
      const port = await annexExt.rawPort();
      const theme = new MessageChannel();
      // comlink revives a "throw" answer on the host's side into an error made of whatever the page sent.
      theme.port1.onmessage = (event) =>
        theme.port1.postMessage({
          id: (event.data as { id: string }).id,
          type: "HANDLER",
          name: "throw",
          value: { isError: true, value: { message: "chosen by the page", stack: "at evil (chosen by the page)", code: "E_BRIDGE_TIMEOUT" } },
        });
      (globalThis as unknown as { keep: unknown }).keep = theme;
      return new Promise((resolve) => {
        port.onmessage = (event) => resolve((event.data as { value?: { ok?: boolean } }).value?.ok);
        port.postMessage({ type: "APPLY", id: "subscribe", path: ["onThemeChange"], argumentList: [{ type: "RAW", value: theme.port2 }] }, [theme.port2]);
      });
    });
    expect(subscribed).toBe(true);
    const outcome = await page.evaluate((theme) => annexHost.setTheme("a", theme), DARK);
    expect(outcome).toMatchObject({ ok: false, name: "BridgeError", code: "E_BRIDGE_PROTOCOL", details: { operation: "theme delivery", reason: "refused" } });
    expect(JSON.stringify(outcome)).not.toContain("chosen by the page");
  });

  it("a flood of calls on the port is refused past the frame's rate, then cut off: its connection closed, one report, few reach a handler", async () => {
    await mount(page, "a", mountOptions(servers, { src: servers.extPage("manual.html") }));
    const frame = await extFrame(page, "manual.html");
    const flood = await frame.evaluate(async () => {
      const port = await annexExt.rawPort();
      const codes = new Map<string, number>();
      let answers = 0;
      port.onmessage = (event) => {
        answers++;
        const value = (event.data as { value?: { ok?: boolean; error?: { code?: string } } }).value;
        const code = value?.ok === true ? "ok" : (value?.error?.code ?? "other");
        codes.set(code, (codes.get(code) ?? 0) + 1);
      };
      for (let i = 0; i < 30_000; i++) {
        port.postMessage({ type: "APPLY", id: `flood-${i}`, path: ["toast"], argumentList: [{ type: "RAW", value: { kind: "info", message: `n${i}` } }] });
      }
      // Answers stop once the host closed the connection; wait until none came for a while.
      let seen = -1;
      while (seen !== answers) {
        seen = answers;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      return { answers, codes: Object.fromEntries(codes) };
    });
    // Refusing a flood one message at a time froze the host page for seconds (a 10-second flood: 16 s of stalls):
    // after 1,000 refusals in a second (5 × the burst) the host closes the frame's port and reads nothing more.
    const served = flood.codes["ok"] ?? 0;
    expect(served).toBeGreaterThanOrEqual(200);
    expect(served).toBeLessThan(400);
    expect(flood.codes["E_BRIDGE_RATE_LIMITED"]).toBe(999);
    expect(flood.answers).toBe(served + 999);
    expect(await page.evaluate(() => annexHost.log.toasts.length)).toBe(served);
    expect(await page.evaluate(() => annexHost.describe("a").state)).toBe("disposed");
    const cutOff = await eventually(async () => (await rejections()).find((r) => (r.details as { cutOff?: boolean }).cutOff === true) ?? null);
    expect(cutOff).toMatchObject({ code: "E_BRIDGE_RATE_LIMITED", details: { cutOff: true, maxCallBurst: 200 } });
    // Reports stayed capped: at most 10 a second and the summaries, plus the one cut-off report.
    expect((await rejections()).length).toBeLessThanOrEqual(30);
  });

  it("api.fetch cannot reach another extension's API by any spelling, nor by redirect", async () => {
    const frame = await connectedFrame();
    const attempts = [
      "/api/ext/other.ext/secrets",
      "../other.ext/secrets",
      "%2e%2e/other.ext/secrets",
      "..%2fother.ext/secrets",
      "stats/..\\..\\other.ext/secrets",
      `${servers.hostOrigin}/api/ext/other.ext/secrets`,
      `//${new URL(servers.hostOrigin).host}/api/ext/other.ext/secrets`,
      "/api/ext/acme.analytics/../other.ext/secrets",
    ];
    const results = await frame.evaluate(
      (paths) => Promise.all(paths.map((path) => annexExt.attempt(() => annexExt.api.api.fetch(path)))),
      attempts,
    );
    for (const [i, result] of results.entries()) expect({ path: attempts[i], result }).toMatchObject({ result: { ok: false, code: "E_BRIDGE_PATH" } });
    const redirected = await frame.evaluate(() => annexExt.attempt(() => annexExt.api.api.fetch("redirect")));
    expect(redirected).toMatchObject({ ok: false, code: "E_BRIDGE_DENIED" });
    expect(servers.hits.some((hit) => hit.path === "/api/ext/acme.analytics/redirect")).toBe(true);
    expect(servers.hits.filter((hit) => hit.path.startsWith("/api/ext/other.ext"))).toEqual([]);
  });
});
