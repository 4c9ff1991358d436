import { z } from "zod";
import { Cron, CronPattern } from "croner";
import { AnnexError } from "../errors.js";
import { handlerNameSchema } from "./primitives.js";

/** Nicknames croner expands; anything else must be five fields. */
const NICKNAMES = new Set(["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"]);

/**
 * Where to ask croner for a next run when validating. Croner searches by
 * recursion, a few frames per month it rules out, and answers null once it
 * reaches the year 3000: asked from 2025, a cron that never fires over several
 * months a year ("0 0 31 2,4,6,9,11 *") ran out of stack before it could say
 * so. From 2900 the search is short enough to end in croner's own answer, and
 * loses nothing: 2904–2999 is leap every fourth year without a skipped
 * century, so it holds every kind of year (each weekday a year can start on,
 * leap or not) several times over, and with them every date, weekday and
 * "nth weekday of the month" a cron can ask for. A fixed instant also keeps
 * validation independent of the clock.
 */
const PROBE_FROM = new Date(Date.UTC(2900, 0, 1));

const NEVER_FIRES = "cron never fires (e.g. February 30th); check the day and month fields";

/**
 * Why a cron expression is refused, or undefined when it is fine. Jobs run at
 * minute granularity: five fields (minute hour day-of-month month day-of-week)
 * or one of croner's nicknames. `?` is refused because croner replaces it with
 * the current time, which would make the schedule depend on when it was parsed.
 */
export function cronProblem(expression: string, timezone?: string): string | undefined {
  // Croner with a time zone goes through Intl for every probe, which is slow;
  // the same few expressions are validated over and over (lint, publish, install).
  const key = `${timezone ?? ""}\u0000${expression}`;
  if (cronCache.has(key)) return cronCache.get(key);
  const problem = findCronProblem(expression, timezone);
  remember(cronCache, key, problem);
  return problem;
}

const CACHE_LIMIT = 512;
const cronCache = new Map<string, string | undefined>();
const zoneCache = new Map<string, boolean>();

function remember<V>(cache: Map<string, V>, key: string, value: V): void {
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(key, value);
}

function findCronProblem(expression: string, timezone: string | undefined): string | undefined {
  const trimmed = expression.trim();
  if (trimmed !== expression) return "cron must not have leading or trailing spaces";
  if (trimmed.includes("?")) return 'cron must not use "?"; use "*" instead';
  if (!NICKNAMES.has(trimmed.toLowerCase()) && trimmed.split(/\s+/).length !== 5)
    return 'cron must have five fields (minute hour day-of-month month day-of-week), e.g. "*/15 * * * *", or be @hourly, @daily, @weekly, @monthly or @yearly';
  try {
    new CronPattern(trimmed);
  } catch (error) {
    if (!isCronerError(error)) throw checkFailed(expression, error);
    return `cron is not valid: ${error.message.replace(/^CronPattern: /, "")}`;
  }
  let next: Date | null;
  try {
    // Without a callback croner schedules nothing; paused makes that explicit.
    const job = new Cron(trimmed, { paused: true, ...(timezone === undefined ? {} : { timezone }) });
    next = job.nextRun(PROBE_FROM);
    job.stop();
  } catch (error) {
    if (!isCronerError(error)) throw checkFailed(expression, error);
    return `cron is not valid: ${error.message}`;
  }
  // Croner's only way of saying "never": no run before its year 3000, which from PROBE_FROM means none ever.
  return next === null ? NEVER_FIRES : undefined;
}

/**
 * An error croner threw on purpose: each names its source ("CronPattern: …",
 * "CronDate: …", "CronOptions: …", "Cron: …"). Anything else, such as the
 * engine's "Maximum call stack size exceeded" when the check runs near the
 * stack limit, says nothing about the cron.
 */
function isCronerError(error: unknown): error is Error {
  return error instanceof Error && /^Cron(?:Pattern|Date|Options)?: /.test(error.message);
}

/** The check itself failed: not the manifest's fault, so not a manifest issue (and not cached, so a retry checks again). */
function checkFailed(expression: string, cause: unknown): AnnexError {
  const reason = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
  return new AnnexError(
    "E_INTERNAL",
    `could not check the cron ${JSON.stringify(expression)} of jobs[].cron (${reason}); this says nothing about the manifest: retry, with more stack if it ran out`,
    { field: "jobs[].cron", cron: expression, reason },
    { cause },
  );
}

const scheduleCache = new Map<string, Cron>();

/**
 * The first time after `after` (exclusive) that a job's cron fires, read in
 * `timezone` (an IANA name; UTC when absent), or null when it never does.
 * Hosts schedule with this, so a schedule means the same thing wherever the
 * manifest was validated. Expressions are the ones `jobs[].cron` accepts.
 */
export function nextCronRun(expression: string, after: Date, timezone?: string): Date | null {
  const key = `${timezone ?? ""}\u0000${expression}`;
  let cron = scheduleCache.get(key);
  if (cron === undefined) {
    cron = new Cron(expression, { paused: true, ...(timezone === undefined ? {} : { timezone }) });
    remember(scheduleCache, key, cron);
  }
  return cron.nextRun(after);
}

export function isTimeZone(name: string): boolean {
  const known = zoneCache.get(name);
  if (known !== undefined) return known;
  let valid: boolean;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: name });
    valid = true;
  } catch {
    valid = false;
  }
  remember(zoneCache, name, valid);
  return valid;
}

const MAX_CRON_LENGTH = 128;

export const JOB_NAME_PATTERN = /^[a-z][a-z0-9-]{0,63}$/;

export const jobSchema = z
  .strictObject({
    name: z.string().regex(JOB_NAME_PATTERN, "job names are lowercase letters, digits and hyphens, starting with a letter, e.g. nightly-sync"),
    cron: z.string().min(1, "cron must not be empty").max(MAX_CRON_LENGTH, `cron is at most ${MAX_CRON_LENGTH} characters`),
    handler: handlerNameSchema,
    /** IANA time zone the cron is read in; UTC when absent. */
    timezone: z
      .string()
      .max(64, { message: "timezone is at most 64 characters", abort: true })
      .regex(/^[A-Za-z][A-Za-z0-9_+-]*(?:\/[A-Za-z0-9_+-]+)*$/, "timezone must be an IANA time zone name, e.g. Europe/Paris or UTC")
      .refine(isTimeZone, { message: "timezone is not a time zone this runtime knows; use an IANA name such as Europe/Paris or UTC" })
      .optional(),
  })
  .superRefine((job, ctx) => {
    // Over its length, the cron is refused already: croner is not asked about a string of any length.
    if (typeof job.cron !== "string" || job.cron.length > MAX_CRON_LENGTH) return;
    // A bad timezone is reported on its own field; don't blame the cron for it.
    const timezone = typeof job.timezone === "string" && isTimeZone(job.timezone) ? job.timezone : undefined;
    const problem = cronProblem(job.cron, timezone);
    if (problem !== undefined) ctx.addIssue({ code: "custom", path: ["cron"], message: problem, input: job.cron });
  });

export type Job = z.output<typeof jobSchema>;
