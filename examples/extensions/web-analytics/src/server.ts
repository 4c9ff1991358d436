/**
 * Web analytics for Annex: pages include a tiny snippet (GET /snippet.js),
 * which sends one page view per page load to POST /collect; a job rolls the
 * views up into hourly counts; GET /stats feeds the admin page's chart.
 * Exports are the handlers annex.json names.
 */
import type { Ctx, GuestJob, GuestRequest, GuestResponse } from "@annex/runner/guest";
import { refuseNonAdmin } from "./admin-only.js";
import { BOT, PageViewError, readPageView } from "./page-view.js";
import { SNIPPET } from "./snippet.js";
import { insertPageView, rollup as rollupViews, stats as readStats } from "./store.js";

function setting<T extends number | boolean>(ctx: Pick<Ctx, "install">, key: string, fallback: T): T {
  const value = ctx.install.config[key];
  return typeof value === typeof fallback ? (value as T) : fallback;
}

/** GET /snippet.js (public): the tracking script, cacheable for an hour. */
export function snippet(): GuestResponse {
  return { status: 200, headers: { "content-type": "text/javascript; charset=utf-8", "cache-control": "public, max-age=3600" }, body: SNIPPET };
}

/** POST /collect (public): one page view, as the snippet sends it. Answers 204; crawlers are counted out silently. */
export async function collect(request: GuestRequest, ctx: Pick<Ctx, "sql" | "install">): Promise<GuestResponse> {
  let view;
  try {
    view = readPageView(request.body);
  } catch (error) {
    if (error instanceof PageViewError) return { status: 400, body: { error: { code: "E_PAGE_VIEW", field: error.field, message: error.message } } };
    throw error;
  }
  const agent = request.headers["user-agent"] ?? "";
  if (setting(ctx, "ignoreBots", true) && (agent === "" || BOT.test(agent))) return { status: 204 };
  await insertPageView(ctx.sql, view);
  return { status: 204 };
}

/** GET /stats?hours=24&top=10 → page views and sessions per hour, top pages, totals. Admins only (403 E_FORBIDDEN). */
export async function stats(request: GuestRequest, ctx: Pick<Ctx, "sql" | "principal">): Promise<GuestResponse> {
  const refused = refuseNonAdmin(ctx);
  if (refused !== null) return refused;
  const hours = request.query.hours === undefined ? 24 : Number(request.query.hours);
  if (!Number.isInteger(hours) || hours < 1 || hours > 24 * 90) {
    return { status: 400, body: { error: { code: "E_BAD_REQUEST", field: "hours", message: "hours must be an integer from 1 to 2160 (90 days)" } } };
  }
  const top = request.query.top === undefined ? 10 : Number(request.query.top);
  if (!Number.isInteger(top) || top < 1 || top > 100) {
    return { status: 400, body: { error: { code: "E_BAD_REQUEST", field: "top", message: "top must be an integer from 1 to 100" } } };
  }
  return { status: 200, body: await readStats(ctx.sql, hours, top) };
}

/** The `rollup` job (hourly at :02): finished hours' page views into hourly counts; counts older than keepDays deleted. */
export async function rollup(_job: GuestJob, ctx: Pick<Ctx, "sql" | "log" | "install">): Promise<{ moved: number; expired: number }> {
  const result = await rollupViews(ctx.sql, setting(ctx, "keepDays", 90));
  ctx.log.info(`rollup moved ${result.moved} page views; ${result.expired} expired hourly counts deleted`);
  return result;
}
