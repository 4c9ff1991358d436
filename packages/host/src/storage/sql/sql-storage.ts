import type { Bundle, Manifest, SqlStorageLimits } from "@annex/manifest";
import { CompiledQuery, sql, type Kysely, type QueryResult } from "kysely";
import type { AnnexDatabase } from "../../database/open.js";
import type { AnnexTables } from "../../database/tables.js";
import { errorSummary, type ErrorSummary } from "../../errors.js";
import type { InstallDataHook, InstallInfo } from "../../installs/types.js";
import { readBundleMigrations, type BundleMigration } from "./bundle-migrations.js";
import { refused, SqlStorageError } from "./errors.js";
import { checkSql, loadParser } from "./guard.js";
import { parseSync } from "libpg-query";
import { installRoleName, installSchemaName, quoteIdent } from "./schema-name.js";
import { PinnedAbortError, PinnedStuckError, postgresPinned } from "../../database/postgres-pinned.js";
import { boundPlan, inputSize, PLANNED_STATEMENTS } from "./plan-bounds.js";
import { createPlanCostCache } from "./plan-costs.js";
import { checkRegexParameters } from "./regex.js";
import { checkNeedleParameters } from "./needles.js";
import { pinScript, pinSession, pinStatement } from "./session.js";
import { createStatementLanes, executionEnded } from "./statement-lanes.js";
import { createSchemaQuota } from "./quota.js";
import { assertWraps, boundedSelect, createVerdictCache, RESULT_TOO_LARGE_MARK, type Verdict } from "./verdicts.js";
import { createTextBudget } from "./text-budget.js";
import { toGuestValue, toParams } from "./values.js";

export interface SqlLimits {
  /** Statement and lock timeout of `ctx.sql.query`, ms. Default 5000. */
  timeoutMs?: number | undefined;
  /** Rows one query may return. Default 1000. */
  maxRows?: number | undefined;
  /** Bytes (as JSON) one query's rows may take. Default 1 MiB. */
  maxBytes?: number | undefined;
  /** Parameters of one query. Default 1000. */
  maxParams?: number | undefined;
  /**
   * Bytes one query's parameters may take together (UTF-8; an object or array
   * as its JSON text). Past it the query fails with E_SQL_PARAMS before it is
   * sent. Default 1 MiB. Host policy only.
   */
  maxParamBytes?: number | undefined;
  /** Characters of one query's text. Default 100,000. */
  maxTextLength?: number | undefined;
  /**
   * Characters of new statement text (a text the guard has no verdict for)
   * one install may have checked per second, on the host's main thread; up
   * to 4 × as much at once (at least maxTextLength). Past it a query fails
   * with E_SQL_BUSY before it is parsed. Default 50,000.
   */
  checkedTextPerSecond?: number | undefined;
  /** Timeout of one migration, ms. Default 60000. */
  migrationTimeoutMs?: number | undefined;
  /**
   * PGlite only, which cannot interrupt a running statement: the planner's
   * estimated cost above which a query is refused before it runs. Default 1e6.
   */
  maxPlannerCost?: number | undefined;
  /**
   * Statements of one install that may run at once, across all its
   * executions (and `host.sql.query`): each holds a connection of the host's
   * pool while it runs. Default 2.
   */
  maxConcurrent?: number | undefined;
  /**
   * Statements of one install that may wait for one of those places; a
   * statement past them fails at once with E_SQL_BUSY. Default 32.
   */
  maxQueued?: number | undefined;
  /**
   * Statements of all installs together that may run at once (each holds a
   * pooled connection); past it they wait in their install's queue, a freed
   * place going to the installs in turn. Default: on a connection string,
   * 60 % of `poolSize` (6 of the default 10), leaving the rest to Annex's own
   * queries and to cancelling statements; 6 on a Kysely instance (its pool's
   * size is not known); 4 on PGlite (one session: it only bounds what is
   * queued there).
   */
  maxConcurrentTotal?: number | undefined;
  /**
   * Disk one install's owned schema may take: its tables with their indexes
   * and TOAST, as PostgreSQL counts them. At or over it, statements that can
   * grow the schema fail with E_SQL_QUOTA (see quota.ts). Default 256 MiB.
   * Host policy only: a manifest cannot ask for another.
   */
  maxSchemaBytes?: number | undefined;
  /**
   * Relations one install's owned schema may hold after a migration: its
   * tables, indexes, sequences, views and composite types (`pg_class`), with
   * its constraints and enum types — what `DROP SCHEMA … CASCADE` at purge has
   * to lock, one lock each and up to five a table (its TOAST and row types),
   * in PostgreSQL's shared lock table; and what each quota measurement walks.
   * A migration that leaves more fails with E_SQL_TOO_MANY_RELATIONS and rolls
   * back. Default 500. Host policy only.
   */
  maxSchemaRelations?: number | undefined;
}

/** Per call: `signal` aborts when the execution that sent the statement ends (see createHostDispatch). */
export interface SqlQueryOptions {
  /** Aborted: a queued statement is dropped; on PostgreSQL a running one is cancelled and rolled back. */
  signal?: AbortSignal | undefined;
}

export interface SqlStorageOptions {
  database: AnnexDatabase;
  limits?: SqlLimits | undefined;
  /**
   * PostgreSQL: run each install's statements as a role of its own that owns
   * its schema and nothing else (the host's database user needs CREATEROLE).
   * Default true on PostgreSQL; PGlite has no roles worth the name.
   */
  roles?: boolean | undefined;
  /** Connections of the `pg` pool Annex opened for a connection string, when it did: the default of `maxConcurrentTotal` follows it. */
  poolSize?: number | undefined;
  /** How often a schema below 75 % of its quota is measured after writes, ms (quota.ts). Default 1000; tests set 0. */
  quotaIntervalMs?: number | undefined;
  /**
   * PostgreSQL through a pool Annex opened: how long a statement has to stop
   * after the host's cancel before the host closes its connection and stops
   * waiting (postgres-pinned.ts's PinnedStuckError), ms. Default 2000; tests set less.
   */
  cancelGraceMs?: number | undefined;
}

/** An install's owned schema as the install listing shows it. */
export interface SqlSchemaStatus {
  schema: string;
  /** The last applied migration (`0003`), null before the first. */
  version: string | null;
  /** `failed`: the last install or upgrade stopped at a migration; the schema stays at `version`. */
  status: "pending" | "ready" | "failed";
  /** Applied migrations, oldest first. */
  migrations: Array<{ version: string; name: string; checksum: string; appliedAt: Date; durationMs: number }>;
  lastError: ErrorSummary | null;
  /** Disk its tables take with their indexes and TOAST, bytes (measured when asked, or the host's measurement of the last 5 s); absent when it could not be measured. */
  bytes?: number | undefined;
  /** The host's quota for `bytes` (`maxSchemaBytes`): at or over it, writes that can grow the schema fail with E_SQL_QUOTA. */
  maxBytes?: number | undefined;
}

export interface SqlQueryResult {
  rows: Record<string, unknown>[];
  rowCount: number;
}

export interface SqlStorage {
  /**
   * Runs one guarded statement in an install's schema (what `ctx.sql.query`
   * reaches). `asked`: the install's manifest's `storage.limits`, each capped
   * here by the host's policy.
   */
  query(installId: string, text: string, params?: unknown[], asked?: SqlStorageLimits | undefined, options?: SqlQueryOptions): Promise<SqlQueryResult>;
  status(installId: string): Promise<SqlSchemaStatus | null>;
  /** Export, purge, migrations at install and upgrade, and the listing's status. */
  hook: InstallDataHook;
  /** The host's bounds on one query's text and parameters (what a call's arguments may carry). */
  readonly argumentLimits: Readonly<{ maxTextLength: number; maxParamBytes: number }>;
}

