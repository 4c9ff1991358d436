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
}

export class AuditError extends AnnexError {
  declare readonly code: "E_AUDIT_FILTER";

  constructor(message: string, details?: Record<string, unknown>) {
    super("E_AUDIT_FILTER", message, details);
  }
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
