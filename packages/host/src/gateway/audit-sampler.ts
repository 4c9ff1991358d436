import { RateLimiter, type RateLimit } from "./rate-limit.js";

export interface AuditSamplingOptions {
  /** Lines per client (an anonymous caller's address, a signed-in user) of requests that did not run. Default 60 per 60 s. */
  perClient?: RateLimit | false | undefined;
  /** Lines of anonymous callers' requests that did not run, all clients together. Default 600 per 60 s. */
  anonymous?: RateLimit | false | undefined;
}

export const DEFAULT_AUDIT_SAMPLING: Readonly<{ perClient: RateLimit; anonymous: RateLimit }> = Object.freeze({
  perClient: { requests: 60, perSeconds: 60 },
  anonymous: { requests: 600, perSeconds: 60 },
});

export type SampleDecision = { write: true; /** Lines of this client skipped since its last written one. */ skipped: number } | { write: false };

/**
 * Decides which audit lines of requests that never ran are written. Junk
 * paths, unknown extensions, refusals and preflights cost a stranger nothing
 * and each was a row in the append-only audit table: now each client has a
 * budget of lines (token bucket), anonymous clients together another (an
 * attacker can change addresses), and what is skipped is counted, per client
 * (the client's next written line says how many) and in total (`skipped`).
 * Lines of requests that ran (their allow line gates their effects) never
 * come here.
 */
export class AuditSampler {
  readonly #perClient: RateLimit | false;
  readonly #anonymous: RateLimit | false;
  readonly #buckets: RateLimiter;
  /** Apart from the clients' buckets, so that no number of clients can evict it. */
  readonly #all: RateLimiter;
  readonly #skippedByClient = new Map<string, number>();
  readonly #maxClients: number;
  #skipped = 0;

  constructor(options: AuditSamplingOptions & { now?: (() => number) | undefined; maxClients?: number | undefined } = {}) {
    this.#perClient = options.perClient ?? DEFAULT_AUDIT_SAMPLING.perClient;
    this.#anonymous = options.anonymous ?? DEFAULT_AUDIT_SAMPLING.anonymous;
    this.#maxClients = options.maxClients ?? 100_000;
    this.#buckets = new RateLimiter({ now: options.now, maxBuckets: this.#maxClients });
    this.#all = new RateLimiter({ now: options.now, maxBuckets: 1 });
  }

  /** Lines skipped since the gateway started. */
  get skipped(): number {
    return this.#skipped;
  }

  /** Counts a line skipped for another reason (e.g. repeated 429s of one bucket). */
  skip(client: string): void {
    this.#skipped += 1;
    const count = (this.#skippedByClient.get(client) ?? 0) + 1;
    this.#skippedByClient.delete(client);
    // Bounded: when full, the client seen longest ago loses its count (the total keeps it).
    if (this.#skippedByClient.size >= this.#maxClients) this.#skippedByClient.delete(this.#skippedByClient.keys().next().value as string);
    this.#skippedByClient.set(client, count);
  }

  /** Whether the line of a request that did not run is written; `client` is its client key, `anonymous` whether no user was signed in. */
  admit(client: string, anonymous: boolean): SampleDecision {
    if (this.#perClient !== false && !this.#buckets.peek(client, this.#perClient)) return this.#skipped1(client);
    if (anonymous && this.#anonymous !== false && !this.#all.take("anonymous", this.#anonymous).ok) return this.#skipped1(client);
    if (this.#perClient !== false) this.#buckets.take(client, this.#perClient);
    const skipped = this.#skippedByClient.get(client) ?? 0;
    if (skipped > 0) this.#skippedByClient.delete(client);
    return { write: true, skipped };
  }

  #skipped1(client: string): SampleDecision {
    this.skip(client);
    return { write: false };
  }
}