interface Target {
  schema: string;
  role: string | null;
}

/** The statements an install's query may be: a plain read or write is named on PGlite, anything else is parsed every time. */
const NAMED_KINDS = new Set(["SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"]);

const DEFAULTS = {
  timeoutMs: 5000,
  maxRows: 1000,
  maxBytes: 1024 * 1024,
  maxParams: 1000,
  maxParamBytes: 1024 * 1024,
  maxTextLength: 100_000,
  checkedTextPerSecond: 50_000,
  migrationTimeoutMs: 60_000,
  maxPlannerCost: 1e6,
  maxConcurrent: 2,
  maxQueued: 32,
  maxConcurrentTotal: 6,
  maxSchemaBytes: 256 * 1024 * 1024,
  maxSchemaRelations: 500,
};

type ResolvedSqlLimits = typeof DEFAULTS;

/** Migration statements that may create relations (SqlLimits.maxSchemaRelations): the count is checked every RELATIONS_CHECK_EVERY of them. */
const CREATING_KINDS = new Set(["CreateStmt", "IndexStmt", "AlterTableStmt", "ViewStmt", "CreateSeqStmt", "CompositeTypeStmt", "CreateEnumStmt"]);
const RELATIONS_CHECK_EVERY = 50;
/** PostgreSQL: how long a purge waits for a lock another session holds on the install's tables. */
const PURGE_LOCK_TIMEOUT_MS = 5000;

/**
 * What SqlLimits.maxSchemaRelations counts in a schema: its pg_class entries
 * (all kinds; TOAST tables live in pg_toast), its constraints but NOT NULL
 * (PostgreSQL 18 records one per column), and its enum types. One catalog
 * query, readable by any role.
 */
export async function schemaRelations(executor: Kysely<any>, schema: string): Promise<number> {
  const { rows } = await sql<{ n: number | string }>`SELECT
      (SELECT count(*) FROM pg_catalog.pg_class c WHERE c.relnamespace = n.oid)
      + (SELECT count(*) FROM pg_catalog.pg_constraint k WHERE k.connamespace = n.oid AND k.contype <> 'n')
      + (SELECT count(*) FROM pg_catalog.pg_type t WHERE t.typnamespace = n.oid AND t.typtype = 'e') AS n
    FROM pg_catalog.pg_namespace n WHERE n.nspname = ${schema}`.execute(executor);
  return Number(rows[0]?.n ?? 0);
}

/** Statements that can only make an install's schema smaller: always measured after (quota.ts). Without a data-modifying WITH. */
const SHRINKING_KINDS = new Set(["DeleteStmt", "TruncateStmt", "DropStmt"]);

/** Refuses a limit of the host's policy outside its range (the newer ones; the others are read as given). */
function validateLimits(limits: SqlLimits): void {
  const ranges = {
    maxConcurrentTotal: [1, 1000],
    maxSchemaBytes: [64 * 1024, Number.MAX_SAFE_INTEGER],
    maxSchemaRelations: [1, 1_000_000],
    maxTextLength: [1000, 10_000_000],
    maxParamBytes: [1024, 1024 * 1024 * 1024],
    checkedTextPerSecond: [1000, Number.MAX_SAFE_INTEGER],
  } as const;
  for (const [name, [min, max]] of Object.entries(ranges) as Array<[keyof typeof ranges, readonly [number, number]]>) {
    const value = limits[name];
    if (value !== undefined && (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max)) {
      throw new SqlStorageError("E_SQL_OPTIONS", `createHost({ sql: { limits } }): ${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`, {
        field: `sql.limits.${name}`,
      });
    }
  }
}

/** The default of maxConcurrentTotal (see SqlLimits): 60 % of a known pool, the rest kept for the host's own queries. */
function defaultTotal(database: AnnexDatabase, poolSize: number | undefined): number {
  if (database.kind === "pglite") return 4;
  if (poolSize === undefined) return DEFAULTS.maxConcurrentTotal;
  return Math.max(1, Math.floor(poolSize * 0.6));
}

/**
 * The limits of one install's queries: what its manifest asks for
 * (`storage.limits` of an owned schema), each capped by the host's policy;
 * the policy where the manifest is silent.
 */
export function installSqlLimits(asked: SqlStorageLimits | undefined, policy: ResolvedSqlLimits): ResolvedSqlLimits {
  if (asked === undefined) return policy;
  const limits = { ...policy };
  for (const name of ["timeoutMs", "maxRows", "maxBytes"] as const) {
    const value = asked[name];
    if (typeof value === "number" && Number.isSafeInteger(value) && value > 0) limits[name] = Math.min(value, policy[name]);
  }
  return limits;
}

/** The `storage.limits` an install's manifest asks for its owned schema, if any. */
export function sqlLimitsOf(manifest: Manifest): SqlStorageLimits | undefined {
  return manifest.storage.kind === "owned-schema" ? manifest.storage.limits : undefined;
}

