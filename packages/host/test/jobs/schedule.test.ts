import { afterEach, describe, expect, it, vi } from "vitest";
import { nextRun } from "../../src/jobs/schedule.js";
import { createTestHost, type TestHost } from "../../src/testing/index.js";
import { describeBackends } from "../support/backends.js";
import { createLedger, manualClock, reportsBundle } from "./support.js";

const next = (cron: string, timezone: string, after: string) => nextRun(cron, timezone, new Date(after))?.toISOString() ?? null;

/** Every run from `after` up to `until`, each asked from the one before (as the scheduler moves a job along). */
function runs(cron: string, timezone: string, after: string, until: string): string[] {
  const out: string[] = [];
  for (let at = new Date(after); ; ) {
    const run = nextRun(cron, timezone, at);
    if (run === null || run.getTime() > Date.parse(until)) return out;
    out.push(run.toISOString());
    at = run;
  }
}

// 2026: clocks go forward in New York on March 8 (02:00 EST -> 03:00 EDT) and in Paris on March 29
// (02:00 CET -> 03:00 CEST); back in Paris on October 25 (03:00 CEST -> 02:00 CET) and in New York on
// November 1 (02:00 EDT -> 01:00 EST).
describe("job schedules across daylight-saving changes", () => {
  it("skips a time that does not exist that day (spring forward) instead of running it an hour later", () => {
    // 02:30 does not exist in New York on March 8: the next run is 02:30 EDT on March 9.
    expect(next("30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z")).toBe("2026-03-09T06:30:00.000Z");
    expect(runs("30 2 * * *", "America/New_York", "2026-03-06T12:00:00Z", "2026-03-10T12:00:00Z")).toEqual([
      "2026-03-07T07:30:00.000Z", // 02:30 EST
      "2026-03-09T06:30:00.000Z", // 02:30 EDT
      "2026-03-10T06:30:00.000Z",
    ]);
    expect(next("0 2 * * *", "America/New_York", "2026-03-07T12:00:00Z")).toBe("2026-03-09T06:00:00.000Z");
    // Paris: 02:30 does not exist on March 29.
    expect(next("30 2 * * *", "Europe/Paris", "2026-03-28T12:00:00Z")).toBe("2026-03-30T00:30:00.000Z");
    expect(runs("30 2 * * *", "Europe/Paris", "2026-03-27T12:00:00Z", "2026-03-30T12:00:00Z")).toEqual([
      "2026-03-28T01:30:00.000Z", // 02:30 CET
      "2026-03-30T00:30:00.000Z", // 02:30 CEST
    ]);
  });

  it("runs the times around the gap that exist: every 15 minutes goes from 01:45 straight to 03:00", () => {
    expect(runs("*/15 * * * *", "America/New_York", "2026-03-08T06:30:00Z", "2026-03-08T07:30:00Z")).toEqual([
      "2026-03-08T06:45:00.000Z", // 01:45 EST
      "2026-03-08T07:00:00.000Z", // 03:00 EDT
      "2026-03-08T07:15:00.000Z",
      "2026-03-08T07:30:00.000Z",
    ]);
    expect(runs("0 * * * *", "Europe/Paris", "2026-03-29T00:00:00Z", "2026-03-29T02:00:00Z")).toEqual([
      "2026-03-29T01:00:00.000Z", // 03:00 CEST (02:00 does not exist)
      "2026-03-29T02:00:00.000Z",
    ]);
  });

  it("runs a time that happens twice (fall back) once, at its first occurrence", () => {
    expect(runs("30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", "2026-11-02T12:00:00Z")).toEqual([
      "2026-11-01T05:30:00.000Z", // 01:30 EDT; not again at 01:30 EST
      "2026-11-02T06:30:00.000Z",
    ]);
    expect(runs("30 2 * * *", "Europe/Paris", "2026-10-24T12:00:00Z", "2026-10-26T12:00:00Z")).toEqual([
      "2026-10-25T00:30:00.000Z", // 02:30 CEST; not again at 02:30 CET
      "2026-10-26T01:30:00.000Z",
    ]);
    // Every 15 minutes: the repeated hour's times ran in its first pass.
    expect(runs("*/15 * * * *", "America/New_York", "2026-11-01T05:30:00Z", "2026-11-01T07:15:00Z")).toEqual([
      "2026-11-01T05:45:00.000Z", // 01:45 EDT
      "2026-11-01T07:00:00.000Z", // 02:00 EST
      "2026-11-01T07:15:00.000Z",
    ]);
  });

  it("answers a time after the one asked from inside a repeated hour (croner answered one before it)", () => {
    // 06:20Z is 01:20 EST, in the second pass of New York's 01:00 hour.
    expect(next("*/15 * * * *", "America/New_York", "2026-11-01T06:20:00Z")).toBe("2026-11-01T07:00:00.000Z");
    expect(next("30 1 * * *", "America/New_York", "2026-11-01T06:20:00Z")).toBe("2026-11-02T06:30:00.000Z");
    // 01:10Z is 02:10 CET, in the second pass of Paris's 02:00 hour.
    expect(next("*/15 * * * *", "Europe/Paris", "2026-10-25T01:10:00Z")).toBe("2026-10-25T02:00:00.000Z");
  });

  it("reads UTC and zones without daylight saving as before, always strictly after the time asked", () => {
    expect(next("0 * * * *", "UTC", "2026-01-01T12:00:00Z")).toBe("2026-01-01T13:00:00.000Z");
    expect(next("0 2 * * *", "Asia/Tokyo", "2026-03-08T00:00:00Z")).toBe("2026-03-08T17:00:00.000Z");
    expect(next("*/15 * * * *", "America/New_York", "2026-03-08T07:00:00Z")).toBe("2026-03-08T07:15:00.000Z");
    expect(next("@daily", "Europe/Paris", "2026-03-28T23:00:00Z")).toBe("2026-03-29T22:00:00.000Z");
    expect(next("0 0 29 2 *", "Europe/Paris", "2026-03-01T00:00:00Z")).toBe("2028-02-28T23:00:00.000Z");
  });

  it("passes a gap in one step, however many of the cron's times fall in it, and finds the first time after it", () => {
    // Every minute of 02:00-03:59 on the second Sunday of March: 02:xx does not exist in New York that day.
    expect(next("* 2-3 * 3 0#2", "America/New_York", "2026-03-01T00:00:00Z")).toBe("2026-03-08T07:00:00.000Z"); // 03:00 EDT
    expect(next("30 3 * 3 0#2", "America/New_York", "2026-03-01T00:00:00Z")).toBe("2026-03-08T07:30:00.000Z");
    // Samoa skipped the whole of 2011-12-30: noon that day does not exist, the next is noon on the 31st.
    expect(next("0 12 * * *", "Pacific/Apia", "2011-12-29T23:30:00Z")).toBe("2011-12-30T22:00:00.000Z");
    expect(runs("0 */6 * * *", "Pacific/Apia", "2011-12-29T20:00:00Z", "2011-12-31T00:00:00Z")).toEqual([
      "2011-12-29T22:00:00.000Z", // 12:00 on the 29th (-10)
      "2011-12-30T04:00:00.000Z", // 18:00
      "2011-12-30T10:00:00.000Z", // 00:00 on the 31st (+14): the 30th never was
      "2011-12-30T16:00:00.000Z",
      "2011-12-30T22:00:00.000Z",
    ]);
  });

  it("bounds the work of finding that a cron never fires: one step per gap, ten years ahead at most", () => {
    const formats = vi.spyOn(Intl.DateTimeFormat.prototype, "formatToParts");
    try {
      // Each names only times in New York's spring gap: searched to croner's year 3000 before, ~1,000 steps and 5,000 formats
      // for the first, 1,500 steps for the second (every minute of the gap, 60 a year), on the host's one thread.
      for (const cron of ["17 2 * 3 0#2", "* 2 * 3 0#2", "*/7 2 * 3 0#2"]) {
        formats.mockClear();
        expect(next(cron, "America/New_York", "2026-01-01T00:00:00Z")).toBeNull();
        expect({ cron, formats: formats.mock.calls.length < 2_000 }).toEqual({ cron, formats: true });
      }
    } finally {
      formats.mockRestore();
    }
  });

  it("ends a cron that only ever names a time that does not exist as never again, quickly", () => {
    const started = Date.now();
    // The second Sunday of March at 02:30 is always in New York's gap.
    expect(next("30 2 * 3 0#2", "America/New_York", "2026-01-01T00:00:00Z")).toBeNull();
    expect(Date.now() - started).toBeLessThan(5000);
    // The scheduler asks again at every sync: the answer is remembered, not searched for again.
    const again = Date.now();
    for (let i = 0; i < 50; i++) expect(next("30 2 * 3 0#2", "America/New_York", "2026-06-01T00:00:00Z")).toBeNull();
    expect(Date.now() - again).toBeLessThan(100);
  });
});

