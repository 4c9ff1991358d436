/**
 * Per client address, how often the sign-in page may be asked for and how
 * many wrong passwords may be tried, in fixed windows. Without it anyone
 * could try passwords as fast as scrypt allows, and every anonymous visit
 * to /login (which keeps its CSRF token in a new session row) grew the
 * database without bound. In memory, per process: behind a proxy set
 * `trustProxy`, or every client is the proxy's one address.
 */
export interface SignInLimits {
  /** Wrong passwords per address per window. Default 10 per 15 minutes. */
  failures: { count: number; windowMs: number };
  /** Sign-in pages opened without a session (each makes one) per address per window. Default 60 per minute. */
  pages: { count: number; windowMs: number };
}

export const DEFAULT_SIGN_IN_LIMITS: SignInLimits = {
  failures: { count: 10, windowMs: 15 * 60_000 },
  pages: { count: 60, windowMs: 60_000 },
};

/** Addresses tracked at most per budget; the oldest window is dropped first (a flood of addresses cannot grow memory). */
const MAX_ADDRESSES = 10_000;

export class AddressBudget {
  readonly #windows = new Map<string, { used: number; resetAt: number }>();

  constructor(
    private readonly limit: { count: number; windowMs: number },
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until `address` may go on, or 0 when it still has budget left (without spending any). */
  retryAfter(address: string): number {
    const window = this.#current(address);
    return window === undefined || window.used < this.limit.count ? 0 : Math.max(1, Math.ceil((window.resetAt - this.now()) / 1000));
  }

  spend(address: string): void {
    let window = this.#current(address);
    if (window === undefined) {
      if (this.#windows.size >= MAX_ADDRESSES) this.#windows.delete(this.#windows.keys().next().value as string);
      window = { used: 0, resetAt: this.now() + this.limit.windowMs };
      this.#windows.set(address, window);
    }
    window.used += 1;
  }

  #current(address: string): { used: number; resetAt: number } | undefined {
    const window = this.#windows.get(address);
    if (window !== undefined && window.resetAt <= this.now()) {
      this.#windows.delete(address);
      return undefined;
    }
    return window;
  }
}
