/**
 * A token bucket: `capacity` tokens to start with, refilled continuously at
 * `ratePerSecond` up to `capacity`. Each take() spends one token or says no.
 * It holds two numbers and reads the clock once per call, so the check costs
 * the same whether the caller behaves or floods.
 */
export class TokenBucket {
  readonly #perMs: number;
  readonly #capacity: number;
  readonly #now: () => number;
  #tokens: number;
  #last: number;

  /** `now` returns milliseconds; pass a monotonic clock (performance.now), or a fake one in tests. */
  constructor(ratePerSecond: number, capacity: number, now: () => number) {
    this.#perMs = ratePerSecond / 1000;
    this.#capacity = capacity;
    this.#now = now;
    this.#tokens = capacity;
    this.#last = now();
  }

  take(): boolean {
    const now = this.#now();
    // A clock that steps back refills nothing (rather than draining the bucket).
    const elapsed = now - this.#last;
    if (elapsed > 0) this.#tokens = Math.min(this.#capacity, this.#tokens + elapsed * this.#perMs);
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
