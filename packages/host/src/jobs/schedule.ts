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

/** The first time after `after` the cron fires in `timezone`; null when it never does again. */
export function nextRun(cron: string, timezone: string, after: Date): Date | null {
  return nextCronRun(cron, after, timezone);
}
