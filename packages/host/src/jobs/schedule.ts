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
const MINUTE_MS = 60_000;
/**
 * Gaps (wall-clock times that do not exist: clocks went forward over them) a search may pass over
 * before it gives up. Each gap costs one step, whatever the number of the cron's times inside it.
 */
const MAX_SKIPPED = 1500;
/**
 * Wall-clock years a search looks ahead. A cron that names only times that do not exist in its zone
 * (02:30 on the second Sunday of March in New York) would otherwise be searched year after year to
 * croner's year 3000: ~0.4 s of this thread per job, 11 s for a manifest of 32 such jobs, every
 * tenant's requests waiting meanwhile. A cron that fires less often than once in ten years (the 29th
 * of February when it is a Monday) counts as never; that bounds the search to ~5 ms a job.
 */
const HORIZON_MS = 10 * 366 * DAY_MS;
/** (zone, cron) pairs remembered to fire never again; the least recently used goes when full. */
const MAX_NEVER = 4096;

/**
 * The first time after `after` the cron fires in `timezone`; null when it never does again (within
 * ten years).
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
  // The scheduler asks again for a job that never fires at every sync, and the answer cannot change
  // for a later `after`.
  const never = neverAfter.get(key);
  if (never !== undefined) {
    neverAfter.delete(key);
    neverAfter.set(key, never);
    if (start >= never) return null;
  }
  const next = timezone === "UTC" ? nextCronRun(cron, after, "UTC") : nextInZone(cron, timezone, start);
  if (next === null) {
    neverAfter.delete(key);
    if (neverAfter.size >= MAX_NEVER) neverAfter.delete(neverAfter.keys().next().value as string);
    neverAfter.set(key, Math.min(never ?? start, start));
  }
  return next;
}

const neverAfter = new Map<string, number>();

function nextInZone(cron: string, timezone: string, start: number): Date | null {
  let wall = wallClock(start, timezone);
  const horizon = wall + HORIZON_MS;
  for (let i = 0; i < MAX_SKIPPED; i++) {
    const match = nextCronRun(cron, new Date(wall), "UTC");
    if (match === null || match.getTime() > horizon) return null;
    wall = match.getTime();
    const first = firstInstant(wall, timezone);
    if (first === undefined) {
      // Missing: the time does not exist that day. Go on from the first time after the gap.
      wall = Math.max(wall, gapEnd(wall, timezone) - 1);
      continue;
    }
    // Not after `start`: its first occurrence is past, so the repeat of that time (in the hour the
    // clocks went back over) is not another run.
    if (first > start) return new Date(first);
  }
  return null;
}

/**
 * The first wall-clock time after the gap that holds `wall`. The transition instant lies between the
 * instants `wall` names at the offsets in force a day before and a day after; before it the wall clock
 * shows less than `wall`, from it on more. Found by bisection, by whole minutes first (a zone's
 * transitions fall on them: ~6 steps for an hour's gap), then to the millisecond if it is not on one.
 */
function gapEnd(wall: number, timezone: string): number {
  const offsetAfter = wallClock(wall + DAY_MS, timezone) - (wall + DAY_MS);
  const offsetBefore = wallClock(wall - DAY_MS, timezone) - (wall - DAY_MS);
  let before = wall - offsetAfter;
  let after = wall - offsetBefore;
  const shows = (instant: number) => wallClock(instant, timezone) > wall;
  if (!shows(after) || shows(before)) return wall;
  // Whole minutes back from `after` first; then, if the transition is not on one, to the millisecond.
  // Throughout, `before` shows no more than `wall` and `after` more: the transition is in (before, after].
  for (const step of [MINUTE_MS, 1]) {
    before = after - Math.ceil((after - before) / step) * step;
    while (after - before > step) {
      const middle = before + Math.floor((after - before) / step / 2) * step;
      if (shows(middle)) after = middle;
      else before = middle;
    }
    if (!shows(after - 1)) break;
  }
  return wallClock(after, timezone);
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
