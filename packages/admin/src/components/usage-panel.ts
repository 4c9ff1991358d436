import type { AnnexChart } from "@annex/ui-kit";
import { AdminError } from "../errors.js";
import { AdminElement, defineElement } from "../internal/element.js";
import { h } from "../internal/dom.js";
import { baseStyles, v } from "../internal/styles.js";
import type { UsageRecord, UsageSummary } from "../types.js";
import { summarizeUsage } from "../usage.js";

const styles = `${baseStyles}
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(9rem, 1fr)); gap: ${v("space-3")}; margin: 0 0 ${v("space-4")}; }
.tile { padding: ${v("space-3")}; border: 1px solid ${v("color-border")}; border-radius: ${v("radius-md")}; background: ${v("color-surface")}; }
.tile dt { font-size: ${v("font-size-sm")}; color: ${v("color-text-muted")}; }
.tile dd { margin: ${v("space-1")} 0 0; font-size: ${v("font-size-lg")}; font-weight: ${v("font-weight-bold")}; font-variant-numeric: tabular-nums; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 20rem), 1fr)); gap: ${v("space-4")}; margin-top: ${v("space-4")}; }
`;

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value >= 10 ? 0 : 1)} ${units[unit]}`;
}

const number = (value: number, digits = 0) => value.toLocaleString(undefined, { maximumFractionDigits: digits });

/**
 * `<annex-usage-panel>`: what one install's executions cost: how many, the
 * error rate and errors by code, latency (p50, p95, max), CPU time and the
 * memory peak, with executions and p95 latency over time. It shows the data
 * it is given: raw `records` (summarised with `summarizeUsage`) or a
 * `summary` the host computed from its metrics.
 *
 * Properties: `records` (UsageRecord[]), `summary` (UsageSummary; wins over
 * records when both are set). Attributes: `heading` (default "Usage"),
 * `bucket-ms` (series bucket for records, default 3 600 000).
 */
export class AnnexUsagePanel extends AdminElement {
  static readonly tagName = "annex-usage-panel";
  static readonly observedAttributes = ["heading", "bucket-ms"];

  static define(): boolean {
    return defineElement(AnnexUsagePanel.tagName, AnnexUsagePanel);
  }

  #records: UsageRecord[] = [];
  #summary: UsageSummary | null = null;

  constructor() {
    super(styles);
  }

  get records(): UsageRecord[] {
    return this.#records;
  }
  set records(value: UsageRecord[]) {
    if (!Array.isArray(value)) throw new AdminError("E_ADMIN_INVALID_DATA", "records must be an array of usage records", { field: "records" });
    summarizeUsage(value); // validates: a bad record throws here, naming its index, and the panel keeps its data
    this.#records = [...value];
    this.render();
  }

  get summary(): UsageSummary | null {
    return this.#summary;
  }
  set summary(value: UsageSummary | null) {
    if (value !== null && !isUsageSummary(value)) {
      throw new AdminError("E_ADMIN_INVALID_DATA", "summary must be a usage summary { executions, errors, errorsByCode, latencyMs, cpuMs, memoryPeakBytes, series }", { field: "summary" });
    }
    this.#summary = value;
    this.render();
  }

  /** What the panel shows now. */
  get shownSummary(): UsageSummary {
    const bucket = Number(this.getAttribute("bucket-ms"));
    return this.#summary ?? summarizeUsage(this.#records, Number.isInteger(bucket) && bucket > 0 ? { bucketMs: bucket } : {});
  }

  attributeChangedCallback(): void {
    this.render();
  }

  protected render(): void {
    if (!this.isConnected) return;
    const s = this.shownSummary;
    const heading = this.getAttribute("heading") || "Usage";
    if (s.executions === 0) {
      this.replaceContent(h("annex-empty-state", { heading: `${heading}: no executions yet`, "heading-level": 3, description: "Requests, jobs and events this install handles show up here." }));
      return;
    }
    const rate = s.executions === 0 ? 0 : (s.errors / s.executions) * 100;
    const tile = (label: string, value: string, key: string) => h("div", { class: "tile", "data-metric": key }, h("dt", {}, label), h("dd", {}, value));
    const codes = Object.entries(s.errorsByCode).sort(([, a], [, b]) => b - a);
    const executionsChart = h("annex-chart", { type: "bar", label: "Executions", unit: "runs", height: 160 }) as AnnexChart;
    const latencyChart = h("annex-chart", { type: "line", label: "p95 latency", unit: "ms", height: 160 }) as AnnexChart;
    this.replaceContent(
      h("h3", {}, heading),
      h(
        "dl",
        { class: "tiles" },
        tile("Executions", number(s.executions), "executions"),
        tile("Errors", `${number(s.errors)} (${number(rate, 1)} %)`, "errors"),
        tile("Latency p50", `${number(s.latencyMs.p50, 1)} ms`, "p50"),
        tile("Latency p95", `${number(s.latencyMs.p95, 1)} ms`, "p95"),
        tile("Latency max", `${number(s.latencyMs.max, 1)} ms`, "max"),
        tile("CPU total", `${number(s.cpuMs.total, 1)} ms`, "cpu"),
        tile("CPU p95", `${number(s.cpuMs.p95, 1)} ms`, "cpu-p95"),
        tile("Memory peak", formatBytes(s.memoryPeakBytes.max), "memory"),
      ),
      h(
        "table",
        {},
        h("caption", {}, "Errors by code"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Code"), h("th", { scope: "col", class: "num" }, "Count"))),
        h("tbody", {}, ...(codes.length === 0 ? [h("tr", {}, h("td", { colspan: 2, class: "muted" }, "No errors."))] : codes.map(([code, count]) => h("tr", { "data-code": code }, h("td", {}, h("code", {}, code)), h("td", { class: "num" }, number(count)))))),
      ),
      s.series.length === 0 ? null : h("div", { class: "charts" }, executionsChart, latencyChart),
    );
    if (s.series.length > 0) {
      const series = s.series.slice(-1000);
      executionsChart.points = series.map((point) => ({ t: point.t, v: point.executions }));
      latencyChart.points = series.map((point) => ({ t: point.t, v: point.p95Ms }));
    }
  }
}

function isUsageSummary(value: unknown): value is UsageSummary {
  const s = value as Partial<UsageSummary> | null;
  const numbers = (object: unknown, keys: string[]) => typeof object === "object" && object !== null && keys.every((key) => typeof (object as Record<string, unknown>)[key] === "number");
  return (
    typeof s === "object" &&
    s !== null &&
    typeof s.executions === "number" &&
    typeof s.errors === "number" &&
    typeof s.errorsByCode === "object" &&
    s.errorsByCode !== null &&
    numbers(s.latencyMs, ["p50", "p95", "max"]) &&
    numbers(s.cpuMs, ["total", "p95"]) &&
    numbers(s.memoryPeakBytes, ["max"]) &&
    Array.isArray(s.series) &&
    s.series.every((point) => numbers(point, ["executions", "errors", "p95Ms"]))
  );
}
