// @vitest-environment happy-dom
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { BridgeError } from "../src/errors.js";
import type { HostApi } from "../src/host/host-api.js";
import { bodyExceeds } from "../src/protocol/fetch.js";
import { CONTEXT, pairTracker, DARK, HOST_ORIGIN, LIGHT, raw, rawCall, rawHandshake, tick } from "./support/bridge-pair.js";

const { pair, closeAll } = pairTracker();
afterEach(() => {
  closeAll();
  document.documentElement.removeAttribute("style");
  document.documentElement.removeAttribute("data-annex-theme");
});

function jsonResponse(body: unknown, init: ResponseInit = {}): Response {
  return new Response(JSON.stringify(body), { status: 200, ...init, headers: { "content-type": "application/json", ...(init.headers as Record<string, string>) } });
}

describe("handshake", () => {
  it("connects: nonce spent, version agreed, welcome sent to '*' only because the frame is opaque", async () => {
    const p = pair();
    const client = await p.connect();
    await expect(p.session.ready).resolves.toEqual({ version: 1 });
    expect(client.version).toBe(1);
    expect(p.session.state).toBe("ready");
    expect(p.nonceForgotten).toBe(true);
    expect(p.toHost[0]).toMatchObject({ message: { type: "annex:hello", nonce: p.nonce, versions: { min: 1, max: 1 } }, targetOrigin: "*" });
    const welcome = p.toFrame.find((m) => (m.message as { type: string }).type === "annex:welcome");
    expect(welcome).toMatchObject({ message: { type: "annex:welcome", nonce: p.nonce, version: 1 }, targetOrigin: "*" });
    expect(welcome?.transfer).toHaveLength(1);
  });

  it("with a real extension origin, the welcome names that exact origin", async () => {
    const p = pair({ frameOrigin: "https://ext.example" });
    await p.connect();
    const welcome = p.toFrame.find((m) => (m.message as { type: string }).type === "annex:welcome");
    expect(welcome?.targetOrigin).toBe("https://ext.example");
  });

  it("posts the hello to the host origin when the client knows it", async () => {
    const p = pair();
    await p.connect({ hostOrigin: HOST_ORIGIN });
    expect(p.toHost[0]?.targetOrigin).toBe(HOST_ORIGIN);
  });

  it("ignores a hello from another window or origin without burning the nonce, then lets the real frame in", async () => {
    const p = pair();
    const hello = { type: "annex:hello", nonce: p.nonce, versions: { min: 1, max: 1 } };
    p.sendFromFrame(hello, "null", { postMessage() {} });
    p.sendFromFrame(hello, "https://evil.example");
    expect(p.rejected.map((e) => e.details?.reason)).toEqual(["source", "origin"]);
    expect(p.toFrame).toHaveLength(0);
    await p.connect();
    expect(p.session.state).toBe("ready");
  });

  it("refuses a replayed hello after the handshake: no second port", async () => {
    const p = pair();
    await p.connect();
    p.sendFromFrame({ type: "annex:hello", nonce: p.nonce, versions: { min: 1, max: 1 } });
    await tick(5);
    expect(p.rejected.at(-1)).toMatchObject({ code: "E_BRIDGE_NONCE", details: { reason: "replay" } });
    expect(p.toFrame.filter((m) => (m.message as { type: string }).type === "annex:welcome")).toHaveLength(1);
  });

  it("answers a hello with no common version with a reject message and fails", async () => {
    const p = pair();
    p.sendFromFrame({ type: "annex:hello", nonce: p.nonce, versions: { min: 7, max: 9 } });
    await expect(p.session.ready).rejects.toMatchObject({ code: "E_BRIDGE_VERSION" });
    expect(p.session.state).toBe("failed");
    expect(p.toFrame[0]).toMatchObject({ message: { type: "annex:reject", nonce: p.nonce, error: { code: "E_BRIDGE_VERSION" } }, targetOrigin: "*" });
  });

  it("times out with E_BRIDGE_TIMEOUT when no hello comes, and then ignores a late one", async () => {
    const p = pair({ session: { timeoutMs: 20 } });
    await expect(p.session.ready).rejects.toMatchObject({ code: "E_BRIDGE_TIMEOUT" });
    p.sendFromFrame({ type: "annex:hello", nonce: p.nonce, versions: { min: 1, max: 1 } });
    await tick(5);
    expect(p.toFrame).toHaveLength(0);
  });
});

