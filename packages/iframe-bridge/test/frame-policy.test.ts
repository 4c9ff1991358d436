// @vitest-environment happy-dom
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { BridgeError } from "../src/errors.js";
import { resolveFramePolicy, SANDBOX_EXTRAS_ALLOWLIST } from "../src/host/frame-policy.js";
import { mountExtensionFrame, type MountOptions } from "../src/host/mount.js";
import { CONTEXT, LIGHT, messageEvent } from "./support/bridge-pair.js";
import { serveIframesLocally } from "./support/happy-dom.js";
import { HELLO } from "../src/protocol/messages.js";

const HOST = "https://host.example";
const SRC = "https://ext.example/ext-ui/acme.analytics/sha256-x/index.html";

function errorOf(run: () => unknown): BridgeError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(BridgeError);
    return error as BridgeError;
  }
  throw new Error("expected a BridgeError");
}

describe("resolveFramePolicy", () => {
  it('defaults to sandbox="allow-scripts" with an opaque origin: hello from "null", welcome to "*"', () => {
    const policy = resolveFramePolicy({ src: SRC, extensionOrigin: "opaque", hostOrigin: HOST });
    expect(policy).toMatchObject({ sandbox: "allow-scripts", expectedOrigin: "null", targetOrigin: "*" });
  });

  it("adds allowlisted extras, once each", () => {
    const policy = resolveFramePolicy({ src: SRC, extensionOrigin: "opaque", sandboxExtras: ["allow-forms", "allow-forms", "allow-scripts", "allow-modals"], hostOrigin: HOST });
    expect(policy.sandbox).toBe("allow-scripts allow-forms allow-modals");
  });

  it.each([["allow-top-navigation"], ["allow-top-navigation-by-user-activation"], ["allow-popups-to-escape-sandbox"], ["allow-storage-access-by-user-activation"], ["allow-scripts allow-same-origin"], [""]])(
    "refuses sandbox token %j with E_BRIDGE_SANDBOX",
    (token) => {
      expect(errorOf(() => resolveFramePolicy({ src: SRC, extensionOrigin: "opaque", sandboxExtras: [token], hostOrigin: HOST })).code).toBe("E_BRIDGE_SANDBOX");
    },
  );

  it("refuses allow-same-origin on an opaque frame: it would not be opaque", () => {
    expect(errorOf(() => resolveFramePolicy({ src: SRC, extensionOrigin: "opaque", sandboxExtras: ["allow-same-origin"], hostOrigin: HOST })).code).toBe("E_BRIDGE_SANDBOX");
  });

  it("uses the exact extension origin for both checks when allow-same-origin is set", () => {
    const policy = resolveFramePolicy({ src: SRC, extensionOrigin: "https://ext.example", sandboxExtras: ["allow-same-origin"], hostOrigin: HOST });
    expect(policy).toMatchObject({ sandbox: "allow-scripts allow-same-origin", expectedOrigin: "https://ext.example", targetOrigin: "https://ext.example" });
  });

  it("refuses allow-same-origin when the extension origin is the host's own origin", () => {
    const error = errorOf(() =>
      resolveFramePolicy({ src: `${HOST}/ext-ui/a.b/h/index.html`, extensionOrigin: HOST, sandboxExtras: ["allow-same-origin"], hostOrigin: HOST }),
    );
    expect(error.code).toBe("E_BRIDGE_ORIGIN");
    expect(error.message).toContain("host's own origin");
  });

  it("refuses allow-same-origin on an origin of the host's own site: another port, scheme or subdomain sends the user's cookies to any host path", () => {
    const host = "https://app.example.com";
    for (const origin of ["https://app.example.com:8443", "http://app.example.com", "https://ext.example.com", "https://example.com", "https://ui.app.example.com"]) {
      const error = errorOf(() => resolveFramePolicy({ src: `${origin}/ext-ui/a.b/h/index.html`, extensionOrigin: origin, sandboxExtras: ["allow-same-origin"], hostOrigin: host }));
      expect(error, origin).toMatchObject({ code: "E_BRIDGE_ORIGIN", details: { field: "extensionOrigin" } });
      expect(error.message).toContain("another registrable domain");
    }
    expect(errorOf(() => resolveFramePolicy({ src: "http://127.0.0.1:9/x.html", extensionOrigin: "http://127.0.0.1:9", sandboxExtras: ["allow-same-origin"], hostOrigin: "http://127.0.0.1:8" })).code).toBe("E_BRIDGE_ORIGIN");
    // Another registrable domain, or another address, is another site.
    for (const [origin, hostOrigin] of [["https://example-ext.com", host], ["http://localhost:9", "http://127.0.0.1:8"], ["http://127.0.0.2:9", "http://127.0.0.1:8"]] as const) {
      expect(resolveFramePolicy({ src: `${origin}/x.html`, extensionOrigin: origin, sandboxExtras: ["allow-same-origin"], hostOrigin }).expectedOrigin).toBe(origin);
    }
  });

  // It threw a TypeError (new URL("null") in the same-site check) rather than a typed error.
  it("refuses allow-same-origin from a host document with an opaque origin (E_BRIDGE_ORIGIN); opaque frames are not concerned", () => {
    const error = errorOf(() => resolveFramePolicy({ src: SRC, extensionOrigin: "https://ext.example", sandboxExtras: ["allow-same-origin"], hostOrigin: "null" }));
    expect(error.code).toBe("E_BRIDGE_ORIGIN");
    expect(error.details).toMatchObject({ field: "extensionOrigin", reason: "opaque-host" });
    expect(resolveFramePolicy({ src: SRC, extensionOrigin: "opaque", hostOrigin: "null" }).expectedOrigin).toBe("null");
  });

  it("refuses a real origin without allow-same-origin, a mismatch with src, and non-origins", () => {
    expect(errorOf(() => resolveFramePolicy({ src: SRC, extensionOrigin: "https://ext.example", hostOrigin: HOST })).code).toBe("E_BRIDGE_SANDBOX");
    expect(errorOf(() => resolveFramePolicy({ src: SRC, extensionOrigin: "https://other.example", sandboxExtras: ["allow-same-origin"], hostOrigin: HOST })).code).toBe("E_BRIDGE_ORIGIN");
    for (const origin of ["*", "null", "https://ext.example/", "https://ext.example/path", "ext.example", "javascript:x"]) {
      expect(errorOf(() => resolveFramePolicy({ src: SRC, extensionOrigin: origin, sandboxExtras: ["allow-same-origin"], hostOrigin: HOST })).code).toBe("E_BRIDGE_ORIGIN");
    }
  });

  it.each([["javascript:alert(1)"], ["data:text/html,<script>1</script>"], ["about:blank"], ["/relative.html"], [`${SRC}#annex-nonce=${"a".repeat(43)}`], ["https://u:p@ext.example/x"]])(
    "refuses src %j with E_BRIDGE_ARGS",
    (src) => {
      expect(errorOf(() => resolveFramePolicy({ src, extensionOrigin: "opaque", hostOrigin: HOST })).code).toBe("E_BRIDGE_ARGS");
    },
  );

  it("never lists a top-navigation or sandbox-escaping token", () => {
    expect(SANDBOX_EXTRAS_ALLOWLIST.some((token) => token.includes("top-navigation") || token.includes("escape-sandbox"))).toBe(false);
  });
});

