const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-](\d{2}):(\d{2})))?$/;
const DAY_MS = 86_400_000;

function parts(value: string): RegExpExecArray | null {
  const match = ISO_DATE.exec(value);
  if (!match) return null;
  const [, y, mo, d, h = "0", mi = "0", s = "0", , zh = "0", zm = "0"] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const valid =
    month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth && Number(h) < 24 && Number(mi) < 60 && Number(s) < 60 && Number(zh) < 24 && Number(zm) < 60;
  return valid ? match : null;
}

/**
 * A date (`2027-01-31`) or a date-time with a zone (`2027-01-31T12:00:00Z`),
 * calendar-checked. Local times without a zone are refused: they would mean
 * different instants on different hosts.
 */
export function isIsoDate(value: unknown): value is string {
  return typeof value === "string" && parts(value) !== null;
}

/**
 * The last instant (ms since epoch) a key with this `notAfter` may be used.
 * A bare date covers that whole day in UTC, as "not after 31 January" reads.
 */
export function notAfterInstant(value: string): number {
  const match = parts(value);
  if (!match) return Number.NaN;
  return match[4] === undefined ? Date.parse(value) + DAY_MS - 1 : Date.parse(value);
}
