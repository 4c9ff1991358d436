/**
 * Webhook deliveries already accepted, per install, so that a captured
 * delivery cannot be sent again within its timestamp's skew window. The
 * default keeps them in the process (`createMemoryReplayStore`), so a replay
 * sent to another host process would pass; a shared store (Redis:
 * `@annex/bus-redis`) closes that. `claim` must be atomic across every process
 * that shares the store: of two processes claiming one delivery at once,
 * exactly one wins. Both methods may return a promise; a store that fails or
 * does not answer in time makes the gateway refuse with 503 E_STORE_UNAVAILABLE.
 */
export interface ReplayStore {
  /**
   * Records a delivery of an install until `expiresAtSeconds` (after which the
   * timestamp check refuses it anyway); false when it was recorded before and
   * `nowSeconds` is not past that record's expiry. `claimant` names the one
   * request claiming (the gateway gives a random one per request): a claim
   * recorded under the same claimant answers true again, so a call retried
   * after its answer was lost (a client that sends a command again on
   * reconnect) does not find its own claim and refuse the delivery it made.
   */
  claim(installId: string, delivery: string, expiresAtSeconds: number, nowSeconds: number, claimant?: string): boolean | Promise<boolean>;
  /**
   * Forgets a claimed delivery that was not accepted after all (refused with 429, a store that did not answer in
   * time, a handler that failed before any effect): its sender may send it again. With `claimant`, only a claim
   * recorded under it is forgotten, never another request's.
   */
  release(installId: string, delivery: string, claimant?: string): void | Promise<void>;
}

/**
 * Deliveries already accepted, per install, keyed by `deliveryKey` (never by
 * the signature: a delivery signed with two secrets during a rotation could
 * otherwise be replayed once more with the other one), until their timestamp
 * leaves the skew window (after which the timestamp check refuses them
 * anyway). Only correctly signed deliveries enter, so an attacker cannot
 * flood it; when it is full the oldest entries go first. In memory: one per
 * gateway process.
 */
export class ReplayCache implements ReplayStore {
  /** Expiry (s) and claimant of each accepted delivery. */
  readonly #seen = new Map<string, { expires: number; claimant: string | undefined }>();
  readonly #maxEntries: number;

  constructor(maxEntries = 100_000) {
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#seen.size;
  }

  /** Whether a delivery was accepted before and is still within its window. */
  seen(installId: string, delivery: string, nowSeconds: number): boolean {
    const entry = this.#seen.get(entryKey(installId, delivery));
    return entry !== undefined && entry.expires >= nowSeconds;
  }

  /** Records a delivery; false when it was seen before (under another claimant). */
  remember(installId: string, delivery: string, expiresAtSeconds: number, nowSeconds: number, claimant?: string): boolean {
    const key = entryKey(installId, delivery);
    const entry = this.#seen.get(key);
    if (entry !== undefined && entry.expires >= nowSeconds) return claimant !== undefined && entry.claimant === claimant;
    if (this.#seen.size >= this.#maxEntries) this.#sweep(nowSeconds);
    this.#seen.delete(key);
    this.#seen.set(key, { expires: expiresAtSeconds, claimant });
    return true;
  }

  claim(installId: string, delivery: string, expiresAtSeconds: number, nowSeconds: number, claimant?: string): boolean {
    return this.remember(installId, delivery, expiresAtSeconds, nowSeconds, claimant);
  }

  release(installId: string, delivery: string, claimant?: string): void {
    const key = entryKey(installId, delivery);
    if (claimant !== undefined && this.#seen.get(key)?.claimant !== claimant) return;
    this.#seen.delete(key);
  }

  #sweep(nowSeconds: number): void {
    for (const [key, entry] of this.#seen) if (entry.expires < nowSeconds) this.#seen.delete(key);
    while (this.#seen.size >= this.#maxEntries) this.#seen.delete(this.#seen.keys().next().value as string);
  }
}

/** Length-prefixed, so that no two (install, delivery) pairs share a key whatever characters they hold. */
function entryKey(installId: string, delivery: string): string {
  return `${installId.length}:${installId}|${delivery}`;
}

/** The default replay store: accepted deliveries in this process's memory (bounded; the oldest go first). */
export function createMemoryReplayStore(options: { maxEntries?: number | undefined } = {}): ReplayStore {
  return new ReplayCache(options.maxEntries);
}
