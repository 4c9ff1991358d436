import type { VerifiedBundle } from "@annex/manifest";
import { RegistryError } from "./errors.js";

/** How many cold loads (read and verify a bundle the cache does not hold) may run at once, host-wide, and how many may wait. */
export interface BundleLoadLimits {
  /** Loads running at once. Default 4. */
  concurrent?: number | undefined;
  /** Loads of non-promoting uses (strangers asking for UI files) waiting for a place; one more is refused with E_BUNDLE_LOADS_BUSY. Default 64. */
  queued?: number | undefined;
  /** What a refusal tells the caller to wait (the gateway's Retry-After), in whole seconds. Default 1. */
  retryAfterSeconds?: number | undefined;
}

export const DEFAULT_BUNDLE_LOAD_LIMITS: Readonly<Required<BundleLoadLimits>> = Object.freeze({ concurrent: 4, queued: 64, retryAfterSeconds: 1 });

/**
 * Verified bundles by content hash. Content hashes are immutable, so an
 * entry never goes stale; what can change (a key revoked in the trust store)
 * is handled by `clear()` when the host's trust changes. Loads in flight are
 * shared, so a burst of first requests verifies a bundle once.
 *
 * Only a load that succeeded takes a place: a lookup of a hash that does not
 * exist (anyone can ask for `/ext-ui/<id>/<random hash>/…`) never evicts a
 * verified bundle. And the cache resists scans: a bundle enters on
 * probation, and only a second use moves it to the protected part; eviction
 * takes from probation first. A stream of one-off loads (random published
 * hashes, old versions) churns probation and leaves the bundles that serve
 * requests in place, where a plain LRU would evict them all and make the
 * next real request verify its bundle again from scratch. No number of
 * one-off loads can reach the protected part. Nor can uses that anyone can
 * repeat at will (`{ promote: false }`: the UI files the gateway serves to
 * strangers by content hash, of any version ever published): asking twice
 * for 60 old versions' files would otherwise promote them all and push out
 * the bundles that serve installs. Such a use promotes only a bundle that a
 * promoting use (an install, an upgrade, serving an install) has vouched for.
 *
 * The cache holds at most `capacity` bundles and `maxBytes` of what they keep
 * in memory (see `bundleWeight`): a bundle of a few hundred kilobytes can
 * unpack to hundreds of megabytes (files of zeros compress well), so a count
 * alone would let 64 of them hold 12 GiB. A bundle heavier than `maxBytes` is
 * served without being kept.
 *
 * A cold load reads the whole archive and verifies it (gunzip, every file's
 * hash, the signature), whatever one file of it was asked for, and anyone may
 * ask for the UI files of any published version by hash. So loads run through
 * a gate (`BundleLoadLimits`): at most `concurrent` at once host-wide, the rest
 * wait in turn. Promoting uses (installs, upgrades, serving an install) always
 * wait and go first; a non-promoting use finding `queued` others already
 * waiting is refused at once with E_BUNDLE_LOADS_BUSY, which the gateway
 * answers 503 with Retry-After. A use that joins a load in flight adds no
 * load, so it is never refused.
 */
export class BundleCache {
  /** Used once since it entered; least recently used first. */
  readonly #probation = new Map<string, VerifiedBundle>();
  /** Used again after entering; least recently used first. */
  readonly #protected = new Map<string, VerifiedBundle>();
  readonly #pending = new Map<string, Promise<VerifiedBundle>>();
  /** Held bundles a promoting use has asked for: a non-promoting use may promote these. */
  readonly #vouched = new Set<string>();
  /** The weight of each bundle held, and their sum. */
  readonly #weights = new Map<string, number>();
  #bytes = 0;
  readonly #capacity: number;
  readonly #maxBytes: number;
  readonly #protectedCapacity: number;
  #generation = 0;
  readonly #gate: LoadGate;

