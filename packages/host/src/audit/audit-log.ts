import type { Kysely } from "kysely";
import type { AnnexTables, AuditRow } from "../database/tables.js";
import { AnnexError } from "@annex/manifest";
import { auditEntry } from "./audit-text.js";

export type AuditDecision = "allow" | "deny" | "error";

/** One line of the append-only audit log. `details` never carries a secret value. */
export interface AuditEntry {
  /** Increasing; use as a cursor (`afterId`). */
  id: string;
  at: Date;
  /** Who acted: the admin or service passed as `actor`, or "system". */
  actor: string;
  tenant: string | null;
  /** Dotted verb, e.g. `registry.publish`, `install.upgrade`. */
  action: string;
  /** What it was done to, e.g. `acme.hello@1.0.0` or `install:<id>`. */
  target: string;
  decision: AuditDecision;
  details: Record<string, unknown>;
}

export type NewAuditEntry = Omit<AuditEntry, "id" | "at">;

export interface AuditFilter {
  tenant?: string | undefined;
  actor?: string | undefined;
  /** An exact action, or a prefix ending in "." (e.g. "install."). */
  action?: string | undefined;
  target?: string | undefined;
  decision?: AuditDecision | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  /** Only entries after this id (pagination, oldest first). */
  afterId?: string | undefined;
  /** Default 100, at most 1000. */
  limit?: number | undefined;
  /** Default "asc" (oldest first). */
  order?: "asc" | "desc" | undefined;
}

export interface AuditLog {
  list(filter?: AuditFilter): Promise<AuditEntry[]>;
  /**
   * Appends a line of the product's own (a sign-in, an admin's change to the
   * product's data) to the same append-only log, its text made storable and
   * bounded as Annex's own lines are. `action` is a dotted verb
   * (`auth.sign-in`) outside Annex's namespaces (`registry.`, `install.`,
   * `gateway.` … see ANNEX_AUDIT_NAMESPACES): a product's line never passes
   * for one of Annex's. E_AUDIT_ENTRY names the field that is wrong.
   */
  write(entry: NewAuditEntry): Promise<void>;
}

/** The first segments of the actions Annex writes itself; `audit.write` refuses them. */
export const ANNEX_AUDIT_NAMESPACES: readonly string[] = Object.freeze(["registry", "install", "gateway", "secrets", "webhook", "event", "job", "annex"]);

const ACTION = /^[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)+$/;
const DECISIONS: readonly string[] = ["allow", "deny", "error"];

export class AuditError extends AnnexError {
  declare readonly code: "E_AUDIT_FILTER" | "E_AUDIT_ENTRY";

  constructor(message: string, details?: Record<string, unknown>, code: "E_AUDIT_FILTER" | "E_AUDIT_ENTRY" = "E_AUDIT_FILTER") {
    super(code, message, details);
  }
}

/** The product's line as `audit.write` takes it, or E_AUDIT_ENTRY naming the field. */
function checkedEntry(entry: NewAuditEntry): NewAuditEntry {
  const refuse = (field: string, message: string): never => {
    throw new AuditError(`audit.write: ${field} ${message}`, { field }, "E_AUDIT_ENTRY");
  };
  if (entry === null || typeof entry !== "object") return refuse("entry", "must be an object { actor, tenant, action, target, decision, details }");
  const { actor, tenant, action, target, decision, details } = entry;
  if (typeof actor !== "string" || actor === "") refuse("actor", "must be a non-empty string (who acted, e.g. user:<id>)");
  if (tenant !== null && (typeof tenant !== "string" || tenant === "")) refuse("tenant", "must be a non-empty string or null");
  if (typeof action !== "string" || action.length > 128 || !ACTION.test(action)) refuse("action", "must be a dotted verb of lower-case words, e.g. auth.sign-in (at most 128 characters)");
  const namespace = action.slice(0, action.indexOf("."));
  if (ANNEX_AUDIT_NAMESPACES.includes(namespace)) refuse("action", `may not be in Annex's own namespace "${namespace}.": name the product's action in a namespace of its own`);
  if (typeof target !== "string" || target === "") refuse("target", "must be a non-empty string (what was acted on)");
  if (!DECISIONS.includes(decision)) refuse("decision", 'must be "allow", "deny" or "error"');
  if (details === null || typeof details !== "object" || Array.isArray(details)) refuse("details", "must be a plain object (never a secret value)");
  return { actor, tenant, action, target, decision, details };
}

/**
 * Appends one entry (sanitised and bounded by `auditEntry`). Lifecycle code calls this first inside the transaction
 * that carries the action's effects, so an effect never exists without its
 * audit line; denials (which have no effects) write it on their own.
 */
export async function writeAudit(db: Kysely<AnnexTables>, given: NewAuditEntry): Promise<void> {
  // Text from outside (error messages, ids) is made storable and bounded first: see audit-text.ts.
  const entry = auditEntry(given);
  await db
    .insertInto("annex_audit")
    .values({
      actor: entry.actor,
      tenant: entry.tenant,
      action: entry.action,
      target: entry.target,
      decision: entry.decision,
      details: JSON.stringify(entry.details),
    })
    .execute();
}

export function createAuditLog(db: Kysely<AnnexTables>): AuditLog {
  return {
    async write(entry) {
      await writeAudit(db, checkedEntry(entry));
    },
    async list(filter = {}) {
      const limit = filter.limit ?? 100;
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
        throw new AuditError("audit.list: limit must be an integer from 1 to 1000", { limit });
      }
      if (filter.afterId !== undefined && !/^\d{1,19}$/.test(filter.afterId)) {
        throw new AuditError("audit.list: afterId must be the id of an audit entry (decimal digits)", { afterId: filter.afterId });
      }
      for (const key of ["tenant", "actor", "action", "target"] as const) {
        const value = filter[key];
        if (value !== undefined && (typeof value !== "string" || value.length > 1024 || /\u0000/.test(value))) {
          throw new AuditError(`audit.list: ${key} must be a string of at most 1024 characters without NUL`, { [key]: typeof value === "string" ? value.slice(0, 80) : typeof value });
        }
      }
      let query = db.selectFrom("annex_audit").selectAll();
      if (filter.tenant !== undefined) query = query.where("tenant", "=", filter.tenant);
      if (filter.actor !== undefined) query = query.where("actor", "=", filter.actor);
      if (filter.action !== undefined) {
        query = filter.action.endsWith(".")
          ? query.where("action", "like", `${escapeLike(filter.action)}%`)
          : query.where("action", "=", filter.action);
      }
      if (filter.target !== undefined) query = query.where("target", "=", filter.target);
      if (filter.decision !== undefined) query = query.where("decision", "=", filter.decision);
      if (filter.since !== undefined) query = query.where("at", ">=", filter.since);
      if (filter.until !== undefined) query = query.where("at", "<", filter.until);
      if (filter.afterId !== undefined) query = query.where("id", ">", filter.afterId);
      const rows = await query
        .orderBy("id", filter.order ?? "asc")
        .limit(limit)
        .execute();
      return rows.map(toEntry);
    },
  };
}

function toEntry(row: AuditRow): AuditEntry {
  return {
    id: String(row.id),
    at: row.at,
    actor: row.actor,
    tenant: row.tenant,
    action: row.action,
    target: row.target,
    decision: row.decision as AuditDecision,
    details: (row.details ?? {}) as Record<string, unknown>,
  };
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (char) => `\\${char}`);
}
