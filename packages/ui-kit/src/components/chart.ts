import { UiKitError } from "../errors.js";
import { AnnexElement, defineElement } from "../internal/element.js";
import { spreadIndices, valueDomain } from "../internal/scale.js";
import { focusRing, sharedStyles } from "../internal/styles.js";
import { v } from "../theme/vars.js";

export type ChartType = "bar" | "line";

/** One observation: a time (Date, epoch milliseconds or ISO string) and a finite value. */
export interface ChartPoint {
  t: Date | number | string;
  v: number;
}

interface Point {
  time: Date;
  value: number;
}

/** More points than this cannot be told apart in a small chart: aggregate first. */
export const MAX_CHART_POINTS = 1000;

const SVG = "http://www.w3.org/2000/svg";
const MARGIN = { top: 12, right: 16, bottom: 28 };
// Axis labels are 12px text; this is a generous average glyph width for sizing the value axis.
const LABEL_CHAR_WIDTH = 7.5;

const styles = `${sharedStyles}
:host { display: block; color: ${v("color-text")}; }
figure { margin: 0; }
figcaption { margin-bottom: ${v("space-2")}; font-size: ${v("font-size-sm")}; font-weight: ${v("font-weight-bold")}; }
figcaption:empty { display: none; }
svg { display: block; width: 100%; overflow: visible; font-family: inherit; }
.grid { stroke: ${v("color-chart-grid")}; stroke-width: 1; }
.axis-label { fill: ${v("color-text-muted")}; font-size: 12px; }
.bar { fill: ${v("color-chart-1")}; }
.line { fill: none; stroke: ${v("color-chart-1")}; stroke-width: 2; stroke-linejoin: round; stroke-linecap: round; }
.dot { fill: ${v("color-chart-1")}; }
.no-data { fill: ${v("color-text-muted")}; font-size: 14px; }
details { margin-top: ${v("space-2")}; font-size: ${v("font-size-sm")}; }
summary { width: fit-content; color: ${v("color-primary")}; cursor: pointer; border-radius: ${v("radius-sm")}; }
summary:focus-visible { ${focusRing} }
table { margin-top: ${v("space-2")}; border-collapse: collapse; font-variant-numeric: tabular-nums; color: ${v("color-text")}; }
caption { text-align: start; font-weight: ${v("font-weight-bold")}; padding-bottom: ${v("space-1")}; }
th, td { padding: ${v("space-1")} ${v("space-3")}; text-align: start; border-bottom: 1px solid ${v("color-border")}; }
td:last-child, th:last-child { text-align: end; }
`;

const template = `<figure part="figure"><figcaption id="caption" part="caption"></figcaption><svg id="svg" role="img" aria-labelledby="caption summary" part="svg"></svg><span id="summary" class="visually-hidden"></span><details part="data"><summary id="toggle">Show data table</summary><table><caption id="table-caption"></caption><thead><tr><th scope="col" id="time-header">Time</th><th scope="col" id="value-header">Value</th></tr></thead><tbody id="rows"></tbody></table></details></figure>`;

function invalid(message: string, details?: Record<string, unknown>): UiKitError {
  return new UiKitError("E_UI_INVALID_CHART_DATA", message, details);
}

function toTime(t: unknown, index: number): Date {
  const time = t instanceof Date ? new Date(t.getTime()) : typeof t === "number" ? new Date(t) : typeof t === "string" ? new Date(t) : null;
  if (time === null || Number.isNaN(time.getTime())) {
    throw invalid(`points[${index}].t must be a Date, epoch milliseconds or an ISO date string; got ${JSON.stringify(t) ?? String(t)}`, { index });
  }
  return time;
}

function checkPoints(points: unknown): Point[] {
  if (!Array.isArray(points)) throw invalid("points must be an array of { t, v }");
  if (points.length > MAX_CHART_POINTS) {
    throw invalid(`points has ${points.length} entries; a chart shows at most ${MAX_CHART_POINTS}: aggregate (e.g. per hour or day) first`, {
      length: points.length,
    });
  }
  return points
    .map((point: unknown, i): Point => {
      if (typeof point !== "object" || point === null) throw invalid(`points[${i}] must be an object { t, v }`, { index: i });
      const { t, v: value } = point as { t?: unknown; v?: unknown };
      if (typeof value !== "number" || !Number.isFinite(value)) {
        throw invalid(`points[${i}].v must be a finite number; got ${String(value)}: drop or fix the point`, { index: i });
      }
      return { time: toTime(t, i), value };
    })
    .sort((a, b) => a.time.getTime() - b.time.getTime());
}

