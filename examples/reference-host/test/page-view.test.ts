/**
 * The product's page-view script (src/web/page-view.ts) as a browser runs it, in a vm context with the few
 * globals it touches, beside web-analytics' snippet: it sends what the snippet sends, which the extension's
 * collect endpoint accepts, and only to a collect URL of the page's own origin.
 */
import { webcrypto } from "node:crypto";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { readPageView } from "../../extensions/web-analytics/src/page-view.js";
import { SNIPPET } from "../../extensions/web-analytics/src/snippet.js";
import { PAGE_VIEW_SCRIPT } from "../src/web/page-view.js";

interface Sent {
  url: string;
  body: string;
  via: "beacon" | "fetch";
  init?: Record<string, unknown>;
}

const KEY = "annex.web-analytics.session";

function run(source: string, script: unknown, options: { href: string; referrer?: string; storage?: Map<string, string>; beacon?: boolean; storageThrows?: boolean }): Sent[] {
  const sent: Sent[] = [];
  const storage = options.storage ?? new Map<string, string>();
  runInNewContext(source, {
    document: { currentScript: script, referrer: options.referrer ?? "" },
    location: new URL(options.href),
    sessionStorage: {
      getItem: (key: string) => {
        if (options.storageThrows) throw new Error("SecurityError");
        return storage.get(key) ?? null;
      },
      setItem: (key: string, value: string) => void storage.set(key, value),
    },
    crypto: webcrypto,
    URL,
    JSON,
    Uint8Array,
    Array,
    navigator: options.beacon === false ? {} : { sendBeacon: (url: string, body: string) => (sent.push({ url, body, via: "beacon" }), true) },
    fetch: (url: string, init: Record<string, unknown> & { body: string }) => (sent.push({ url, body: init.body, via: "fetch", init }), Promise.resolve()),
  });
  return sent;
}

const COLLECT = "/ext/acme.web-analytics/public/collect?tenant=acme";
const hostScript = (collect: string | null) => ({ getAttribute: (name: string) => (name === "data-collect" ? collect : null) });
const runHost = (options: Parameters<typeof run>[2], collect: string | null = COLLECT) => run(PAGE_VIEW_SCRIPT, hostScript(collect), options);
const runSnippet = (options: Parameters<typeof run>[2]) => run(SNIPPET, { src: "http://host.test/ext/acme.web-analytics/public/snippet.js?tenant=acme" }, options);

describe("the product's page-view script", () => {
  it("sends to the data-collect URL what web-analytics' snippet sends, which collect accepts", () => {
    for (const options of [
      { href: "http://host.test/apps/acme.ats/jobs?token=secret#top", referrer: "https://news.example.org/story?id=1" },
      { href: "http://host.test/", referrer: "http://host.test/login" },
      { href: "http://host.test/public/acme/acme.greeter" },
    ]) {
      const host = runHost({ ...options, storage: new Map([[KEY, "0123456789abcdef01234567"]]) });
      const snippet = runSnippet({ ...options, storage: new Map([[KEY, "0123456789abcdef01234567"]]) });
      expect(host).toEqual(snippet);
      expect(host).toHaveLength(1);
      expect(host[0]!.url).toBe(`http://host.test${COLLECT}`);
      expect(host[0]!.body).not.toContain("secret");
      expect(readPageView(host[0]!.body)).toEqual(readPageView(snippet[0]!.body));
    }
    const view = readPageView(runHost({ href: "http://host.test/a?b#c", referrer: "https://news.example.org/x" })[0]!.body);
    expect(view).toEqual({ path: "/a", referrer: "news.example.org", session: expect.stringMatching(/^[0-9a-f]{24}$/) });
  });

  it("keeps one session per tab under the snippet's key, and one of its own when storage throws", () => {
    const tab = new Map<string, string>();
    const first = readPageView(runHost({ href: "http://host.test/a", storage: tab })[0]!.body);
    const again = readPageView(runHost({ href: "http://host.test/b", storage: tab })[0]!.body);
    expect(again.session).toBe(first.session);
    expect(tab.get(KEY)).toBe(first.session);
    expect(readPageView(runHost({ href: "http://host.test/", storageThrows: true })[0]!.body).session).toMatch(/^[0-9a-f]{24}$/);
  });

  it("falls back to fetch with keepalive and no credentials", () => {
    const [sent] = runHost({ href: "http://host.test/", beacon: false });
    expect(sent).toMatchObject({ via: "fetch", url: `http://host.test${COLLECT}`, init: { method: "POST", keepalive: true, credentials: "omit" } });
  });

  it("sends nothing without a collect URL, or to another origin", () => {
    expect(runHost({ href: "http://host.test/" }, null)).toEqual([]);
    expect(runHost({ href: "http://host.test/" }, "")).toEqual([]);
    expect(runHost({ href: "http://host.test/" }, "https://elsewhere.example/collect")).toEqual([]);
    expect(runHost({ href: "http://host.test/" }, "//elsewhere.example/collect")).toEqual([]);
    expect(run(PAGE_VIEW_SCRIPT, null, { href: "http://host.test/" })).toEqual([]);
  });
});