describe("host API", () => {
  it("getContext returns the host context with the current theme; connect applied it", async () => {
    const p = pair({ root: document.documentElement });
    const client = await p.connect();
    expect(client.context).toEqual({ ...CONTEXT, theme: LIGHT });
    await expect(client.getContext()).resolves.toEqual({ ...CONTEXT, theme: LIGHT });
    expect(document.documentElement.style.getPropertyValue("--annex-color-bg")).toBe("#ffffff");
    expect(document.documentElement.getAttribute("data-annex-theme")).toBe("light");
  });

  it("api.fetch calls only the extension's own API, with the session, no redirects, and filtered headers", async () => {
    const fetch = vi.fn<NonNullable<HostApi["fetch"]>>(async () =>
      jsonResponse({ ok: 1 }, { status: 201, headers: { "set-cookie": "s=1", "x-internal": "secret", etag: '"v1"' } }),
    );
    const p = pair({ hostApi: { fetch } });
    const client = await p.connect();
    const response = await client.api.fetch("stats/daily?from=1", { method: "POST", headers: { "Content-Type": "application/json" }, body: '{"a":1}' });
    expect(response).toEqual({ status: 201, statusText: "", headers: { "content-type": "application/json", etag: '"v1"' }, body: '{"ok":1}' });
    expect(fetch).toHaveBeenCalledTimes(1);
    const [url, init] = fetch.mock.calls[0]!;
    expect(url).toBe(`${HOST_ORIGIN}/api/ext/acme.analytics/stats/daily?from=1`);
    expect(init).toMatchObject({ method: "POST", credentials: "same-origin", redirect: "manual", body: '{"a":1}', headers: { "Content-Type": "application/json" } });
    expect(init.signal).toBeInstanceOf(AbortSignal);
  });

  it("api.fetch returns bytes when asked", async () => {
    const p = pair({ hostApi: { fetch: async () => new Response(new Uint8Array([1, 2, 3])) } });
    const client = await p.connect();
    const response = await client.api.fetch("/api/ext/acme.analytics/blob", { responseType: "arrayBuffer" });
    expect(new Uint8Array(response.body as ArrayBuffer)).toEqual(new Uint8Array([1, 2, 3]));
  });

  it.each(["/api/ext/other.ext/secrets", "../other.ext/secrets", "%2e%2e/other.ext", "https://evil.example/x", "//evil.example/x", "a\\..\\..\\other.ext"])(
    "api.fetch refuses %j with E_BRIDGE_PATH and makes no request",
    async (path) => {
      const fetch = vi.fn<NonNullable<HostApi["fetch"]>>(async () => jsonResponse({}));
      const p = pair({ hostApi: { fetch } });
      const client = await p.connect();
      await expect(client.api.fetch(path)).rejects.toMatchObject({ name: "BridgeError", code: "E_BRIDGE_PATH" });
      expect(fetch).not.toHaveBeenCalled();
    },
  );

  it("api.fetch refuses identity headers and bodies on GET before sending", async () => {
    const fetch = vi.fn<NonNullable<HostApi["fetch"]>>(async () => jsonResponse({}));
    const p = pair({ hostApi: { fetch } });
    const client = await p.connect();
    await expect(client.api.fetch("x", { headers: { Cookie: "s=stolen" } })).rejects.toMatchObject({ code: "E_BRIDGE_ARGS" });
    await expect(client.api.fetch("x", { headers: { authorization: "Bearer x" } })).rejects.toMatchObject({ code: "E_BRIDGE_ARGS" });
    await expect(client.api.fetch("x", { headers: { accept: "a\r\nx-evil: 1" } })).rejects.toMatchObject({ code: "E_BRIDGE_ARGS" });
    await expect(client.api.fetch("x", { method: "GET", body: "x" })).rejects.toMatchObject({ code: "E_BRIDGE_ARGS" });
    await expect(client.api.fetch("x", { method: "TRACE" as "GET" })).rejects.toMatchObject({ code: "E_BRIDGE_ARGS" });
    expect(fetch).not.toHaveBeenCalled();
  });

  it("api.fetch refuses a body over maxBodyBytes", async () => {
    const fetch = vi.fn<NonNullable<HostApi["fetch"]>>(async () => jsonResponse({}));
    const p = pair({ hostApi: { fetch }, session: { maxBodyBytes: 1000 } });
    const client = await p.connect();
    await expect(client.api.fetch("x", { method: "POST", body: "é".repeat(600) })).rejects.toMatchObject({ code: "E_BRIDGE_ARGS", details: { maxBytes: 1000 } });
    await expect(client.api.fetch("x", { method: "POST", body: "a".repeat(600) })).resolves.toMatchObject({ status: 200 });
  });

  it("api.fetch measures a Uint8Array body by the buffer a message copies, and the client sends a view's own bytes", async () => {
    // A 16-byte view of a large buffer passed a byteLength check while the message copied the whole buffer
    // into the host page (8 calls over 256 MiB buffers took its renderer to 2.4 GB in Chromium).
    const view = new Uint8Array(new ArrayBuffer(5000), 100, 16).fill(7);
    expect(bodyExceeds(view, 1000)).toBe(true);
    expect(bodyExceeds(view.slice(), 1000)).toBe(false);
    const fetch = vi.fn<NonNullable<HostApi["fetch"]>>(async () => jsonResponse({}));
    const p = pair({ hostApi: { fetch }, session: { maxBodyBytes: 1000 } });
    const client = await p.connect();
    await expect(client.api.fetch("x", { method: "POST", body: view })).resolves.toMatchObject({ status: 200 });
    const sent = fetch.mock.calls[0]![1]!.body as Uint8Array;
    expect([sent.byteLength, sent.buffer.byteLength]).toEqual([16, 16]);
    expect([...sent]).toEqual(new Array(16).fill(7));
  });

  it("api.fetch turns a redirect into E_BRIDGE_DENIED and a network failure into a generic E_BRIDGE_HOST", async () => {
    let mode: "redirect" | "fail" = "redirect";
    const p = pair({
      hostApi: {
        fetch: async () => {
          if (mode === "redirect") return new Response(null, { status: 302, headers: { location: "/api/ext/other.ext/secrets" } });
          throw new TypeError("connect ECONNREFUSED 10.0.0.7:5432 (internal-db)");
        },
      },
    });
    const client = await p.connect();
    await expect(client.api.fetch("go")).rejects.toMatchObject({ code: "E_BRIDGE_DENIED" });
    mode = "fail";
    const error = (await client.api.fetch("go").catch((e: unknown) => e)) as BridgeError;
    expect(error).toBeInstanceOf(BridgeError);
    expect(error.code).toBe("E_BRIDGE_HOST");
    expect(error.message).not.toContain("10.0.0.7");
    expect(error.stack ?? "").not.toContain("internal-db");
  });

  it("navigate passes a checked path to the host, which may refuse; without a handler it is denied", async () => {
    const seen: string[] = [];
    const p = pair({ hostApi: { navigate: (path) => (seen.push(path), path !== "admin") } });
    const client = await p.connect();
    await client.navigate("reports/weekly?tab=2");
    expect(seen).toEqual(["reports/weekly?tab=2"]);
    await expect(client.navigate("admin")).rejects.toMatchObject({ code: "E_BRIDGE_DENIED" });
    await expect(client.navigate("../../admin")).rejects.toMatchObject({ code: "E_BRIDGE_PATH" });
    await expect(client.navigate("https://evil.example/")).rejects.toMatchObject({ code: "E_BRIDGE_PATH" });
    expect(seen).toEqual(["reports/weekly?tab=2", "admin"]);

    const bare = pair();
    await expect((await bare.connect()).navigate("x")).rejects.toMatchObject({ code: "E_BRIDGE_DENIED" });
  });

  it("toast validates, reaches the host's handler, and keeps a handler's BridgeError but hides other errors", async () => {
    const toasts: unknown[] = [];
    let behaviour: "ok" | "typed" | "crash" = "ok";
    const p = pair({
      hostApi: {
        toast: (toast, meta) => {
          if (behaviour === "typed") throw new BridgeError("E_BRIDGE_DENIED", "toasts are muted for this tenant");
          if (behaviour === "crash") throw new Error("TypeError at renderToast (host.js:1234) token=abc");
          toasts.push({ toast, meta });
        },
      },
    });
    const client = await p.connect();
    await client.toast({ kind: "success", message: "Saved" });
    expect(toasts).toEqual([{ toast: { kind: "success", message: "Saved" }, meta: { extensionId: "acme.analytics" } }]);
    await expect(client.toast({ kind: "shout" as "info", message: "x" })).rejects.toMatchObject({ code: "E_BRIDGE_ARGS" });
    await expect(client.toast({ kind: "info", message: "" })).rejects.toMatchObject({ code: "E_BRIDGE_ARGS" });
    // C1 controls too (U+009B is a terminal's CSI, should a host log toasts).
    await expect(client.toast({ kind: "info", message: "\u009b31m red \u0085" })).rejects.toMatchObject({ code: "E_BRIDGE_ARGS" });
    // Bidirectional overrides: "Invoice paid \u202Egnp.exe" reads as "Invoice paid exe.png".
    for (const message of ["Invoice paid \u202Egnp.exe", "a \u2066b\u2069", "\u202Dx"]) {
      await expect(client.toast({ kind: "info", message })).rejects.toMatchObject({ code: "E_BRIDGE_ARGS", message: expect.stringContaining("bidirectional") });
    }
    behaviour = "typed";
    await expect(client.toast({ kind: "info", message: "x" })).rejects.toMatchObject({ code: "E_BRIDGE_DENIED", message: "toasts are muted for this tenant" });
    behaviour = "crash";
    const error = (await client.toast({ kind: "info", message: "x" }).catch((e: unknown) => e)) as BridgeError;
    expect(error.code).toBe("E_BRIDGE_HOST");
    expect(error.message).not.toContain("token=abc");
  });

  it("toast without ui.toast is refused with E_BRIDGE_CAPABILITY_DENIED before the host's handler or validation runs", async () => {
    const toast = vi.fn<NonNullable<HostApi["toast"]>>();
    const p = pair({ hostApi: { toast }, session: { grants: new Set(["user.read"] as const) } });
    const client = await p.connect();
    const error = (await client.toast({ kind: "info", message: "Saved" }).catch((e: unknown) => e)) as BridgeError;
    expect(error).toBeInstanceOf(BridgeError);
    expect(error).toMatchObject({ code: "E_BRIDGE_CAPABILITY_DENIED", details: { capability: "ui.toast", operation: "toast" } });
    expect(error.message).toContain("ui.toast");
    // A raw call with a bad argument gets the same answer: no probing of the host's validation.
    const port = await rawHandshake(pair({ hostApi: { toast }, session: { grants: new Set() } }));
    const answer = (await rawCall(port, { type: "APPLY", path: ["toast"], argumentList: [raw({ kind: "nope" })] })) as { value: unknown };
    expect(answer.value).toMatchObject({ ok: false, error: { code: "E_BRIDGE_CAPABILITY_DENIED" } });
    expect(toast).not.toHaveBeenCalled();
  });

  it("getContext carries the signed-in user only with user.read", async () => {
    const withUser = await pair().connect();
    expect((await withUser.getContext()).user).toEqual({ id: "user-1", displayName: "Ada Lovelace", email: "ada@example.com" });

    const p = pair({ session: { grants: new Set(["ui.toast"] as const) } });
    const client = await p.connect();
    const { user: _user, ...rest } = CONTEXT;
    expect(client.context).toEqual({ ...rest, theme: LIGHT });
    const context = await client.getContext();
    expect(context).toEqual({ ...rest, theme: LIGHT });
    expect("user" in context).toBe(false);
    expect(JSON.stringify(context)).not.toMatch(/user-1|Ada|ada@example/);
  });

  it("getContext carries the install's settings when the host passes them, whatever the grants, as a copy", async () => {
    const config = { companyName: "Acme", openings: 3, remote: true };
    const p = pair({ session: { grants: new Set(), context: { ...CONTEXT, config } } });
    const client = await p.connect();
    expect(client.context.config).toEqual(config);
    await expect(client.getContext()).resolves.toMatchObject({ config });
    // Without config from the host the field is absent, not an empty object.
    expect("config" in (await pair().connect()).context).toBe(false);
  });

  it("resize clamps to [minHeight, maxHeight] and applies the result", async () => {
    const p = pair();
    const client = await p.connect();
    await expect(client.resize(10)).resolves.toBe(40);
    await expect(client.resize(5000)).resolves.toBe(800);
    await expect(client.resize(123.4)).resolves.toBe(123);
    await expect(client.resize(-1)).rejects.toMatchObject({ code: "E_BRIDGE_ARGS" });
    await expect(client.resize(Number.NaN)).rejects.toMatchObject({ code: "E_BRIDGE_ARGS" });
    expect(p.resizes).toEqual([40, 800, 123]);
  });
});

