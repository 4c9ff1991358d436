// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { BridgeError } from "../src/errors.js";
import { resolveApiUrl } from "../src/host/api-url.js";
import { buildExtUiSrc } from "../src/host/ext-ui-src.js";
import { parseSafeRelativePath } from "../src/paths.js";

const HASH = `sha256:${"ab".repeat(32)}`;
const base = { base: "https://app.example.com/", extensionId: "acme.analytics", contentHash: HASH };

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(BridgeError);
    return (error as BridgeError).code;
  }
  throw new Error("expected a BridgeError, nothing was thrown");
}

/** Every way we know to step out of a directory, or to be read two ways. */
const HOSTILE_PATHS = [
  "../secrets.html",
  "a/../../b",
  "./index.html",
  "a/./b",
  "%2e%2e/secrets",
  "%2E%2E/secrets",
  ".%2e/x",
  "a%2fb",
  "a%2F..%2Fb",
  "a%5cb",
  "a%252e%252e/b",
  "a%00b",
  "a\\..\\b",
  "a\\b",
  "/etc/passwd",
  "//evil.example/x",
  "https://evil.example/x",
  "javascript:alert(1)",
  "data:text/html,hi",
  "a//b",
  "a\nb",
  "a\tb",
  "a\u0000b",
  "a#frag",
  "caf\u00e9",
  "\uff0e\uff0e/x",
  "a%zz",
  "a%c0%ae/x",
  "a%0a",
];

describe("parseSafeRelativePath", () => {
  it("accepts plain relative paths, a trailing slash and percent-encoded text", () => {
    expect(parseSafeRelativePath("index.html", { field: "path" })).toEqual({ path: "index.html", query: "" });
    expect(parseSafeRelativePath("reports/daily/", { field: "path" })).toEqual({ path: "reports/daily/", query: "" });
    expect(parseSafeRelativePath("caf%C3%A9/x", { field: "path" })).toEqual({ path: "caf%C3%A9/x", query: "" });
    expect(parseSafeRelativePath("stats?from=2024-01-01&to=%2e", { field: "path", allowQuery: true })).toEqual({ path: "stats", query: "?from=2024-01-01&to=%2e" });
  });

  it.each(HOSTILE_PATHS)("refuses %j with E_BRIDGE_PATH", (path) => {
    expect(codeOf(() => parseSafeRelativePath(path, { field: "path", allowQuery: true }))).toBe("E_BRIDGE_PATH");
  });

  it("refuses a query unless allowed, and empty paths unless allowed", () => {
    expect(codeOf(() => parseSafeRelativePath("a?b=1", { field: "path" }))).toBe("E_BRIDGE_PATH");
    expect(codeOf(() => parseSafeRelativePath("", { field: "path" }))).toBe("E_BRIDGE_PATH");
    expect(parseSafeRelativePath("", { field: "path", allowEmpty: true })).toEqual({ path: "", query: "" });
  });

  it("names the field and the offending path in its message", () => {
    try {
      parseSafeRelativePath("../x", { field: "navigate path" });
      expect.unreachable();
    } catch (error) {
      expect((error as BridgeError).message).toContain('navigate path "../x"');
      expect((error as BridgeError).details).toMatchObject({ field: "navigate path", path: "../x" });
    }
  });

  it("refuses non-strings with E_BRIDGE_ARGS", () => {
    expect(codeOf(() => parseSafeRelativePath(42, { field: "path" }))).toBe("E_BRIDGE_ARGS");
    expect(codeOf(() => parseSafeRelativePath({ toString: () => "x" }, { field: "path" }))).toBe("E_BRIDGE_ARGS");
  });
});