  constructor(capacity: number, maxBytes = Number.POSITIVE_INFINITY, loads: BundleLoadLimits = {}) {
    this.#capacity = Math.max(1, Math.floor(capacity));
    this.#maxBytes = Math.max(1, maxBytes);
    this.#gate = new LoadGate({
      concurrent: loads.concurrent ?? DEFAULT_BUNDLE_LOAD_LIMITS.concurrent,
      queued: loads.queued ?? DEFAULT_BUNDLE_LOAD_LIMITS.queued,
      retryAfterSeconds: loads.retryAfterSeconds ?? DEFAULT_BUNDLE_LOAD_LIMITS.retryAfterSeconds,
    });
    // Most of the room for bundles in use; probation keeps at least one place.
    this.#protectedCapacity = Math.max(0, Math.min(this.#capacity - 1, Math.ceil(this.#capacity * 0.8)));
  }

  /** Verified bundles held (loads in flight not counted). */
  get size(): number {
    return this.#probation.size + this.#protected.size;
  }

  /** Whether `get` would answer without a load of its own: held, or being loaded by another use. */
  holds(contentHash: string): boolean {
    return this.#probation.has(contentHash) || this.#protected.has(contentHash) || this.#pending.has(contentHash);
  }

  /** Cold loads running, and waiting for a place. */
  get loads(): { running: number; waiting: number } {
    return this.#gate.stats;
  }

  /** What the bundles held weigh (see `bundleWeight`). */
  get bytes(): number {
    return this.#bytes;
  }

  async get(contentHash: string, load: () => Promise<VerifiedBundle>, options: { promote?: boolean } = {}): Promise<VerifiedBundle> {
    const promote = options.promote ?? true;
    const hit = this.#hit(contentHash, promote);
    if (hit !== undefined) return hit;
    const shared = this.#pending.get(contentHash);
    if (shared !== undefined) {
      // Joining another's load: a promoting use vouches for what it will admit.
      if (promote) this.#vouched.add(contentHash);
      return shared;
    }
    const generation = this.#generation;
    const pending = this.#gate.run(load, promote).then(
      (bundle) => {
        if (this.#pending.get(contentHash) === pending) this.#pending.delete(contentHash);
        // A clear() while this load ran (trust changed) may have been about it: do not keep what it verified.
        if (generation === this.#generation) this.#admit(contentHash, bundle, promote);
        return bundle;
      },
      (error: unknown) => {
        if (this.#pending.get(contentHash) === pending) this.#pending.delete(contentHash);
        if (!this.#probation.has(contentHash) && !this.#protected.has(contentHash)) this.#vouched.delete(contentHash);
        throw error;
      },
    );
    this.#pending.set(contentHash, pending);
    return pending;
  }

  delete(contentHash: string): void {
    this.#probation.delete(contentHash);
    this.#protected.delete(contentHash);
    this.#pending.delete(contentHash);
    this.#forget(contentHash);
  }

  clear(): void {
    this.#generation += 1;
    this.#probation.clear();
    this.#protected.clear();
    this.#pending.clear();
    this.#vouched.clear();
    this.#weights.clear();
    this.#bytes = 0;
  }

  #hit(contentHash: string, promote: boolean): VerifiedBundle | undefined {
    const kept = this.#protected.get(contentHash);
    if (kept !== undefined) {
      this.#protected.delete(contentHash);
      this.#protected.set(contentHash, kept);
      return kept;
    }
    const trial = this.#probation.get(contentHash);
    if (trial === undefined) return undefined;
    if (promote) this.#vouched.add(contentHash);
    else if (!this.#vouched.has(contentHash)) {
      this.#probation.delete(contentHash);
      this.#probation.set(contentHash, trial);
      return trial;
    }
    // Used a second time: worth protecting. What protection overflows goes back on probation, not out.
    this.#probation.delete(contentHash);
    if (this.#protectedCapacity === 0) {
      this.#probation.set(contentHash, trial);
      return trial;
    }
    this.#protected.set(contentHash, trial);
    while (this.#protected.size > this.#protectedCapacity) {
      const [oldest, bundle] = this.#protected.entries().next().value as [string, VerifiedBundle];
      this.#protected.delete(oldest);
      this.#probation.set(oldest, bundle);
    }
    this.#evict();
    return trial;
  }

  #admit(contentHash: string, bundle: VerifiedBundle, vouched: boolean): void {
    if (this.#protected.has(contentHash) || this.#probation.has(contentHash)) return;
    const weight = bundleWeight(bundle);
    if (weight > this.#maxBytes) return;
    this.#probation.set(contentHash, bundle);
    if (vouched) this.#vouched.add(contentHash);
    this.#weights.set(contentHash, weight);
    this.#bytes += weight;
    this.#evict();
  }

  #evict(): void {
    while (this.size > this.#capacity || this.#bytes > this.#maxBytes) {
      const victims = this.#probation.size > 0 ? this.#probation : this.#protected;
      const victim = victims.keys().next().value as string;
      victims.delete(victim);
      this.#forget(victim);
    }
  }

  #forget(contentHash: string): void {
    this.#vouched.delete(contentHash);
    this.#bytes -= this.#weights.get(contentHash) ?? 0;
    this.#weights.delete(contentHash);
  }
}