export function createSqlStorage(options: SqlStorageOptions): SqlStorage {
  const { database } = options;
  const db = database.db as Kysely<AnnexTables>;
  const root = database.root;
  validateLimits(options.limits ?? {});
  const limits = { ...DEFAULTS, maxConcurrentTotal: defaultTotal(database, options.poolSize), ...definedOnly(options.limits ?? {}) };
  const policy = limits;
  const interruptible = database.kind === "postgres";
  const useRoles = database.kind === "postgres" && options.roles !== false;
  const targets = new Map<string, Target>();
  // The database refuses a result whose rows take more than this as text before sending the row that passes it (see
  // boundedSelect): the host's policy, so a text's verdict stays one for every install; each install's own maxBytes
  // is then counted exactly, as JSON, by rowReader.
  const maxResultText = textBound(limits.maxBytes, limits.maxRows);
  const verdicts = createVerdictCache({ interruptible, maxResultText });
  const textBudget = createTextBudget(limits.checkedTextPerSecond, Math.max(4 * limits.checkedTextPerSecond, limits.maxTextLength));
  const pipeline = database.kind === "pglite" ? database.pipeline : undefined;
  const pinned = database.kind === "postgres" ? postgresPinned(root, { pool: database.pool, graceMs: options.cancelGraceMs ?? CANCEL_GRACE_MS }) : undefined;
  const costs = createPlanCostCache();
  const lanes = createStatementLanes(Math.max(1, Math.floor(limits.maxConcurrent) || 1), Math.max(0, Math.floor(limits.maxQueued) || 0), limits.maxConcurrentTotal);
  const quota = createSchemaQuota(root, limits.maxSchemaBytes, options.quotaIntervalMs);
  const shapes = new WeakMap<Verdict, Shape>();

  /** Lookups in flight, one per install: a burst of statements after a restart reads the row once, and reaches the lanes in the order it was sent. */
  const looking = new Map<string, Promise<Target>>();

  function targetOf(installId: string): Promise<Target> | Target {
    const cached = targets.get(installId);
    if (cached !== undefined) return cached;
    let lookup = looking.get(installId);
    if (lookup === undefined) {
      lookup = lookUpTarget(installId).finally(() => looking.delete(installId));
      looking.set(installId, lookup);
    }
    return lookup;
  }

  async function lookUpTarget(installId: string): Promise<Target> {
    const row = await db.selectFrom("annex_sql_schemas").select(["schema_name", "role_name"]).where("install_id", "=", installId).executeTakeFirst();
    if (row === undefined) {
      throw new SqlStorageError("E_SQL_NO_SCHEMA", "this install has no owned schema: declare storage { kind: \"owned-schema\", migrations } and the storage.sql capability", { installId });
    }
    const target = { schema: row.schema_name, role: row.role_name };
    targets.set(installId, target);
    return target;
  }

  /**
   * PostgreSQL, a write near the install's quota (quota.ts): the statement and
   * the host's measurement in one transaction, rolled back when the schema
   * went past its quota. Not the pinned runner, whose transaction ends without
   * a query of the host's between the statement and its COMMIT; so the
   * cancellation of an ended execution's statement is done here the same way
   * (pg_cancel_backend from another pooled connection, sent only while the
   * statement runs, the next message waiting for it), by the backend's pid
   * read with the pin. The deadline is the pin's statement_timeout.
   */
  async function runMeasuredOnPostgres(
    settings: Parameters<typeof pinStatement>[0],
    statement: CompiledQuery,
    signal: AbortSignal | undefined,
    check: ((result: QueryResult<unknown>) => void) | undefined,
    measure: (trx: Kysely<any>) => Promise<void>,
  ): Promise<QueryResult<unknown>> {
    if (signal?.aborted) throw new PinnedAbortError();
    const pin = pinStatement(settings);
    try {
      return await root.transaction().execute(async (trx) => {
        const pinnedRow = await trx.executeQuery(CompiledQuery.raw(`${pin.sql}, pg_catalog.pg_backend_pid() AS annex_pid`, [...pin.parameters]));
        const pid = Number((pinnedRow.rows[0] as { annex_pid: unknown }).annex_pid);
        let running = true;
        let cancelling: Promise<unknown> | undefined;
        const stop = () => {
          if (running && cancelling === undefined) cancelling = sql`SELECT pg_catalog.pg_cancel_backend(${pid})`.execute(root).catch(() => undefined);
        };
        signal?.addEventListener("abort", stop, { once: true });
        let ran: QueryResult<unknown>;
        try {
          ran = await trx.executeQuery(statement);
        } finally {
          running = false;
          signal?.removeEventListener("abort", stop);
          if (cancelling !== undefined) await cancelling;
        }
        if (signal?.aborted) throw new PinnedAbortError();
        check?.(ran);
        // Measured as the host's own user, never as the install's role (as the migrations' ledger is written).
        if (settings.role !== null) await sql`RESET ROLE`.execute(trx);
        await measure(trx);
        return ran;
      });
    } catch (error) {
      if (signal?.aborted) throw new PinnedAbortError();
      throw error;
    }
  }

  /**
   * PGlite, which cannot stop a statement once it runs: the planner's cost
   * estimate first, then the statement, each in one exchange pinned on its
   * own (the pin holds up to the exchange's Sync, like SET LOCAL up to a
   * COMMIT). The estimate of a read whose estimate no parameter value can
   * move is remembered (see plan-costs.ts), so repeating it is one exchange;
   * anything that is not a read drops the schema's estimates before it runs
   * and after.
   */
  async function runOnPGlite(
    schema: string,
    pin: CompiledQuery,
    statement: CompiledQuery,
    verdict: Verdict,
    maxCost: number,
    check?: (result: QueryResult<unknown>) => void,
    measure?: (trx: Kysely<any>) => Promise<void>,
  ): Promise<QueryResult<unknown>> {
    const { readOnly, rememberCost } = verdict;
    if (!readOnly) costs.invalidate(schema);
    try {
      let cost = rememberCost ? costs.get(schema, statement.sql) : undefined;
      // TRUNCATE has no plan to estimate (EXPLAIN refuses it) and scans nothing: it swaps each table's files for empty ones.
      if (verdict.kind === "TruncateStmt") cost = 0;
      if (cost === undefined) {
        const [, plan] = await pipeline!([pin, explain(statement, rememberCost)], [pin.sql]);
        const bound = boundPlan(planOf(plan!), inputSize(statement.sql, statement.parameters));
        cost = bound.cost;
        // A set-returning function's bound is its input's size: it belongs to these parameters, not to the text.
        if (rememberCost && !bound.setReturning) costs.set(schema, statement.sql, cost);
      }
      checkCost(cost, maxCost);
      if (check !== undefined || measure !== undefined) {
        // A write whose rows cannot be capped in SQL (see shapeOf), or one near the install's quota (quota.ts): an
        // explicit transaction (which holds PGlite's one session to its end, like an exchange), so that rows past the
        // limit, or a schema past its quota, roll the write back instead of being refused after it committed. Rare,
        // so not worth naming.
        return await root.transaction().execute(async (trx) => {
          await trx.executeQuery(pin);
          const ran = await trx.executeQuery(statement);
          check?.(ran);
          await measure?.(trx);
          return ran;
        });
      }
      // Both named from their second run (see pglitePipeline). The pin's text is the same for every install (the
      // schema is its parameter). The statement is keyed by its schema and text (schema names have no NUL, the pin's
      // text has none either), so a name is only ever bound in the search_path it was prepared in — and PostgreSQL
      // would analyse it again in any other. A migration forgets the schema's names (see apply).
      const [, ran] = await pipeline!([pin, statement], [pin.sql, NAMED_KINDS.has(verdict.kind) ? statementKeyPrefix(schema) + statement.sql : undefined]);
      return ran!;
    } finally {
      if (!readOnly) costs.invalidate(schema);
    }
  }

  async function query(installId: string, text: string, params: unknown[] = [], asked?: SqlStorageLimits, options: SqlQueryOptions = {}): Promise<SqlQueryResult> {
    const limits = installSqlLimits(asked, policy);
    if (typeof text !== "string" || text.length > limits.maxTextLength) {
      throw new SqlStorageError("E_SQL_PARAMS", `query text must be a string of at most ${limits.maxTextLength} characters (sql.limits.maxTextLength): pass values as parameters ($1 …)`, { maxTextLength: limits.maxTextLength });
    }
    if (!Array.isArray(params)) throw new SqlStorageError("E_SQL_PARAMS", "params must be an array");
    const target = await targetOf(installId);
    const values = toParams(params, limits.maxParams, limits.maxParamBytes);
    await loadParser();
    const verdict = verdicts.verdict(target.schema, text, limits.maxRows, (characters) => textBudget.spend(installId, characters));
    // The verdict is the text's; the values of its pattern parameters are checked here, on every call (regex.ts).
    if (verdict.regexParams.length > 0) checkRegexParameters(verdict.regexParams, values);
    if (verdict.needleParams.length > 0) checkNeedleParameters(verdict.needleParams, values);
    const { kind } = verdict;
    const shape = shapeOf(verdict, target.schema, limits.maxRows);
    const settings = { ...target, timeoutMs: limits.timeoutMs, timeouts: interruptible };
    const statement = CompiledQuery.raw(shape.run, values);
    const reader = rowReader(limits.maxRows, limits.maxBytes);
    const check = shape.atomic ? (ran: QueryResult<unknown>) => reader.take(ran.rows) : undefined;
    const { signal } = options;
    // One install holds at most maxConcurrent of the pool's connections, all installs together maxConcurrentTotal; the
    // statement waits here, not in the pool.
    const release = await lanes.acquire(installId, signal);
    let result: QueryResult<unknown>;
    try {
      let measure: ((trx: Kysely<any>) => Promise<void>) | undefined;
      // Whether the statement was sent (or may have been): from then on, a failure is measured.
      let sent = false;
      try {
        // The quota (quota.ts): a growing write is refused up front at or over it; near it, it runs measured inside its
        // transaction, and so does a DELETE (whose foreign keys' actions can write), rolled back only if it grew it.
        if (shape.grows || kind === "DeleteStmt") {
          const admitted = await quota.admit(target.schema, shape.grows);
          if (admitted.measured) measure = shape.grows ? (trx) => quota.check(trx, target.schema) : (trx) => quota.check(trx, target.schema, admitted.bytes);
        }
        sent = true;
        if (pipeline !== undefined) result = await runOnPGlite(target.schema, pinStatement(settings), statement, verdict, limits.maxPlannerCost, check, measure);
        else if (measure !== undefined) result = await runMeasuredOnPostgres(settings, statement, signal, check, measure);
        else result = await pinned!(pinScript(settings), statement, { signal, deadlineMs: limits.timeoutMs, check, cursor: shape.cursor ? reader.cursor : undefined });
      } catch (error) {
        // PostgreSQL did not stop it: the host no longer waits, and other installs may have its place at once; the
        // install's own place stays taken while the database still runs it (statement-lanes.ts).
        if (error instanceof PinnedStuckError) release.detach(error.ended);
        const failure =
          error instanceof PinnedAbortError
            ? executionEnded()
            : error instanceof PinnedStuckError
              ? notInterrupted(limits.timeoutMs, error.graceMs)
              : markedFailure(error, limits) ?? toSqlError(error, limits.timeoutMs);
        // Failed (an error, a timeout, a cancel, a rollback of the host's own): PostgreSQL keeps the pages its rows
        // took, so it is measured, and over the quota vacuumed (quota.ts). Its own error is the answer, whatever that
        // measurement meets.
        if (sent && !verdict.readOnly) await quota.failed(target.schema).catch(() => {});
        throw failure;
      }
      if (!verdict.readOnly) {
        // Committed: a failed measurement must not turn it into an error; the next statement measures again.
        // A DELETE … RETURNING runs wrapped in a SELECT (shapeOf), which reports rows rather than affected rows.
        const deleted = kind === "DeleteStmt" && Number(result.numAffectedRows ?? result.rows.length) > 0;
        await quota.after(target.schema, { shrinks: shape.shrinks, deleted, measured: measure !== undefined }).catch(() => {});
      }
    } finally {
      release();
    }
    if (!shape.cursor && !shape.atomic) reader.take(result.rows);
    const out = reader.rows;
    const affected = result.numAffectedRows;
    return { rows: out, rowCount: kind === "SelectStmt" || affected === undefined ? out.length : Number(affected) };
  }

  /**
   * How a statement's rows are bounded, remembered with its verdict (which is
   * per schema, row cap and text). Every statement that returns rows fetches
   * at most maxRows + 1 of them:
   * - a plain SELECT is already wrapped in `LIMIT maxRows + 1` (verdicts.ts);
   * - a locking SELECT (`FOR UPDATE`) is wrapped as a CTE under the same LIMIT:
   *   the CTE is read lazily, so rows past it are neither read nor locked;
   * - a write with RETURNING is wrapped as a data-modifying CTE, which
   *   PostgreSQL always runs to its end whatever reads it; a count of its rows
   *   over maxRows fails the statement (a cast of a marked text), so the write
   *   rolls back whole with E_SQL_TOO_MANY_ROWS instead of being kept behind
   *   the error; it runs `atomic` (below) too, so rows past maxBytes roll it
   *   back as well;
   * - a statement holding a data-modifying WITH cannot be nested (PostgreSQL
   *   wants those WITHs at the top level): a SELECT without LIMIT or OFFSET of
   *   its own gets `LIMIT maxRows + 1` appended, and it runs `atomic`: its
   *   rows are checked before the commit, so rows past the limit roll it back.
   * The database stops both SELECT forms at the first row past textBound of
   * the host's maxBytes (boundedSelect), and a write whose RETURNING rows
   * together pass it; on PostgreSQL the SELECTs are read through a cursor in
   * small batches (rowReader), so a result stops at the first row past
   * maxBytes.
   */
  function shapeOf(verdict: Verdict, schema: string, maxRows: number): Shape {
    const known = shapes.get(verdict);
    if (known !== undefined) return known;
    const shape = Object.freeze({ ...boundRows(verdict, schema, maxRows, interruptible, maxResultText), ...quotaClass(verdict) });
    shapes.set(verdict, shape);
    return shape;
  }

  async function status(installId: string, reader: Kysely<AnnexTables> = db): Promise<SqlSchemaStatus | null> {
    const row = await reader.selectFrom("annex_sql_schemas").selectAll().where("install_id", "=", installId).executeTakeFirst();
    if (row === undefined) return null;
    const ledger = await reader.selectFrom("annex_sql_migrations").selectAll().where("install_id", "=", installId).orderBy("version").execute();
    // What the listing shows of the quota: a measurement of the last seconds, or a new one (one catalog query).
    const bytes = await quota.current(row.schema_name, reader).catch(() => undefined);
    return {
      schema: row.schema_name,
      version: row.version,
      status: row.status as SqlSchemaStatus["status"],
      migrations: ledger.map((entry) => ({ version: entry.version, name: entry.name, checksum: entry.checksum, appliedAt: entry.applied_at, durationMs: entry.duration_ms })),
      lastError: (row.last_error ?? null) as ErrorSummary | null,
      ...(bytes === undefined ? {} : { bytes }),
      maxBytes: limits.maxSchemaBytes,
    };
  }

  /** Creates the schema (and role) when missing; returns where the install's statements run. */
  async function ensureSchema(install: InstallInfo): Promise<Target> {
    const existing = await db.selectFrom("annex_sql_schemas").select(["schema_name", "role_name"]).where("install_id", "=", install.id).executeTakeFirst();
    const schema = existing?.schema_name ?? installSchemaName(install.extensionId, install.id);
    const role = existing === undefined ? (useRoles ? installRoleName(schema) : null) : existing.role_name;
    await root.transaction().execute(async (trx) => {
      if (role !== null) await ensureRole(trx, role);
      await sql.raw(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}${role === null ? "" : ` AUTHORIZATION ${quoteIdent(role)}`}`).execute(trx);
      if (existing === undefined) {
        await scoped(trx)
          .insertInto("annex_sql_schemas")
          .values({ install_id: install.id, schema_name: schema, role_name: role, version: null, status: "pending", last_error: null })
          .execute();
      }
    });
    const target = { schema, role };
    targets.set(install.id, target);
    return target;
  }

  function scoped(trx: Kysely<any>): Kysely<AnnexTables> {
    return (database.schema === undefined ? trx : trx.withSchema(database.schema)) as Kysely<AnnexTables>;
  }

  async function setStatus(installId: string, status: SqlSchemaStatus["status"], error: unknown): Promise<void> {
    await db
      .updateTable("annex_sql_schemas")
      .set({ status, last_error: error === null ? null : JSON.stringify(errorSummary(error)), updated_at: new Date() })
      .where("install_id", "=", installId)
      .execute();
  }

  /**
   * Brings an install's schema up to the bundle's migrations: checks the
   * ledger against the files first (a changed or missing applied migration
   * stops everything), then runs each new migration in its own transaction,
   * recording it in the same transaction. A failing migration rolls back
   * alone: the ones before it stay applied, the install keeps its version.
   */
  async function prepare({ install, manifest, bundle }: { install: InstallInfo; manifest: Manifest; bundle: Bundle }): Promise<void> {
    if (manifest.storage.kind !== "owned-schema") return;
    await loadParser();
    const target = await ensureSchema(install);
    const migrations = readBundleMigrations(bundle, manifest.storage.migrations, target.schema, interruptible);
    try {
      const pending = await pendingMigrations(install.id, migrations);
      for (const migration of pending) await apply(install.id, target, migration);
      // Migrations are not held to the quota (the admin consented to them): one that leaves the schema over it
      // succeeds, and the install's growing writes are refused from then on (quota.ts).
      if (pending.length > 0) await quota.measure(target.schema);
      await setStatus(install.id, "ready", null);
    } catch (error) {
      await setStatus(install.id, "failed", error).catch(() => {});
      throw error;
    }
  }

  async function pendingMigrations(installId: string, migrations: BundleMigration[]): Promise<BundleMigration[]> {
    const applied = await db.selectFrom("annex_sql_migrations").select(["version", "name", "checksum"]).where("install_id", "=", installId).orderBy("version").execute();
    const byVersion = new Map(migrations.map((migration) => [migration.version, migration]));
    for (const entry of applied) {
      const file = byVersion.get(entry.version);
      if (file === undefined) {
        throw new SqlStorageError("E_SQL_MIGRATION_CHECKSUM", `migration ${entry.name} was applied to this install but is missing from the bundle; migrations are forward-only: keep every applied file`, {
          version: entry.version,
          name: entry.name,
        });
      }
      if (file.checksum !== entry.checksum) {
        throw new SqlStorageError(
          "E_SQL_MIGRATION_CHECKSUM",
          `migration ${file.name} changed since it was applied (ledger ${entry.checksum}, bundle ${file.checksum}); applied migrations are never edited: put the change in a new migration`,
          { version: entry.version, name: file.name, applied: entry.checksum, bundle: file.checksum },
        );
      }
    }
    const last = applied.at(-1)?.version;
    const pending = migrations.filter((migration) => !applied.some((entry) => entry.version === migration.version));
    const early = pending.find((migration) => last !== undefined && migration.version < last);
    if (early !== undefined) {
      throw new SqlStorageError("E_SQL_MIGRATION_INVALID", `migration ${early.name} sorts before ${last}, which is already applied; number new migrations after the last applied one`, {
        version: early.version,
        lastApplied: last,
      });
    }
    return pending;
  }

  async function apply(installId: string, target: Target, migration: BundleMigration): Promise<void> {
    const started = performance.now();
    // A migration changes tables: estimates made before it (or while it ran) are not about them.
    costs.invalidate(target.schema);
    // The statement running, to name in the error (1-based); undefined outside the statements.
    let at: number | undefined;
    // Statements run so far that may create relations.
    let created = 0;
    try {
      await root.transaction().execute(async (trx) => {
        await pinSession(trx, { ...target, timeoutMs: limits.migrationTimeoutMs });
        for (const [index, statement] of migration.statements.entries()) {
          at = index + 1;
          for (const name of statement.typeTargets) await ownType(trx, target.schema, name);
          // PGlite can neither stop a statement nor honour migrationTimeoutMs: the query path's plan bound, before each
          // statement that has a plan (after the ones before it ran, so it sees the rows they wrote). DDL runs as it is.
          if (pipeline !== undefined && PLANNED_STATEMENTS.has(statement.kind)) {
            const plan = await sql.raw(`EXPLAIN (FORMAT JSON) ${statement.text}`).execute(trx);
            checkCost(boundPlan(planOf(plan), inputSize(statement.text, [])).cost, limits.maxPlannerCost);
          }
          await sql.raw(statement.text).execute(trx);
          if (statement.kind === "ViewStmt") await checkViewReadsNoView(trx, target.schema);
          // A runaway migration stops early, before it holds a lock for each of thousands of new relations.
          if (CREATING_KINDS.has(statement.kind) && ++created % RELATIONS_CHECK_EVERY === 0) await checkRelations(trx, target.schema, migration, true);
        }
        at = undefined;
        // Before the commit: a migration that leaves too many relations rolls back whole (see SqlLimits.maxSchemaRelations).
        await checkRelations(trx, target.schema, migration);
        await checkRowTypeNesting(trx, target.schema);
        // The ledger is Annex's: written as the host's own user, never as the install's role.
        if (target.role !== null) await sql`RESET ROLE`.execute(trx);
        await sql`RESET search_path`.execute(trx);
        const ledger = scoped(trx);
        await ledger
          .insertInto("annex_sql_migrations")
          .values({ install_id: installId, version: migration.version, name: migration.name, checksum: migration.checksum, duration_ms: Math.round(performance.now() - started) })
          .execute();
        await ledger.updateTable("annex_sql_schemas").set({ version: migration.version, updated_at: new Date() }).where("install_id", "=", installId).execute();
        // The schema's prepared statements were planned, and their parameters typed, for the tables as they were.
        // Forgotten while this transaction holds PGlite's one session, so no query binds one between the commit and here.
        pipeline?.forget(statementKeyPrefix(target.schema));
      });
      costs.invalidate(target.schema);
    } catch (error) {
      costs.invalidate(target.schema);
      if (error instanceof SqlStorageError && error.code === "E_SQL_TOO_MANY_RELATIONS") throw error;
      const cause = toSqlError(error, limits.migrationTimeoutMs);
      const statement = at === undefined ? undefined : migration.statements[at - 1]!.text.replace(/\s+/g, " ").slice(0, 80);
      const where = statement === undefined ? "" : `statement ${at} (${statement}): `;
      throw new SqlStorageError("E_SQL_MIGRATION_FAILED", `migration ${migration.name} failed and was rolled back: ${where}${cause.message}`, {
        version: migration.version,
        name: migration.name,
        ...(statement === undefined ? {} : { statement: at, text: statement }),
        cause: cause.code,
      });
    }
  }

  /**
   * Fails the migration when one of the schema's views reads another view.
   * PostgreSQL folds a view's query into the statement reading it, so a chain
   * of views adds their nesting up past what the guard bounds per statement
   * (nesting.ts): three views of 120 nested `+` each broke PGlite's planner.
   * One view over tables keeps a statement on it within twice the bound.
   */
  async function checkViewReadsNoView(trx: Kysely<any>, schema: string): Promise<void> {
    const { rows } = await sql<{ view: string; reads: string }>`
      SELECT v.relname AS view, r.relname AS reads
      FROM pg_catalog.pg_rewrite AS rw
      JOIN pg_catalog.pg_class AS v ON v.oid = rw.ev_class
      JOIN pg_catalog.pg_depend AS d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = rw.oid
        AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
      JOIN pg_catalog.pg_class AS r ON r.oid = d.refobjid
      JOIN pg_catalog.pg_namespace AS n ON n.oid = v.relnamespace
      WHERE n.nspname = ${schema} AND r.relkind IN ('v', 'm') AND r.oid <> v.oid
      LIMIT 1`.execute(trx);
    const found = rows[0];
    if (found === undefined) return;
    throw refused(
      `view ${found.view} reads view ${found.reads}: a view may read tables only (PostgreSQL folds each view into the query that reads it, and a chain of them nests deeper than a statement may). Select from the tables in ${found.view}, or join the views in the query instead`,
      { view: found.view, reads: found.reads },
    );
  }

  /**
   * Fails the migration when one of the schema's row types (a table's, a
   * view's, a composite type's) nests rows more than MAX_ROW_TYPE_NESTING
   * deep, through fields of a composite type or an array of one. The text
   * form of a row quotes each row in it again (growth.ts, MAX_QUOTING), and
   * a nested value can be built from json in one step (`jsonb_to_record($1)
   * AS x(v deep_type)`): 30 declared levels would print 2³⁰ times its json.
   */
  async function checkRowTypeNesting(trx: Kysely<any>, schema: string): Promise<void> {
    const { rows } = await sql<{ name: string; depth: number }>`
      WITH RECURSIVE nest(top, relid, depth) AS (
        SELECT c.oid, c.oid, 1 FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname = ${schema} AND c.relkind IN ('r', 'p', 'v', 'c', 'f')
        UNION ALL
        SELECT nest.top, COALESCE(NULLIF(t.typrelid, 0), e.typrelid), nest.depth + 1
        FROM nest
        JOIN pg_catalog.pg_attribute AS a ON a.attrelid = nest.relid AND a.attnum > 0 AND NOT a.attisdropped
        JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid
        LEFT JOIN pg_catalog.pg_type AS e ON e.oid = t.typelem
        WHERE COALESCE(NULLIF(t.typrelid, 0), e.typrelid, 0) <> 0 AND nest.depth <= ${MAX_ROW_TYPE_NESTING}
      )
      SELECT c.relname AS name, max(nest.depth)::int AS depth FROM nest JOIN pg_catalog.pg_class AS c ON c.oid = nest.top
      GROUP BY c.relname ORDER BY 2 DESC, 1 LIMIT 1`.execute(trx);
    const deepest = rows[0];
    if (deepest === undefined || deepest.depth <= MAX_ROW_TYPE_NESTING) return;
    throw refused(
      `${deepest.name} nests row types more than ${MAX_ROW_TYPE_NESTING} deep (a field of a composite type, or an array of one, whose own fields are rows …): PostgreSQL's text form of a row quotes each row in it again, doubling per level; keep composite fields at most ${MAX_ROW_TYPE_NESTING - 1} levels deep, or store the nested part as jsonb`,
      { relation: deepest.name, maxRowTypeNesting: MAX_ROW_TYPE_NESTING },
    );
  }

  /** Fails the migration (rolling it back) when the schema holds more relations than maxSchemaRelations. */
  async function checkRelations(trx: Kysely<any>, schema: string, migration: BundleMigration, midway = false): Promise<void> {
    const relations = await schemaRelations(trx, schema);
    if (relations <= limits.maxSchemaRelations) return;
    throw new SqlStorageError(
      "E_SQL_TOO_MANY_RELATIONS",
      `migration ${migration.name} would leave the install's schema with ${midway ? "at least " : ""}${relations} relations (tables, indexes, sequences, views, constraints and types), over this host's limit of ${limits.maxSchemaRelations} (maxSchemaRelations); it was rolled back and the schema stays at its previous migration: keep the data in fewer tables (one table with a kind column rather than one table per kind), with fewer indexes and constraints, or ask the host's admin for a larger maxSchemaRelations`,
      { version: migration.version, name: migration.name, relations, maxSchemaRelations: limits.maxSchemaRelations },
    );
  }

  async function purge(trx: Kysely<AnnexTables>, install: InstallInfo): Promise<void> {
    const row = await trx.selectFrom("annex_sql_schemas").select(["schema_name", "role_name"]).where("install_id", "=", install.id).executeTakeFirst();
    targets.delete(install.id);
    if (row === undefined) return;
    costs.invalidate(row.schema_name);
    quota.forget(row.schema_name);
    pipeline?.forget(statementKeyPrefix(row.schema_name));
    // Another session holding a lock on one of its tables (a pg_dump, a long report) would keep the purge, and the
    // install's row it holds locked, waiting without end: past PURGE_LOCK_TIMEOUT it fails, and nothing is purged.
    if (interruptible) await sql.raw(`SET LOCAL lock_timeout = '${PURGE_LOCK_TIMEOUT_MS}ms'`).execute(trx);
    try {
      await sql.raw(`DROP SCHEMA IF EXISTS ${quoteIdent(row.schema_name)} CASCADE`).execute(trx);
    } catch (error) {
      if ((error as { code?: unknown }).code !== "55P03") throw error;
      throw new SqlStorageError(
        "E_SQL_BUSY",
        `purge: another session holds a lock on a table of ${row.schema_name} (waited ${PURGE_LOCK_TIMEOUT_MS / 1000} s); nothing was purged: retry when it ends, or end it (pg_stat_activity, pg_locks)`,
        { schema: row.schema_name, lockTimeoutMs: PURGE_LOCK_TIMEOUT_MS },
      );
    }
    if (row.role_name !== null) {
      // The schema went with CASCADE; this removes whatever else the role holds in this database (grants), so the role can go.
      await sql.raw(`DROP OWNED BY ${quoteIdent(row.role_name)}`).execute(trx);
      await sql.raw(`DROP ROLE IF EXISTS ${quoteIdent(row.role_name)}`).execute(trx);
    }
  }

  async function exportData(reader: Kysely<AnnexTables>, install: InstallInfo): Promise<unknown> {
    const current = await status(install.id, reader);
    if (current === null) return null;
    const tables = await sql<{ table_name: string }>`SELECT table_name FROM information_schema.tables WHERE table_schema = ${current.schema} AND table_type = 'BASE TABLE' ORDER BY table_name`.execute(reader);
    const data: Record<string, unknown[]> = {};
    const jsonAsText: Record<string, string[]> = {};
    for (const { table_name } of tables.rows) {
      const table = `${quoteIdent(current.schema)}.${quoteIdent(table_name)}`;
      const rows = await sql.raw(`SELECT * FROM ${table}`).execute(reader);
      try {
        data[table_name] = rows.rows.map((row) => toGuestValue(row));
      } catch (error) {
        if (!(error instanceof SqlStorageError && error.code === "E_SQL_RESULT_TOO_DEEP")) throw error;
        // A json value nested past what the host converts (an extension can build one over many statements): an
        // export must not fail on it (a purge exports first), nor drop it. This table's json columns go as their
        // text, named in jsonAsText for whoever reads the export.
        const columns = await sql<{ column_name: string; udt_name: string }>`SELECT column_name, udt_name FROM information_schema.columns WHERE table_schema = ${current.schema} AND table_name = ${table_name} ORDER BY ordinal_position`.execute(reader);
        const json = columns.rows.filter((column) => JSON_TYPES.has(column.udt_name)).map((column) => column.column_name);
        const list = columns.rows.map(({ column_name }) => (json.includes(column_name) ? `${quoteIdent(column_name)}::pg_catalog.text AS ${quoteIdent(column_name)}` : quoteIdent(column_name)));
        const text = await sql.raw(`SELECT ${list.join(", ")} FROM ${table}`).execute(reader);
        data[table_name] = text.rows.map((row) => toGuestValue(row));
        jsonAsText[table_name] = json;
      }
    }
    return {
      schema: current.schema,
      version: current.version,
      migrations: current.migrations,
      tables: data,
      ...(Object.keys(jsonAsText).length > 0 ? { jsonAsText } : {}),
    };
  }

  const hook: InstallDataHook = {
    name: "sql",
    export: exportData,
    purge,
    prepare,
    async annotate(reader, installs) {
      for (const install of installs) {
        const current = await status(install.id, reader);
        if (current !== null) install.sql = current;
      }
    },
  };

  return {
    query,
    status: (installId) => status(installId),
    hook,
    argumentLimits: Object.freeze({ maxTextLength: limits.maxTextLength, maxParamBytes: limits.maxParamBytes }),
  };
}

async function ensureRole(trx: Kysely<any>, role: string): Promise<void> {
  const found = await sql<{ n: number }>`SELECT 1 AS n FROM pg_roles WHERE rolname = ${role}`.execute(trx);
  try {
    if (found.rows.length === 0) await sql.raw(`CREATE ROLE ${quoteIdent(role)} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS`).execute(trx);
    const me = await sql<{ rolsuper: boolean }>`SELECT rolsuper FROM pg_roles WHERE rolname = current_user`.execute(trx);
    // A superuser may SET ROLE to any role; anyone else must be a member of it.
    if (me.rows[0]?.rolsuper !== true) await sql.raw(`GRANT ${quoteIdent(role)} TO CURRENT_USER`).execute(trx);
  } catch (error) {
    throw new SqlStorageError(
      "E_SQL_ROLE",
      `could not create the database role ${role} for the install's schema: ${(error as Error).message}; give the host's database user CREATEROLE, or pass createHost({ sql: { roles: false } }) to rely on the statement guard alone`,
      { role },
      { cause: error },
    );
  }
}

/**
 * The planner's estimate of a statement: a generic plan's when it is to be
 * remembered for the text (its parameters are bound, as the protocol
 * needs, and not looked at), otherwise one made with the values.
 */
/** Where an install's statements' keys start (see runOnPGlite): schema names have no NUL, so no schema's keys start another's. */
function statementKeyPrefix(schema: string): string {
  return `${schema}\u0000`;
}

function explain(statement: CompiledQuery, generic: boolean): CompiledQuery {
  return CompiledQuery.raw(`EXPLAIN (FORMAT JSON${generic ? ", GENERIC_PLAN" : ""}) ${statement.sql}`, [...statement.parameters]);
}

function planOf(plan: QueryResult<unknown>): unknown {
  const raw = (plan.rows[0] as { "QUERY PLAN"?: unknown } | undefined)?.["QUERY PLAN"];
  return typeof raw === "string" ? JSON.parse(raw) : raw;
}

/** On PGlite, which cannot stop a statement once it runs: refuse one the planner expects to be too costly. */
function checkCost(cost: number, maxCost: number): void {
  if (cost > maxCost) {
    throw new SqlStorageError("E_SQL_TIMEOUT", `the query's estimated cost (${Math.round(cost)}) is over this host's limit (${maxCost}): on PGlite a statement cannot be stopped once it runs; narrow it with indexes, WHERE and LIMIT`, {
      cost: Math.round(cost),
      maxCost,
    });
  }
}

/**
 * Refuses a migration statement that would change a type outside the
 * install's schema: an unqualified name the schema does not hold resolves to
 * pg_catalog (ALTER TYPE int4 RENAME … renamed int4 for every install on
 * PGlite, where migrations run as a superuser). Looked up as the statement
 * will resolve it, in the pinned transaction; a type that does not exist yet
 * is left to the statement.
 */
async function ownType(trx: Kysely<any>, schema: string, name: string): Promise<void> {
  const { rows } = await sql<{ nspname: string }>`SELECT n.nspname FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
    WHERE t.oid = pg_catalog.to_regtype(pg_catalog.quote_ident(${name}))`.execute(trx);
  const owner = rows[0]?.nspname;
  if (owner !== undefined && owner !== schema) {
    throw new SqlStorageError("E_SQL_REFUSED", `type ${name} is ${owner}.${name}, not one of the extension's own: a migration changes only the types it created`, { type: `${owner}.${name}` });
  }
}

/**
 * PostgreSQL only: how long a statement past its timeout (or whose execution
 * ended) has to stop after the host's cancel before the host closes its
 * connection and stops waiting (postgres-pinned.ts's PinnedStuckError).
 */
const CANCEL_GRACE_MS = 2000;

function notInterrupted(timeoutMs: number, graceMs: number): SqlStorageError {
  return new SqlStorageError(
    "E_SQL_TIMEOUT",
    `the statement ran past its ${timeoutMs} ms and PostgreSQL did not stop it within ${graceMs} ms of the host's cancel (a built-in such as translate or strpos over long texts checks for none): the host closed its connection and stopped waiting; the database runs that call to its end, and until then it counts among this install's statements running at once. Pass shorter texts, or split the work`,
    { timeoutMs, graceMs, reason: "not-interrupted" },
  );
}

function toSqlError(error: unknown, timeoutMs: number): SqlStorageError {
  if (error instanceof SqlStorageError) return error;
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === "57014" || code === "55P03") {
    return new SqlStorageError("E_SQL_TIMEOUT", `the statement was stopped after ${timeoutMs} ms (${code === "55P03" ? "waiting for a lock" : "statement timeout"})`, { timeoutMs, sqlstate: code });
  }
  if (code === "42501") return new SqlStorageError("E_SQL_REFUSED", `PostgreSQL refused: ${message}`, { sqlstate: code });
  return new SqlStorageError("E_SQL_FAILED", message.slice(0, 1000), typeof code === "string" ? { sqlstate: code } : undefined);
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) as Partial<T>;
}

