import type { VerifiedBundle } from "@annex/manifest";

/**
 * Verified bundles by content hash, least recently used evicted first.
 * Content hashes are immutable, so an entry never goes stale; what can change
 * (a key revoked in the trust store) is handled by `clear()` when the host's
 * trust changes. Loads in flight are shared, so a burst of first requests
 * verifies a bundle once.
 */
export class BundleCache {
  readonly #entries = new Map<string, Promise<VerifiedBundle>>();
  readonly #capacity: number;

  constructor(capacity: number) {
    this.#capacity = Math.max(1, capacity);
  }

  get size(): number {
    return this.#entries.size;
  }

  async get(contentHash: string, load: () => Promise<VerifiedBundle>): Promise<VerifiedBundle> {
    const hit = this.#entries.get(contentHash);
    if (hit !== undefined) {
      this.#entries.delete(contentHash);
      this.#entries.set(contentHash, hit);
      return hit;
    }
    const pending = load();
    this.#entries.set(contentHash, pending);
    pending.catch(() => {
      if (this.#entries.get(contentHash) === pending) this.#entries.delete(contentHash);
    });
    while (this.#entries.size > this.#capacity) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
    return pending;
  }

  delete(contentHash: string): void {
    this.#entries.delete(contentHash);
  }

  clear(): void {
    this.#entries.clear();
  }
}
