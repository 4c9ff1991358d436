// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { AdminError, type AdminJob, type AdminJobRun, type AnnexJobs, type JobRunDetail, type JobRunsDetail } from "../src/index.js";
import { $, $$, create, events, press, textOf, tick } from "./fixtures-dom.js";

function jobOf(overrides: Partial<AdminJob> = {}): AdminJob {
  return {
    installId: "i-1",
    tenant: "acme",
    extensionId: "acme.web-analytics",
    name: "rollup",
    cron: "5 * * * *",
    timezone: "UTC",
    nextRunAt: "2026-01-01T13:05:00.000Z",
    running: false,
    ...overrides,
  };
}

function runOf(n: number, overrides: Partial<AdminJobRun> = {}): AdminJobRun {
  return {
    runId: `r-${n}`,
    installId: "i-1",
    extensionId: "acme.web-analytics",
    version: "1.0.0",
    name: "rollup",
    trigger: "schedule",
    actor: "system",
    scheduledAt: "2026-01-01T12:05:00.000Z",
    startedAt: "2026-01-01T12:05:00.010Z",
    finishedAt: "2026-01-01T12:05:00.052Z",
    durationMs: 42,
    outcome: "ok",
    ...overrides,
  };
}

const row = (el: Element, key: string) => $(el, `tr[data-job="${key}"]`);
const button = (el: Element, name: string) => $$(el, "annex-button").find((b) => b.getAttribute("label") === name)!;
const resultOf = (el: Element, key: string) => row(el, key).querySelector('[role="status"]') as HTMLElement;