describe("buildExtUiSrc", () => {
  it("builds {base}/ext-ui/{id}/{hash}/{path}, keeping a base path prefix and a query", () => {
    expect(buildExtUiSrc({ ...base, path: "ui/index.html" })).toBe(`https://app.example.com/ext-ui/acme.analytics/${HASH}/ui/index.html`);
    expect(buildExtUiSrc({ ...base, base: "https://app.example.com/annex", path: "index.html?view=week" })).toBe(
      `https://app.example.com/annex/ext-ui/acme.analytics/${HASH}/index.html?view=week`,
    );
  });

  it("adds a nonce fragment only when asked, and checks its shape", () => {
    const nonce = "n".repeat(43);
    expect(buildExtUiSrc({ ...base, path: "index.html", nonce })).toBe(`https://app.example.com/ext-ui/acme.analytics/${HASH}/index.html#annex-nonce=${nonce}`);
    expect(codeOf(() => buildExtUiSrc({ ...base, path: "index.html", nonce: "short" }))).toBe("E_BRIDGE_ARGS");
    expect(codeOf(() => buildExtUiSrc({ ...base, path: "index.html", nonce: `${"a".repeat(30)}&x=1` }))).toBe("E_BRIDGE_ARGS");
  });

  it.each(HOSTILE_PATHS)("refuses path %j", (path) => {
    expect(codeOf(() => buildExtUiSrc({ ...base, path }))).toBe("E_BRIDGE_PATH");
  });

  it.each([
    ["Acme.Analytics"],
    ["acme"],
    ["acme.analytics/../x"],
    ["acme..analytics"],
    ["acme.analytics%2f.."],
    ["../acme.analytics"],
    ["acme.-x"],
    [""],
  ])("refuses extension id %j with E_BRIDGE_ARGS", (extensionId) => {
    expect(codeOf(() => buildExtUiSrc({ ...base, extensionId, path: "index.html" }))).toBe("E_BRIDGE_ARGS");
  });

  it.each([["sha256:abc"], [`sha256:${"AB".repeat(32)}`], [`sha512:${"ab".repeat(32)}`], [`${"ab".repeat(32)}`], [`sha256:${"ab".repeat(32)}/..`]])(
    "refuses content hash %j with E_BRIDGE_ARGS",
    (contentHash) => {
      expect(codeOf(() => buildExtUiSrc({ ...base, contentHash, path: "index.html" }))).toBe("E_BRIDGE_ARGS");
    },
  );

  it.each([["not a url"], ["javascript:alert(1)//"], ["ftp://x.example/"], ["https://u:p@app.example.com/"], ["https://app.example.com/?q=1"], ["https://app.example.com/#f"]])(
    "refuses base %j with E_BRIDGE_ARGS",
    (value) => {
      expect(codeOf(() => buildExtUiSrc({ ...base, base: value, path: "index.html" }))).toBe("E_BRIDGE_ARGS");
    },
  );
});

describe("resolveApiUrl (api.fetch scope)", () => {
  const scope = { apiBase: new URL("https://app.example.com"), extensionId: "acme.analytics" };

  it("resolves relative paths under /api/ext/{id}/ and accepts absolute ones already there", () => {
    expect(resolveApiUrl("stats", scope).href).toBe("https://app.example.com/api/ext/acme.analytics/stats");
    expect(resolveApiUrl("stats/daily?from=1", scope).href).toBe("https://app.example.com/api/ext/acme.analytics/stats/daily?from=1");
    expect(resolveApiUrl("/api/ext/acme.analytics/stats", scope).href).toBe("https://app.example.com/api/ext/acme.analytics/stats");
    expect(resolveApiUrl("/api/ext/acme.analytics", scope).href).toBe("https://app.example.com/api/ext/acme.analytics/");
    expect(resolveApiUrl("", scope).href).toBe("https://app.example.com/api/ext/acme.analytics/");
  });

  it("keeps an apiBase path prefix", () => {
    const prefixed = { apiBase: new URL("https://app.example.com/annex/"), extensionId: "acme.analytics" };
    expect(resolveApiUrl("stats", prefixed).href).toBe("https://app.example.com/annex/api/ext/acme.analytics/stats");
    expect(codeOf(() => resolveApiUrl("/api/ext/acme.analytics/stats", prefixed))).toBe("E_BRIDGE_PATH");
  });

  it.each([
    "/api/ext/other.ext/secrets",
    "/api/ext/acme.analytics-evil/x",
    "/api/ext/acme.analyticsx",
    "/api/admin/users",
    "../other.ext/secrets",
    "%2e%2e/other.ext/secrets",
    "/api/ext/acme.analytics/../other.ext/x",
    "/api/ext/acme.analytics/%2e%2e/other.ext/x",
    "/api/ext/acme.analytics/..%2fother.ext",
    "/api/ext/acme.analytics\\..\\other.ext",
    "https://app.example.com/api/ext/acme.analytics/stats",
    "https://evil.example/api/ext/acme.analytics/stats",
    "//evil.example/api/ext/acme.analytics/stats",
    "stats\r\nX-Evil: 1",
    "/API/ext/acme.analytics/stats",
    ...HOSTILE_PATHS,
  ])("refuses %j with E_BRIDGE_PATH before any request", (path) => {
    expect(codeOf(() => resolveApiUrl(path, scope))).toBe("E_BRIDGE_PATH");
  });
});
