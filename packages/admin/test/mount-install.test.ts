// @vitest-environment happy-dom
import { beforeAll, describe, expect, it } from "vitest";
import { extensionPages, isAdminError, mountInstallFrame } from "../src/index.js";
import { HASH, installOf, manifestOf, versionOf } from "./fixtures.js";
import "./fixtures-dom.js";

const manifest = manifestOf({ capabilities: [{ name: "user.read", reason: "Names the caller." }] });
const install = installOf(versionOf(manifest, 7));

// happy-dom loads no iframe page by default (and says so on stderr): answer every load with an empty page, locally.
beforeAll(() => {
  const settings = (window as unknown as { happyDOM: { settings: Record<string, unknown> & { fetch: Record<string, unknown> } } }).happyDOM.settings;
  settings.disableIframePageLoading = false;
  settings.enableIframePageLoading = true;
  settings.fetch.interceptor = {
    beforeAsyncRequest: async ({ window: win }: { window: typeof globalThis }) => new win.Response("<!doctype html><title>extension</title>", { headers: { "content-type": "text/html" } }),
  };
});

function container(): HTMLElement {
  const div = document.createElement("div");
  document.body.append(div);
  return div;
}

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error("did not throw");
}

const theme = { mode: "light" as const, tokens: { "--annex-color-bg": "#ffffff" } };

describe("mountInstallFrame", () => {
  it("mounts the install's page from its content hash, titled from the manifest, sandboxed", () => {
    const frame = mountInstallFrame({ container: container(), install, manifest, base: "https://app.example.com", user: { id: "u1", displayName: "Ada" }, theme, timeoutMs: 50 });
    try {
      expect(frame.iframe.src).toMatch(new RegExp(`^https://app\\.example\\.com/ext-ui/acme\\.analytics/${HASH(7)}/ui/index\\.html#annex-nonce=`));
      expect(frame.iframe.getAttribute("title")).toBe("Acme Analytics: Dashboard");
      expect(frame.iframe.getAttribute("sandbox")).toBe("allow-scripts");
    } finally {
      frame.dispose();
    }
  });

  it("picks a page by slot or path", () => {
    const frame = mountInstallFrame({ container: container(), install, manifest, base: "https://app.example.com", theme, page: { slot: "settings" }, timeoutMs: 50 });
    expect(frame.iframe.src).toContain("/ui/settings.html#");
    expect(frame.iframe.getAttribute("title")).toBe("Acme Analytics: Settings");
    frame.dispose();
    expect(extensionPages(manifest, "settings").map((page) => page.entry)).toEqual(["ui/settings.html"]);
    expect(extensionPages(manifest).map((page) => page.slot)).toEqual(["app", "settings"]);
  });

  it("refuses an install that does not serve, a manifest of another version, and a page that does not exist", () => {
    const into = container();
    const disabled = errorOf(() => mountInstallFrame({ container: into, install: { ...install, state: "disabled" }, manifest, theme }));
    expect(isAdminError(disabled, "E_ADMIN_NOT_MOUNTABLE")).toBe(true);
    expect((disabled as Error).message).toContain("disabled");
    expect(isAdminError(errorOf(() => mountInstallFrame({ container: into, install: { ...install, version: "2.0.0" }, manifest, theme })), "E_ADMIN_NOT_MOUNTABLE")).toBe(true);
    expect(isAdminError(errorOf(() => mountInstallFrame({ container: into, install, manifest, theme, page: { slot: "admin" } })), "E_ADMIN_NOT_MOUNTABLE")).toBe(true);
    expect(into.querySelector("iframe")).toBeNull();
  });

  it("lets the bridge's own argument errors through", () => {
    expect(errorOf(() => mountInstallFrame({ container: container(), install: { ...install, contentHash: "sha256:nothex" }, manifest, theme, base: "https://app.example.com" }))).toMatchObject({ code: "E_BRIDGE_ARGS" });
  });
});
