import type { VerifiedBundle } from "@annex/manifest";
import { describe, expect, it } from "vitest";
import { BundleCache } from "../src/registry/bundle-cache.js";

/** A bundle whose files add up to `bytes`. */
const bundle = (hash: string, bytes = 1) => ({ contentHash: hash, files: new Map([["annex.json", new Uint8Array(bytes)]]) }) as unknown as VerifiedBundle;

describe("BundleCache", () => {
  it("gives a failed load no place, and shares a load in flight", async () => {
    const cache = new BundleCache(2);
    let loads = 0;
    const load = (hash: string) => async () => (loads++, bundle(hash));
    await Promise.all([cache.get("a", load("a")), cache.get("a", load("a"))]);
    expect(loads).toBe(1);
    for (let i = 0; i < 10; i++) await expect(cache.get(`missing${i}`, async () => Promise.reject(new Error("no such hash")))).rejects.toThrow();
    expect(cache.size).toBe(1);
    await cache.get("a", load("a"));
    expect(loads).toBe(1);
  });

  it("protects a bundle used twice from any number of one-off loads", async () => {
    const cache = new BundleCache(4);
    let loads = 0;
    const load = (hash: string) => async () => (loads++, bundle(hash));
    await cache.get("hot", load("hot"));
    await cache.get("hot", load("hot"));
    for (let i = 0; i < 100; i++) await cache.get(`scan${i}`, load(`scan${i}`));
    loads = 0;
    await cache.get("hot", load("hot"));
    expect(loads).toBe(0);
    expect(cache.size).toBe(4);
  });

  it("lets no number of non-promoting uses (strangers asking for UI files by hash) protect a bundle, or push out one in use", async () => {
    const cache = new BundleCache(4);
    let loads = 0;
    const load = (hash: string) => async () => (loads++, bundle(hash));
    await cache.get("hot", load("hot"));
    await cache.get("hot", load("hot"));
    // Old versions, each asked for twice without vouching: they churn probation only.
    for (let i = 0; i < 20; i++) {
      await cache.get(`old${i}`, load(`old${i}`), { promote: false });
      await cache.get(`old${i}`, load(`old${i}`), { promote: false });
    }
    loads = 0;
    await cache.get("hot", load("hot"));
    expect(loads).toBe(0);
    // A non-promoting use of a bundle a promoting use vouched for does protect it (a serving version's UI files).
    await cache.get("served", load("served"));
    await cache.get("served", load("served"), { promote: false });
    for (let i = 0; i < 20; i++) await cache.get(`scan${i}`, load(`scan${i}`), { promote: false });
    loads = 0;
    await cache.get("served", load("served"), { promote: false });
    await cache.get("hot", load("hot"));
    expect(loads).toBe(0);
  });

  it("lets a promoting use that joins a non-promoting load in flight vouch for it", async () => {
    const cache = new BundleCache(4);
    let release!: (value: VerifiedBundle) => void;
    const first = cache.get("a", () => new Promise<VerifiedBundle>((resolve) => (release = resolve)), { promote: false });
    const joined = cache.get("a", async () => bundle("a"));
    release(bundle("a"));
    await Promise.all([first, joined]);
    await cache.get("a", async () => bundle("a"), { promote: false });
    let loads = 0;
    for (let i = 0; i < 10; i++) await cache.get(`scan${i}`, async () => (loads++, bundle(`scan${i}`)), { promote: false });
    loads = 0;
    await cache.get("a", async () => (loads++, bundle("a")));
    expect(loads).toBe(0);
  });

  it("holds at most maxBytes of bundle files, evicting one-off loads first, and serves without keeping a bundle larger than that", async () => {
    const cache = new BundleCache(64, 100);
    let loads = 0;
    const load = (hash: string, bytes: number) => async () => (loads++, bundle(hash, bytes));
    await cache.get("hot", load("hot", 40));
    await cache.get("hot", load("hot", 40));
    // Within the count, past the bytes: the one-off loads go, the bundle in use stays.
    for (let i = 0; i < 5; i++) await cache.get(`big${i}`, load(`big${i}`, 30));
    expect(cache.bytes).toBeLessThanOrEqual(100);
    expect(cache.size).toBe(3);
    loads = 0;
    await cache.get("hot", load("hot", 40));
    expect(loads).toBe(0);
    const huge = await cache.get("huge", load("huge", 101));
    expect(huge.contentHash).toBe("huge");
    expect(cache.bytes).toBeLessThanOrEqual(100);
    await cache.get("huge", load("huge", 101));
    expect(loads).toBe(2);
    cache.delete("hot");
    expect(cache.bytes).toBe(60);
    cache.clear();
    expect([cache.size, cache.bytes]).toEqual([0, 0]);
  });

  it("does not keep a load that finished after clear()", async () => {
    const cache = new BundleCache(4);
    let release!: (value: VerifiedBundle) => void;
    const slow = cache.get("a", () => new Promise<VerifiedBundle>((resolve) => (release = resolve)));
    cache.clear();
    release(bundle("a"));
    await slow;
    expect(cache.size).toBe(0);
  });

  it("works with a capacity of one", async () => {
    const cache = new BundleCache(1);
    await cache.get("a", async () => bundle("a"));
    await cache.get("a", async () => bundle("a"));
    await cache.get("b", async () => bundle("b"));
    expect(cache.size).toBe(1);
  });
});
