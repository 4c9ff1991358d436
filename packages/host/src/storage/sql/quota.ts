import { sql, type Kysely } from "kysely";
import { SqlStorageError } from "./errors.js";

/**
 * The storage quota of an install's owned schema (`maxSchemaBytes`).
 *
 * What counts: the on-disk size of the schema's tables, materialized views
 * and partitioned tables, each with its indexes and TOAST
 * (`pg_total_relation_size`; indexes and TOAST tables are not listed
 * themselves, so nothing counts twice; sequences, 8 KiB each, are left out).
 * That is what the operator's disk pays for, and it is measured the same way
 * on PGlite and PostgreSQL (checked on both: 2000 rows of 1 kB and ten 96 kB
 * TOASTed values gave the same bytes on each, table + indexes + TOAST once).
 * Measured by the host, as the host's user, through Kysely: never as the
 * install's role. A measurement costs ~2 ms on PostgreSQL, ~12 ms on PGlite.
 *
 * When (per install, cached):
 * - below NEAR (75 %) of the quota, after a statement that is not a plain
 *   read, at most once per MEASURE_INTERVAL_MS: nothing on the hot path, and
 *   a schema can pass its quota by what one interval of writes adds
 *   (maxConcurrent statements, each within its timeout) before the next
 *   measurement says so;
 * - at or above NEAR, a write that can grow the schema runs in one
 *   transaction with a measurement after it: past the quota, it rolls back
 *   with E_SQL_QUOTA. (Its files keep the size it reached: PostgreSQL does
 *   not give back a rolled-back row's pages, so the overshoot there is what
 *   one statement wrote, and the next write is refused up front.)
 * - at or over the quota, such writes are refused before they run; reads,
 *   DELETE and TRUNCATE still run, and are measured again after each.
 *
 * Getting back under: TRUNCATE (and DROP, in a migration) shrink the files at
 * once. DELETE does not: PostgreSQL marks the rows dead and keeps the pages.
 * So after a DELETE that leaves the schema over its quota the host runs a
 * plain VACUUM of the schema's tables (outside any transaction, SKIP_LOCKED,
 * at most once per MEASURE_INTERVAL_MS per install; one due meanwhile runs
 * before the next refused write), which removes the dead rows and gives back
 * the empty pages at the end of each table. Measured on both backends: a
 * table emptied by DELETE went from 3.4 MB to 172 kB (its index pages stay),
 * one whose newest rows were deleted shrank by them; one whose oldest half
 * was deleted did not shrink at all — that space is reused by later writes
 * but still counted. The alternatives were worse: VACUUM FULL rewrites the
 * tables under an exclusive lock (on PGlite, the host's one session) at a
 * cost of the whole schema per DELETE; "live bytes" need pgstattuple or
 * pg_freespacemap, extensions a host cannot count on; and letting writes that
 * do not grow the files through while over quota cannot tell an index page
 * from new data, and every refused attempt leaves its pages behind. So the
 * quota is a bound on disk, and the guidance (the error's message, the docs)
 * says what frees it: TRUNCATE, DROP in a migration, or deleting enough that
 * tables empty from their end; keep below the quota rather than at it.
 */
export const MEASURE_INTERVAL_MS = 1000;
/** The fraction of the quota from which growing writes are measured inside their transaction. */
export const NEAR = 0.75;
/** How old a measurement the install listing shows rather than measuring again. */
const STATUS_MAX_AGE_MS = 5000;

export type Executor = Kysely<any>;

interface State {
  bytes: number;
  /** performance.now() of the measurement. */
  at: number;
  /** Rows were deleted since the last VACUUM while the schema was over its quota. */
  vacuumDue: boolean;
  vacuumedAt: number;
  /** The after-the-fact measurement under way, so concurrent statements share it. */
  measuring?: Promise<number> | undefined;
}

export interface SchemaQuota {
  readonly maxBytes: number;
  /**
   * Before a statement that can grow the schema: refuses it (E_SQL_QUOTA)
   * when the last measurement is at or over the quota (first running a VACUUM
   * that is due, and measuring again); answers whether it must run measured
   * in its transaction (the last measurement is at or above NEAR).
   */
  admit(schema: string): Promise<boolean>;
  /** Inside a growing write's transaction, as the host: measures, remembers, and throws E_SQL_QUOTA (rolling it back) past the quota. */
  check(trx: Executor, schema: string): Promise<void>;
  /** After a statement that was not a plain read committed (not measured in its transaction): measures when due. */
  after(schema: string, what: { shrinks: boolean; deleted: boolean }): Promise<void>;
  /** Measures now (after a migration) and remembers. */
  measure(schema: string, executor?: Executor): Promise<number>;
  /** For the install listing: a recent measurement, or a new one. */
  current(schema: string, executor?: Executor): Promise<number>;
  forget(schema: string): void;
}

