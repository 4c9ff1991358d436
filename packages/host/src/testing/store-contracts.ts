import { afterEach, describe, expect, it } from "vitest";
import type { RateLimit, RateLimitStore } from "../gateway/rate-limit.js";
import type { ReplayStore } from "../gateway/replay-store.js";

/**
 * Contract suites of the gateway's shareable stores, run against every
 * implementation (the memory stores here, the Redis ones in
 * `@annex/bus-redis`). Imports vitest: use it from vitest test files only.
 *
 * ```ts
 * rateLimitStoreContract("memory", async ({ now }) => {
 *   const store = createMemoryRateLimitStore({ now });
 *   return { stores: [store, store], dispose: async () => {} };
 * });
 * ```
 */

/** Stores a contract test runs against. */
export interface StoreSubject<S> {
  /**
   * Two stores over one backing, as two host processes would hold them (two
   * clients of one Redis); a store that cannot be shared passes the same
   * instance twice.
   */
  stores: readonly [S, S];
  dispose(): Promise<void>;
}

/** Makes fresh stores (nothing left from another test) that read the given clock in ms. */
export type StoreFactory<S> = (options: { now: () => number }) => Promise<StoreSubject<S>>;

const PER_MINUTE = (requests: number): RateLimit => ({ requests, perSeconds: 60 });

export function rateLimitStoreContract(name: string, factory: StoreFactory<RateLimitStore>): void {
  describe(`RateLimitStore contract: ${name}`, () => {
    let clock = 1_700_000_000_000;
    let subject: StoreSubject<RateLimitStore> | undefined;
    const open = async () => {
      clock = 1_700_000_000_000;
      subject = await factory({ now: () => clock });
      return subject.stores;
    };
    afterEach(async () => {
      await subject?.dispose();
      subject = undefined;
    });

    it("starts a bucket full: `requests` takes pass, the next is refused with the seconds until one token is back", async () => {
      const [store] = await open();
      const limit = PER_MINUTE(3);
      for (let i = 0; i < 3; i++) expect(await store.take("k", limit)).toEqual({ ok: true });
      const refused = await store.take("k", limit);
      expect(refused).toMatchObject({ ok: false, retryAfterSeconds: 20, audit: true, suppressed: 0 });
    });

    it("refills continuously, never above the bucket's size", async () => {
      const [store] = await open();
      const limit = PER_MINUTE(2);
      await store.take("k", limit);
      await store.take("k", limit);
      expect((await store.take("k", limit)).ok).toBe(false);
      clock += 30_000; // one token back
      expect((await store.take("k", limit)).ok).toBe(true);
      expect((await store.take("k", limit)).ok).toBe(false);
      clock += 3_600_000; // an hour idle refills two tokens, not 120
      expect((await store.take("k", limit)).ok).toBe(true);
      expect((await store.take("k", limit)).ok).toBe(true);
      expect((await store.take("k", limit)).ok).toBe(false);
    });

    it("audits the first refusal of a bucket each second and counts the ones in between", async () => {
      const [store] = await open();
      const limit = PER_MINUTE(1);
      await store.take("k", limit);
      expect(await store.take("k", limit)).toMatchObject({ ok: false, audit: true, suppressed: 0 });
      clock += 10;
      expect(await store.take("k", limit)).toMatchObject({ ok: false, audit: false });
      expect(await store.take("k", limit)).toMatchObject({ ok: false, audit: false });
      clock += 1000;
      expect(await store.take("k", limit)).toMatchObject({ ok: false, audit: true, suppressed: 2 });
    });

    it("gives a refunded token back, never above the bucket's size; a refund of an unknown bucket mints nothing", async () => {
      const [store] = await open();
      const limit = PER_MINUTE(2);
      await store.refund("never-taken", limit);
      expect((await store.take("k", limit)).ok).toBe(true);
      expect((await store.take("k", limit)).ok).toBe(true);
      await store.refund("k", limit);
      await store.refund("k", limit);
      await store.refund("k", limit);
      expect((await store.take("k", limit)).ok).toBe(true);
      expect((await store.take("k", limit)).ok).toBe(true);
      expect((await store.take("k", limit)).ok).toBe(false);
      for (let i = 0; i < 2; i++) expect((await store.take("never-taken", limit)).ok).toBe(true);
      expect((await store.take("never-taken", limit)).ok).toBe(false);
    });

    it("keeps keys apart, however alike or hostile they are", async () => {
      const [store] = await open();
      const limit = PER_MINUTE(1);
      const keys = ["a", "a|b", "a|", "|a", "A", "a\nb", "a b", "a*", "a:{x}", "ä", "x".repeat(2000), "", "🙂"];
      for (const key of keys) expect((await store.take(key, limit)).ok, JSON.stringify(key).slice(0, 40)).toBe(true);
      for (const key of keys) expect((await store.take(key, limit)).ok, JSON.stringify(key).slice(0, 40)).toBe(false);
    });

    it("does not mint tokens when the clock goes back", async () => {
      const [store] = await open();
      const limit = PER_MINUTE(1);
      await store.take("k", limit);
      clock -= 3_600_000;
      expect((await store.take("k", limit)).ok).toBe(false);
    });

    it("keeps one budget across two stores taking at once (two host processes)", async () => {
      const [first, second] = await open();
      const limit = { requests: 50, perSeconds: 3600 };
      const decisions = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? first : second).take("shared", limit)));
      expect(decisions.filter((decision) => decision.ok)).toHaveLength(50);
      // What one refunds, the other can take, once.
      await first.refund("shared", limit);
      expect((await second.take("shared", limit)).ok).toBe(true);
      expect((await first.take("shared", limit)).ok).toBe(false);
    });
  });
}