function svgEl<K extends keyof SVGElementTagNameMap>(name: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  return el;
}

/**
 * `<annex-chart>`: a small SVG bar or line chart of one time series. It is an
 * image with a name and a spoken summary (range, lowest, highest, latest),
 * and a data table under a disclosure for anyone who wants the numbers.
 *
 * Attributes: type (bar | line), label (the accessible name and caption), unit, height (px, default 200).
 * Property: points ({ t, v }[], sorted by time on the way in; throws E_UI_INVALID_CHART_DATA).
 */
export class AnnexChart extends AnnexElement {
  static readonly tagName = "annex-chart";
  static readonly observedAttributes = ["type", "label", "unit", "height", "lang"];

  static define(): boolean {
    return defineElement(AnnexChart.tagName, AnnexChart);
  }

  #points: Point[] = [];
  #width = 0;
  #resize: ResizeObserver | undefined;

  constructor() {
    super(styles, template);
  }

  get points(): ChartPoint[] {
    return this.#points.map((p) => ({ t: new Date(p.time.getTime()), v: p.value }));
  }
  set points(points: ChartPoint[]) {
    this.#points = checkPoints(points);
    this.#render();
  }

  get type(): ChartType {
    return this.getAttribute("type") === "line" ? "line" : "bar";
  }
  set type(value: ChartType) {
    this.setAttribute("type", value);
  }

  get label(): string {
    return this.getAttribute("label") ?? "";
  }
  set label(value: string) {
    this.setAttribute("label", value);
  }

  /** The spoken description of the data (also the image's description). */
  get summary(): string {
    return this.byId("summary").textContent ?? "";
  }