export function createSchemaQuota(db: Executor, maxBytes: number, intervalMs: number = MEASURE_INTERVAL_MS, now: () => number = () => performance.now()): SchemaQuota {
  const states = new Map<string, State>();

  function remember(schema: string, bytes: number): State {
    const state = states.get(schema);
    if (state !== undefined) {
      state.bytes = bytes;
      state.at = now();
      return state;
    }
    const fresh: State = { bytes, at: now(), vacuumDue: false, vacuumedAt: Number.NEGATIVE_INFINITY };
    states.set(schema, fresh);
    return fresh;
  }

  async function measure(schema: string, executor: Executor = db): Promise<number> {
    const bytes = await schemaBytes(executor, schema);
    remember(schema, bytes);
    return bytes;
  }

  /** One after-the-fact measurement at a time per schema; statements finishing meanwhile share it. */
  function measureShared(schema: string): Promise<number> {
    const state = states.get(schema);
    if (state?.measuring !== undefined) return state.measuring;
    const running = measure(schema).finally(() => {
      const current = states.get(schema);
      if (current !== undefined) current.measuring = undefined;
    });
    const current = states.get(schema);
    if (current !== undefined) current.measuring = running;
    return running;
  }

  async function vacuum(schema: string, state: State): Promise<void> {
    state.vacuumDue = false;
    state.vacuumedAt = now();
    const tables = await sql<{ relname: string }>`SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ${schema} AND c.relkind IN ('r', 'm') ORDER BY c.relname`.execute(db);
    if (tables.rows.length === 0) return;
    // Names quoted by Kysely (sql.id doubles any quote); outside a transaction, as VACUUM must be; SKIP_LOCKED so it
    // never waits behind another VACUUM (autovacuum) or a lock.
    await sql`VACUUM (SKIP_LOCKED) ${sql.join(tables.rows.map((row) => sql.id(schema, row.relname)))}`.execute(db);
  }

  return {
    maxBytes,
    async admit(schema) {
      let state = states.get(schema);
      if (state === undefined) {
        // First growing write since the host started: measured once, so a schema over its quota is known at once.
        await measure(schema);
        state = states.get(schema)!;
      }
      if (state.bytes >= maxBytes && state.vacuumDue && now() - state.vacuumedAt >= intervalMs) {
        await vacuum(schema, state);
        await measure(schema);
      }
      if (state.bytes >= maxBytes) throw overQuota(state.bytes, maxBytes, state.vacuumDue);
      return state.bytes >= NEAR * maxBytes;
    },
    async check(trx, schema) {
      const bytes = await schemaBytes(trx, schema);
      remember(schema, bytes);
      if (bytes > maxBytes) throw crossedQuota(bytes, maxBytes);
    },
    async after(schema, { shrinks, deleted }) {
      const state = states.get(schema);
      const due = shrinks || state === undefined || state.bytes >= NEAR * maxBytes || now() - state.at >= intervalMs;
      if (!due) return;
      const bytes = await measureShared(schema);
      if (!deleted || bytes < maxBytes) return;
      const current = states.get(schema)!;
      current.vacuumDue = true;
      if (now() - current.vacuumedAt < intervalMs) return;
      await vacuum(schema, current);
      await measure(schema);
    },
    measure,
    async current(schema, executor) {
      const state = states.get(schema);
      if (state !== undefined && now() - state.at < STATUS_MAX_AGE_MS) return state.bytes;
      return measure(schema, executor);
    },
    forget(schema) {
      states.delete(schema);
    },
  };
}

/** On-disk bytes of a schema's relations with their indexes and TOAST (see the header). */
export async function schemaBytes(executor: Executor, schema: string): Promise<number> {
  const { rows } = await sql<{ bytes: number | string }>`SELECT coalesce(sum(pg_catalog.pg_total_relation_size(c.oid)), 0)::float8 AS bytes
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ${schema} AND c.relkind IN ('r', 'm', 'p')`.execute(executor);
  return Number(rows[0]?.bytes ?? 0);
}

function mib(bytes: number): string {
  return (bytes / 1048576).toFixed(bytes < 10 * 1048576 ? 2 : 1);
}

const WAY_OUT =
  "free space with TRUNCATE, or DELETE (the host then runs VACUUM, which gives back the pages emptied at the end of a table: PostgreSQL reuses the space of other deleted rows but the quota counts it until the files shrink), or drop tables in a migration; or ask the host's admin for a larger maxSchemaBytes";

function overQuota(bytes: number, maxBytes: number, vacuumDue: boolean): SqlStorageError {
  return new SqlStorageError(
    "E_SQL_QUOTA",
    `this install's tables take ${mib(bytes)} MiB on disk, at or over its quota of ${mib(maxBytes)} MiB: statements that can grow them (INSERT, UPDATE, MERGE …) are refused until they take less (reads, DELETE and TRUNCATE still run); ${WAY_OUT}${vacuumDue ? " (a VACUUM is due and runs within a second)" : ""}`,
    { bytes, maxSchemaBytes: maxBytes },
  );
}

function crossedQuota(bytes: number, maxBytes: number): SqlStorageError {
  return new SqlStorageError(
    "E_SQL_QUOTA",
    `the statement took this install's tables to ${mib(bytes)} MiB on disk, past its quota of ${mib(maxBytes)} MiB, and was rolled back; statements that can grow them are refused until they take less; ${WAY_OUT}`,
    { bytes, maxSchemaBytes: maxBytes, rolledBack: true },
  );
}