describe("mountExtensionFrame in a DOM", () => {
  const mounted: Array<{ dispose(): void }> = [];
  beforeAll(() => serveIframesLocally());
  afterEach(() => {
    for (const frame of mounted.splice(0)) frame.dispose();
    document.body.innerHTML = "";
  });

  function options(overrides: Partial<MountOptions> = {}): MountOptions {
    const container = document.createElement("div");
    document.body.append(container);
    return { container, src: SRC, extensionOrigin: "opaque", title: "Acme Analytics", context: CONTEXT, theme: LIGHT, timeoutMs: 100, ...overrides };
  }

  it("creates the iframe with sandbox, title, no referrer, an empty allow attribute and a nonce in the fragment", () => {
    const frame = mountExtensionFrame(options({ sandboxExtras: ["allow-forms"] }));
    mounted.push(frame);
    const { iframe } = frame;
    expect(iframe.isConnected).toBe(true);
    expect(iframe.getAttribute("sandbox")).toBe("allow-scripts allow-forms");
    expect(iframe.getAttribute("title")).toBe("Acme Analytics");
    expect(iframe.getAttribute("referrerpolicy")).toBe("no-referrer");
    expect(iframe.getAttribute("allow")).toBe("");
    expect(iframe.src).toMatch(/^https:\/\/ext\.example\/ext-ui\/acme\.analytics\/sha256-x\/index\.html#annex-nonce=[A-Za-z0-9_-]{43}$/);
    expect(frame.state).toBe("connecting");
  });

  it("refuses a container that is not an element with E_BRIDGE_ARGS, and keeps nothing claimed", () => {
    const text = document.createTextNode("not a container");
    document.body.append(text);
    const sameOrigin = (id: string, container: unknown) =>
      options({ container: container as HTMLElement, extensionOrigin: "https://ext.example", sandboxExtras: ["allow-same-origin"], context: { ...CONTEXT, extension: { ...CONTEXT.extension, id } } });
    expect(errorOf(() => mountExtensionFrame(sameOrigin("acme.analytics", text)))).toMatchObject({ code: "E_BRIDGE_ARGS", details: { field: "container" } });
    // An element that refuses the frame when it is inserted (after the origin was claimed).
    const refusing = { nodeType: 1, ownerDocument: document, appendChild: () => { throw new DOMException("cannot hold an iframe", "HierarchyRequestError"); } };
    expect(errorOf(() => mountExtensionFrame(sameOrigin("acme.analytics", refusing)))).toMatchObject({ code: "E_BRIDGE_ARGS", details: { field: "container" } });
    // The origin is free for another extension: the refused mounts held nothing.
    mounted.push(mountExtensionFrame(sameOrigin("other.ext", document.body)));
    text.remove();
  });

  it("lets one extension at a time hold a real origin (allow-same-origin): frames of one origin can script each other", () => {
    const sameOrigin = (id: string) =>
      options({ extensionOrigin: "https://ext.example", sandboxExtras: ["allow-same-origin"], context: { ...CONTEXT, extension: { ...CONTEXT.extension, id } } });
    const first = mountExtensionFrame(sameOrigin("acme.analytics"));
    const again = mountExtensionFrame(sameOrigin("acme.analytics"));
    mounted.push(first, again);
    const error = errorOf(() => mountExtensionFrame(sameOrigin("other.ext")));
    expect(error).toMatchObject({ code: "E_BRIDGE_ORIGIN", details: { origin: "https://ext.example", heldBy: "acme.analytics" } });
    expect(document.querySelectorAll("iframe")).toHaveLength(2);
    // Opaque frames of any extension share nothing and need no claim.
    mounted.push(mountExtensionFrame(options({ context: { ...CONTEXT, extension: { ...CONTEXT.extension, id: "other.ext" } } })));
    first.dispose();
    expect(() => mountExtensionFrame(sameOrigin("other.ext"))).toThrowError(expect.objectContaining({ code: "E_BRIDGE_ORIGIN" }));
    again.dispose();
    mounted.push(mountExtensionFrame(sameOrigin("other.ext")));
  });

  it("mints a new nonce for every mount", () => {
    const a = mountExtensionFrame(options());
    const b = mountExtensionFrame(options());
    mounted.push(a, b);
    expect(a.iframe.src).not.toBe(b.iframe.src);
  });

  it("fails with E_BRIDGE_TIMEOUT and removes the iframe when no hello arrives in time", async () => {
    const frame = mountExtensionFrame(options({ timeoutMs: 30 }));
    await expect(frame.ready).rejects.toMatchObject({ code: "E_BRIDGE_TIMEOUT" });
    expect(frame.state).toBe("failed");
    expect(frame.iframe.isConnected).toBe(false);
  });

  it("dispose before the handshake rejects ready with E_BRIDGE_DISPOSED and removes the iframe", async () => {
    const frame = mountExtensionFrame(options());
    frame.dispose();
    await expect(frame.ready).rejects.toMatchObject({ code: "E_BRIDGE_DISPOSED" });
    expect(frame.state).toBe("disposed");
    expect(frame.iframe.isConnected).toBe(false);
    await expect(frame.setTheme(LIGHT)).rejects.toMatchObject({ code: "E_BRIDGE_DISPOSED" });
    frame.dispose(); // twice is fine
  });

  it("accepts a hello from its own contentWindow with the src nonce, reports a replay, and resizes within bounds", async () => {
    const rejected: BridgeError[] = [];
    const frame = mountExtensionFrame(options({ timeoutMs: 2_000, minHeight: 50, maxHeight: 300, onRejectedMessage: (error) => rejected.push(error) }));
    mounted.push(frame);
    expect(frame.iframe.style.height).toBe("50px");
    const nonce = new URL(frame.iframe.src).hash.slice("#annex-nonce=".length);
    const hello = { type: HELLO, nonce, versions: { min: 1, max: 1 } };
    window.dispatchEvent(messageEvent({ data: hello, origin: "null", source: window }));
    window.dispatchEvent(messageEvent({ data: hello, origin: "null", source: frame.iframe.contentWindow }));
    await expect(frame.ready).resolves.toEqual({ version: 1 });
    expect(frame.state).toBe("ready");
    window.dispatchEvent(messageEvent({ data: hello, origin: "null", source: frame.iframe.contentWindow }));
    expect(rejected.map((error) => [error.code, error.details?.reason])).toEqual([
      ["E_BRIDGE_ORIGIN", "source"],
      ["E_BRIDGE_NONCE", "replay"],
    ]);
    frame.dispose();
    expect(frame.state).toBe("disposed");
    expect(frame.iframe.isConnected).toBe(false);
    // Listeners are gone: a hello after dispose is not even looked at.
    window.dispatchEvent(messageEvent({ data: hello, origin: "null", source: window }));
    expect(rejected).toHaveLength(2);
  });

  it("validates its options with typed errors that name the field", () => {
    expect(errorOf(() => mountExtensionFrame(options({ title: " " }))).details).toMatchObject({ field: "title" });
    expect(errorOf(() => mountExtensionFrame(options({ timeoutMs: -1 }))).details).toMatchObject({ field: "timeoutMs" });
    expect(errorOf(() => mountExtensionFrame(options({ maxHeight: 10, minHeight: 20 }))).details).toMatchObject({ field: "maxHeight" });
    expect(errorOf(() => mountExtensionFrame(options({ apiBase: "nope" }))).details).toMatchObject({ field: "apiBase" });
    expect(errorOf(() => mountExtensionFrame(options({ context: { ...CONTEXT, extension: { id: "Bad", version: "1.0.0" } } }))).code).toBe("E_BRIDGE_ARGS");
    expect(errorOf(() => mountExtensionFrame(options({ theme: { mode: "dark", tokens: { "--annex-x": "url(https://evil.example)" } } }))).code).toBe("E_BRIDGE_ARGS");
    expect(errorOf(() => mountExtensionFrame({ ...options(), container: null as unknown as HTMLElement })).details).toMatchObject({ field: "container" });
    expect(errorOf(() => mountExtensionFrame(options({ grants: "ui.toast" as never }))).details).toMatchObject({ field: "grants" });
    expect(errorOf(() => mountExtensionFrame(options({ grants: ["ui.toast" as never] }))).details).toMatchObject({ field: "grants[0]" });
    expect(errorOf(() => mountExtensionFrame(options({ context: { ...CONTEXT, user: { displayName: "no id" } as never } }))).code).toBe("E_BRIDGE_ARGS");
    expect(document.querySelectorAll("iframe")).toHaveLength(0);
  });

  it.each([
    ["a nested object", { nested: { a: 1 } }],
    ["an array", { list: [1, 2] }],
    ["null", { none: null }],
    ["a key that is no setting key", { "bad key": "x" }],
    ["a string longer than a setting may be", { long: "x".repeat(65_537) }],
    ["more settings than a manifest may declare", Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i]))],
  ])("refuses context.config with %s (E_BRIDGE_ARGS), mounting nothing", (_label, config) => {
    const error = errorOf(() => mountExtensionFrame(options({ context: { ...CONTEXT, config: config as never } })));
    expect(error.code).toBe("E_BRIDGE_ARGS");
    expect(error.message).toMatch(/config/);
    expect(document.querySelectorAll("iframe")).toHaveLength(0);
  });
});