/** How one accepted text runs so that its rows stay bounded (see shapeOf). */
interface Shape {
  /** The text sent to the database. */
  run: string;
  /** PostgreSQL: read it through a cursor, in batches (a SELECT without data-modifying WITH). */
  cursor: boolean;
  /** Its rows are checked before it commits: past the limits, it rolls back. */
  atomic: boolean;
  /** It can make the install's schema larger (quota.ts): refused at or over the quota, measured in its transaction near it. */
  grows: boolean;
  /** It can only make the schema smaller (DELETE, TRUNCATE, DROP): measured after it, always. */
  shrinks: boolean;
}

type RowShape = Omit<Shape, "grows" | "shrinks">;

/**
 * Whether a statement can grow the schema, by its kind: a plain read cannot,
 * nor can a locking SELECT, DELETE, TRUNCATE or DROP — unless it carries a
 * data-modifying WITH (which may INSERT); anything else (INSERT, UPDATE,
 * MERGE, and whatever else the guard lets through) is taken to grow it.
 */
function quotaClass(verdict: Verdict): { grows: boolean; shrinks: boolean } {
  if (verdict.readOnly) return { grows: false, shrinks: false };
  const { kind } = verdict;
  if (kind === "TruncateStmt" || kind === "DropStmt") return { grows: false, shrinks: true };
  if (kind !== "DeleteStmt" && kind !== "SelectStmt") return { grows: true, shrinks: false };
  const stmt = (parseSync(verdict.run) as { stmts: Array<{ stmt: Record<string, unknown> }> }).stmts[0]!.stmt[kind];
  if (hasModifyingCte(stmt)) return { grows: true, shrinks: false };
  return { grows: false, shrinks: SHRINKING_KINDS.has(kind) };
}

