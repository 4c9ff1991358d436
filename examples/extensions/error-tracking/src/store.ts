/**
 * The extension's data, in its owned schema (migrations/): issues keyed by
 * (project, fingerprint) and their events. Each write is one statement, so a
 * retry of the same event or two events of one new issue arriving together
 * cannot count twice or make two issues.
 */
import type { Ctx, Json } from "@annex/runner/guest";
import type { TrackedEvent } from "./event.js";

export type Sql = Ctx["sql"];

export interface Recorded {
  issueId: number;
  /** The event made a new issue (exactly one event per issue ever has this). */
  created: boolean;
  /** The event id was seen before (an SDK retry): nothing was written. */
  duplicate: boolean;
  /** A resolved issue seen again: it is unresolved now. */
  regressed: boolean;
}

export async function recordEvent(sql: Sql, project: string, fingerprint: string, event: TrackedEvent, keepPerIssue: number): Promise<Recorded> {
  const seen = await sql.query("SELECT issue_id FROM events WHERE event_id = $1", [event.eventId]);
  if (seen.rows.length > 0) return { issueId: Number(seen.rows[0]!.issue_id), created: false, duplicate: true, regressed: false };

  const { rows } = await sql.query(
    `WITH before AS (
       SELECT status FROM issues WHERE project = $1 AND fingerprint = $2
     ), issue AS (
       INSERT INTO issues (project, fingerprint, title, culprit, level, platform, first_seen, last_seen)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
       ON CONFLICT (project, fingerprint) DO UPDATE SET
         last_seen = GREATEST(issues.last_seen, EXCLUDED.last_seen),
         event_count = issues.event_count + 1,
         level = EXCLUDED.level,
         status = CASE WHEN issues.status = 'resolved' THEN 'unresolved' ELSE issues.status END
       RETURNING id, event_count, (xmax = 0) AS inserted
     ), stored AS (
       INSERT INTO events (event_id, issue_id, occurred_at, level, platform, environment, release, message, exception, tags, user_id, sdk)
       SELECT $8, issue.id, $7, $5, $6, $9, $10, $11, $12, $13, $14, $15 FROM issue
       ON CONFLICT (event_id) DO NOTHING
       RETURNING event_id
     )
     SELECT issue.id, issue.event_count, issue.inserted, (SELECT status FROM before) AS status_before, (SELECT count(*) FROM stored) AS stored FROM issue`,
    [
      project,
      fingerprint,
      event.title,
      event.culprit,
      event.level,
      event.platform,
      event.occurredAt,
      event.eventId,
      event.environment,
      event.release,
      event.message,
      event.exception as unknown as Json,
      event.tags,
      event.userId,
      event.sdk,
    ],
  );
  const row = rows[0]!;
  const issueId = Number(row.id);
  const count = Number(row.event_count);
  if (count > keepPerIssue) {
    await sql.query(
      "DELETE FROM events WHERE issue_id = $1 AND event_id NOT IN (SELECT event_id FROM events WHERE issue_id = $1 ORDER BY occurred_at DESC, received_at DESC LIMIT $2)",
      [issueId, keepPerIssue],
    );
  }
  // xmax = 0: this statement inserted the row. Two events of one new issue arriving together both see no issue
  // "before" (each statement's snapshot), but only one of them inserts it: only that one made a new issue.
  return { issueId, created: row.inserted === true, duplicate: false, regressed: row.status_before === "resolved" };
}

export const STATUSES = ["unresolved", "resolved", "ignored"] as const;
export type IssueStatus = (typeof STATUSES)[number];

export async function listIssues(sql: Sql, filter: { status?: IssueStatus | undefined; project?: string | undefined; limit: number }) {
  const { rows } = await sql.query(
    `SELECT id, project, title, culprit, level, platform, status, first_seen, last_seen, event_count
       FROM issues
      WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR project = $2)
      ORDER BY last_seen DESC, id DESC
      LIMIT $3`,
    [filter.status ?? null, filter.project ?? null, filter.limit],
  );
  return rows;
}

export async function getIssue(sql: Sql, id: number, eventLimit: number) {
  const issue = await sql.query(
    "SELECT id, project, fingerprint, title, culprit, level, platform, status, first_seen, last_seen, event_count FROM issues WHERE id = $1",
    [id],
  );
  if (issue.rows.length === 0) return null;
  const events = await sql.query(
    `SELECT event_id, received_at, occurred_at, level, platform, environment, release, message, exception, tags, user_id, sdk
       FROM events WHERE issue_id = $1 ORDER BY occurred_at DESC, received_at DESC LIMIT $2`,
    [id, eventLimit],
  );
  return { ...issue.rows[0]!, events: events.rows };
}

export async function setStatus(sql: Sql, id: number, status: IssueStatus): Promise<boolean> {
  const { rows } = await sql.query("UPDATE issues SET status = $2 WHERE id = $1 RETURNING id", [id, status]);
  return rows.length > 0;
}
