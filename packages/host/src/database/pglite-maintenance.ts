import { clearTimeout, setTimeout } from "node:timers";
import { sql, type Kysely } from "kysely";
import type { Logger } from "../observability/logger.js";
import { errorSummary } from "../errors.js";

/**
 * PGlite runs no autovacuum (one process, no background workers): without it
 * the host's queue tables (the outbox's deliveries, jobs, kv) kept the
 * statistics of their first day and every dead row version in their indexes.
 * The planner, told a table of thousands of open deliveries held a handful,
 * chose sorts and nested loops that made each claim cost the whole backlog;
 * index scans walked past every delivery ever done. This is PostgreSQL's own
 * autovacuum rule, run by the host on its tables every `intervalMs`: VACUUM
 * (with ANALYZE) a table whose dead rows exceed 50 + 20 % of its rows;
 * ANALYZE one whose changes since the last ANALYZE exceed 50 + 10 %. And, as
 * PGlite has no checkpointer either, a CHECKPOINT once 32 MB of WAL were
 * written since the last: without one the WAL files were never recycled (in
 * memory, RSS grew with every write: 1.2 GB of WAL, 1.26 GB more RSS).
 *
 * Only Annex's tables (`annex_*` in the host's schema), but not the audit
 * log: it is append-only (no dead rows ever) and grows with every request, so
 * its ANALYZE read more of it each time, all on the host's one thread (0.5 s
 * at 17 MB, after 35 minutes of 20 requests a second). Autovacuum's rule for
 * insert-only tables (VACUUM after 1,000 + 20 % inserts) is left out for the
 * same reason: it sets visibility bits, which nothing here needs. An
 * install's own tables are its schema's, measured and vacuumed by the quota
 * (see storage/sql/quota.ts). On PostgreSQL the server does all of this.
 */
export interface PGliteMaintenance {
  /** One pass now (the timer's passes wait for it): what it vacuumed and analyzed. */
  run(): Promise<MaintenancePass>;
  /** Stops the timer and waits for a pass under way. */
  stop(): Promise<void>;
}

export interface MaintenancePass {
  vacuumed: string[];
  analyzed: string[];
  /** Whether the pass ran a CHECKPOINT (32 MB of WAL since the last one). */
  checkpoint: boolean;
}

export interface PGliteMaintenanceOptions {
  /** The host's root connection (not schema-scoped: the statements name the schema). */
  db: Kysely<any>;
  /** The host's schema; undefined for the connection's current schema. */
  schema: string | undefined;
  intervalMs: number;
  logger: Logger;
}

interface TableStats {
  relname: string;
  reltuples: number;
  n_dead_tup: string;
  n_mod_since_analyze: string;
}

/** PostgreSQL's defaults: autovacuum_vacuum_threshold, _scale_factor, autovacuum_analyze_threshold, _scale_factor. */
const VACUUM_BASE = 50;
const VACUUM_SCALE = 0.2;
const ANALYZE_BASE = 50;
const ANALYZE_SCALE = 0.1;
/** WAL written between checkpoints: PGlite recycles its 16 MB segments at a checkpoint. */
const CHECKPOINT_BYTES = 32 * 1024 * 1024;
/** Append-only and ever growing: see above. */
const LEFT_OUT = new Set(["annex_audit"]);

export function startPGliteMaintenance(options: PGliteMaintenanceOptions): PGliteMaintenance {
  const { db, schema, intervalMs, logger } = options;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  // The WAL position of the last checkpoint this host ran (none yet: the first pass sets it).
  let checkpointedAt: bigint | undefined;

  async function pass(): Promise<MaintenancePass> {
    // Statistics reach the views when a session flushes them, which PGlite's one session otherwise does
    // only now and then: forced, they count up to the statement before this one.
    await sql`SELECT pg_stat_force_next_flush()`.execute(db);
    const where = schema === undefined ? sql`current_schema()` : sql`${schema}`;
    const stats = await sql<TableStats>`
      SELECT s.relname, c.reltuples, s.n_dead_tup, s.n_mod_since_analyze
      FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
      WHERE s.schemaname = ${where} AND starts_with(s.relname, 'annex_')
      ORDER BY s.relname`.execute(db);
    const vacuum: string[] = [];
    const analyze: string[] = [];
    for (const table of stats.rows) {
      if (LEFT_OUT.has(table.relname)) continue;
      // reltuples is -1 until a table's first VACUUM or ANALYZE.
      const rows = Math.max(Number(table.reltuples), 0);
      if (Number(table.n_dead_tup) > VACUUM_BASE + VACUUM_SCALE * rows) {
        vacuum.push(table.relname);
      } else if (Number(table.n_mod_since_analyze) > ANALYZE_BASE + ANALYZE_SCALE * rows) {
        analyze.push(table.relname);
      }
    }
    const name = (table: string) => (schema === undefined ? sql.id(table) : sql.id(schema, table));
    const started = performance.now();
    // Outside a transaction, as VACUUM must be; SKIP_LOCKED so that it never waits behind a lock.
    if (vacuum.length > 0) await sql`VACUUM (ANALYZE, SKIP_LOCKED) ${sql.join(vacuum.map(name))}`.execute(db);
    if (analyze.length > 0) await sql`ANALYZE (SKIP_LOCKED) ${sql.join(analyze.map(name))}`.execute(db);
    const wal = await sql<{ lsn: string }>`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text AS lsn`.execute(db);
    const position = BigInt(wal.rows[0]!.lsn);
    const checkpoint = checkpointedAt !== undefined && position - checkpointedAt >= BigInt(CHECKPOINT_BYTES);
    if (checkpoint) await sql`CHECKPOINT`.execute(db);
    if (checkpoint || checkpointedAt === undefined) checkpointedAt = position;
    if (vacuum.length + analyze.length > 0 || checkpoint) {
      logger.debug(
        { vacuumed: vacuum, analyzed: analyze, checkpoint, ms: Math.round(performance.now() - started) },
        "PGlite maintenance: the host's tables vacuumed and analyzed, the WAL checkpointed (PGlite runs no autovacuum nor checkpointer)",
      );
    }
    return { vacuumed: vacuum, analyzed: analyze, checkpoint };
  }

  // The pass under way, as a promise that never rejects: what the next pass and stop() wait for.
  let current: Promise<void> | undefined;

  function run(): Promise<MaintenancePass> {
    const next = (current ?? Promise.resolve()).then(pass);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    current = settled;
    void settled.then(() => {
      if (current === settled) current = undefined;
    });
    return next;
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      run()
        .catch((error: unknown) => logger.warn({ err: errorSummary(error) }, "PGlite maintenance failed; it runs again at the next interval"))
        .finally(schedule);
    }, intervalMs);
    timer.unref();
  }
  schedule();

  return {
    run,
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await current;
    },
  };
}