  connectedCallback(): void {
    if (typeof ResizeObserver === "function" && this.#resize === undefined) {
      this.#resize = new ResizeObserver((entries) => {
        const width = Math.round(entries[0]?.contentRect.width ?? 0);
        if (width > 0 && width !== this.#width) {
          this.#width = width;
          this.#render();
        }
      });
      this.#resize.observe(this);
    }
    this.#render();
  }

  disconnectedCallback(): void {
    this.#resize?.disconnect();
    this.#resize = undefined;
  }

  attributeChangedCallback(): void {
    this.#render();
  }

  #locale(): string | undefined {
    const lang = this.closest("[lang]")?.getAttribute("lang");
    return lang || (typeof navigator === "undefined" ? undefined : navigator.language);
  }

  #render(): void {
    const points = this.#points;
    const locale = this.#locale();
    const unit = this.getAttribute("unit") ?? "";
    const number = new Intl.NumberFormat(locale, { maximumFractionDigits: 2 });
    const formatValue = (value: number) => (unit ? `${number.format(value)} ${unit}` : number.format(value));
    const span = points.length > 1 ? (points.at(-1) as Point).time.getTime() - (points[0] as Point).time.getTime() : 0;
    const dateOptions: Intl.DateTimeFormatOptions =
      span < 2 * 86_400_000 ? { hour: "2-digit", minute: "2-digit" } : { month: "short", day: "numeric" };
    const formatTime = new Intl.DateTimeFormat(locale, dateOptions).format;
    // Daily series carry no meaningful time of day: do not print "12:00 AM" on every row.
    const dailyOnly = points.every((p) => p.time.getHours() === 0 && p.time.getMinutes() === 0);
    const fullTime = new Intl.DateTimeFormat(locale, dailyOnly ? { dateStyle: "medium" } : { dateStyle: "medium", timeStyle: "short" }).format;

    this.byId("caption").textContent = this.label;
    this.byId("table-caption").textContent = this.label;
    this.byId("value-header").textContent = unit ? `Value (${unit})` : "Value";
    this.byId("summary").textContent = this.#describe(points, formatValue, fullTime);
    this.#renderTable(points, number, fullTime);
    this.#renderSvg(points, formatValue, formatTime, fullTime);
  }

  #describe(points: Point[], formatValue: (n: number) => string, fullTime: (d: Date) => string): string {
    const kind = this.type === "line" ? "Line chart" : "Bar chart";
    if (points.length === 0) return `${kind}: no data.`;
    const first = points[0] as Point;
    const last = points.at(-1) as Point;
    const low = points.reduce((a, b) => (b.value < a.value ? b : a));
    const high = points.reduce((a, b) => (b.value > a.value ? b : a));
    return (
      `${kind}, ${points.length} ${points.length === 1 ? "point" : "points"} from ${fullTime(first.time)} to ${fullTime(last.time)}. ` +
      `Lowest ${formatValue(low.value)} (${fullTime(low.time)}), highest ${formatValue(high.value)} (${fullTime(high.time)}), latest ${formatValue(last.value)}.`
    );
  }

  #renderTable(points: Point[], number: Intl.NumberFormat, fullTime: (d: Date) => string): void {
    this.byId("rows").replaceChildren(
      ...points.map((point) => {
        const tr = document.createElement("tr");
        const time = document.createElement("td");
        time.textContent = fullTime(point.time);
        const value = document.createElement("td");
        value.textContent = number.format(point.value);
        tr.append(time, value);
        return tr;
      }),
    );
  }

  #renderSvg(points: Point[], formatValue: (n: number) => string, formatTime: (d: Date) => string, fullTime: (d: Date) => string): void {
    const svg = this.byId<SVGSVGElement>("svg");
    const width = this.#width || 600;
    const heightAttr = Number(this.getAttribute("height"));
    const height = Number.isFinite(heightAttr) && heightAttr >= 80 && heightAttr <= 1000 ? heightAttr : 200;
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("height", String(height));
    const children: SVGElement[] = [];

    if (points.length === 0) {
      const text = svgEl("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "no-data" });
      text.textContent = "No data";
      svg.replaceChildren(text);
      return;
    }

    const domain = valueDomain(points.map((p) => p.value));
    // The value axis is as wide as its longest label, so "2,000 req" never spills out of the chart.
    const left = Math.ceil(Math.max(...domain.ticks.map((tick) => formatValue(tick).length)) * LABEL_CHAR_WIDTH) + 12;
    const plotW = Math.max(1, width - left - MARGIN.right);
    const plotH = Math.max(1, height - MARGIN.top - MARGIN.bottom);
    const y = (value: number) => MARGIN.top + plotH - ((value - domain.min) / (domain.max - domain.min)) * plotH;
    for (const tick of domain.ticks) {
      children.push(svgEl("line", { class: "grid", x1: left, x2: left + plotW, y1: y(tick), y2: y(tick) }));
      const label = svgEl("text", { class: "axis-label", x: left - 8, y: y(tick), "text-anchor": "end", "dominant-baseline": "middle" });
      label.textContent = formatValue(tick);
      children.push(label);
    }

    const band = plotW / points.length;
    const t0 = (points[0] as Point).time.getTime();
    const t1 = (points.at(-1) as Point).time.getTime();
    // Bars sit in equal bands; a line is placed by real time, so gaps in the series show.
    const x = (point: Point, index: number) =>
      this.type === "bar" || t1 === t0
        ? left + band * index + band / 2
        : left + ((point.time.getTime() - t0) / (t1 - t0)) * plotW;

    if (this.type === "bar") {
      const barWidth = Math.max(1, band * 0.7);
      points.forEach((point, i) => {
        const top = y(Math.max(point.value, 0));
        const bar = svgEl("rect", { class: "bar", x: x(point, i) - barWidth / 2, y: top, width: barWidth, height: Math.max(0, y(Math.min(point.value, 0)) - top), rx: 2 });
        const title = svgEl("title", {});
        title.textContent = `${fullTime(point.time)}: ${formatValue(point.value)}`;
        bar.append(title);
        children.push(bar);
      });
    } else {
      const d = points.map((point, i) => `${i === 0 ? "M" : "L"}${x(point, i).toFixed(1)},${y(point.value).toFixed(1)}`).join(" ");
      children.push(svgEl("path", { class: "line", d }));
      if (points.length <= 60) {
        points.forEach((point, i) => {
          const dot = svgEl("circle", { class: "dot", cx: x(point, i), cy: y(point.value), r: 3 });
          const title = svgEl("title", {});
          title.textContent = `${fullTime(point.time)}: ${formatValue(point.value)}`;
          dot.append(title);
          children.push(dot);
        });
      }
    }

    const labelCount = Math.max(2, Math.min(6, Math.floor(plotW / 90)));
    for (const i of spreadIndices(points.length, labelCount)) {
      const point = points[i] as Point;
      const text = formatTime(point.time);
      const at = x(point, i);
      const half = (text.length * LABEL_CHAR_WIDTH) / 2;
      // Edge labels hang inwards instead of being cut off by the chart's box.
      const anchor = at - half < 0 ? "start" : at + half > width ? "end" : "middle";
      const label = svgEl("text", { class: "axis-label", x: anchor === "start" ? Math.max(at - 4, 0) : anchor === "end" ? Math.min(at + 4, width) : at, y: height - 8, "text-anchor": anchor });
      label.textContent = text;
      children.push(label);
    }
    svg.replaceChildren(...children);
  }
}