/**
 * Bytes a file of a bundle holds besides its contents, roughly: its index
 * entry and hash, its Uint8Array and its map entry, measured at ~200 B on V8.
 */
export const BUNDLE_FILE_OVERHEAD = 200;

/**
 * What a verified bundle keeps in memory, as the cache counts it: its files,
 * the archive it was read from (`bytes`: a gzip header may carry megabytes the
 * content hash ignores) and, per file, two bytes per character of its path
 * (what a string of UTF-16 code units may take) and BUNDLE_FILE_OVERHEAD.
 * Counting file bytes alone let 9,000 empty files under long paths weigh
 * nothing, and an archive padded in its gzip header weigh a few kilobytes.
 */
export function bundleWeight(bundle: VerifiedBundle): number {
  let weight = bundle.bytes.byteLength;
  for (const [path, bytes] of bundle.files) weight += bytes.byteLength + 2 * path.length + BUNDLE_FILE_OVERHEAD;
  return weight;
}

/** The gate of cold loads: see BundleCache. */
class LoadGate {
  #running = 0;
  /** Promoting uses waiting: never refused, and let in first. */
  readonly #urgent: Array<() => void> = [];
  readonly #waiting: Array<() => void> = [];
  readonly #limits: Required<BundleLoadLimits>;

  constructor(limits: Required<BundleLoadLimits>) {
    this.#limits = limits;
  }

  get stats(): { running: number; waiting: number } {
    return { running: this.#running, waiting: this.#urgent.length + this.#waiting.length };
  }

  async run<T>(work: () => Promise<T>, urgent: boolean): Promise<T> {
    if (this.#running < this.#limits.concurrent) this.#running += 1;
    else {
      if (!urgent && this.#waiting.length >= this.#limits.queued) {
        const { concurrent, queued, retryAfterSeconds } = this.#limits;
        throw new RegistryError(
          "E_BUNDLE_LOADS_BUSY",
          `${concurrent} bundle loads are running and ${queued} waiting, host-wide; retry in ${retryAfterSeconds} s (bundleLoads in createHost's options sets these limits)`,
          { concurrent, queued, retryAfterSeconds },
        );
      }
      // The place is handed over by the load that ends (#release), so #running already counts this one.
      await new Promise<void>((resolve) => (urgent ? this.#urgent : this.#waiting).push(resolve));
    }
    try {
      return await work();
    } finally {
      this.#release();
    }
  }

  #release(): void {
    const next = this.#urgent.shift() ?? this.#waiting.shift();
    if (next === undefined) this.#running -= 1;
    else next();
  }
}