export function replayStoreContract(name: string, factory: StoreFactory<ReplayStore>): void {
  describe(`ReplayStore contract: ${name}`, () => {
    let subject: StoreSubject<ReplayStore> | undefined;
    const open = async () => {
      subject = await factory({ now: () => 1_700_000_000_000 });
      return subject.stores;
    };
    afterEach(async () => {
      await subject?.dispose();
      subject = undefined;
    });

    it("lets a delivery be claimed once per install, until its expiry has passed", async () => {
      const [store] = await open();
      expect(await store.claim("i1", "100|abc", 400, 100)).toBe(true);
      expect(await store.claim("i1", "100|abc", 400, 101)).toBe(false);
      expect(await store.claim("i1", "100|abc", 400, 400)).toBe(false);
      expect(await store.claim("i2", "100|abc", 400, 101)).toBe(true);
      expect(await store.claim("i1", "100|abd", 400, 101)).toBe(true);
      // Past its expiry the timestamp check refuses the delivery anyway; the store may let it through.
      expect(await store.claim("i1", "100|abc", 800, 401)).toBe(true);
      expect(await store.claim("i1", "100|abc", 800, 402)).toBe(false);
    });

    it("lets a released delivery be claimed again (it was refused with 429, its sender retries)", async () => {
      const [store] = await open();
      expect(await store.claim("i1", "d", 400, 100)).toBe(true);
      await store.release("i1", "d");
      expect(await store.claim("i1", "d", 400, 101)).toBe(true);
      expect(await store.claim("i1", "d", 400, 102)).toBe(false);
      await store.release("i1", "never-claimed");
    });

    it("answers a claim sent again by its own claimant as won (a reply lost on the way), another's as a replay", async () => {
      const [store] = await open();
      expect(await store.claim("i1", "d", 400, 100, "request-a")).toBe(true);
      expect(await store.claim("i1", "d", 400, 101, "request-a")).toBe(true);
      expect(await store.claim("i1", "d", 400, 101, "request-b")).toBe(false);
      expect(await store.claim("i1", "d", 400, 101)).toBe(false);
    });

    it("releases a claim only for its own claimant, so a request that gave up cannot free another's", async () => {
      const [store] = await open();
      expect(await store.claim("i1", "d", 400, 100, "request-a")).toBe(true);
      await store.release("i1", "d", "request-b");
      expect(await store.claim("i1", "d", 400, 101, "request-c")).toBe(false);
      await store.release("i1", "d", "request-a");
      expect(await store.claim("i1", "d", 400, 102, "request-c")).toBe(true);
    });

    it("keeps installs and deliveries apart, however alike the ids", async () => {
      const [store] = await open();
      expect(await store.claim("i1|x", "d", 400, 100)).toBe(true);
      expect(await store.claim("i1", "x|d", 400, 100)).toBe(true);
      expect(await store.claim("i1", "x|d", 400, 100)).toBe(false);
    });

    it("gives a delivery claimed by two stores at once to exactly one of them (two host processes)", async () => {
      const [first, second] = await open();
      const claims = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? first : second).claim("i1", "race", 400, 100)));
      expect(claims.filter(Boolean)).toHaveLength(1);
      expect(await second.claim("i1", "race", 400, 101)).toBe(false);
    });
  });
}