describe("theme changes", () => {
  it("setTheme reaches the page: tokens replaced on :root, listeners called, context updated", async () => {
    const p = pair({ root: document.documentElement });
    const client = await p.connect();
    const seen: string[] = [];
    const stop = client.onThemeChange((theme) => void seen.push(theme.mode));
    await p.session.setTheme(DARK);
    const root = document.documentElement;
    expect(root.style.getPropertyValue("--annex-color-bg")).toBe("#0d1117");
    expect(root.style.getPropertyValue("--annex-space-2")).toBe("8px");
    expect(root.style.getPropertyValue("--annex-color-text")).toBe("");
    expect(root.getAttribute("data-annex-theme")).toBe("dark");
    expect(seen).toEqual(["dark"]);
    expect(client.context.theme).toEqual(DARK);
    await expect(client.getContext()).resolves.toMatchObject({ theme: DARK });
    stop();
    await p.session.setTheme(LIGHT);
    expect(seen).toEqual(["dark"]);
  });

  it("setTheme refuses an unsafe theme with E_BRIDGE_ARGS and keeps the old one", async () => {
    const p = pair();
    await p.connect();
    await expect(p.session.setTheme({ mode: "dark", tokens: { "--annex-bg": "red; background: url(https://evil.example/x)" } })).rejects.toMatchObject({ code: "E_BRIDGE_ARGS" });
    await expect(p.session.setTheme({ mode: "dark", tokens: { color: "red" } })).rejects.toMatchObject({ code: "E_BRIDGE_ARGS" });
    expect(p.session.theme).toEqual(LIGHT);
  });

  it("setTheme times out when the page does not acknowledge in time", async () => {
    const p = pair({ session: { callTimeoutMs: 50 } });
    const client = await p.connect();
    client.onThemeChange(() => new Promise(() => undefined));
    await expect(p.session.setTheme(DARK)).rejects.toMatchObject({ code: "E_BRIDGE_TIMEOUT" });
  });

  // comlink revives a "throw" answer on the theme port into an error, error-shaped or not, built from what the page
  // sent. It reached setTheme's callers as the cause of an E_BRIDGE_PROTOCOL that setTheme's documentation did not list.
  it.each([
    ["an error", { isError: true, value: { message: "chosen by the page", stack: "at evil (https://ext.example/x.js:1:1)", code: "E_BRIDGE_TIMEOUT", details: { leak: "chosen by the page" } } }],
    ["a value that is no error", { isError: false, value: { code: "E_BRIDGE_DISPOSED", message: "chosen by the page" } }],
  ])("setTheme rejects with E_BRIDGE_PROTOCOL, carrying nothing of the page's answer, when the page answers a delivery with %s", async (_label, thrown) => {
    const p = pair();
    const port = await rawHandshake(p);
    const { port1, port2 } = new MessageChannel();
    const subscribed = (await rawCall(port, { type: "APPLY", path: ["onThemeChange"], argumentList: [raw(port2)] }, 150, [port2])) as { value: { ok: boolean } };
    expect(subscribed.value.ok).toBe(true);
    port1.onmessage = (event) => port1.postMessage({ id: (event.data as { id: string }).id, type: "HANDLER", name: "throw", value: thrown });
    const error = await p.session.setTheme(DARK).then(
      () => null,
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(BridgeError);
    expect(error).toMatchObject({ code: "E_BRIDGE_PROTOCOL", details: { operation: "theme delivery", reason: "refused" } });
    expect((error as BridgeError).cause).toBeUndefined();
    expect(JSON.stringify((error as BridgeError).toJSON())).not.toContain("chosen by the page");
    // Stored all the same: the page is told again through getContext().
    expect(p.session.theme).toEqual(DARK);
    port1.close();
    port.close();
  });

  it("setTheme's documented errors (README) are the ones it rejects with", async () => {
    const readme = readFileSync(join(import.meta.dirname, "..", "README.md"), "utf8");
    const entry = readme.slice(readme.indexOf("`setTheme(theme)`"), readme.indexOf("`dispose()`", readme.indexOf("`setTheme(theme)`")));
    const documented = new Set(entry.match(/E_BRIDGE_[A-Z_]+/g));
    // ARGS, TIMEOUT, DISPOSED and PROTOCOL: the tests of this block and of dispose make setTheme reject with each.
    expect(documented).toEqual(new Set(["E_BRIDGE_ARGS", "E_BRIDGE_TIMEOUT", "E_BRIDGE_DISPOSED", "E_BRIDGE_PROTOCOL"]));
  });
});

describe("timeouts and dispose", () => {
  it("a slow host handler ends in E_BRIDGE_TIMEOUT from the host, and its fetch is aborted", async () => {
    let signal: AbortSignal | undefined;
    const p = pair({
      session: { callTimeoutMs: 60 },
      hostApi: {
        fetch: (_url, init) => {
          signal = init.signal ?? undefined;
          return new Promise<Response>(() => undefined);
        },
      },
    });
    const client = await p.connect();
    await expect(client.api.fetch("slow")).rejects.toMatchObject({ code: "E_BRIDGE_TIMEOUT", message: expect.stringContaining("on the host") });
    expect(signal?.aborted).toBe(true);
  });

  it("the client gives up on its own after callTimeoutMs", async () => {
    const p = pair({ session: { callTimeoutMs: 5_000 }, hostApi: { toast: () => new Promise<void>(() => undefined) } });
    const client = await p.connect({ callTimeoutMs: 60 });
    await expect(client.toast({ kind: "info", message: "x" })).rejects.toMatchObject({ code: "E_BRIDGE_TIMEOUT", details: { operation: "toast" } });
  });

  it("dispose aborts host work, rejects pending theme deliveries, and stops answering", async () => {
    let signal: AbortSignal | undefined;
    const p = pair({
      hostApi: {
        fetch: (_url, init) => {
          signal = init.signal ?? undefined;
          return new Promise<Response>(() => undefined);
        },
      },
    });
    const client = await p.connect({ callTimeoutMs: 150 });
    client.onThemeChange(() => new Promise(() => undefined));
    const delivery = p.session.setTheme(DARK);
    const inflight = client.api.fetch("slow");
    await tick(20);
    p.session.dispose();
    await expect(delivery).rejects.toMatchObject({ code: "E_BRIDGE_DISPOSED" });
    expect(signal?.aborted).toBe(true);
    expect(p.session.state).toBe("disposed");
    await expect(inflight).rejects.toMatchObject({ code: "E_BRIDGE_TIMEOUT" });
    await expect(client.getContext()).rejects.toMatchObject({ code: "E_BRIDGE_TIMEOUT" });
    await expect(p.session.setTheme(LIGHT)).rejects.toMatchObject({ code: "E_BRIDGE_DISPOSED" });
  });

  it("tells its owner once when it ends, however it ends: dispose(), a failed handshake, or cutting a flooding frame off", async () => {
    const closed: Array<[string, BridgeError]> = [];
    const disposed = pair({ session: { onClosed: (reason) => void closed.push(["disposed", reason]) } });
    await disposed.connect();
    disposed.session.dispose();
    disposed.session.dispose();

    const timedOut = pair({ session: { timeoutMs: 20, onClosed: (reason) => void closed.push(["timed out", reason]) } });
    await expect(timedOut.session.ready).rejects.toMatchObject({ code: "E_BRIDGE_TIMEOUT" });
    timedOut.session.dispose();

    // The session ends itself here: without the hook, its owner (mount.ts) left the iframe running and its origin claimed.
    const flooding = pair({ session: { maxCallsPerSecond: 10, maxCallBurst: 10, cutOffAfterRefusals: 20, onClosed: (reason) => void closed.push(["cut off", reason]) } });
    const port = await rawHandshake(flooding);
    port.start();
    for (let i = 0; i < 100; i++) port.postMessage({ id: `f${i}`, type: "APPLY", path: ["getContext"], argumentList: [] });
    await tick(100);
    expect(flooding.session.state).toBe("disposed");
    flooding.session.dispose();

    expect(closed.map(([how, reason]) => [how, reason.code])).toEqual([
      ["disposed", "E_BRIDGE_DISPOSED"],
      ["timed out", "E_BRIDGE_TIMEOUT"],
      ["cut off", "E_BRIDGE_RATE_LIMITED"],
    ]);
    expect(closed[2]![1].details).toMatchObject({ cutOff: true });
    port.close();
  });

  it("a throwing onClosed hook does not keep the session from ending", async () => {
    const p = pair({
      session: {
        onClosed: () => {
          throw new Error("owner bug");
        },
      },
    });
    await p.connect();
    expect(() => p.session.dispose()).not.toThrow();
    expect(p.session.state).toBe("disposed");
  });

  it("client.disconnect rejects its pending calls and refuses new ones with E_BRIDGE_DISPOSED", async () => {
    const p = pair({ hostApi: { toast: () => new Promise<void>(() => undefined) } });
    const client = await p.connect();
    const pending = client.toast({ kind: "info", message: "x" });
    client.disconnect();
    await expect(pending).rejects.toMatchObject({ code: "E_BRIDGE_DISPOSED" });
    await expect(client.getContext()).rejects.toMatchObject({ code: "E_BRIDGE_DISPOSED" });
  });

  it("limits calls in flight per frame", async () => {
    const p = pair({ session: { maxConcurrentCalls: 2 }, hostApi: { toast: () => new Promise<void>(() => undefined) } });
    const client = await p.connect({ callTimeoutMs: 200 });
    const stuck = [client.toast({ kind: "info", message: "1" }), client.toast({ kind: "info", message: "2" })];
    await expect(client.toast({ kind: "info", message: "3" })).rejects.toMatchObject({ code: "E_BRIDGE_DENIED" });
    await Promise.allSettled(stuck);
  });
});

describe("a hostile frame on the port", () => {
  it("cannot GET, SET, CONSTRUCT, open endpoints, release the host's port, or smuggle proxies; real calls keep working", async () => {
    // Every refusal reported one by one: more than the default cap of 10 reports a second (rate-limit.test.ts).
    const p = pair({ session: { maxReportsPerSecond: 100 } });
    const port = await rawHandshake(p);
    const hostile = [
      { type: "GET", path: ["__proto__"] },
      { type: "GET", path: ["fetch", "constructor"] },
      { type: "SET", path: ["__proto__", "polluted"], value: raw("yes") },
      { type: "SET", path: ["fetch"], value: raw(1) },
      { type: "APPLY", path: ["constructor", "constructor"], argumentList: [raw("return 1")] },
      { type: "APPLY", path: ["fetch", "call"], argumentList: [] },
      { type: "APPLY", path: ["toString"], argumentList: [] },
      { type: "APPLY", path: ["toast"], argumentList: [{ type: "HANDLER", name: "throw", value: { isError: false, value: 1 } }] },
      { type: "APPLY", path: ["toast"], argumentList: [{ type: "HANDLER", name: "nope", value: 1 }] },
      { type: "APPLY", path: ["toast"], argumentList: "not a list" },
      { type: "APPLY", path: ["fetch"], argumentList: [raw("a"), raw({}), raw(1)] },
      { type: "CONSTRUCT", path: ["fetch"], argumentList: [] },
      { type: "ENDPOINT" },
      { type: "RELEASE" },
    ];
    for (const message of hostile) await expect(rawCall(port, message, 30)).resolves.toBe("no answer");
    expect(p.rejected.filter((e) => e.code === "E_BRIDGE_PROTOCOL")).toHaveLength(hostile.length);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // The port survived RELEASE and the API is intact.
    const answer = (await rawCall(port, { type: "APPLY", path: ["getContext"], argumentList: [] })) as { value: { ok: boolean; value: unknown } };
    expect(answer.value).toEqual({ ok: true, value: { ...CONTEXT, theme: LIGHT } });
    port.close();
  });

  it("refuses a call with more arguments than its method takes, and reports it: no data its method ignores reaches the host", async () => {
    const p = pair({ session: { maxReportsPerSecond: 100 } });
    const port = await rawHandshake(p);
    // One over each method's count (WIRE_MAX_ARGS); a huge ignored argument on getContext was answered ok.
    const overlong: Array<[string, unknown[]]> = [
      ["getContext", [raw(Array.from({ length: 1000 }, (_, i) => ({ i })))]],
      ["resize", [raw(100), raw(1)]],
      ["navigate", [raw("reports"), raw({})]],
      ["toast", [raw({ kind: "info", message: "x" }), raw(1)]],
      ["onThemeChange", [raw(null), raw(null)]],
      ["fetch", [raw("x"), raw({}), raw(1)]],
    ];
    for (const [method, argumentList] of overlong) {
      await expect(rawCall(port, { type: "APPLY", path: [method], argumentList }, 30)).resolves.toBe("no answer");
    }
    const reports = p.rejected.filter((error) => error.code === "E_BRIDGE_PROTOCOL");
    expect(reports.map((error) => error.details?.["reason"])).toEqual([
      "getContext takes at most 0 arguments; the call carried 1",
      "resize takes at most 1 argument; the call carried 2",
      "navigate takes at most 1 argument; the call carried 2",
      "toast takes at most 1 argument; the call carried 2",
      "onThemeChange takes at most 1 argument; the call carried 2",
      "fetch takes at most 2 arguments; the call carried 3",
    ]);
    // Each method's own count still passes.
    const context = (await rawCall(port, { type: "APPLY", path: ["getContext"], argumentList: [] })) as { value: { ok: boolean } };
    expect(context.value.ok).toBe(true);
    const resized = (await rawCall(port, { type: "APPLY", path: ["resize"], argumentList: [raw(100)] })) as { value: { ok: boolean; value: number } };
    expect(resized.value).toEqual({ ok: true, value: 100 });
    port.close();
  });

  it("gets typed errors, not stack traces, for bad arguments", async () => {
    const p = pair();
    const port = await rawHandshake(p);
    const answer = (await rawCall(port, { type: "APPLY", path: ["fetch"], argumentList: [raw("x"), raw({ headers: { cookie: "s=1" } })] })) as {
      type: string;
      value: { ok: boolean; error: { code: string; message: string } };
    };
    expect(answer.type).toBe("RAW");
    expect(answer.value.ok).toBe(false);
    expect(answer.value.error.code).toBe("E_BRIDGE_ARGS");
    expect(answer.value.error.message).toContain("cookie");
    expect(JSON.stringify(answer)).not.toContain("at ");
    port.close();
  });

  it("cannot make the host hold more than a few theme callbacks", async () => {
    const p = pair();
    const port = await rawHandshake(p);
    const codes: unknown[] = [];
    const ours: MessagePort[] = [];
    for (let i = 0; i < 6; i++) {
      const { port1, port2 } = new MessageChannel();
      ours.push(port1);
      const answer = (await rawCall(port, { type: "APPLY", path: ["onThemeChange"], argumentList: [raw(port2)] }, 150, [port2])) as {
        value: { ok: boolean; error?: { code: string } };
      };
      codes.push(answer.value.ok ? "ok" : answer.value.error?.code);
    }
    expect(codes).toEqual(["ok", "ok", "ok", "ok", "E_BRIDGE_DENIED", "E_BRIDGE_DENIED"]);
    const notAPort = (await rawCall(port, { type: "APPLY", path: ["onThemeChange"], argumentList: [raw({ postMessage: "x" })] })) as { value: { error: { code: string } } };
    expect(notAPort.value.error.code).toBe("E_BRIDGE_ARGS");
    for (const own of ours) own.close();
    port.close();
  });
});
