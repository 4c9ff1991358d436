/**
 * The extension's tables (migrations/0001_page_views.sql): raw page views as
 * they arrive, and their hourly counts. Every statement runs in the install's
 * own schema through ctx.sql.
 */
import type { Ctx } from "@annex/runner/guest";
import type { PageView } from "./page-view.js";

type Sql = Ctx["sql"];

export async function insertPageView(sql: Sql, view: PageView): Promise<void> {
  await sql.query("INSERT INTO page_views (path, referrer, session) VALUES ($1, $2, $3)", [view.path, view.referrer, view.session]);
}

// Types, not interfaces: what a handler answers must be assignable to the guest's Json.
export type RollupResult = {
  /** Page views moved into hourly counts. */
  moved: number;
  /** Hours of counts deleted for being older than keepDays. */
  expired: number;
};

/**
 * Moves every page view of a finished hour into `hourly_counts`, in one
 * statement (the delete and the upsert commit together, so a run that fails
 * moves nothing and the next one moves it all). Views of an hour rolled up
 * earlier (a late one) are added to its rows; a session then counts twice if
 * it was seen in both runs, which only a late view can cause.
 */
export async function rollup(sql: Sql, keepDays: number): Promise<RollupResult> {
  const moved = await sql.query<{ moved: number }>(
    `WITH moved AS (
       DELETE FROM page_views WHERE at < date_trunc('hour', now()) RETURNING date_trunc('hour', at) AS hour, path, session
     ), per_path AS (
       INSERT INTO hourly_counts (hour, path, views, sessions)
       SELECT hour, path, count(*), count(DISTINCT session) FROM moved GROUP BY hour, path
       ON CONFLICT (hour, path) DO UPDATE SET views = hourly_counts.views + excluded.views, sessions = hourly_counts.sessions + excluded.sessions
     ), per_hour AS (
       INSERT INTO hourly_totals (hour, views, sessions)
       SELECT hour, count(*), count(DISTINCT session) FROM moved GROUP BY hour
       ON CONFLICT (hour) DO UPDATE SET views = hourly_totals.views + excluded.views, sessions = hourly_totals.sessions + excluded.sessions
     )
     SELECT count(*)::int AS moved FROM moved`,
  );
  const expired = await sql.query("DELETE FROM hourly_totals WHERE hour < now() - make_interval(days => $1::int)", [keepDays]);
  await sql.query("DELETE FROM hourly_counts WHERE hour < now() - make_interval(days => $1::int)", [keepDays]);
  return { moved: moved.rows[0]?.moved ?? 0, expired: expired.rowCount };
}
export type HourCount = {
  /** The hour's start, ISO 8601 UTC. */
  hour: string;
  views: number;
  sessions: number;
};

export type PageCount = {
  path: string;
  views: number;
};

export type Stats = {
  from: string;
  hours: HourCount[];
  topPages: PageCount[];
  totals: { views: number; sessions: number };
};

/**
 * The last `hours` hours, from the hourly counts and the page views not yet
 * rolled up (the current hour, or any the job has not reached), summed per
 * hour. Hours without views are absent; the page fills them in.
 */
export async function stats(sql: Sql, hours: number, topPages: number): Promise<Stats> {
  const since = "(date_trunc('hour', now()) - make_interval(hours => $1::int - 1))";
  const perHour = await sql.query<{ hour: string; views: number; sessions: number }>(
    `SELECT to_char(hour AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24":00:00Z"') AS hour, sum(views)::int AS views, sum(sessions)::int AS sessions
     FROM (
       SELECT hour, views, sessions FROM hourly_totals WHERE hour >= ${since}
       UNION ALL
       SELECT date_trunc('hour', at), count(*), count(DISTINCT session) FROM page_views WHERE at >= ${since} GROUP BY 1
     ) AS both_sources (hour, views, sessions)
     GROUP BY hour ORDER BY hour`,
    [hours],
  );
  const pages = await sql.query<PageCount>(
    `SELECT path, sum(views)::int AS views
     FROM (
       SELECT path, views FROM hourly_counts WHERE hour >= ${since}
       UNION ALL
       SELECT path, 1 FROM page_views WHERE at >= ${since}
     ) AS both_sources (path, views)
     GROUP BY path ORDER BY views DESC, path LIMIT $2`,
    [hours, topPages],
  );
  const from = await sql.query<{ from: string }>(`SELECT to_char(${since} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24":00:00Z"') AS "from"`, [hours]);
  const totals = perHour.rows.reduce((sum, row) => ({ views: sum.views + row.views, sessions: sum.sessions + row.sessions }), { views: 0, sessions: 0 });
  return { from: from.rows[0]!.from, hours: perHour.rows, topPages: pages.rows, totals };
}