/** Marks the cast that fails a write returning too many rows (see shapeOf): its error is read back as E_SQL_TOO_MANY_ROWS. */
const TOO_MANY_MARK = "annex_too_many_rows:";
const ROW_KINDS = new Set(["SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"]);

/**
 * Bytes of PostgreSQL's text form of rows whose JSON takes at most `maxBytes`:
 * a record's quoting at most doubles what its JSON takes (see boundedSelect),
 * two bytes a row, and some room (a json column keeps the spaces it was
 * written with).
 */
/** How deep a row type of an install's schema may nest rows (see checkRowTypeNesting): a table with a composite column is 2. */
const MAX_ROW_TYPE_NESTING = 3;

function textBound(maxBytes: number, maxRows: number): number {
  return 2 * maxBytes + 2 * (maxRows + 1) + 1024;
}

/**
 * The SQL caps of a statement's errors (boundedSelect and boundRows) read back
 * as the host's typed errors; undefined for any other error.
 */
function markedFailure(error: unknown, limits: ResolvedSqlLimits): SqlStorageError | undefined {
  if ((error as { code?: unknown }).code !== "22P02") return undefined;
  const message = String((error as Error).message);
  if (message.includes(TOO_MANY_MARK)) return tooManyRows(limits.maxRows);
  const at = message.indexOf(RESULT_TOO_LARGE_MARK);
  if (at < 0) return undefined;
  const text = Number.parseInt(message.slice(at + RESULT_TOO_LARGE_MARK.length), 10);
  return new SqlStorageError(
    "E_SQL_RESULT_TOO_LARGE",
    `the result takes more than the limit of ${limits.maxBytes} bytes: its rows take at least ${text} bytes as PostgreSQL's text, and the database stopped before sending the row that passed it (a write rolled back whole); select fewer columns or rows, or narrower values`,
    { maxBytes: limits.maxBytes, textBytes: text },
  );
}

