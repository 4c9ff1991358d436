/**
 * The snippet as a browser runs it, in a vm context with the few globals it
 * touches: what it sends, where, and what it keeps.
 */
import { webcrypto } from "node:crypto";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { readPageView } from "../src/page-view.js";
import { SNIPPET } from "../src/snippet.js";

interface Sent {
  url: string;
  body: string;
  via: "beacon" | "fetch";
}

function runSnippet(options: { src: string | null; href: string; referrer?: string; storage?: Map<string, string>; beacon?: boolean; storageThrows?: boolean }): Sent[] {
  const sent: Sent[] = [];
  const location = new URL(options.href);
  const storage = options.storage ?? new Map<string, string>();
  const sessionStorage = {
    getItem: (key: string) => {
      if (options.storageThrows) throw new Error("SecurityError");
      return storage.get(key) ?? null;
    },
    setItem: (key: string, value: string) => void storage.set(key, value),
  };
  runInNewContext(SNIPPET, {
    document: { currentScript: options.src === null ? null : { src: options.src }, referrer: options.referrer ?? "" },
    location,
    sessionStorage,
    crypto: webcrypto,
    URL,
    JSON,
    Uint8Array,
    Array,
    navigator: options.beacon === false ? {} : { sendBeacon: (url: string, body: string) => (sent.push({ url, body, via: "beacon" }), true) },
    fetch: (url: string, init: { body: string }) => (sent.push({ url, body: init.body, via: "fetch" }), Promise.resolve()),
  });
  return sent;
}

const SRC = "https://shop.example/ext/acme.web-analytics/public/snippet.js?tenant=acme";

describe("the snippet", () => {
  it("sends the page's path only (no query, no fragment) to collect, with the script's own query", () => {
    const [sent] = runSnippet({ src: SRC, href: "https://shop.example/orders/42?token=secret#top" });
    expect(sent!.url).toBe("https://shop.example/ext/acme.web-analytics/public/collect?tenant=acme");
    expect(sent!.via).toBe("beacon");
    const view = readPageView(sent!.body);
    expect(view.path).toBe("/orders/42");
    expect(sent!.body).not.toContain("secret");
  });

  it("keeps an external referrer's host only, and no same-site referrer", () => {
    const external = readPageView(runSnippet({ src: SRC, href: "https://shop.example/", referrer: "https://news.example.org/story?id=1" })[0]!.body);
    expect(external.referrer).toBe("news.example.org");
    const internal = readPageView(runSnippet({ src: SRC, href: "https://shop.example/b", referrer: "https://shop.example/a" })[0]!.body);
    expect(internal.referrer).toBeNull();
  });

  it("keeps one random session per tab (sessionStorage), a new one per tab", () => {
    const tab = new Map<string, string>();
    const first = readPageView(runSnippet({ src: SRC, href: "https://shop.example/a", storage: tab })[0]!.body);
    const again = readPageView(runSnippet({ src: SRC, href: "https://shop.example/b", storage: tab })[0]!.body);
    const other = readPageView(runSnippet({ src: SRC, href: "https://shop.example/a" })[0]!.body);
    expect(again.session).toBe(first.session);
    expect(other.session).not.toBe(first.session);
    expect(first.session).toMatch(/^[0-9a-f]{24}$/);
  });

  it("still sends without storage (private modes that throw), with a session of its own", () => {
    const [sent] = runSnippet({ src: SRC, href: "https://shop.example/", storageThrows: true });
    expect(readPageView(sent!.body).session).toMatch(/^[0-9a-f]{24}$/);
  });

  it("falls back to fetch with keepalive when sendBeacon is missing", () => {
    const [sent] = runSnippet({ src: SRC, href: "https://shop.example/", beacon: false });
    expect(sent!.via).toBe("fetch");
  });

  it("does nothing when it cannot tell where it was loaded from", () => {
    expect(runSnippet({ src: null, href: "https://shop.example/" })).toEqual([]);
  });
});
