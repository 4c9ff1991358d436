import type { ResolvedInstall } from "../installs/types.js";

interface Entry {
  value: ResolvedInstall;
  expiresAt: number;
}

/**
 * Serving installs by (tenant, extension), kept for `ttlMs` so that a busy
 * endpoint does not read the install row on every request. Only installs
 * that serve are kept: a lookup that finds none always asks the database
 * again, so a new install serves at once. What the cache costs is staleness:
 * a disable, upgrade or uninstall made elsewhere takes up to `ttlMs` to reach
 * this gateway unless the host hears it first (install-changes.ts: LISTEN/NOTIFY
 * calls `invalidate()`). Lookups
 * for the same key while one is in flight share it.
 */
export class InstallCache {
  readonly #entries = new Map<string, Entry>();
  readonly #pending = new Map<string, Promise<ResolvedInstall | null>>();
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #max: number;
  #generation = 0;

  constructor(options: { ttlMs: number; now: () => number; max?: number }) {
    this.#ttlMs = options.ttlMs;
    this.#now = options.now;
    this.#max = options.max ?? 10_000;
  }

  async get(tenant: string, extensionId: string, load: () => Promise<ResolvedInstall | null>): Promise<ResolvedInstall | null> {
    if (this.#ttlMs <= 0) return load();
    const key = `${tenant}\u0000${extensionId}`;
    const hit = this.#entries.get(key);
    if (hit !== undefined) {
      if (hit.expiresAt > this.#now()) return hit.value;
      this.#entries.delete(key);
    }
    const shared = this.#pending.get(key);
    if (shared !== undefined) return shared;
    const generation = this.#generation;
    const pending: Promise<ResolvedInstall | null> = load().then(
      (value) => {
        if (this.#pending.get(key) === pending) this.#pending.delete(key);
        // An invalidation while this lookup ran may have been about it: do not keep what it found.
        if (value !== null && generation === this.#generation) this.#store(key, value);
        return value;
      },
      (error: unknown) => {
        if (this.#pending.get(key) === pending) this.#pending.delete(key);
        throw error;
      },
    );
    this.#pending.set(key, pending);
    return pending;
  }

  /** Forgets one install, every install of a tenant, or everything. */
  invalidate(tenant?: string, extensionId?: string): void {
    this.#generation += 1;
    // Lookups in flight may predate the change: later requests start their own.
    this.#pending.clear();
    if (tenant === undefined) {
      this.#entries.clear();
      return;
    }
    for (const key of this.#entries.keys()) {
      const [entryTenant, entryExtension] = key.split("\u0000");
      if (entryTenant === tenant && (extensionId === undefined || entryExtension === extensionId)) this.#entries.delete(key);
    }
  }

  #store(key: string, value: ResolvedInstall): void {
    if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value as string);
    this.#entries.set(key, { value, expiresAt: this.#now() + this.#ttlMs });
  }
}
