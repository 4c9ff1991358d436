// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from "vitest";
import { applyTheme } from "../src/client/apply-theme.js";
import { connect, connectIn, type ClientEnvironment } from "../src/client/connect.js";
import { createNonce } from "../src/host/nonce.js";
import { DARK, LIGHT, messageEvent, tick } from "./support/bridge-pair.js";

/** A frame environment whose parent records hellos and lets the test answer. */
function frameEnv(hash = `#annex-nonce=${createNonce()}`) {
  const self = new EventTarget();
  const hellos: Array<{ message: unknown; targetOrigin: string }> = [];
  const parent = { postMessage: (message: unknown, targetOrigin: string) => void hellos.push({ message, targetOrigin }) };
  const env: ClientEnvironment = { self: self as unknown as ClientEnvironment["self"], parent, hash, forgetNonce: () => undefined, root: null };
  const nonce = new URLSearchParams(hash.slice(1)).get("annex-nonce") ?? "";
  return {
    env,
    hellos,
    nonce,
    answer(data: unknown, { origin = "https://host.example", source = parent as unknown, ports = [] as MessagePort[] } = {}) {
      self.dispatchEvent(messageEvent({ data, origin, source, ports }));
    },
  };
}

describe("connect outside a host", () => {
  it("fails at once with E_BRIDGE_NO_HOST when the page is not framed", async () => {
    // happy-dom's test window is a top-level page: window.parent === window.
    await expect(connect({ timeoutMs: 50 })).rejects.toMatchObject({ name: "BridgeError", code: "E_BRIDGE_NO_HOST", details: { reason: "no-parent" } });
    const { env } = frameEnv();
    await expect(connectIn({ ...env, parent: null })).rejects.toMatchObject({ code: "E_BRIDGE_NO_HOST", details: { reason: "no-parent" } });
  });

  it("fails with E_BRIDGE_NO_HOST when the address has no valid nonce", async () => {
    for (const hash of ["", "#x=1", "#annex-nonce=short", `#annex-nonce=${"a".repeat(30)}%00`]) {
      const { env } = frameEnv(hash);
      await expect(connectIn(env, { timeoutMs: 50 })).rejects.toMatchObject({ code: "E_BRIDGE_NO_HOST", details: { reason: "no-nonce" } });
    }
  });

  it("fails with E_BRIDGE_NO_HOST when nobody answers within timeoutMs, after posting a hello", async () => {
    const frame = frameEnv();
    const error = await connectIn(frame.env, { timeoutMs: 40 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "E_BRIDGE_NO_HOST", details: { reason: "timeout", timeoutMs: 40 } });
    expect((error as Error).message).toContain("open this page through the host application");
    expect(frame.hellos).toEqual([{ message: { type: "annex:hello", nonce: frame.nonce, versions: { min: 1, max: 1 } }, targetOrigin: "*" }]);
  });
});

describe("the welcome", () => {
  it("is ignored from a window other than the parent, with another nonce, without a port, or from an unexpected origin", async () => {
    const frame = frameEnv();
    const { port1, port2 } = new MessageChannel();
    const pending = connectIn(frame.env, { timeoutMs: 120, hostOrigin: "https://host.example" });
    await tick(5);
    const welcome = { type: "annex:welcome", nonce: frame.nonce, version: 1 };
    frame.answer(welcome, { source: { postMessage() {} }, ports: [port2] });
    frame.answer({ ...welcome, nonce: createNonce() }, { ports: [port2] });
    frame.answer(welcome, { ports: [] });
    frame.answer(welcome, { origin: "https://evil.example", ports: [port2] });
    await expect(pending).rejects.toMatchObject({ code: "E_BRIDGE_NO_HOST", details: { reason: "timeout" } });
    expect(frame.hellos[0]?.targetOrigin).toBe("https://host.example");
    port1.close();
    port2.close();
  });

  it("a reject message from the host ends connect with its typed error", async () => {
    const frame = frameEnv();
    const pending = connectIn(frame.env, { timeoutMs: 500 });
    await tick(5);
    frame.answer({ type: "annex:reject", nonce: frame.nonce, error: { code: "E_BRIDGE_VERSION", message: "the host speaks 3–4" } });
    await expect(pending).rejects.toMatchObject({ code: "E_BRIDGE_VERSION", message: "the host speaks 3–4" });
  });

  it("validates connect options", async () => {
    const { env } = frameEnv();
    await expect(connectIn(env, { timeoutMs: 0 })).rejects.toMatchObject({ code: "E_BRIDGE_ARGS", details: { field: "timeoutMs" } });
    await expect(connectIn(env, { callTimeoutMs: 1.5 })).rejects.toMatchObject({ code: "E_BRIDGE_ARGS", details: { field: "callTimeoutMs" } });
    await expect(connectIn(env, { hostOrigin: "https://host.example/" })).rejects.toMatchObject({ code: "E_BRIDGE_ARGS", details: { field: "hostOrigin" } });
    await expect(connectIn(env, { hostOrigin: [] })).rejects.toMatchObject({ code: "E_BRIDGE_ARGS", details: { field: "hostOrigin" } });
  });
});

