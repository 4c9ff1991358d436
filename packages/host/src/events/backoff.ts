export interface BackoffOptions {
  /** Delay before the second attempt, in ms. Default 1000. */
  baseMs?: number | undefined;
  /** Longest delay between attempts, in ms. Default 300000 (5 minutes). */
  maxMs?: number | undefined;
}

/**
 * The wait before attempt `attempt + 1` after `attempt` failed: exponential
 * (base, 2·base, 4·base … capped at max) with "equal jitter": half of it
 * fixed, half random, so retries of many deliveries that failed together
 * spread out instead of arriving together again.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const base = options.baseMs ?? 1000;
  const max = options.maxMs ?? 300_000;
  const exponential = Math.min(max, base * 2 ** Math.max(0, Math.min(attempt - 1, 40)));
  return Math.round(exponential / 2 + random() * (exponential / 2));
}
