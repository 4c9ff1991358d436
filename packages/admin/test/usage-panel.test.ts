// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { AdminError, summarizeUsage, usageRecordOf, type AnnexUsagePanel, type UsageRecord } from "../src/index.js";
import { $, $$, create, textOf } from "./fixtures-dom.js";

const hour = 3_600_000;
const base = Date.UTC(2026, 0, 1);
const records: UsageRecord[] = [
  ...Array.from({ length: 18 }, (_, i) => ({ at: base + (i % 3) * hour + i, ok: true, wallMs: 10 + i, cpuMs: 2, memoryPeakBytes: 4_000_000 })),
  { at: base + 1, ok: false, errorCode: "E_TIMEOUT", wallMs: 5000, cpuMs: 1000, memoryPeakBytes: 8_000_000 },
  { at: base + hour, ok: false, errorCode: "E_CAPABILITY_DENIED", wallMs: 3, cpuMs: 1, memoryPeakBytes: 3_000_000 },
];

describe("summarizeUsage", () => {
  it("counts executions and errors by code, and takes latency and CPU percentiles, the memory peak and an hourly series", () => {
    const summary = summarizeUsage(records);
    expect(summary.executions).toBe(20);
    expect(summary.errors).toBe(2);
    expect(summary.errorsByCode).toEqual({ E_TIMEOUT: 1, E_CAPABILITY_DENIED: 1 });
    expect(summary.latencyMs).toEqual({ p50: 18, p95: 27, max: 5000 });
    expect(summary.cpuMs).toEqual({ total: 1037, p95: 2 });
    expect(summary.memoryPeakBytes.max).toBe(8_000_000);
    expect(summary.series.map((point) => [point.t, point.executions, point.errors])).toEqual([
      [base, 7, 1],
      [base + hour, 7, 1],
      [base + 2 * hour, 6, 0],
    ]);
  });

  it("maps an ExecuteEvent of @annex/host, and refuses records it cannot read", () => {
    const at = new Date(base);
    expect(usageRecordOf({ result: { ok: false, error: { code: "E_MEMORY" }, usage: { wallMs: 4, cpuMs: 3, memoryPeakBytes: 9 } } }, at)).toEqual({ at, ok: false, errorCode: "E_MEMORY", wallMs: 4, cpuMs: 3, memoryPeakBytes: 9 });
    expect(() => summarizeUsage([{ at: "yesterday", ok: true, wallMs: 1, cpuMs: 1, memoryPeakBytes: 1 }])).toThrow(/records\[0\]/);
    expect(() => summarizeUsage([{ at: base, ok: true, wallMs: -1, cpuMs: 1, memoryPeakBytes: 1 }])).toThrow(AdminError);
  });
});

describe("<annex-usage-panel>", () => {
  it("shows executions, error rate, latency, CPU and memory, errors by code, and two charts", () => {
    const el = create<AnnexUsagePanel>("annex-usage-panel", { records }, { heading: "Acme Analytics usage" });
    const metric = (key: string) => textOf($(el, `[data-metric="${key}"]`));
    expect($(el, "h3").textContent).toBe("Acme Analytics usage");
    expect(metric("executions")).toBe("Executions 20");
    expect(metric("errors")).toBe("Errors 2 (10 %)");
    expect(metric("p95")).toBe("Latency p95 27 ms");
    expect(metric("memory")).toBe("Memory peak 7.6 MiB");
    expect($$(el, "tr[data-code]").map((tr) => tr.getAttribute("data-code"))).toEqual(["E_TIMEOUT", "E_CAPABILITY_DENIED"]);
    const charts = $$(el, "annex-chart") as Array<HTMLElement & { points: unknown[] }>;
    expect(charts.map((chart) => chart.getAttribute("label"))).toEqual(["Executions", "p95 latency"]);
    expect(charts[0]!.points).toHaveLength(3);
  });

  it("a summary from the host's metrics wins over records", () => {
    const el = create<AnnexUsagePanel>("annex-usage-panel", { records });
    el.summary = { executions: 1000, errors: 0, errorsByCode: {}, latencyMs: { p50: 1, p95: 2, max: 3 }, cpuMs: { total: 10, p95: 1 }, memoryPeakBytes: { max: 2048 }, series: [] };
    expect(textOf($(el, '[data-metric="executions"]'))).toBe("Executions 1,000");
    expect(textOf($(el, "table"))).toContain("No errors.");
    expect($$(el, "annex-chart")).toHaveLength(0);
  });

  it("says so when there is nothing yet, and keeps its data when given bad records", () => {
    const el = create<AnnexUsagePanel>("annex-usage-panel");
    expect($(el, "annex-empty-state").getAttribute("heading")).toBe("Usage: no executions yet");
    el.records = records;
    expect(() => (el.records = [{ at: base } as never])).toThrow(AdminError);
    expect(el.shownSummary.executions).toBe(20);
  });
});
