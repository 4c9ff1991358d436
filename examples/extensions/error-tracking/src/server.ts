/**
 * Error tracking for Annex: the official Sentry SDKs send to this extension's
 * envelope endpoint unchanged, events are grouped into issues in its owned
 * schema, and its admin page lists them. Exports are the handlers annex.json
 * names.
 */
import type { Ctx, GuestRequest, GuestResponse, Json } from "@annex/runner/guest";
import { refuseNonAdmin } from "./admin-only.js";
import { IngestError } from "./errors.js";
import { checkProject, readEnvelope } from "./ingest.js";
import { getIssue, listIssues, recordEvent, setStatus, STATUSES, type IssueStatus } from "./store.js";

type IngestCtx = Pick<Ctx, "sql" | "log" | "install" | "events">;

/** The payload of `issue.created` (published as `ext.acme.error-tracking.issue.created`). */
export interface IssueCreated {
  issueId: number;
  project: string;
  title: string;
  culprit: string | null;
  level: string;
  platform: string | null;
  /** The event that made the issue. */
  eventId: string;
  /** ISO 8601: when that event occurred. */
  firstSeen: string;
}

function refuse(error: IngestError): GuestResponse {
  // Sentry's relay answers refusals with { detail }; the SDKs log it and drop the envelope.
  return { status: error.status, body: { detail: error.message, code: error.code } };
}

function setting(ctx: Pick<Ctx, "install">, key: string, fallback: number): number {
  const value = ctx.install.config[key];
  return typeof value === "number" ? value : fallback;
}

/** POST /api/:project/envelope/ (public): what a DSN `https://<key>@<host>/ext/acme.error-tracking/public/<project>` sends to. */
export async function ingest(request: GuestRequest, ctx: IngestCtx): Promise<GuestResponse> {
  try {
    const project = checkProject(request.params.project);
    const publicKey = ctx.install.config.publicKey;
    if (typeof publicKey !== "string" || publicKey === "") throw new IngestError(503, "E_NOT_CONFIGURED", "this install has no publicKey setting");
    const envelope = readEnvelope(request.body, request.query, publicKey, new Date());
    for (const { event, fingerprint } of envelope.events) {
      const recorded = await recordEvent(ctx.sql, project, fingerprint, event, setting(ctx, "keepEventsPerIssue", 100));
      if (recorded.created) {
        ctx.log.info(`new issue ${recorded.issueId} in project ${project}: ${event.title}`);
        // Only a new issue is announced: more events of it, SDK retries and regressions are not. The host writes
        // the event to its outbox once this execution has succeeded (a failed ingest announces nothing).
        const created: IssueCreated = {
          issueId: recorded.issueId,
          project,
          title: event.title,
          culprit: event.culprit,
          level: event.level,
          platform: event.platform,
          eventId: event.eventId,
          firstSeen: event.occurredAt,
        };
        await ctx.events.publish("issue.created", created as unknown as Json);
      } else if (recorded.regressed) ctx.log.info(`issue ${recorded.issueId} in project ${project} regressed`);
    }
    const dropped = Object.entries(envelope.dropped);
    if (dropped.length > 0) ctx.log.debug(`dropped items: ${dropped.map(([type, count]) => `${type}×${count}`).join(", ")}`);
    return { status: 200, body: envelope.eventId === null ? {} : { id: envelope.eventId } };
  } catch (error) {
    if (error instanceof IngestError) return refuse(error);
    throw error;
  }
}

function badRequest(message: string): GuestResponse {
  return { status: 400, body: { error: { code: "E_BAD_REQUEST", message } } };
}

function issueId(request: GuestRequest): number | null {
  const id = Number(request.params.id);
  return Number.isInteger(id) && id > 0 && id < 2 ** 31 ? id : null;
}

/** GET /issues?status=unresolved&project=42&limit=50. Admins only (403 E_FORBIDDEN), as every api endpoint here. */
export async function issues(request: GuestRequest, ctx: Pick<Ctx, "sql" | "principal">): Promise<GuestResponse> {
  const refused = refuseNonAdmin(ctx);
  if (refused !== null) return refused;
  const status = request.query.status;
  if (status !== undefined && !STATUSES.includes(status as IssueStatus)) return badRequest(`status must be one of ${STATUSES.join(", ")}`);
  const project = request.query.project;
  if (project !== undefined && (typeof project !== "string" || !/^\d{1,18}$/.test(project))) return badRequest("project must be digits");
  const limit = request.query.limit === undefined ? 100 : Number(request.query.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) return badRequest("limit must be an integer from 1 to 500");
  return { status: 200, body: { issues: await listIssues(ctx.sql, { status: status as IssueStatus | undefined, project: project as string | undefined, limit }) } };
}

/** GET /issues/:id → the issue with its latest events. */
export async function issue(request: GuestRequest, ctx: Pick<Ctx, "sql" | "principal">): Promise<GuestResponse> {
  const refused = refuseNonAdmin(ctx);
  if (refused !== null) return refused;
  const id = issueId(request);
  if (id === null) return badRequest("the issue id must be a positive integer");
  const found = await getIssue(ctx.sql, id, 50);
  return found === null ? { status: 404, body: { error: { code: "E_NOT_FOUND", message: `no issue ${id}` } } } : { status: 200, body: found };
}

/** PUT /issues/:id/status with { "status": "resolved" | "unresolved" | "ignored" } */
export async function updateStatus(request: GuestRequest, ctx: Pick<Ctx, "sql" | "principal">): Promise<GuestResponse> {
  const refused = refuseNonAdmin(ctx);
  if (refused !== null) return refused;
  const id = issueId(request);
  if (id === null) return badRequest("the issue id must be a positive integer");
  const body = request.body as { status?: unknown } | null;
  const status = typeof body === "object" && body !== null ? body.status : undefined;
  if (!STATUSES.includes(status as IssueStatus)) return badRequest(`send { "status": one of ${STATUSES.join(", ")} }`);
  return (await setStatus(ctx.sql, id, status as IssueStatus)) ? { status: 200, body: { id, status: status as string } } : { status: 404, body: { error: { code: "E_NOT_FOUND", message: `no issue ${id}` } } };
}
