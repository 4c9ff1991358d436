import { createHash } from "node:crypto";
import type { Reservation } from "./sign-in-throttle.js";

/** Accounts tracked at most; the one whose last failure is oldest is dropped first (a flood of emails cannot grow memory). */
const MAX_ACCOUNTS = 10_000;

/**
 * The key an email's failures count under: the sha256 of the email as the sign-in looks it up (trimmed,
 * lowercased). Hashed so that an entry's size does not depend on what the client typed (a 16 KiB "email"
 * would otherwise be kept as a key) and the process keeps no list of the emails tried.
 */
export function accountKey(email: string): string {
  return createHash("sha256").update(email.trim().toLowerCase()).digest("base64url");
}

/** One account's failures: when each was counted (oldest first), and whether it was refused since the last one counted. */
interface Failures {
  at: number[];
  refused: boolean;
}

/**
 * Wrong passwords per account from every address together, in a sliding window: the per-address budget
 * (AddressBudget) alone lets an attacker with many addresses aim all of them at one account. Counted for
 * any submitted email, whether an account has it or not, so that a refusal says nothing about which emails
 * have accounts. Sliding, not fixed: a fixed window would allow twice the budget across its boundary.
 *
 * Past the budget every sign-in of the account is refused, the right password too, until its oldest failure
 * leaves the window: otherwise the budget would bound nothing (the attacker's right guess would pass). That
 * lets whoever can spend the budget delay the account's owner for up to the window; the default budget is
 * larger than one address can spend in a window, so it takes several addresses.
 *
 * Kept as the times of the failures (at most `count` per account, MAX_ACCOUNTS accounts), in memory, per process.
 */
export class AccountBudget {
  readonly #accounts = new Map<string, Failures>();

  constructor(
    private readonly limit: { count: number; windowMs: number },
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Checks and counts one attempt at `email` at once, before the caller awaits anything (see
   * AddressBudget.reserve): a burst from many addresses cannot all pass before the first is counted.
   * Refused (`wait` > 0): nothing counted; `firstRefusal` is true once per spell of refusals (until an
   * attempt is counted again), which bounds what is recorded of refusals by the failures themselves.
   */
  reserve(email: string): Reservation {
    const key = accountKey(email);
    const now = this.now();
    const failures = this.#current(key, now);
    const wait = this.#waitOf(failures, now);
    if (failures !== undefined && wait > 0) {
      const firstRefusal = !failures.refused;
      failures.refused = true;
      return { wait, firstRefusal, giveBack: () => {} };
    }
    const counted = failures ?? { at: [], refused: false };
    counted.at.push(now);
    counted.refused = false;
    // Most recently failed last: the account dropped when the map is full is the one left alone longest.
    this.#accounts.delete(key);
    if (this.#accounts.size >= MAX_ACCOUNTS) this.#accounts.delete(this.#accounts.keys().next().value as string);
    this.#accounts.set(key, counted);
    let given = false;
    return {
      wait: 0,
      firstRefusal: false,
      giveBack: () => {
        if (given) return;
        given = true;
        // Dropped, or already out of the window: nothing of this attempt is left to take back.
        if (this.#accounts.get(key) !== counted) return;
        const index = counted.at.indexOf(now);
        if (index >= 0) counted.at.splice(index, 1);
        if (counted.at.length === 0) this.#accounts.delete(key);
      },
    };
  }

  /** Seconds until `email` may be tried again, or 0 (without spending anything). */
  retryAfter(email: string): number {
    const now = this.now();
    return this.#waitOf(this.#current(accountKey(email), now), now);
  }

  /** Seconds until the oldest failure leaves the window once the budget is spent, else 0. */
  #waitOf(failures: Failures | undefined, now: number): number {
    return failures === undefined || failures.at.length < this.limit.count ? 0 : Math.max(1, Math.ceil((failures.at[0]! + this.limit.windowMs - now) / 1000));
  }

  /** The account's failures still inside the window (older ones dropped), or undefined when none are. */
  #current(key: string, now: number): Failures | undefined {
    const failures = this.#accounts.get(key);
    if (failures === undefined) return undefined;
    const start = now - this.limit.windowMs;
    let expired = 0;
    while (expired < failures.at.length && failures.at[expired]! <= start) expired += 1;
    if (expired > 0) failures.at.splice(0, expired);
    if (failures.at.length === 0) {
      this.#accounts.delete(key);
      return undefined;
    }
    return failures;
  }
}
