import { sql, type Kysely } from "kysely";
import type { NewAuditEntry } from "../audit/audit-log.js";
import type { AnnexTables } from "../database/tables.js";

export type InsertBatch = (entries: NewAuditEntry[]) => Promise<void>;

/**
 * Inserts audit lines into `annex_audit` in one statement with one jsonb
 * parameter: PGlite binds a VALUES list of six parameters per line about
 * twice as slowly.
 */
export function insertAuditLines(db: Kysely<AnnexTables>, schema: string | undefined): InsertBatch {
  const table = schema === undefined ? sql.id("annex_audit") : sql.id(schema, "annex_audit");
  return async (entries) => {
    await sql`INSERT INTO ${table} (actor, tenant, action, target, decision, details)
      SELECT actor, tenant, action, target, decision, details
      FROM jsonb_to_recordset(${JSON.stringify(entries)}::jsonb)
        AS line(actor text, tenant text, action text, target text, decision text, details jsonb)`.execute(db);
  };
}

interface Pending {
  entry: NewAuditEntry;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Appends gateway decisions to the audit log with group commit: a write
 * resolves once its line is stored (so an allowed request's line exists
 * before the sandbox runs), and the lines that arrive while one insert is in
 * flight go together in the next. Alone, a line is written at once; under
 * load, one insert carries many.
 */
export class AuditWriter {
  readonly #insert: InsertBatch;
  readonly #queue: Pending[] = [];
  readonly #maxBatch: number;
  #flushing: Promise<void> | null = null;

  constructor(insert: InsertBatch, options: { maxBatch?: number } = {}) {
    this.#insert = insert;
    this.#maxBatch = options.maxBatch ?? 256;
  }

  write(entry: NewAuditEntry): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ entry, resolve, reject });
      // Wait one turn of the event loop before the first insert, so requests arriving together share it.
      this.#flushing ??= new Promise<void>((start) => setImmediate(start)).then(() => this.#flush());
    });
  }

  /** Resolves when every line queued so far is stored (or failed). */
  async drain(): Promise<void> {
    while (this.#flushing !== null) await this.#flushing;
  }

  async #flush(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, this.#maxBatch);
        try {
          await this.#insert(batch.map(({ entry }) => entry));
          for (const pending of batch) pending.resolve();
        } catch (error) {
          for (const pending of batch) pending.reject(error);
        }
      }
    } finally {
      this.#flushing = null;
    }
  }
}