describe("<annex-jobs>", () => {
  it("shows each job with extension, name, schedule, time zone, next run and last run with outcome and duration", () => {
    const el = create<AnnexJobs>("annex-jobs", {
      jobs: [
        jobOf({
          lastRun: { runId: "r-9", scheduledAt: "2026-01-01T12:05:00.000Z", startedAt: "2026-01-01T12:05:00.000Z", finishedAt: "2026-01-01T12:05:01.500Z", outcome: "error", error: { code: "E_TIMEOUT", message: "no answer in 6000 ms" } },
        }),
        jobOf({ installId: "i-2", extensionId: "acme.ats", name: "digest", cron: "0 8 * * 1", timezone: "Europe/Paris", nextRunAt: null }),
      ],
      extensionNames: { "acme.web-analytics": "Web analytics" },
    });
    expect($$(el, "thead th").map((th) => th.textContent)).toEqual(["Extension", "Job", "Schedule", "Next run", "Last run", "Actions"]);
    const first = textOf(row(el, "i-1/rollup"));
    expect(first).toMatch(/^Web analytics rollup 5 \* \* \* \* UTC /);
    expect(first).toContain("error in 1.5 s E_TIMEOUT no answer in 6000 ms");
    expect(row(el, "i-1/rollup").querySelector('annex-badge[data-outcome="error"]')!.getAttribute("variant")).toBe("danger");
    // No display name: the extension id; a disabled install's schedule is paused; never ran yet.
    expect(textOf(row(el, "i-2/digest"))).toMatch(/^acme\.ats digest 0 8 \* \* 1 Europe\/Paris Paused Never ran/);
  });

  it("offers no Run now the host would refuse: a paused schedule or a run under way; it comes back with the next list", async () => {
    const el = create<AnnexJobs>("annex-jobs", { jobs: [jobOf({ nextRunAt: null }), jobOf({ name: "purge", running: true })] });
    const asked = events<JobRunDetail>(el, "annex-job-run");
    const paused = button(el, "Run rollup of acme.web-analytics now");
    const running = button(el, "Run purge of acme.web-analytics now");
    expect([paused.hasAttribute("disabled"), running.hasAttribute("disabled")]).toEqual([true, true]);
    press(paused);
    press(running);
    await tick();
    expect(asked).toEqual([]);
    expect(textOf(row(el, "i-1/purge"))).toContain("running");
    el.jobs = [jobOf(), jobOf({ name: "purge" })];
    expect(button(el, "Run rollup of acme.web-analytics now").hasAttribute("disabled")).toBe(false);
    press(button(el, "Run purge of acme.web-analytics now"));
    await tick();
    expect(asked.map((a) => a.name)).toEqual(["purge"]);
  });

  it("says so when no install has a job", () => {
    const el = create<AnnexJobs>("annex-jobs", { jobs: [] });
    expect(textOf($(el, "tbody"))).toBe("No jobs: no installed extension declares one.");
  });

  it("Run now asks the host, is busy until the host answers, then shows the outcome and duration", async () => {
    const el = create<AnnexJobs>("annex-jobs", { jobs: [jobOf(), jobOf({ name: "purge", cron: "@daily" })] });
    const asked = events<JobRunDetail>(el, "annex-job-run");
    press(button(el, "Run rollup of acme.web-analytics now"));
    await tick();
    expect(asked).toEqual([{ installId: "i-1", name: "rollup", job: jobOf() }]);
    const run = button(el, "Run rollup of acme.web-analytics now");
    expect(run.hasAttribute("loading")).toBe(true);
    // Busy: a second press asks nothing; the other job's button is not busy.
    press(run);
    expect(asked).toHaveLength(1);
    expect(button(el, "Run purge of acme.web-analytics now").hasAttribute("loading")).toBe(false);
    // A new list from the host (a refresh) while it runs keeps it busy.
    el.jobs = [jobOf({ running: true }), jobOf({ name: "purge", cron: "@daily" })];
    expect(button(el, "Run rollup of acme.web-analytics now").hasAttribute("loading")).toBe(true);

    el.runFinished("i-1", "rollup", { outcome: "ok", durationMs: 12, runId: "r-10" });
    expect(button(el, "Run rollup of acme.web-analytics now").hasAttribute("loading")).toBe(false);
    expect(textOf(resultOf(el, "i-1/rollup"))).toBe("ok in 12 ms");
    expect(resultOf(el, "i-1/purge").textContent).toBe("");
    // The answer stays when the host lists the jobs again after the run.
    el.jobs = [jobOf(), jobOf({ name: "purge", cron: "@daily" })];
    expect(textOf(resultOf(el, "i-1/rollup"))).toBe("ok in 12 ms");
  });

  it("shows a failed run's code and message, and a refusal from the host", async () => {
    const el = create<AnnexJobs>("annex-jobs", { jobs: [jobOf()] });
    press(button(el, "Run rollup of acme.web-analytics now"));
    el.runFinished("i-1", "rollup", { outcome: "error", durationMs: 3, error: { code: "E_HANDLER_FAILED", message: "Error: relation does not exist" } });
    expect(textOf(resultOf(el, "i-1/rollup"))).toBe("error in 3 ms E_HANDLER_FAILED Error: relation does not exist");
    expect(resultOf(el, "i-1/rollup").getAttribute("data-result")).toBe("error");
    // Pressed again: the old answer goes while it runs.
    press(button(el, "Run rollup of acme.web-analytics now"));
    expect(resultOf(el, "i-1/rollup").textContent).toBe("");
    el.runFinished("i-1", "rollup", { outcome: "error", error: { code: "E_JOB_RUNNING", message: "rollup of install i-1 is running" } });
    expect(textOf(resultOf(el, "i-1/rollup"))).toBe("error E_JOB_RUNNING rollup of install i-1 is running");
    expect(() => el.runFinished("i-1", "rollup", { outcome: "maybe" } as never)).toThrow(AdminError);
  });

  it("opens a job's recent runs: asks the host, shows loading, then the runs; a second press closes them", async () => {
    const el = create<AnnexJobs>("annex-jobs", { jobs: [jobOf(), jobOf({ name: "purge" })] });
    const asked = events<JobRunsDetail>(el, "annex-job-runs");
    press(button(el, "Recent runs of rollup of acme.web-analytics"));
    await tick();
    expect(asked).toEqual([{ installId: "i-1", name: "rollup", job: jobOf() }]);
    expect(el.expanded).toEqual({ installId: "i-1", name: "rollup" });
    expect(button(el, "Recent runs of rollup of acme.web-analytics").getAttribute("pressed")).toBe("true");
    const runsRow = () => $(el, 'tr.runs[data-runs-for="i-1/rollup"]');
    expect(textOf(runsRow())).toContain("Loading recent runs…");
    el.runs = [
      runOf(2, { trigger: "manual", actor: "user:admin@acme.example", durationMs: 1234 }),
      runOf(1, { outcome: "error", error: { code: "E_TIMEOUT", message: "too slow" }, durationMs: 6000 }),
      // Another job's runs (a late answer) are not shown under this one.
      runOf(3, { name: "purge" }),
    ];
    expect($$(el, "tr[data-run]").map((tr) => tr.getAttribute("data-run"))).toEqual(["r-2", "r-1"]);
    expect(textOf($(el, 'tr[data-run="r-2"]'))).toContain("Run now by user:admin@acme.example 1.0.0 ok 1.2 s");
    expect(textOf($(el, 'tr[data-run="r-1"]'))).toContain("Schedule 1.0.0 error E_TIMEOUT too slow 6.0 s");
    press(button(el, "Recent runs of rollup of acme.web-analytics"));
    expect(el.expanded).toBeNull();
    expect($$(el, "tr.runs")).toEqual([]);
    expect(asked).toHaveLength(1);
  });

  it("closes the runs of a job that is no longer listed, and says when a job has none", () => {
    const el = create<AnnexJobs>("annex-jobs", { jobs: [jobOf()] });
    press(button(el, "Recent runs of rollup of acme.web-analytics"));
    el.runs = [];
    expect(textOf($(el, "tr.runs"))).toContain("No runs yet.");
    el.jobs = [jobOf({ installId: "i-3" })];
    expect(el.expanded).toBeNull();
    expect($$(el, "tr.runs")).toEqual([]);
  });

  it("refuses data that is not jobs or runs, naming the field, and keeps what it showed", () => {
    const el = create<AnnexJobs>("annex-jobs", { jobs: [jobOf()] });
    expect(() => (el.jobs = [jobOf(), { installId: "i-2", name: 7 } as unknown as AdminJob])).toThrow(AdminError);
    expect(() => (el.jobs = "nope" as unknown as AdminJob[])).toThrow(expect.objectContaining({ code: "E_ADMIN_INVALID_DATA", details: { field: "jobs" } }));
    expect(() => (el.runs = [{ runId: "r", installId: "i-1", name: "rollup", outcome: "done" } as unknown as AdminJobRun])).toThrow(
      expect.objectContaining({ code: "E_ADMIN_INVALID_DATA", details: { field: "runs[0]" } }),
    );
    expect($$(el, "tbody tr[data-job]")).toHaveLength(1);
  });

  it("writes what extensions provide as text, never as HTML", () => {
    const hostile = "<img src=x onerror=alert(1)>";
    const el = create<AnnexJobs>("annex-jobs", {
      jobs: [
        jobOf({
          name: hostile,
          cron: "<b>cron</b>",
          timezone: "<i>tz</i>",
          lastRun: { runId: "r", scheduledAt: "2026-01-01T12:00:00Z", startedAt: "2026-01-01T12:00:00Z", finishedAt: "2026-01-01T12:00:01Z", outcome: "error", error: { code: "<u>E</u>", message: "<script>alert(1)</script>" } },
        }),
      ],
      extensionNames: { "acme.web-analytics": "<em>Analytics</em>" },
    });
    press(button(el, `Run ${hostile} of <em>Analytics</em> now`));
    el.runFinished("i-1", hostile, { outcome: "error", error: { code: "E_X", message: "<svg onload=alert(1)>" } });
    press(button(el, `Recent runs of ${hostile} of <em>Analytics</em>`));
    el.runs = [runOf(1, { name: hostile, version: "<s>1</s>", actor: "<a href=x>me</a>", trigger: "manual", outcome: "error", error: { code: "E", message: "<iframe></iframe>" } })];
    expect($$(el, "img, b, i, u, em, s, a, script, svg, iframe")).toEqual([]);
    const text = textOf(el);
    for (const literal of [hostile, "<b>cron</b>", "<i>tz</i>", "<script>alert(1)</script>", "<svg onload=alert(1)>", "<em>Analytics</em>", "<s>1</s>", "Run now by <a href=x>me</a>", "<iframe></iframe>"]) {
      expect(text).toContain(literal);
    }
  });
});
