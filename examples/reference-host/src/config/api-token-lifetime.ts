/**
 * How long an admin API token lives. A token is a bearer credential kept in CI settings and shell
 * histories, where it outlives the reason it was made; an expiry bounds how long a leaked one works.
 */
export const DEFAULT_API_TOKEN_DAYS = 90;
/** The longest lifetime a token may be given, by `API_TOKEN_DAYS` or per token (`expiresInDays`). */
export const MAX_API_TOKEN_DAYS = 365;

const DAY_MS = 86_400_000;

/** Whether `value` is a lifetime a token may have: a whole number of days from 1 to MAX_API_TOKEN_DAYS. */
export function isApiTokenDays(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= MAX_API_TOKEN_DAYS;
}

/** When a token made at `now` with a lifetime of `days` stops working. */
export function apiTokenExpiry(days: number, now: Date = new Date()): Date {
  return new Date(now.getTime() + days * DAY_MS);
}

/**
 * `API_TOKEN_DAYS`, the default lifetime of new tokens. Undefined for an unset or empty variable (the
 * default applies); throws with what it accepts for anything else, so that a typo stops the start rather
 * than leaving tokens with a lifetime nobody chose.
 */
export function parseApiTokenDays(raw: string | undefined): number | undefined {
  const value = raw?.trim();
  if (value === undefined || value === "") return undefined;
  const days = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (isApiTokenDays(days)) return days;
  throw new Error(`API_TOKEN_DAYS must be a whole number of days from 1 to ${MAX_API_TOKEN_DAYS} (the lifetime of new admin API tokens; default ${DEFAULT_API_TOKEN_DAYS}); got ${JSON.stringify(raw)}`);
}
