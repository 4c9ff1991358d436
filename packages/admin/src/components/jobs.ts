import { AdminError } from "../errors.js";
import { formatDateTime, toDate } from "../internal/dates.js";
import { defineElement } from "../internal/element.js";
import { checkedList, ExtensionNamesElement } from "../internal/named-element.js";
import { h } from "../internal/dom.js";
import { baseStyles, v } from "../internal/styles.js";
import type { AdminJob, AdminJobError, AdminJobRun, AdminJobRunResult } from "../types.js";

/** `annex-job-run`: the admin pressed Run now; the host runs it (`host.jobs.runNow`) and answers with `runFinished()`. */
export interface JobRunDetail {
  installId: string;
  name: string;
  job: AdminJob;
}

/** `annex-job-runs`: the admin opened a job's recent runs; the host sets `runs` (`host.jobs.runs({ installId, name })`). */
export interface JobRunsDetail {
  installId: string;
  name: string;
  job: AdminJob;
}

const styles = `${baseStyles}
:host { display: block; }
.scroll { overflow-x: auto; }
td.when { white-space: nowrap; }
.code { font-family: ${v("font-family-mono")}; font-size: ${v("font-size-xs")}; font-weight: ${v("font-weight-bold")}; }
.result { display: block; margin-top: ${v("space-1")}; max-width: 24rem; }
.result:empty { display: none; }
tr.runs > td { background: ${v("color-surface-muted")}; }
tr.runs table { background: ${v("color-surface")}; }
`;

const OUTCOME_BADGE = { ok: "success", error: "danger", running: "info" } as const;

/** One job of one install ("/" never occurs in an install id). */
const keyOf = (installId: string, name: string) => `${installId}/${name}`;

/** "850 ms", "2.4 s", "3 min 5 s". */
function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

function isError(value: unknown): value is AdminJobError {
  return typeof value === "object" && value !== null && typeof (value as AdminJobError).code === "string" && typeof (value as AdminJobError).message === "string";
}

function checkJob(job: unknown, index: number): void {
  const j = job as Partial<AdminJob> | null;
  if (
    typeof j !== "object" ||
    j === null ||
    typeof j.installId !== "string" ||
    typeof j.extensionId !== "string" ||
    typeof j.name !== "string" ||
    typeof j.cron !== "string" ||
    typeof j.timezone !== "string"
  ) {
    throw new AdminError("E_ADMIN_INVALID_DATA", `jobs[${index}] is not a job { installId, extensionId, name, cron, timezone, nextRunAt, running, lastRun? }`, { field: `jobs[${index}]` });
  }
  // Read as a truth value, the string "false" showed a job as running and disabled its Run now.
  if (typeof j.running !== "boolean") {
    throw new AdminError("E_ADMIN_INVALID_DATA", `jobs[${index}].running must be true or false`, { field: `jobs[${index}].running` });
  }
}

function checkRun(run: unknown, index: number): void {
  const r = run as Partial<AdminJobRun> | null;
  if (typeof r !== "object" || r === null || typeof r.runId !== "string" || typeof r.installId !== "string" || typeof r.name !== "string" || !["running", "ok", "error"].includes(r.outcome as string)) {
    throw new AdminError("E_ADMIN_INVALID_DATA", `runs[${index}] is not a job run { runId, installId, name, trigger, outcome, … }`, { field: `runs[${index}]` });
  }
}

/** An outcome and its error as one line: a badge, then the code and message as text. */
function outcomeOf(outcome: "ok" | "error" | "running", error: AdminJobError | null | undefined, durationMs?: number | null): Node[] {
  const nodes: Node[] = [h("annex-badge", { variant: OUTCOME_BADGE[outcome], "data-outcome": outcome }, outcome)];
  if (durationMs !== undefined && durationMs !== null) nodes.push(document.createTextNode(` in ${formatDuration(durationMs)}`));
  if (outcome === "error" && isError(error)) nodes.push(document.createTextNode(" "), h("span", { class: "code" }, error.code), document.createTextNode(` ${error.message}`));
  return nodes;
}

/**
 * `<annex-jobs>`: the background jobs of a tenant's installs (`host.jobs`
 * of @annex/host): per job its extension, name, cron schedule and time zone,
 * next run, and last run with outcome and duration; a Run now button, busy
 * until the host answers with `runFinished()` and then showing the outcome
 * (ok, or the error's code and message); and the job's recent runs on demand.
 *
 * Properties: `jobs` (AdminJob[]: `JobInfo` of @annex/host), `extensionNames`
 * (display names by extension id), `runs` (AdminJobRun[]: the recent runs of
 * the job that is open); read-only `expanded` (the job whose runs are open, or
 * null). Method: `runFinished(installId, name, result)`.
 * Attributes: `caption` (default "Jobs"), `empty-text`.
 * Events: `annex-job-run` (JobRunDetail), `annex-job-runs` (JobRunsDetail).
 */