function boundRows(verdict: Verdict, schema: string, maxRows: number, interruptible: boolean, maxResultText: number): RowShape {
  const { run, kind } = verdict;
  if (verdict.readOnly) return { run, cursor: interruptible, atomic: false };
  if (!ROW_KINDS.has(kind)) return { run, cursor: false, atomic: false };
  const stmt = (parseSync(run) as { stmts: Array<{ stmt: Record<string, Record<string, unknown>> }> }).stmts[0]!.stmt[kind]!;
  const returning = stmt["returningList"];
  if (kind !== "SelectStmt" && !(Array.isArray(returning) && returning.length > 0)) return { run, cursor: false, atomic: false };
  const cap = maxRows + 1;
  let wrapped: string;
  let shape: RowShape;
  if (!hasModifyingCte(stmt)) {
    if (kind === "SelectStmt") {
      // Its rows are read one by one, their bytes summed as they come (boundedSelect), the CTE read no further.
      const wrap = (inner: string) => boundedSelect(`WITH annex_rows AS (\n${inner}\n) `, "annex_rows", "annex_rows", maxResultText, cap);
      wrapped = wrap(run);
      assertWraps(wrapped, run, wrap);
      return { run: wrapped, cursor: interruptible, atomic: false };
    }
    // A write's rows are all made before the first is read (a data-modifying CTE runs to its end): their count and
    // their bytes as text are taken first, and either past its bound fails the statement, rolling the write back.
    // Types named with their schema, as boundedSelect's are: the install's own types come first on its search_path.
    const size = `(SELECT pg_catalog.sum(pg_catalog.octet_length(CAST(annex_rows.* AS pg_catalog.text))) FROM annex_rows)`;
    wrapped =
      `WITH annex_rows AS (\n${run}\n) SELECT annex_rows.* FROM annex_rows WHERE ((SELECT pg_catalog.count(*) FROM annex_rows) <= ${maxRows} ` +
      `OR CAST('${TOO_MANY_MARK}' || (SELECT pg_catalog.count(*) FROM annex_rows) AS integer) IS NULL) ` +
      `AND (${size} <= ${maxResultText} OR CAST('${RESULT_TOO_LARGE_MARK}' || ${size} AS integer) IS NULL) LIMIT ${cap}`;
    // Its rows are checked before it commits (atomic), so a result past maxBytes rolls the write back rather than
    // failing after it was kept.
    shape = { run: wrapped, cursor: false, atomic: true };
  } else {
    wrapped = kind === "SelectStmt" && stmt["limitCount"] === undefined && stmt["limitOffset"] === undefined ? `${run}\nLIMIT ${cap}` : run;
    shape = { run: wrapped, cursor: false, atomic: true };
  }
  // As verdicts.ts does with its LIMIT: the text that runs is checked again as it will run.
  if (wrapped !== run) checkSql(wrapped, { schema, mode: "query", interruptible });
  return shape;
}

