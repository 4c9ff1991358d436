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

  it("cannot download, open dialogs or popups, go fullscreen, submit forms to _top, or write the clipboard", async () => {
    const frame = await connectedFrame();
    const downloads: string[] = [];
    page.on("download", (d) => downloads.push(d.url()));
    const dialogs: string[] = [];
    page.on("dialog", (d) => {
      dialogs.push(d.type());
      void d.dismiss();
    });
    const popups: string[] = [];
    page.context().on("page", (p) => popups.push(p.url()));
    const before = page.url();
    const hitsBefore = servers.hits.length;
    await frame.evaluate(async (third) => {
      const out: Record<string, unknown> = {};
      const a = document.createElement("a");
      a.href = URL.createObjectURL(new Blob(["secret"], { type: "application/octet-stream" }));
      a.download = "x.bin";
      document.body.append(a);
      a.click();
      out.alert = (() => {
        try {
          return String(window.alert("x"));
        } catch (e) {
          return String(e);
        }
      })();
      out.confirm = (() => {
        try {
          return String(window.confirm("x"));
        } catch (e) {
          return String(e);
        }
      })();
      out.fullscreen = await document.documentElement.requestFullscreen().then(
        () => "granted",
        (e) => String(e),
      );
      out.open = String(window.open(`${third}/spoof.html?popup=1`));
      const form = document.createElement("form");
      form.action = `${third}/spoof.html?form=1`;
      form.target = "_top";
      document.body.append(form);
      try {
        form.submit();
        out.formTop = "submitted";
      } catch (e) {
        out.formTop = String(e);
      }
      out.clipboard = await navigator.clipboard?.writeText("x").then(
        () => "written",
        (e) => String(e),
      );
      return out;
    }, servers.thirdOrigin);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(downloads).toEqual([]);
    expect(dialogs).toEqual([]);
    expect(popups).toEqual([]);
    expect(page.url()).toBe(before);
    // Nothing reached the third origin (hits before this test are other tests').
    expect(servers.hits.slice(hitsBefore).filter((h) => h.server === "third")).toEqual([]);
  });

  it("cannot navigate a sibling extension frame, itself or through a popup it opens (allow-popups)", async () => {
    await page.evaluate((input) => annexHost.mount("x", input), mountOptions(servers, { sandboxExtras: ["allow-popups"] }));
    const x = await frameWhere(page, (url) => url.includes("/index.html"));
    expect(await x.evaluate(() => connection)).toMatchObject({ ok: true });
    await page.evaluate((input) => annexHost.mount("y", input), mountOptions(servers, { src: servers.extPage("manual.html") }));
    await frameWhere(page, (url) => url.includes("/manual.html"));
    const target = `${servers.thirdOrigin}/spoof.html`;
    // Whatever either attempt says, what counts is that no frame shows the target.
    await x.evaluate((t) => {
      try {
        (window.parent.frames[1] as Window).location.href = t;
        return "no error";
      } catch (error) {
        return String(error);
      }
    }, target);
    await x.evaluate((t) => {
      const html = `<script>try{opener.parent.frames[1].location.href=${JSON.stringify(t)};document.title="no error"}catch(e){document.title=String(e)}<\/script>`;
      const w = window.open(URL.createObjectURL(new Blob([html], { type: "text/html" })));
      return w ? "opened" : "blocked";
    }, target);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(page.frames().some((f) => f.url().includes("/spoof.html"))).toBe(false);
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
    // The frame is removed once cut off, so its page cannot tell what it was answered (rate-limit.test.ts counts
    // that: every call answered up to the cut-off, none after); the host's side tells what was served.
    void frame
      .evaluate(async () => {
        const port = await annexExt.rawPort();
        for (let i = 0; i < 30_000; i++) {
          port.postMessage({ type: "APPLY", id: `flood-${i}`, path: ["toast"], argumentList: [{ type: "RAW", value: { kind: "info", message: `n${i}` } }] });
        }
      })
      .catch(() => undefined);
    // Refusing a flood one message at a time froze the host page for seconds (a 10-second flood: 16 s of stalls):
    // after 1,000 refusals in a second (5 × the burst) the host closes the frame's port and reads nothing more.
    const cutOff = await eventually(async () => (await rejections()).find((r) => (r.details as { cutOff?: boolean }).cutOff === true) ?? null);
    expect(cutOff).toMatchObject({ code: "E_BRIDGE_RATE_LIMITED", details: { cutOff: true, maxCallBurst: 200 } });
    expect(await page.evaluate(() => annexHost.describe("a"))).toMatchObject({ state: "disposed", connected: false });
    const served = await page.evaluate(() => annexHost.log.toasts.length);
    expect(served).toBeGreaterThanOrEqual(200);
    expect(served).toBeLessThan(400);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await page.evaluate(() => annexHost.log.toasts.length)).toBe(served);
    // Reports stayed capped: at most 10 a second and the summaries, plus the one cut-off report.
    expect((await rejections()).length).toBeLessThanOrEqual(30);
  });

  /** The handshake by hand, then a theme port of the page's own subscribed; kept on globalThis.raw in the frame. */
  async function subscribeRawThemePort(frame: Frame): Promise<boolean | undefined> {
    return frame.evaluate(async () => {
      const port = await annexExt.rawPort();
      const theme = new MessageChannel();
      // Acknowledges theme deliveries as the real client would.
      theme.port1.onmessage = (event) => theme.port1.postMessage({ id: (event.data as { id: string }).id, type: "RAW", value: undefined });
      (globalThis as unknown as { raw: unknown }).raw = { port, theme };
      return new Promise<boolean | undefined>((resolve) => {
        port.onmessage = (event) => resolve((event.data as { value?: { ok?: boolean } }).value?.ok);
        port.postMessage({ type: "APPLY", id: "subscribe", path: ["onThemeChange"], argumentList: [{ type: "RAW", value: theme.port2 }] }, [theme.port2]);
      });
    });
  }

  /** Posts `perTick` messages every task for `ms` on the frame's bridge or theme port; resolves with how many. */
  function floodFrom(frame: Frame, target: "bridge" | "theme", ms: number, perTick = 2_000): Promise<number> {
    return frame.evaluate(
      ({ target, ms, perTick }) =>
        new Promise<number>((resolve) => {
          const { port, theme } = (globalThis as unknown as { raw: { port: MessagePort; theme: MessageChannel } }).raw;
          const end = performance.now() + ms;
          let sent = 0;
          const tick = () => {
            for (let i = 0; i < perTick; i++) {
              const message = { id: `f${sent++}`, type: "RAW", value: "" };
              if (target === "theme") theme.port1.postMessage(message);
              else port.postMessage(message);
            }
            if (performance.now() < end) setTimeout(tick, 0);
            else resolve(sent);
          };
          tick();
        }),
      { target, ms, perTick },
    );
  }

  it("a flood on a theme port the frame handed over spends the frame's budget: it is cut off and taken down as on the bridge port", async () => {
    await mount(page, "a", mountOptions(servers, { src: servers.extPage("manual.html") }));
    const frame = await extFrame(page, "manual.html");
    expect(await subscribeRawThemePort(frame)).toBe(true);
    // The first delivery starts the host's end of the theme port.
    expect(await page.evaluate((t) => annexHost.setTheme("a", t), DARK)).toEqual({ ok: true, value: undefined });
    // Uncounted, this port took 118,000 messages in 6 s while the frame stayed "ready", the host page frozen 1.5 s at a time.
    void floodFrom(frame, "theme", 1_500).catch(() => undefined); // the frame is removed before it returns
    const cutOff = await eventually(async () => (await rejections()).find((r) => (r.details as { cutOff?: boolean }).cutOff === true) ?? null);
    expect(cutOff).toMatchObject({ code: "E_BRIDGE_RATE_LIMITED", details: { cutOff: true } });
    expect(await page.evaluate(() => annexHost.describe("a"))).toMatchObject({ state: "disposed", connected: false });
    expect((await rejections()).length).toBeLessThanOrEqual(30);
  });

  it("a frame that is cut off is taken down: its iframe removed, its page stopped, its real origin free for the next extension", async () => {
    const sameOrigin = { extensionOrigin: servers.extOrigin, sandboxExtras: ["allow-same-origin" as const] };
    await mount(page, "a", mountOptions(servers, { src: servers.extPage("manual.html"), ...sameOrigin }));
    const frame = await extFrame(page, "manual.html");
    expect(await subscribeRawThemePort(frame)).toBe(true);
    // A bare floodFrom() would outlive the frame: the evaluation never returns from a frame that is removed.
    void floodFrom(frame, "bridge", 1_500).catch(() => undefined);
    expect(await eventually(async () => (await page.evaluate(() => annexHost.describe("a").state)) === "disposed")).toBe(true);
    // Left mounted, the page kept running: it could go on posting window messages, which no port's limit sees.
    expect(await eventually(async () => !(await page.evaluate(() => annexHost.describe("a").connected)))).toBe(true);
    expect(page.frames().filter((f) => f.url().includes("/ext-ui/"))).toEqual([]);
    // And its origin's claim went with it: another extension may be mounted on that origin.
    const other = mountOptions(servers, { src: servers.extPage("index.html"), ...sameOrigin });
    other.context = { ...other.context, extension: { id: "other.ext", version: "1.0.0" } };
    expect(await page.evaluate((input) => annexHost.attempt(() => annexHost.mount("b", input)), other)).toMatchObject({ ok: true });
    const next = await extFrame(page, "index.html");
    expect(await next.evaluate(() => connection)).toMatchObject({ ok: true });
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