export class AnnexJobs extends ExtensionNamesElement {
  static readonly tagName = "annex-jobs";
  static readonly observedAttributes = ["caption", "empty-text"];

  static define(): boolean {
    return defineElement(AnnexJobs.tagName, AnnexJobs);
  }

  #jobs: AdminJob[] = [];
  /** Jobs whose Run now the host has not answered yet. */
  #busy = new Set<string>();
  /** The last Run now answer per job, kept across new `jobs` lists. */
  #results = new Map<string, AdminJobRunResult>();
  #expanded: { installId: string; name: string } | null = null;
  /** Null until the host answered `annex-job-runs` for the open job. */
  #runs: AdminJobRun[] | null = null;

  constructor() {
    super(styles);
  }

  get jobs(): AdminJob[] {
    return this.#jobs;
  }
  set jobs(value: AdminJob[]) {
    this.#jobs = checkedList(value, "jobs", "jobs", checkJob);
    // The runs of a job that went away (its install was uninstalled) close.
    if (this.#expanded !== null && !value.some((job) => job.installId === this.#expanded!.installId && job.name === this.#expanded!.name)) {
      this.#expanded = null;
      this.#runs = null;
    }
    this.render();
  }

  get runs(): AdminJobRun[] {
    return this.#runs ?? [];
  }
  set runs(value: AdminJobRun[]) {
    this.#runs = checkedList(value, "runs", "job runs", checkRun);
    this.render();
  }

  get expanded(): { installId: string; name: string } | null {
    return this.#expanded === null ? null : { ...this.#expanded };
  }

  /** The host's answer to `annex-job-run`: the run's result, or a refusal as `{ outcome: "error", error }`. */
  runFinished(installId: string, name: string, result: AdminJobRunResult): void {
    if (typeof result !== "object" || result === null || (result.outcome !== "ok" && result.outcome !== "error") || (result.error != null && !isError(result.error))) {
      throw new AdminError("E_ADMIN_INVALID_DATA", "runFinished: result must be { outcome: \"ok\" | \"error\", error?: { code, message }, durationMs? }", { field: "result" });
    }
    const key = keyOf(installId, name);
    this.#busy.delete(key);
    this.#results.set(key, { ...result });
    this.render();
  }

  attributeChangedCallback(): void {
    this.render();
  }