describeBackends("a job scheduled across daylight saving", (backend) => {
  let t: TestHost | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it("skips the run whose time does not exist that day, and runs the next day's", async () => {
    const clock = manualClock(Date.parse("2026-03-07T12:00:00Z"));
    const ledger = createLedger();
    t = await createTestHost({ database: await backend.connect(), schema: backend.freshSchema("annex_dst"), capabilities: [ledger.capability], now: clock.now });
    const install = await t.install(await reportsBundle("1.0.0", { jobs: [{ name: "nightly", cron: "30 2 * * *", handler: "nightly" }] }), { config: { timezone: "America/New_York" } });
    const [job] = await t.host.jobs.list({ installId: install.id });
    expect(job!.nextRunAt).toEqual(new Date("2026-03-09T06:30:00.000Z"));
    clock.advance(Date.parse("2026-03-08T07:31:00Z") - clock.now()); // 03:31 EDT on the day without 02:30
    expect(await t.jobs.tick()).toEqual({ ran: 0, ok: 0, failed: 0 });
    clock.advance(Date.parse("2026-03-09T06:30:00Z") - clock.now());
    expect(await t.jobs.tick()).toEqual({ ran: 1, ok: 1, failed: 0 });
    expect(ledger.notes()).toEqual(["nightly@2026-03-09T06:30:00.000Z"]);
  });
});