/** Column types whose values can nest (json, jsonb, and arrays of them), as information_schema names them. */
const JSON_TYPES = new Set(["json", "jsonb", "_json", "_jsonb"]);

/** Whether a data-modifying statement sits in a WITH anywhere in the tree (PostgreSQL allows one only at the top). */
function hasModifyingCte(node: unknown): boolean {
  if (Array.isArray(node)) return node.some(hasModifyingCte);
  if (node === null || typeof node !== "object") return false;
  const cte = (node as { CommonTableExpr?: { ctequery?: Record<string, unknown> } }).CommonTableExpr;
  if (cte?.ctequery !== undefined && Object.keys(cte.ctequery)[0] !== "SelectStmt") return true;
  return Object.values(node).some(hasModifyingCte);
}

/**
 * Rows per FETCH on PostgreSQL: the first batch, and the most of any (fewer as
 * the byte budget runs out). Whatever their widths, the rows the database
 * sends take at most textBound's bytes together (boundedSelect).
 */
const FIRST_BATCH = 16;
const MAX_BATCH = 128;

/**
 * Converts rows for the guest one at a time, counting rows and JSON bytes as
 * they come, and fails at the first row past either limit. `cursor` sizes the
 * FETCHes of a PostgreSQL cursor by the bytes left and the widest row so far,
 * so the host holds at most one batch past the limit.
 */
