// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { AnnexChart, isUiKitError, MAX_CHART_POINTS } from "../src/index.js";
import { niceStep, spreadIndices, valueDomain } from "../src/internal/scale.js";
import { mount, shadow } from "./dom.js";

const day = (d: number) => new Date(Date.UTC(2025, 2, d, 12));
const series = [
  { t: day(3), v: 30 },
  { t: day(1), v: 12 },
  { t: day(2).toISOString(), v: 4 },
  { t: day(4).getTime(), v: 18.5 },
];

function setup(type = "bar"): AnnexChart {
  const el = mount<AnnexChart>(`<annex-chart type="${type}" label="Requests per day" unit="req" lang="en-US"></annex-chart>`);
  el.points = series;
  return el;
}

describe("chart scales", () => {
  it("picks nice steps and a domain that includes zero", () => {
    expect([0.03, 0.7, 1.2, 2.2, 3, 7, 12, 430].map(niceStep)).toEqual([0.05, 1, 2, 2.5, 5, 10, 20, 500]);
    expect(valueDomain([4, 30, 12])).toEqual({ min: 0, max: 30, ticks: [0, 10, 20, 30] });
    expect(valueDomain([-5, 12])).toEqual({ min: -5, max: 15, ticks: [-5, 0, 5, 10, 15] });
    expect(valueDomain([0.1, 0.2, 0.3]).ticks).toEqual([0, 0.1, 0.2, 0.3]);
    expect(valueDomain([7, 7]).max).toBeGreaterThan(7);
    expect(spreadIndices(100, 5)).toEqual([0, 25, 50, 74, 99]);
    expect(spreadIndices(3, 6)).toEqual([0, 1, 2]);
  });
});

describe("<annex-chart>", () => {
  it("is an image named by its label and described by a summary of the data", () => {
    const el = setup();
    const svg = shadow(el, "svg");
    expect(svg.getAttribute("role")).toBe("img");
    expect(svg.getAttribute("aria-labelledby")).toBe("caption summary");
    expect(shadow(el, "figcaption").textContent).toBe("Requests per day");
    expect(el.summary).toMatch(/^Bar chart, 4 points from Mar 1, 2025.* to Mar 4, 2025.*\. Lowest 4 req \(Mar 2, 2025.*\), highest 30 req \(Mar 3, 2025.*\), latest 18\.5 req\.$/);
  });

  it("sorts points by time and draws one bar per point, taller for larger values", () => {
    const el = setup();
    expect(el.points.map((p) => p.v)).toEqual([12, 4, 30, 18.5]);
    const bars = Array.from(el.shadowRoot?.querySelectorAll("rect.bar") ?? []);
    expect(bars).toHaveLength(4);
    const heights = bars.map((bar) => Number(bar.getAttribute("height")));
    expect(heights[2]).toBeGreaterThan(heights[3] as number);
    expect(heights[3]).toBeGreaterThan(heights[0] as number);
    expect(heights[0]).toBeGreaterThan(heights[1] as number);
    // Heights are proportional to the values on a zero-based axis.
    expect((heights[2] as number) / (heights[0] as number)).toBeCloseTo(30 / 12, 5);
    const xs = bars.map((bar) => Number(bar.getAttribute("x")));
    expect([...xs].sort((a, b) => a - b)).toEqual(xs);
    expect(bars[0]?.querySelector("title")?.textContent).toContain("12 req");
  });

  it("draws a line through every point in time order when type=line", () => {
    const el = setup("line");
    expect(el.shadowRoot?.querySelectorAll("rect.bar")).toHaveLength(0);
    const d = shadow(el, "path.line").getAttribute("d") ?? "";
    const xs = [...d.matchAll(/[ML]([\d.]+),/g)].map((m) => Number(m[1]));
    expect(xs).toHaveLength(4);
    expect([...xs].sort((a, b) => a - b)).toEqual(xs);
    expect(el.shadowRoot?.querySelectorAll("circle.dot")).toHaveLength(4);
    expect(el.summary.startsWith("Line chart")).toBe(true);
  });

  it("has a data table fallback with one row per point", () => {
    const el = setup();
    expect(shadow(el, "details summary").textContent).toBe("Show data table");
    expect(shadow(el, "table caption").textContent).toBe("Requests per day");
    expect(shadow(el, "#value-header").textContent).toBe("Value (req)");
    const rows = Array.from(el.shadowRoot?.querySelectorAll("tbody tr") ?? []).map((tr) => tr.children[1]?.textContent);
    expect(rows).toEqual(["12", "4", "30", "18.5"]);
  });

  it("prints dates without a time of day for a daily series", () => {
    const el = setup();
    el.points = [1, 2, 3].map((d) => ({ t: new Date(2025, 2, d), v: d }));
    const times = Array.from(el.shadowRoot?.querySelectorAll("tbody tr") ?? []).map((tr) => tr.children[0]?.textContent ?? "");
    expect(times).toEqual(["Mar 1, 2025", "Mar 2, 2025", "Mar 3, 2025"]);
    el.points = [{ t: new Date(2025, 2, 1, 9, 30), v: 1 }];
    expect(el.shadowRoot?.querySelector("tbody td")?.textContent).toMatch(/9:30/);
  });

  it("says so when there is no data", () => {
    const el = setup();
    el.points = [];
    expect(shadow(el, "text.no-data").textContent).toBe("No data");
    expect(el.summary).toBe("Bar chart: no data.");
  });

  it("rejects bad points with the index in the message and keeps the old data", () => {
    const el = setup();
    const cases: [unknown, string][] = [
      ["x", "points must be an array"],
      [[{ t: day(1), v: 1 }, null], "points[1] must be an object"],
      [[{ t: day(1), v: Number.NaN }], "points[0].v must be a finite number"],
      [[{ t: day(1), v: Infinity }], "points[0].v"],
      [[{ t: day(1), v: "3" }], "points[0].v"],
      [[{ t: "not a date", v: 1 }], "points[0].t"],
      [[{ t: {}, v: 1 }], "points[0].t"],
      [Array.from({ length: MAX_CHART_POINTS + 1 }, (_, i) => ({ t: i, v: i })), "aggregate"],
    ];
    for (const [points, message] of cases) {
      try {
        el.points = points as never;
        expect.unreachable(message);
      } catch (error) {
        expect(isUiKitError(error, "E_UI_INVALID_CHART_DATA"), String(error)).toBe(true);
        expect((error as Error).message).toContain(message);
      }
    }
    expect(el.points).toHaveLength(4);
  });

  it("writes labels as text", () => {
    const el = setup();
    el.label = "<img src=x onerror=alert(1)>";
    el.setAttribute("unit", "<b>u</b>");
    expect(el.shadowRoot?.querySelector("img, b")).toBeNull();
    expect(shadow(el, "figcaption").textContent).toBe("<img src=x onerror=alert(1)>");
  });
});
