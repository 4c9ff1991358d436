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
 * install's role. The relations are found through pg_depend's index (see
 * schemaRelationsFrom), not a scan of the database's whole pg_class. A
 * measurement costs (median, both backends, a loaded 2-core machine):
 * ~1.4 ms with five tables on PostgreSQL and on PGlite; at the relation cap
 * (maxSchemaRelations, 500: see sql-storage.ts) 11 ms with 165 tables with
 * primary keys and 21 ms with 497 bare tables on PostgreSQL, 18 and 38 ms on
 * PGlite (one pg_total_relation_size per table, which stats its files).
 *
 * When (per install, cached):
 * - below NEAR (75 %) of the quota, after a statement that is not a plain
 *   read and succeeded, at most once per MEASURE_INTERVAL_MS: nothing on the
 *   hot path, and a schema can pass its quota by what one interval of writes
 *   adds (maxConcurrent statements, each within its timeout) before the next
 *   measurement says so;
 * - at or above NEAR, a write that can grow the schema runs in one
 *   transaction with a measurement after it: past the quota, it rolls back
 *   with E_SQL_QUOTA. So does a DELETE, whose foreign keys' ON DELETE SET
 *   NULL / SET DEFAULT actions write a new version of each referring row:
 *   rolled back only when it grew the schema (past the quota, and past the
 *   last measurement before it: a plain DELETE writes no new pages);
 * - at or over the quota, such writes are refused before they run; reads,
 *   DELETE and TRUNCATE still run, and are measured again after each;
 * - after a statement that is not a plain read FAILED (an error, a timeout,
 *   a cancel, a rollback of the host's own above): always measured, shared
 *   only with a measurement that started after it ended. PostgreSQL keeps
 *   the pages of a failed statement's rows (six INSERT … SELECT of 256
 *   40 kB rows failing on a duplicate key took a 1 MiB-quota schema from
 *   32 kB to 64 MB when failures went unmeasured). Over the quota, the VACUUM
 *   below then runs at once, not rate-limited (the failure already cost what
 *   it wrote; the VACUUM holds the install's own lane, so an install cannot
 *   outrun it): a failed statement's rows are dead at once, whatever other
 *   transactions are open, and usually at the tables' end, so it gives their
 *   pages back. Measured on both backends: the loop above now ends at
 *   0.34 MiB; ten DELETEs whose SET DEFAULT rewrote a 2 MiB table then
 *   failed took a 2 MiB-quota schema from 2.00 to 2.09 MiB (21.8 MB before).
 *   The bound is the quota plus what the statements running at once write
 *   before they are measured. Not given back: index pages (reused later),
 *   and the end of a table when the dead pages are fewer than 1,000 (8 MB)
 *   and than 1/16 of it (PostgreSQL's truncation threshold; VACUUM then
 *   records them as free, and later writes reuse them rather than grow the
 *   files). The statement's own error is what the caller gets, whatever the
 *   measurement or VACUUM meet.
 *
 * Getting back under: TRUNCATE (and DROP, in a migration) shrink the files at
 * once. DELETE does not: PostgreSQL marks the rows dead and keeps the pages.
 * So after a DELETE that leaves the schema over its quota the host runs a
 * plain VACUUM of the schema's tables (outside any transaction, SKIP_LOCKED,
 * at most once per MEASURE_INTERVAL_MS per install; one due meanwhile runs
 * before the next refused write or DELETE), which removes the dead rows and
 * gives back the empty pages at the end of each table. Measured on both
 * backends: a table emptied by DELETE went from 3.4 MB to 172 kB (its index
 * pages stay), one whose newest rows were deleted shrank by them; one whose
 * oldest half was deleted did not shrink at all — that space is reused by
 * later writes but still counted. The alternatives were worse: VACUUM FULL
 * rewrites the tables under an exclusive lock (on PGlite, the host's one
 * session) at a cost of the whole schema per DELETE; "live bytes" need
 * pgstattuple or pg_freespacemap, extensions a host cannot count on; and
 * letting writes that do not grow the files through while over quota cannot
 * tell an index page from new data, and every refused attempt leaves its
 * pages behind. So the quota is a bound on disk, and the guidance (the
 * error's message, the docs) says what frees it: TRUNCATE, DROP in a
 * migration, or deleting enough that tables empty from their end; keep below
 * the quota rather than at it.
 */
export const MEASURE_INTERVAL_MS = 1000;
/** The fraction of the quota from which growing writes (and DELETE) are measured inside their transaction. */
export const NEAR = 0.75;
/** How old a measurement the install listing shows rather than measuring again. */
const STATUS_MAX_AGE_MS = 5000;

export type Executor = Kysely<any>;

interface State {
  bytes: number;
  /** now() of the measurement. */
  at: number;
  /** The schema was found over its quota after a DELETE or a failure, and no VACUUM ran since. */
  vacuumDue: boolean;
  vacuumedAt: number;
}

/** A measurement or VACUUM under way for a schema, shared by the statements that ended before it started. */
interface Running<T> {
  started: number;
  promise: Promise<T>;
}

/** What admit answers: the last measurement, and whether the statement must run measured in its transaction. */
export interface Admission {
  bytes: number;
  measured: boolean;
}

export interface SchemaQuota {
  readonly maxBytes: number;
  /**
   * Before a statement that can grow the schema (`grows`), or a DELETE (whose
   * foreign keys' actions can write): first runs a VACUUM that is due (and
   * measures again); refuses a growing one (E_SQL_QUOTA) when the last
   * measurement is at or over the quota; answers whether it must run measured
   * in its transaction (the last measurement is at or above NEAR).
   */
  admit(schema: string, grows?: boolean): Promise<Admission>;
  /**
   * Inside the statement's transaction, as the host: measures, remembers, and
   * throws E_SQL_QUOTA (rolling it back) past the quota; with `before` (a
   * DELETE), only when it also grew the schema.
   */
  check(trx: Executor, schema: string, before?: number): Promise<void>;
  /**
   * After a statement that was not a plain read committed: measures when due
   * (`measured`: it was, in its transaction); a DELETE that leaves the schema
   * over its quota gets a VACUUM, at most once per interval.
   */
  after(schema: string, what: { shrinks: boolean; deleted: boolean; measured?: boolean }): Promise<void>;
  /**
   * After a statement that was not a plain read failed (error, timeout,
   * cancel, a rollback of the host's own): measures, always, and over the
   * quota runs a VACUUM, which gives back the pages of the failed statement's
   * rows at the tables' end. Never rate-limited: see the header.
   */
  failed(schema: string): Promise<void>;
  /** Measures now (after a migration) and remembers. */
  measure(schema: string, executor?: Executor): Promise<number>;
  /** For the install listing: a recent measurement, or a new one. */
  current(schema: string, executor?: Executor): Promise<number>;
  forget(schema: string): void;
}

export function createSchemaQuota(db: Executor, maxBytes: number, intervalMs: number = MEASURE_INTERVAL_MS, now: () => number = () => performance.now()): SchemaQuota {
  const states = new Map<string, State>();
  const measuring = new Map<string, Running<number>>();
  const vacuuming = new Map<string, Running<void>>();

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

  /**
   * One task of a kind at a time per schema; a caller shares the one under way
   * when it started at or after `since` (so it sees what the caller's
   * statement left), else waits for it and shares the next.
   */
  function shared<T>(running: Map<string, Running<T>>, schema: string, since: number, task: () => Promise<T>): Promise<T> {
    const current = running.get(schema);
    if (current !== undefined) {
      if (current.started >= since) return current.promise;
      const again = () => shared(running, schema, since, task);
      return current.promise.then(again, again);
    }
    const entry: Running<T> = { started: now(), promise: Promise.resolve() as Promise<T> };
    entry.promise = task().finally(() => {
      if (running.get(schema) === entry) running.delete(schema);
    });
    running.set(schema, entry);
    return entry.promise;
  }

  const measureSince = (schema: string, since: number) => shared(measuring, schema, since, () => measure(schema));
  /**
   * A VACUUM of the schema's tables, then a measurement. `limited`: one of the
   * rate-limited ones (after a DELETE, or before a write), which start the
   * interval; one after a failure does not.
   */
  const vacuumSince = (schema: string, since: number, limited: boolean) =>
    shared(vacuuming, schema, since, async () => {
      const state = states.get(schema);
      if (state !== undefined) {
        state.vacuumDue = false;
        if (limited) state.vacuumedAt = now();
      }
      await vacuum(schema);
      await measure(schema);
    });

  async function vacuum(schema: string): Promise<void> {
    const tables = await sql<{ relname: string }>`SELECT c.relname ${schemaRelationsFrom(schema)} AND c.relkind IN ('r', 'm') ORDER BY c.relname`.execute(db);
    if (tables.rows.length === 0) return;
    // Names quoted by Kysely (sql.id doubles any quote); outside a transaction, as VACUUM must be; SKIP_LOCKED so it
    // never waits behind another VACUUM (autovacuum) or a lock.
    await sql`VACUUM (SKIP_LOCKED) ${sql.join(tables.rows.map((row) => sql.id(schema, row.relname)))}`.execute(db);
  }

  return {
    maxBytes,
    async admit(schema, grows = true) {
      let state = states.get(schema);
      if (state === undefined) {
        // First statement since the host started: measured once, so a schema over its quota is known at once.
        await measureSince(schema, Number.NEGATIVE_INFINITY);
        state = states.get(schema)!;
      }
      if (state.bytes >= maxBytes && state.vacuumDue && now() - state.vacuumedAt >= intervalMs) await vacuumSince(schema, Number.NEGATIVE_INFINITY, true);
      if (grows && state.bytes >= maxBytes) throw overQuota(state.bytes, maxBytes, state.vacuumDue);
      return { bytes: state.bytes, measured: state.bytes >= NEAR * maxBytes };
    },
    async check(trx, schema, before) {
      const bytes = await schemaBytes(trx, schema);
      remember(schema, bytes);
      if (bytes > maxBytes && (before === undefined || bytes > before)) throw crossedQuota(bytes, maxBytes, before !== undefined);
    },
    async after(schema, { shrinks, deleted, measured = false }) {
      const since = now();
      const state = states.get(schema);
      let bytes: number;
      if (measured && state !== undefined) {
        bytes = state.bytes;
      } else {
        const due = shrinks || state === undefined || state.bytes >= NEAR * maxBytes || since - state.at >= intervalMs;
        if (!due) return;
        // Shares a measurement under way, whenever it started (as before): the success path costs no more than one per interval.
        bytes = await measureSince(schema, Number.NEGATIVE_INFINITY);
      }
      if (!deleted || bytes < maxBytes) return;
      const current = states.get(schema)!;
      current.vacuumDue = true;
      if (now() - current.vacuumedAt < intervalMs) return;
      await vacuumSince(schema, since, true);
    },
    async failed(schema) {
      const since = now();
      const bytes = await measureSince(schema, since);
      if (bytes < maxBytes) return;
      states.get(schema)!.vacuumDue = true;
      await vacuumSince(schema, since, false);
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

/**
 * `FROM … WHERE` of a schema's relations (`c`), reached through pg_depend's
 * index: every table, view, sequence, materialized and partitioned table
 * depends on its namespace (indexes on their table, TOAST lives in pg_toast),
 * so the cost follows the schema's own relations, not the whole database's
 * pg_class (a sequential scan of it, whose size grows with every install,
 * took ~3 ms of a ~4 ms measurement on a test database of ~3,000 relations).
 */
function schemaRelationsFrom(schema: string) {
  return sql`FROM pg_catalog.pg_namespace n
    JOIN pg_catalog.pg_depend d ON d.refclassid = 'pg_catalog.pg_namespace'::pg_catalog.regclass AND d.refobjid = n.oid AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
    JOIN pg_catalog.pg_class c ON c.oid = d.objid AND c.relnamespace = n.oid
    WHERE n.nspname = ${schema}`;
}

/** On-disk bytes of a schema's relations with their indexes and TOAST (see the header). */
export async function schemaBytes(executor: Executor, schema: string): Promise<number> {
  const { rows } = await sql<{ bytes: number | string }>`SELECT coalesce(pg_catalog.sum(pg_catalog.pg_total_relation_size(c.oid)), 0)::pg_catalog.float8 AS bytes
    ${schemaRelationsFrom(schema)} AND c.relkind IN ('r', 'm', 'p')`.execute(executor);
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

function crossedQuota(bytes: number, maxBytes: number, deleting: boolean): SqlStorageError {
  const what = deleting
    ? "the DELETE (its foreign keys' ON DELETE SET NULL / SET DEFAULT actions write new versions of the rows that refer to the deleted ones)"
    : "the statement";
  return new SqlStorageError(
    "E_SQL_QUOTA",
    `${what} took this install's tables to ${mib(bytes)} MiB on disk, past its quota of ${mib(maxBytes)} MiB, and was rolled back; statements that can grow them are refused until they take less; ${WAY_OUT}`,
    { bytes, maxSchemaBytes: maxBytes, rolledBack: true },
  );
}