function rowReader(maxRows: number, maxBytes: number) {
  const rows: Record<string, unknown>[] = [];
  let bytes = 2; // the JSON array's brackets
  let widest = 0;
  function take(batch: readonly unknown[]): void {
    for (const raw of batch) {
      if (rows.length >= maxRows) throw tooManyRows(maxRows);
      const row = toGuestValue(raw) as Record<string, unknown>;
      const size = Buffer.byteLength(JSON.stringify(row)) + (rows.length > 0 ? 1 : 0);
      bytes += size;
      widest = Math.max(widest, size);
      if (bytes > maxBytes) {
        throw new SqlStorageError(
          "E_SQL_RESULT_TOO_LARGE",
          `the result takes more than the limit of ${maxBytes} bytes (${bytes} by its row ${rows.length + 1}, where counting stopped); select fewer columns or rows`,
          { bytes, maxBytes },
        );
      }
      rows.push(row);
    }
  }
  const cursor = {
    first: Math.min(maxRows + 1, FIRST_BATCH),
    next(batch: unknown[]): number {
      take(batch);
      const left = maxRows + 1 - rows.length;
      const affordable = widest === 0 ? MAX_BATCH : Math.floor((maxBytes - bytes) / widest) + 1;
      return Math.max(1, Math.min(left, MAX_BATCH, affordable));
    },
  };
  return { rows, take, cursor };
}

function tooManyRows(maxRows: number): SqlStorageError {
  return new SqlStorageError("E_SQL_TOO_MANY_ROWS", `the query returns more than ${maxRows} rows; add a LIMIT and page with a cursor (WHERE key > $1)`, { maxRows });
}
