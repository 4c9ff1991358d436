import { sql, type Kysely } from "kysely";
import type { NewAuditEntry } from "../audit/audit-log.js";
import { auditEntry, auditText } from "../audit/audit-text.js";
import type { AnnexTables } from "../database/tables.js";
import { GatewayError } from "./errors.js";
import { setImmediate } from "node:timers";

export type InsertBatch = (entries: NewAuditEntry[]) => Promise<void>;

/**
 * Inserts audit lines into `annex_audit` in one statement with one jsonb
 * parameter: PGlite binds a VALUES list of six parameters per line about
 * twice as slowly. Each line is sanitised and bounded first (`auditEntry`):
 * its text comes partly from guests and callers.
 */
export function insertAuditLines(db: Kysely<AnnexTables>, schema: string | undefined): InsertBatch {
  const table = schema === undefined ? sql.id("annex_audit") : sql.id(schema, "annex_audit");
  return async (entries) => {
    await sql`INSERT INTO ${table} (actor, tenant, action, target, decision, details)
      SELECT actor, tenant, action, target, decision, details
      FROM jsonb_to_recordset(${JSON.stringify(entries.map(auditEntry))}::jsonb)
        AS line(actor text, tenant text, action text, target text, decision text, details jsonb)`.execute(db);
  };
}

interface Pending {
  entry: NewAuditEntry;
  resolve(): void;
  reject(error: unknown): void;
}

export interface AuditWriterOptions {
  /** Lines per insert at most. Default 256. */
  maxBatch?: number;
  /**
   * Turns of the event loop the first line of a batch waits before the
   * insert. Default 3. Each turn lets pending I/O run first (requests
   * arriving, sandbox results to answer), which joins more lines to the batch
   * and, on PGlite, keeps the insert (which runs on this thread) from
   * delaying them. The request meanwhile runs in the sandbox (its host calls
   * and its response wait for the line), so the wait rarely shows; on an idle
   * server three turns take microseconds. Measured on the gateway bench
   * (10 connections, 2 cores): 1 turn, ~5 lines a batch, 5,100 req/s; 3
   * turns, ~9 lines, 6,100 req/s.
   */
  turns?: number;
}

/** Lines stored and lost since a writer started. */
export interface AuditWriterStats {
  /** Lines stored (including those stored in their reduced form). */
  written: number;
  /** Lines stored only in a reduced form (their details could not be stored). */
  reduced: number;
  /** Lines that could not be stored at all; their writes were rejected. */
  failed: number;
}

/**
 * Appends gateway decisions to the audit log with group commit: a write
 * resolves once its line is stored (the gateway holds the request's effects
 * until then), and the lines that arrive while one insert waits or is in
 * flight go together in the next. Under load, one insert carries many.
 *
 * One line the database refuses must not fail its neighbours (requests of
 * other tenants would be answered 503): when an insert fails with a data
 * error, the batch is retried line by line, and a line refused on its own is
 * stored in a reduced form (its columns and request id, the details
 * replaced by why they could not be stored). Only a line refused even then,
 * or a batch that failed for another reason (the database is down), rejects.
 */
export class AuditWriter {
  readonly #insert: InsertBatch;
  readonly #queue: Pending[] = [];
  readonly #maxBatch: number;
  readonly #turns: number;
  #flushing: Promise<void> | null = null;
  readonly #stats: AuditWriterStats = { written: 0, reduced: 0, failed: 0 };

  constructor(insert: InsertBatch, options: AuditWriterOptions = {}) {
    this.#insert = insert;
    this.#maxBatch = options.maxBatch ?? 256;
    const turns = options.turns ?? 3;
    if (!Number.isSafeInteger(turns) || turns < 1) {
      throw new GatewayError("E_GATEWAY_OPTIONS", `audit writer: turns must be an integer of 1 or more, got ${String(turns)}`, { field: "turns" });
    }
    this.#turns = turns;
  }

  write(entry: NewAuditEntry): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ entry, resolve, reject });
      // Wait a few turns of the event loop before the first insert: see `turns`.
      this.#flushing ??= afterTurns(this.#turns).then(() => this.#flush());
    });
  }

  /** Counters since the writer started (a copy). */
  stats(): AuditWriterStats {
    return { ...this.#stats };
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
          this.#settled(batch, null);
        } catch (error) {
          if (batch.length > 1 && isDataError(error)) {
            for (const pending of batch) await this.#one(pending);
          } else if (batch.length === 1 && isDataError(error)) {
            await this.#reduced(batch[0]!, error);
          } else this.#settled(batch, error);
        }
      }
    } finally {
      this.#flushing = null;
    }
  }

  async #one(pending: Pending): Promise<void> {
    try {
      await this.#insert([pending.entry]);
      this.#settled([pending], null);
    } catch (error) {
      if (isDataError(error)) await this.#reduced(pending, error);
      else this.#settled([pending], error);
    }
  }

  /** The line without what the database refused: its columns, its request id, and why. */
  async #reduced(pending: Pending, cause: unknown): Promise<void> {
    const { entry } = pending;
    const requestId = entry.details["requestId"];
    const reduced: NewAuditEntry = {
      ...entry,
      details: {
        ...(typeof requestId === "string" ? { requestId: auditText(requestId, 64) } : {}),
        unstorable: `the database refused this line's details (${sqlState(cause) ?? "error"}); they were dropped`,
      },
    };
    try {
      await this.#insert([reduced]);
      this.#stats.reduced += 1;
      this.#settled([pending], null);
    } catch (error) {
      this.#settled([pending], error);
    }
  }

  #settled(batch: Pending[], error: unknown): void {
    if (error === null) {
      this.#stats.written += batch.length;
      for (const pending of batch) pending.resolve();
    } else {
      this.#stats.failed += batch.length;
      for (const pending of batch) pending.reject(error);
    }
  }
}

function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * Whether PostgreSQL refused the data itself (SQLSTATE class 22 data
 * exception, 23 integrity constraint, 54 program limit), as opposed to being
 * unreachable or misconfigured: only then can lines on their own fare better
 * than the batch, and only then is retrying them one by one worth it.
 */
function isDataError(error: unknown): boolean {
  const state = sqlState(error);
  return state !== undefined && /^(22|23|54)/.test(state);
}

function afterTurns(turns: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const turn = (left: number): void => {
      setImmediate(() => (left <= 1 ? resolve() : turn(left - 1)));
    };
    turn(turns);
  });
}
