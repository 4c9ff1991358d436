import type { VerifiedBundle } from "@annex/manifest";
import { describe, expect, it } from "vitest";
import { BUNDLE_FILE_OVERHEAD, BundleCache, bundleWeight } from "../src/registry/bundle-cache.js";
import { RegistryError } from "../src/registry/errors.js";

/** A bundle that weighs `bytes`: an archive of that size, and no files. */
const bundle = (hash: string, bytes = 1) => ({ contentHash: hash, bytes: new Uint8Array(bytes), files: new Map<string, Uint8Array>() }) as unknown as VerifiedBundle;

/** A bundle of `files` (path to size) read from an archive of `archive` bytes. */
const bundleOf = (hash: string, archive: number, files: Record<string, number>) =>
  ({ contentHash: hash, bytes: new Uint8Array(archive), files: new Map(Object.entries(files).map(([path, size]) => [path, new Uint8Array(size)])) }) as unknown as VerifiedBundle;

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

  it("holds at most maxBytes of bundle weight, evicting one-off loads first, and serves without keeping a bundle larger than that", async () => {
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

  it("weighs a bundle by its files, the archive it keeps, and each file's path and overhead", () => {
    const weight = bundleWeight(bundleOf("a", 1000, { "annex.json": 300, "ui/index.html": 0 }));
    expect(weight).toBe(1000 + 300 + 2 * "annex.json".length + 2 * "ui/index.html".length + 2 * BUNDLE_FILE_OVERHEAD);
  });

  it("does not keep a bundle whose archive is over maxBytes, however small its files (a gzip header may carry megabytes the content hash ignores)", async () => {
    const cache = new BundleCache(64, 1024 * 1024);
    for (let i = 0; i < 4; i++) await cache.get(`padded${i}`, async () => bundleOf(`padded${i}`, 3 * 1024 * 1024, { "annex.json": 500, "server/index.js": 500 }), { promote: false });
    expect([cache.size, cache.bytes]).toEqual([0, 0]);
  });

  it("does not keep a bundle of thousands of empty files under long paths: they weigh their paths and overhead, not nothing", async () => {
    const cache = new BundleCache(64, 1024 * 1024);
    for (let minor = 0; minor < 3; minor++) {
      const files: Record<string, number> = { "annex.json": 500 };
      for (let i = 0; i < 9_000; i++) files[`ui/${"a".repeat(200)}${minor}-${i}.txt`] = 0;
      await cache.get(`empty${minor}`, async () => bundleOf(`empty${minor}`, 100_000, files), { promote: false });
    }
    expect([cache.size, cache.bytes]).toEqual([0, 0]);
  });
});

describe("BundleCache cold loads", () => {
  /** A load that counts how many run at once and ends when `release` is called. */
  function gatedLoads() {
    let running = 0;
    let most = 0;
    let started = 0;
    const waiting: Array<() => void> = [];
    const load = (hash: string) => async () => {
      started += 1;
      running += 1;
      most = Math.max(most, running);
      await new Promise<void>((resolve) => waiting.push(resolve));
      running -= 1;
      return bundle(hash);
    };
    /** Lets every load started so far finish, and waits until the ones they let in have started too. */
    const releaseAll = async () => {
      while (waiting.length > 0) waiting.shift()!();
      await new Promise((resolve) => setTimeout(resolve, 0));
    };
    return { load, releaseAll, stats: () => ({ running, most, started }) };
  }

  it("never runs more than `concurrent` cold loads of distinct bundles at once, and runs them all", async () => {
    const cache = new BundleCache(64, Number.POSITIVE_INFINITY, { concurrent: 3, queued: 100 });
    const { load, releaseAll, stats } = gatedLoads();
    const all = Promise.all(Array.from({ length: 40 }, (_, i) => cache.get(`b${i}`, load(`b${i}`), { promote: false })));
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(stats()).toMatchObject({ running: 3, started: 3 });
    expect(cache.loads).toEqual({ running: 3, waiting: 37 });
    while (stats().started < 40 || stats().running > 0) await releaseAll();
    expect((await all).map((b) => b.contentHash)).toEqual(Array.from({ length: 40 }, (_, i) => `b${i}`));
    expect(stats().most).toBe(3);
    expect(cache.loads).toEqual({ running: 0, waiting: 0 });
  });

  it("shares one load among concurrent uses of the same bundle, even while it waits for a place", async () => {
    const cache = new BundleCache(64, Number.POSITIVE_INFINITY, { concurrent: 1, queued: 1 });
    const { load, releaseAll, stats } = gatedLoads();
    const first = cache.get("a", load("a"), { promote: false });
    // "b" waits for the place "a" holds; 50 more uses of "b" join its load instead of queueing (or being refused).
    const second = Array.from({ length: 50 }, () => cache.get("b", load("b"), { promote: false }));
    expect(cache.holds("b")).toBe(true);
    while (stats().started < 2 || stats().running > 0) await releaseAll();
    await first;
    expect(new Set((await Promise.all(second)).map((b) => b.contentHash))).toEqual(new Set(["b"]));
    expect(stats().started).toBe(2);
  });

  it("refuses a stranger's load at once with E_BUNDLE_LOADS_BUSY when the queue is full, and never an install's", async () => {
    const cache = new BundleCache(64, Number.POSITIVE_INFINITY, { concurrent: 2, queued: 3, retryAfterSeconds: 5 });
    const { load, releaseAll, stats } = gatedLoads();
    const settled = Array.from({ length: 10 }, (_, i) => cache.get(`s${i}`, load(`s${i}`), { promote: false }).then(() => "ok", (error: unknown) => error));
    // Promoting uses (install, upgrade, serving an install) wait whatever the queue holds, and go first.
    const installs = Array.from({ length: 4 }, (_, i) => cache.get(`i${i}`, load(`i${i}`)));
    const refused = (await Promise.race([Promise.all(settled.slice(5)), new Promise((resolve) => setTimeout(resolve, 50, "timeout"))])) as unknown[];
    expect(refused).toHaveLength(5);
    for (const error of refused) {
      expect(error).toBeInstanceOf(RegistryError);
      expect(error).toMatchObject({ code: "E_BUNDLE_LOADS_BUSY", details: { concurrent: 2, queued: 3, retryAfterSeconds: 5 } });
    }
    expect(cache.loads).toEqual({ running: 2, waiting: 7 });
    expect(cache.holds("s9")).toBe(false);
    // Let the two running loads end: the two installs waiting first take their places, ahead of the strangers.
    await releaseAll();
    expect(stats().started).toBe(4);
    while (stats().started < 9 || stats().running > 0) await releaseAll();
    expect(await Promise.all(settled.slice(0, 5))).toEqual(["ok", "ok", "ok", "ok", "ok"]);
    expect((await Promise.all(installs)).map((b) => b.contentHash)).toEqual(["i0", "i1", "i2", "i3"]);
    expect(stats().most).toBe(2);
  });
});
