/** `requests` per `perSeconds`, refilled continuously (a token bucket of `requests` tokens). */
export interface RateLimit {
  requests: number;
  perSeconds: number;
}

export type RateDecision =
  | { ok: true }
  | {
      ok: false;
      /** Whole seconds until one request will be allowed again (the Retry-After value). */
      retryAfterSeconds: number;
      /** True for the first refusal of a bucket in each second: audit that one, not a flood of them. */
      audit: boolean;
      /** Refusals since the last audited one. */
      suppressed: number;
    };

/**
 * Where the gateway keeps its token buckets. The default keeps them in the
 * process (`createMemoryRateLimitStore`), so a limit holds per process; a
 * shared store (Redis: `@annex/bus-redis`) makes N host processes keep one
 * budget. `take` must be atomic per key across every process that shares the
 * store. Both methods may return a promise; a store that fails or does not
 * answer in time makes the gateway refuse with 503 E_STORE_UNAVAILABLE (a
 * limit is never skipped because its store is down).
 */
export interface RateLimitStore {
  /** Takes one token from the bucket `key` (made full on first use), refilled continuously at `limit`. */
  take(key: string, limit: RateLimit): RateDecision | Promise<RateDecision>;
  /** Gives back the token of a request `take` allowed that turned out not to count (never above the bucket's size). */
  refund(key: string, limit: RateLimit): void | Promise<void>;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
  lastAuditAt: number;
  suppressed: number;
}

/**
 * Token buckets by key (install, endpoint class, endpoint, client address),
 * in memory: each gateway process limits on its own, so a limit is per
 * process. The map is bounded: when it is full, the bucket used least
 * recently goes (dropping one is lenient: its key starts full again). The
 * map is kept in order of use, so that costs one step whatever its size: a
 * scan for idle buckets on every new key, once the map was full of fresh
 * ones, cost ~2 ms per new client at 100,000 keys, which a stream of new
 * addresses turned into the host's whole CPU.
 */
export class RateLimiter implements RateLimitStore {
  readonly #buckets = new Map<string, Bucket>();
  readonly #now: () => number;
  readonly #maxBuckets: number;

  constructor(options: { now?: (() => number) | undefined; maxBuckets?: number | undefined } = {}) {
    this.#now = options.now ?? Date.now;
    this.#maxBuckets = options.maxBuckets ?? 100_000;
  }

  get size(): number {
    return this.#buckets.size;
  }

  /** Whether `take` would allow a request now, without using a token. */
  peek(key: string, limit: RateLimit): boolean {
    const bucket = this.#buckets.get(key);
    if (bucket === undefined) return true;
    const perMs = limit.requests / (limit.perSeconds * 1000);
    return Math.min(limit.requests, bucket.tokens + Math.max(0, this.#now() - bucket.updatedAt) * perMs) >= 1;
  }

  /** Gives back the token of a request `take` allowed that turned out not to count (never above the bucket's size). */
  refund(key: string, limit: RateLimit): void {
    const bucket = this.#buckets.get(key);
    if (bucket !== undefined) bucket.tokens = Math.min(limit.requests, bucket.tokens + 1);
  }

  take(key: string, limit: RateLimit): RateDecision {
    const now = this.#now();
    const perMs = limit.requests / (limit.perSeconds * 1000);
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      this.#makeRoom();
      bucket = { tokens: limit.requests, updatedAt: now, lastAuditAt: -Infinity, suppressed: 0 };
      this.#buckets.set(key, bucket);
    } else {
      bucket.tokens = Math.min(limit.requests, bucket.tokens + Math.max(0, now - bucket.updatedAt) * perMs);
      bucket.updatedAt = now;
      // Last in the map's order: the first key is always the least recently used.
      this.#buckets.delete(key);
      this.#buckets.set(key, bucket);
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    const retryAfterSeconds = Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000));
    const audit = now - bucket.lastAuditAt >= 1000;
    const suppressed = bucket.suppressed;
    if (audit) {
      bucket.lastAuditAt = now;
      bucket.suppressed = 0;
    } else bucket.suppressed += 1;
    return { ok: false, retryAfterSeconds, audit, suppressed };
  }

  #makeRoom(): void {
    while (this.#buckets.size >= this.#maxBuckets) {
      const leastRecent = this.#buckets.keys().next().value as string;
      this.#buckets.delete(leastRecent);
    }
  }
}

export interface MemoryRateLimitStoreOptions {
  /** Clock in ms (tests). Default `Date.now`. */
  now?: (() => number) | undefined;
  /** Buckets kept before idle ones are dropped (dropping one is lenient: it starts full again). Default 100 000. */
  maxBuckets?: number | undefined;
}

/** The default rate-limit store: buckets in this process's memory, so each host process limits on its own. */
export function createMemoryRateLimitStore(options: MemoryRateLimitStoreOptions = {}): RateLimitStore {
  return new RateLimiter(options);
}
