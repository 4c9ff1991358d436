import { isIP } from "node:net";

/**
 * Per client address, how often the sign-in page may be asked for and how
 * many wrong passwords may be tried, in fixed windows; per account (the
 * submitted email), how many wrong passwords may be tried from all addresses
 * together, in a sliding window (AccountBudget, account-budget.ts). Without
 * them anyone could try passwords as fast as scrypt allows, an attacker with
 * many addresses could aim all their budgets at one account, and every
 * anonymous visit to /login (which keeps its CSRF token in a new session row)
 * grew the database without bound. A sign-in counts from the moment it
 * arrives (`reserve`, given back when the password was right), so that a
 * parallel burst cannot pass the check before its first wrong password is
 * counted. In memory, per process: behind a proxy set `trustProxy`, or every
 * client is the proxy's one address.
 */
export interface SignInLimits {
  /** Wrong passwords per address per window. Default 10 per 15 minutes. */
  failures: { count: number; windowMs: number };
  /**
   * Wrong passwords per account (normalised email, whether or not an account has it) from all addresses, in a
   * sliding window. Default 50 per hour: more than one address's budget can spend in any hour (at most 40 at
   * the default 10 per 15 minutes), so a single address cannot lock an account out, while guessing at one
   * account is bounded to 1,200 passwords a day however many addresses take part. Past it even the right
   * password waits: anyone with a few addresses can delay a known account's sign-in for the window.
   */
  accounts: { count: number; windowMs: number };
  /** Sign-in pages opened without a session (each makes one) per address per window. Default 60 per minute. */
  pages: { count: number; windowMs: number };
}

export const DEFAULT_SIGN_IN_LIMITS: SignInLimits = {
  failures: { count: 10, windowMs: 15 * 60_000 },
  accounts: { count: 50, windowMs: 60 * 60_000 },
  pages: { count: 60, windowMs: 60_000 },
};

/** Addresses tracked at most per budget; the oldest window is dropped first (a flood of addresses cannot grow memory). */
const MAX_ADDRESSES = 10_000;

/** An attempt counted against an address's budget while it is under way (see AddressBudget.reserve). */
export interface Reservation {
  /** Seconds until the address may go on; 0 when the attempt was counted and may proceed. */
  wait: number;
  /**
   * Refused (`wait` > 0) for the first time in the address's current window. A refusal costs the client
   * nothing, so it can be repeated without end: what is recorded of refusals (an audit line) is recorded
   * once per window, which bounds it as the window bounds the failures.
   */
  firstRefusal: boolean;
  /** Uncounts the attempt (a right password is no failure); at most once, and only within the window it was counted in. */
  giveBack(): void;
}

/** One address's count in its current window; `refusals`: attempts refused in it (see Reservation.firstRefusal). */
interface Window {
  used: number;
  refusals: number;
  resetAt: number;
}

export class AddressBudget {
  readonly #windows = new Map<string, Window>();

  constructor(
    private readonly limit: { count: number; windowMs: number },
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until `address` may go on, or 0 when it still has budget left (without spending any). */
  retryAfter(address: string): number {
    return this.#waitOf(this.#current(address));
  }

  spend(address: string): void {
    this.#spend(address);
  }

  /**
   * Checks and counts one attempt at once, before the caller awaits anything:
   * attempts under way count, so that a burst sent in parallel cannot all pass
   * the check before the first of them is counted. Refused (`wait` > 0): nothing
   * counted. A caller whose attempt turns out not to be a failure gives it back.
   */
  reserve(address: string): Reservation {
    const current = this.#current(address);
    const wait = this.#waitOf(current);
    if (wait > 0) {
      current!.refusals += 1;
      return { wait, firstRefusal: current!.refusals === 1, giveBack: () => {} };
    }
    const window = this.#spend(address);
    let given = false;
    return {
      wait: 0,
      firstRefusal: false,
      giveBack: () => {
        if (given) return;
        given = true;
        // The window may have ended (and a new one begun) while the attempt was under way: that one is not this attempt's.
        if (this.#windows.get(address) !== window || window.resetAt <= this.now()) return;
        window.used -= 1;
        // Nothing counted in it: as if it had never begun (the first failure opens the window, as with spend).
        if (window.used <= 0) this.#windows.delete(address);
      },
    };
  }

  #spend(address: string): Window {
    let window = this.#current(address);
    if (window === undefined) {
      if (this.#windows.size >= MAX_ADDRESSES) this.#windows.delete(this.#windows.keys().next().value as string);
      window = { used: 0, refusals: 0, resetAt: this.now() + this.limit.windowMs };
      this.#windows.set(address, window);
    }
    window.used += 1;
    return window;
  }

  #waitOf(window: Window | undefined): number {
    return window === undefined || window.used < this.limit.count ? 0 : Math.max(1, Math.ceil((window.resetAt - this.now()) / 1000));
  }

  #current(address: string): Window | undefined {
    const window = this.#windows.get(address);
    if (window !== undefined && window.resetAt <= this.now()) {
      this.#windows.delete(address);
      return undefined;
    }
    return window;
  }
}

/**
 * The key a client's sign-in budgets count under: an IPv4 address as it is, an IPv6 address by its /64 (one
 * client usually holds a whole /64 and may use any address in it, so a budget per address would give it 2^64
 * budgets), an IPv4-mapped IPv6 address (a dual-stack socket's `::ffff:1.2.3.4`) by its IPv4 address. What
 * Annex's gateway does for its per-client budgets (its clientKey is not exported). Anything else is kept,
 * bounded; no address at all is "?".
 */
export function clientAddressKey(address: string | undefined): string {
  if (address === undefined || address === "") return "?";
  const bare = (address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address).split("%", 1)[0]!;
  const family = isIP(bare);
  if (family === 4) return bare;
  if (family !== 6) return `label:${address.slice(0, 64)}`;
  const groups = ipv6Groups(bare);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `${groups[6]! >> 8}.${groups[6]! & 255}.${groups[7]! >> 8}.${groups[7]! & 255}`;
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(":")}::/64`;
}

/** The eight 16-bit groups of an address `isIP` accepted as IPv6 (with `::` and a dotted IPv4 tail). */
function ipv6Groups(address: string): number[] {
  const parse = (part: string): number[] =>
    part === ""
      ? []
      : part.split(":").flatMap((group) => {
          if (!group.includes(".")) return [parseInt(group, 16)];
          const [a, b, c, d] = group.split(".").map(Number) as [number, number, number, number];
          return [(a << 8) | b, (c << 8) | d];
        });
  const [head = "", tail] = address.split("::");
  const start = parse(head);
  if (tail === undefined) return start;
  const end = parse(tail);
  return [...start, ...new Array<number>(8 - start.length - end.length).fill(0), ...end];
}
