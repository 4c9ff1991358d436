import type { DateLike } from "../types.js";

export function toDate(value: DateLike | undefined | null): Date | null {
  if (value === undefined || value === null) return null;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** A timestamp for tables: local date and time to the second, in the page's language. */
export function formatDateTime(value: DateLike | undefined | null, locale?: string): string {
  const date = toDate(value);
  if (date === null) return "—";
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "medium" }).format(date);
}
