/**
 * The admin page: GET /stats through the bridge's api.fetch (the signed-in
 * admin's session; this page never sees it), drawn with the ui-kit's chart and
 * table. Hours without views come back absent and are drawn as zero.
 */
import { connect } from "@annex/iframe-bridge/client";
import { defineAll, type AnnexAlert, type AnnexChart, type AnnexSelect, type AnnexTable } from "@annex/ui-kit";

defineAll();

interface Stats {
  from: string;
  hours: Array<{ hour: string; views: number; sessions: number }>;
  topPages: Array<{ path: string; views: number }>;
  totals: { views: number; sessions: number };
}

const HOUR = 3_600_000;
const annex = await connect({ timeoutMs: 5_000 });
const range = document.getElementById("range") as AnnexSelect;
const chart = document.getElementById("views") as AnnexChart;
const pages = document.getElementById("pages") as AnnexTable;
const totals = document.getElementById("totals")!;
const error = document.getElementById("error") as AnnexAlert;

pages.columns = [
  { key: "path", label: "Page" },
  { key: "views", label: "Views" },
];

/** Every hour from `from` to now, with the hours the server had no views for at zero. */
export function everyHour(stats: Stats, now = Date.now()): Array<{ t: number; v: number }> {
  const counted = new Map(stats.hours.map((hour) => [Date.parse(hour.hour), hour.views]));
  const points: Array<{ t: number; v: number }> = [];
  for (let t = Date.parse(stats.from); t <= now; t += HOUR) points.push({ t, v: counted.get(t) ?? 0 });
  return points;
}

async function refresh(): Promise<void> {
  const response = await annex.api.fetch(`stats?hours=${range.value}&top=10`);
  const body = JSON.parse(response.body as string) as Stats & { error?: { message: string } };
  if (response.status !== 200) {
    error.textContent = body.error?.message ?? `the stats could not be read (status ${response.status})`;
    error.hidden = false;
    return;
  }
  error.hidden = true;
  chart.points = everyHour(body);
  pages.rows = body.topPages;
  totals.textContent = `${body.totals.views} page view${body.totals.views === 1 ? "" : "s"} in ${body.totals.sessions} session-hour${body.totals.sessions === 1 ? "" : "s"}`;
}

range.addEventListener("change", () => void refresh());
document.getElementById("refresh")!.addEventListener("click", () => void refresh());
await refresh();