  protected render(): void {
    if (!this.isConnected) return;
    // The table is rebuilt: the button that had focus (Run now, Recent runs) gets it back.
    const focused = this.root.activeElement;
    const refocus = focused instanceof HTMLElement && focused.dataset["job"] !== undefined ? { job: focused.dataset["job"], action: focused.dataset["action"] } : null;

    const rows = this.#jobs.flatMap((job) => {
      const key = keyOf(job.installId, job.name);
      const extension = this.nameOf(job.extensionId);
      const busy = this.#busy.has(key);
      const open = this.#expanded !== null && keyOf(this.#expanded.installId, this.#expanded.name) === key;
      // The host would refuse it: a paused schedule (the install is disabled or changing) with E_JOB_INSTALL_NOT_ACTIVE,
      // a run under way (scheduled, or from another console) with E_JOB_RUNNING. The row says which.
      const blocked = !busy && isBlocked(job);
      const run = h("annex-button", { size: "sm", variant: "primary", "data-job": key, "data-action": "run", label: `Run ${job.name} of ${extension} now`, loading: busy, "loading-label": `Running ${job.name}…`, disabled: blocked }, "Run now");
      const toggle = h("annex-button", { size: "sm", variant: "ghost", "data-job": key, "data-action": "runs", pressed: String(open), label: `Recent runs of ${job.name} of ${extension}` }, "Recent runs");
      run.addEventListener("click", () => this.#run(job));
      toggle.addEventListener("click", () => this.#toggle(job));
      const result = this.#results.get(key);
      const last = job.lastRun ?? null;
      const lastDuration = last === null ? null : (toDate(last.finishedAt)?.getTime() ?? NaN) - (toDate(last.startedAt)?.getTime() ?? NaN);
      const row = h(
        "tr",
        { "data-job": key },
        h("td", {}, extension),
        h("td", {}, h("code", {}, job.name)),
        h("td", {}, h("code", {}, job.cron), h("div", { class: "muted" }, job.timezone)),
        h("td", { class: "when" }, job.running ? h("annex-badge", { variant: "info" }, "running") : job.nextRunAt === null || job.nextRunAt === undefined ? h("span", { class: "muted" }, "Paused") : formatDateTime(job.nextRunAt)),
        h("td", { class: "last" }, last === null ? h("span", { class: "muted" }, "Never ran") : h("span", {}, ...outcomeOf(last.outcome, last.error, Number.isFinite(lastDuration) ? lastDuration : null), h("div", { class: "muted when" }, formatDateTime(last.finishedAt)))),
        h(
          "td",
          {},
          h("div", { class: "row" }, run, toggle),
          // Announced when the host answers: "ok in 12 ms", or the error's code and message.
          h("span", { class: "result", role: "status", "data-result": result?.outcome ?? null }, ...(busy || result === undefined ? [] : outcomeOf(result.outcome, result.error, result.durationMs))),
        ),
      );
      return open ? [row, this.#runsRow(job, extension)] : [row];
    });
    const empty = this.getAttribute("empty-text") || "No jobs: no installed extension declares one.";
    const table = h(
      "table",
      {},
      h("caption", {}, this.getAttribute("caption") || "Jobs", h("span", { class: "visually-hidden" }, `, ${this.#jobs.length} jobs`)),
      h("thead", {}, h("tr", {}, ...["Extension", "Job", "Schedule", "Next run", "Last run", "Actions"].map((label) => h("th", { scope: "col" }, label)))),
      h("tbody", {}, ...(rows.length > 0 ? rows : [h("tr", {}, h("td", { colspan: 6, class: "muted" }, empty))])),
    );
    this.replaceContent(h("div", { class: "scroll" }, table));
    if (refocus !== null) {
      for (const el of this.root.querySelectorAll<HTMLElement>("[data-action]")) if (el.dataset["job"] === refocus.job && el.dataset["action"] === refocus.action) el.focus();
    }
  }

  #runsRow(job: AdminJob, extension: string): HTMLElement {
    const runs = this.#runs?.filter((run) => run.installId === job.installId && run.name === job.name) ?? null;
    const body =
      runs === null
        ? [h("tr", {}, h("td", { colspan: 6, class: "muted" }, "Loading recent runs…"))]
        : runs.length === 0
          ? [h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No runs yet."))]
          : runs.map((run) =>
              h(
                "tr",
                { "data-run": run.runId },
                h("td", { class: "when" }, formatDateTime(run.startedAt)),
                h("td", {}, run.trigger === "manual" ? `Run now by ${run.actor}` : "Schedule"),
                h("td", {}, run.version),
                h("td", {}, ...outcomeOf(run.outcome, run.error)),
                h("td", { class: "num" }, formatDuration(run.durationMs)),
                h("td", { class: "when" }, formatDateTime(run.scheduledAt)),
              ),
            );
    return h(
      "tr",
      { class: "runs", "data-runs-for": keyOf(job.installId, job.name) },
      h(
        "td",
        { colspan: 6 },
        h(
          "table",
          {},
          h("caption", {}, `Recent runs of ${job.name} (${extension})`),
          h("thead", {}, h("tr", {}, ...["Started", "Trigger", "Version", "Outcome", "Duration", "Due"].map((label) => h("th", { scope: "col", class: label === "Duration" ? "num" : null }, label)))),
          h("tbody", {}, ...body),
        ),
      ),
    );
  }

  #run(job: AdminJob): void {
    const key = keyOf(job.installId, job.name);
    // One Run now at a time per job from this console; the host refuses a second anyway (E_JOB_RUNNING).
    if (this.#busy.has(key) || isBlocked(job)) return;
    this.#busy.add(key);
    this.#results.delete(key);
    this.render();
    this.emit<JobRunDetail>("annex-job-run", { installId: job.installId, name: job.name, job });
  }

  #toggle(job: AdminJob): void {
    const open = this.#expanded !== null && this.#expanded.installId === job.installId && this.#expanded.name === job.name;
    this.#expanded = open ? null : { installId: job.installId, name: job.name };
    this.#runs = null;
    this.render();
    if (!open) this.emit<JobRunsDetail>("annex-job-runs", { installId: job.installId, name: job.name, job });
  }
}

/** Run now would be refused: the schedule is paused (no next run) or a run holds the job. */
function isBlocked(job: AdminJob): boolean {
  return job.running || job.nextRunAt === null || job.nextRunAt === undefined;
}
