import { isTimeZone, nextCronRun, type Job } from "@annex/manifest";

/** The install config key that sets the time zone of every job of the install. */
export const TIMEZONE_CONFIG_KEY = "timezone";

/**
 * The time zone a job's cron is read in. The install's own setting wins (a
 * `timezone` config value, when the manifest declares that setting and the
 * admin set it to an IANA name this runtime knows), then the job's own
 * `timezone` in the manifest, then UTC. The rule is the same in every host
 * process, so all of them agree on when a run is due.
 */
export function jobTimezone(job: Pick<Job, "timezone">, config: Record<string, unknown>): string {
  const setting = config[TIMEZONE_CONFIG_KEY];
  if (typeof setting === "string" && setting !== "" && setting.length <= 64 && isTimeZone(setting)) return setting;
  if (job.timezone !== undefined) return job.timezone;
  return "UTC";
}

const DAY_MS = 86_400_000;
/**
 * Wall-clock times a search may pass over before it gives up: every minute of a day skipped whole (as
 * Samoa skipped 2011-12-30) and then some. A cron that only ever names times that do not exist ends
 * there as "never again".
 */
const MAX_SKIPPED = 1500;

/**
 * The first time after `after` the cron fires in `timezone`; null when it never does again.
 *
 * Daylight saving, as jobs.md promises: a wall-clock time that does not exist that day (clocks went
 * forward over it) is skipped, not moved to the hour after as croner does; one that happens twice
 * (clocks went back) runs once, at its first occurrence. The cron is matched against wall-clock times
 * with croner in UTC, where every time exists once, and each match is then placed in `timezone` here.
 * That also keeps the answer after `after`: croner, asked from inside a repeated hour, answers a time
 * before it.
 */
export function nextRun(cron: string, timezone: string, after: Date): Date | null {
  const start = after.getTime();
  const key = `${timezone}\u0000${cron}`;
  // Finding that a cron never fires again can take a search to the year 3000; the scheduler asks again
  // for such a job at every sync, and the answer cannot change for a later `after`.
  const never = neverAfter.get(key);
  if (never !== undefined && start >= never) return null;
  const next = timezone === "UTC" ? nextCronRun(cron, after, "UTC") : nextInZone(cron, timezone, start);
  if (next === null) {
    if (neverAfter.size >= 256) neverAfter.clear();
    neverAfter.set(key, Math.min(never ?? start, start));
  }
  return next;
}

const neverAfter = new Map<string, number>();

function nextInZone(cron: string, timezone: string, start: number): Date | null {
  let wall = wallClock(start, timezone);
  for (let i = 0; i < MAX_SKIPPED; i++) {
    const match = nextCronRun(cron, new Date(wall), "UTC");
    if (match === null) return null;
    wall = match.getTime();
    const first = firstInstant(wall, timezone);
    // Missing: the time does not exist that day. Not after `start`: its first occurrence is past, so
    // the repeat of that time (in the hour the clocks went back over) is not another run.
    if (first !== undefined && first > start) return new Date(first);
  }
  return null;
}

/** The wall-clock time `instant` shows in `timezone`, as milliseconds of a UTC date with those fields. */
function wallClock(instant: number, timezone: string): number {
  const fields: Record<string, number> = {};
  for (const part of formatter(timezone).formatToParts(instant)) if (part.type !== "literal") fields[part.type] = Number(part.value);
  const ms = ((instant % 1000) + 1000) % 1000;
  return Date.UTC(fields["year"]!, fields["month"]! - 1, fields["day"]!, fields["hour"]!, fields["minute"]!, fields["second"]!) + ms;
}

/** The earliest instant whose wall clock in `timezone` shows `wall`; undefined when none does (a gap). */
function firstInstant(wall: number, timezone: string): number | undefined {
  let first: number | undefined;
  // The offsets in force a day before and a day after: a transition near `wall` lies between them.
  for (const probe of [wall - DAY_MS, wall + DAY_MS]) {
    const instant = wall - (wallClock(probe, timezone) - probe);
    if (wallClock(instant, timezone) === wall && (first === undefined || instant < first)) first = instant;
  }
  return first;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timezone: string): Intl.DateTimeFormat {
  let format = formatters.get(timezone);
  if (format === undefined) {
    // Bounded: time zone names come from manifests and install settings.
    if (formatters.size >= 256) formatters.clear();
    format = new Intl.DateTimeFormat("en-US", {
      timeZone: timezone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(timezone, format);
  }
  return format;
}
