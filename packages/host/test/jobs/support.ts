import { makeBundle, serviceManifest } from "../support/fixtures.js";

export { createLedger, manualClock } from "../events/support.js";

/**
 * Reports: jobs that book what they ran in the ledger (key: the run id, which
 * is ctx.requestId), one that throws, one that never ends, and two that
 * publish an event (one then fails).
 */
export const REPORTS_SERVER = `
export async function hourly(job, ctx) {
  await ctx.host.call("ledger.apply", { key: ctx.requestId, note: "hourly@" + ctx.job.scheduledAt });
  return { name: ctx.job.name, scheduledAt: ctx.job.scheduledAt, arg: job.scheduledAt, requestId: ctx.requestId };
}
export async function nightly(job, ctx) {
  await ctx.host.call("ledger.apply", { key: ctx.requestId, note: "nightly@" + ctx.job.scheduledAt });
}
export function boom() { throw new Error("the report could not be built"); }
export function spin() { for (;;) {} }
export async function announce(job, ctx) { return await ctx.events.publish("report.ready", { at: ctx.job.scheduledAt }); }
export async function announceThenFail(job, ctx) {
  await ctx.events.publish("report.ready", { at: ctx.job.scheduledAt, failed: true });
  throw new Error("failed after publishing");
}
`;

export const REPORT_JOBS = [
  { name: "hourly", cron: "0 * * * *", handler: "hourly" },
  { name: "nightly", cron: "0 2 * * *", handler: "nightly" },
  { name: "boom", cron: "*/30 * * * *", handler: "boom" },
  { name: "spin", cron: "0 3 * * *", handler: "spin" },
  { name: "announce", cron: "0 4 * * *", handler: "announce" },
  { name: "announce-fail", cron: "0 5 * * *", handler: "announceThenFail" },
];

export function reportsManifest(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return serviceManifest({
    id: "acme.reports",
    name: "Reports",
    endpoints: [],
    capabilities: [
      { name: "host:ledger.apply", reason: "Books report runs." },
      { name: "events.publish", types: ["report.ready"], reason: "Says when a report is ready." },
    ],
    events: { publishes: [{ type: "report.ready" }], subscribes: [] },
    config: { timezone: { type: "string", description: "Time zone the reports run in" } },
    jobs: REPORT_JOBS,
    ...overrides,
  });
}

export function reportsBundle(version = "1.0.0", overrides: Record<string, unknown> = {}): Promise<Uint8Array> {
  return makeBundle(reportsManifest({ version, ...overrides }), { "server/index.js": REPORTS_SERVER });
}