describe("applyTheme", () => {
  afterEach(() => {
    document.documentElement.removeAttribute("style");
    document.documentElement.removeAttribute("data-annex-theme");
  });

  it("sets tokens and the mode on :root, and removes tokens the next theme lacks", () => {
    const root = document.documentElement;
    applyTheme(LIGHT);
    expect(root.style.getPropertyValue("--annex-color-text")).toBe("#1f2328");
    expect(root.getAttribute("data-annex-theme")).toBe("light");
    expect(root.style.getPropertyValue("color-scheme")).toBe("light");
    applyTheme(DARK);
    expect(root.style.getPropertyValue("--annex-color-text")).toBe("");
    expect(root.style.getPropertyValue("--annex-color-bg")).toBe("#0d1117");
    expect(root.getAttribute("data-annex-theme")).toBe("dark");
  });

  it("leaves properties it did not set alone", () => {
    const root = document.documentElement;
    root.style.setProperty("--annex-local", "1px");
    applyTheme(LIGHT);
    applyTheme(DARK);
    expect(root.style.getPropertyValue("--annex-local")).toBe("1px");
  });

  it.each([
    ["a declaration break", { "--annex-bg": "red; position: fixed" }],
    ["a block", { "--annex-bg": "red } body { display: none" }],
    ["markup", { "--annex-bg": "</style><script>alert(1)</script>" }],
    ["a url()", { "--annex-bg": "URL(https://evil.example/track)" }],
    ["an image-set()", { "--annex-bg": 'image-set("https://evil.example/x.png" 1x)' }],
    ["an escape", { "--annex-bg": "\\75 rl(x)" }],
    ["an @import", { "--annex-bg": "@import 'x'" }],
    ["a bad name", { "--other-bg": "red" }],
    ["an uppercase name", { "--annex-BG": "red" }],
    ["a non-string", { "--annex-bg": 3 }],
  ])("refuses %s with E_BRIDGE_ARGS and applies nothing", (_label, tokens) => {
    expect(() => applyTheme({ mode: "dark", tokens } as never)).toThrow(expect.objectContaining({ code: "E_BRIDGE_ARGS" }));
    expect(document.documentElement.getAttribute("style")).toBeNull();
  });

  it("accepts ordinary values: colours, sizes, font stacks, shadows", () => {
    applyTheme({
      mode: "light",
      tokens: {
        "--annex-font": '"Inter", system-ui, sans-serif',
        "--annex-shadow": "0 1px 2px rgba(0, 0, 0, 0.2)",
        "--annex-radius": "calc(4px + 0.1rem)",
      },
    });
    expect(document.documentElement.style.getPropertyValue("--annex-font")).toBe('"Inter", system-ui, sans-serif');
  });
});

describe("the context a page reads from its host", () => {
  it("drops fields this client does not know (a newer host may say more) and checks the ones it knows as strictly as ever", async () => {
    const { parseContextFromHost } = await import("../src/context.js");
    const base = { tenant: "t1", locale: "en", theme: { mode: "light", tokens: {} }, extension: { id: "acme.x", version: "1.0.0" } };
    expect(parseContextFromHost({ ...base, config: { a: 1 }, somethingNew: { deep: true } })).toEqual({ ...base, config: { a: 1 } });
    expect(() => parseContextFromHost({ ...base, tenant: "" })).toThrow(expect.objectContaining({ code: "E_BRIDGE_ARGS" }));
    expect(() => parseContextFromHost({ ...base, config: { a: [1] } })).toThrow(expect.objectContaining({ code: "E_BRIDGE_ARGS" }));
  });
});
