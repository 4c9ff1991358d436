import type { ParserOptions, PGlite, Results } from "@electric-sql/pglite";
import {
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from "kysely";

/**
 * A kysely dialect over PGlite's query API. PGlite is a single PostgreSQL
 * session, so the driver hands out its one connection to one holder at a
 * time: a transaction keeps it from BEGIN to COMMIT and every other query
 * waits its turn. Without that, two interleaved transactions would silently
 * share one BEGIN … COMMIT.
 *
 * Consequence for callers: inside `db.transaction().execute(trx => …)` use
 * `trx`, never the outer `db`, or the call waits for a connection the
 * transaction itself holds.
 */
export class PGliteDialect implements Dialect {
  readonly #pglite: PGlite;

  constructor(pglite: PGlite) {
    this.#pglite = pglite;
  }

  createAdapter(): DialectAdapter {
    return new PostgresAdapter();
  }

  createDriver(): Driver {
    return new PGliteDriver(this.#pglite);
  }

  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new PostgresIntrospector(db);
  }

  createQueryCompiler(): QueryCompiler {
    return new PostgresQueryCompiler();
  }
}

/**
 * One turnstile per PGlite instance, shared by every driver over it: two
 * Kysely instances (two hosts in one process) on one PGlite must still take
 * turns, or one's BEGIN would wrap the other's statements.
 */
const turnstiles = new WeakMap<PGlite, { queue: Promise<void> }>();

function turnstileOf(pglite: PGlite): { queue: Promise<void> } {
  let turnstile = turnstiles.get(pglite);
  if (turnstile === undefined) {
    turnstile = { queue: Promise.resolve() };
    turnstiles.set(pglite, turnstile);
  }
  return turnstile;
}

/** Waits for the turnstile; resolves with the function that lets the next holder in. */
async function takeTurn(turnstile: { queue: Promise<void> }): Promise<() => void> {
  const previous = turnstile.queue;
  let release!: () => void;
  turnstile.queue = new Promise<void>((resolve) => {
    release = resolve;
  });
  await previous;
  return release;
}

/**
 * Runs statements in one exchange with PGlite: each parsed, bound, described
 * and executed in order, then a single Sync. Up to the Sync they are one
 * implicit transaction (PostgreSQL's extended protocol): a `set_config(…,
 * true)` in the first holds for the next ones and ends at the Sync, and
 * after an error the server skips the rest, rolls the transaction back, and
 * the error is thrown. Takes its turn at the same turnstile as every
 * connection over this PGlite, so it never lands inside someone's BEGIN …
 * COMMIT — and must not be called from inside a transaction on it (it would
 * wait for the connection that transaction holds).
 *
 * Parameters must be scalars (see textParameters); one Parse per statement,
 * so each text is exactly one statement.
 *
 * `keys`, one per query: a query given a key becomes a named statement the
 * second time its key comes, and is then only bound (see PipelineStatements).
 * The caller promises that one key always stands for one text run in one
 * search_path, and calls `forget` when the tables behind a key change; Annex
 * keys an install's statement by its schema and text, and forgets the
 * schema's keys in the transaction of each of its migrations.
 */
export interface PGlitePipeline {
  (queries: readonly CompiledQuery[], keys?: readonly (string | undefined)[]): Promise<QueryResult<unknown>[]>;
  /**
   * Drops the names of every key starting with `prefix` (closed with the next
   * exchange). Called while holding the session (inside a transaction on it),
   * no exchange can bind one of them in between.
   */
  forget(prefix: string): void;
}

export function pglitePipeline(pglite: PGlite): PGlitePipeline {
  const turnstile = turnstileOf(pglite);
  const cache = pipelineStatementsOf(pglite);
  let wire: Wire | undefined;
  const run = async (queries: readonly CompiledQuery[], keys: readonly (string | undefined)[], naming: boolean): Promise<QueryResult<unknown>[]> => {
    const current = (wire ??= await import("@electric-sql/pglite"));
    const { parse, protocol: { serialize } } = current;
    const parts: Uint8Array[] = [];
    // Chosen inside the turn: the cache is the session's, shared with every other pipeline over this PGlite.
    const release = await takeTurn(turnstile);
    const bound = new Map<number, { key: string; name: string }>();
    const preparing: { key: string; name: string }[] = [];
    let messages: Awaited<ReturnType<PGlite["execProtocol"]>>["messages"];
    let again = false;
    try {
      for (const name of cache.closing.splice(0)) parts.push(serialize.close({ type: "S", name }));
      for (let index = 0; index < queries.length; index++) {
        const query = queries[index]!;
        const values = textParameters(query.parameters);
        if (values === null) throw new Error("pglitePipeline: parameters must be scalars (string, number, boolean, bigint, Date, bytes or null)");
        const key = naming ? keys[index] : undefined;
        const name = key === undefined ? undefined : cache.names.get(key);
        if (key !== undefined && name !== undefined) {
          cache.names.delete(key);
          cache.names.set(key, name);
          bound.set(index, { key, name });
          parts.push(serialize.bind({ statement: name, values }));
        } else if (key !== undefined && cache.seen.delete(key)) {
          const fresh = `annex_pipe_${++cache.counter}`;
          preparing.push({ key, name: fresh });
          parts.push(serialize.parse({ name: fresh, text: query.sql, types: [] }), serialize.bind({ statement: fresh, values }));
        } else {
          if (key !== undefined) {
            if (cache.seen.size >= MAX_SEEN) cache.seen.clear();
            cache.seen.add(key);
          }
          parts.push(serialize.parse({ text: query.sql, types: [] }), serialize.bind({ values }));
        }
        parts.push(serialize.describe({ type: "P" }), serialize.execute({}));
      }
      parts.push(serialize.sync());
      ({ messages } = await pglite.runExclusive(() => pglite.execProtocol(Buffer.concat(parts), exchangeOptions(pglite, current))));
      const at = messages.findIndex((message) => message.name === "error");
      if (at === -1) {
        for (const { key, name } of preparing) {
          cache.names.set(key, name);
          if (cache.names.size > MAX_PIPELINE_PREPARED) {
            const [oldestKey, oldest] = cache.names.entries().next().value as [string, string];
            cache.names.delete(oldestKey);
            cache.closing.push(oldest);
          }
        }
      } else {
        const failure = messages[at]!;
        // Whether a Parse that completed before the error left its name behind is not ours to guess: closed either
        // way (closing a name that does not exist is no error).
        for (const { name } of preparing) cache.closing.push(name);
        // Statements before the failing one each ended with CommandComplete: their count is the failing one's index.
        const failed = bound.get(messages.slice(0, at).filter((message) => message.name === "commandComplete").length);
        if (failed !== undefined && mayBeStale(failure, true)) {
          // Its table changed since it was prepared, behind Annex's back (a migration forgets its schema's names):
          // the name goes, to be prepared anew. The exchange was its own implicit transaction, rolled back whole at
          // the error, so running it once more, unnamed, repeats nothing; a real error comes back from that run.
          if (cache.names.get(failed.key) === failed.name) cache.names.delete(failed.key);
          cache.closing.push(failed.name);
          const ready = messages.findLast((message) => message.name === "readyForQuery") as { status?: string } | undefined;
          again = ready?.status === "I";
        }
        if (!again) throw failure;
      }
    } finally {
      release();
    }
    if (again) return run(queries, keys, false);
    const results = parse.parseResults(messages, (pglite as PGlite & { parsers: ParserOptions }).parsers) as Results<unknown>[];
    return results.map((result) => {
      const command = result.command?.toUpperCase();
      const changes = command === "INSERT" || command === "UPDATE" || command === "DELETE" || command === "MERGE";
      return changes ? { rows: result.rows, numAffectedRows: BigInt(result.rowCount ?? 0) } : { rows: result.rows };
    });
  };
  const pipeline = (queries: readonly CompiledQuery[], keys: readonly (string | undefined)[] = []) => run(queries, keys, true);
  return Object.assign(pipeline, {
    forget(prefix: string) {
      for (const [key, name] of cache.names) {
        if (!key.startsWith(prefix)) continue;
        cache.names.delete(key);
        cache.closing.push(name);
      }
    },
  });
}

/**
 * The pipelines' named statements, per PGlite session and apart from the
 * dialect's (Statements): an install sending many different texts turns over
 * these, never the host's own (its audit line, its kv statements). A key is
 * named at its second sighting; the least recently used beyond
 * MAX_PIPELINE_PREPARED are closed with the next exchange.
 */
interface PipelineStatements {
  names: Map<string, string>;
  seen: Set<string>;
  closing: string[];
  counter: number;
}

const MAX_PIPELINE_PREPARED = 512;
const MAX_SEEN = 4096;
const pipelineStatements = new WeakMap<PGlite, PipelineStatements>();

function pipelineStatementsOf(pglite: PGlite): PipelineStatements {
  let cache = pipelineStatements.get(pglite);
  if (cache === undefined) {
    cache = { names: new Map(), seen: new Set(), closing: [], counter: 0 };
    pipelineStatements.set(pglite, cache);
  }
  return cache;
}

class PGliteDriver implements Driver {
  readonly #connection: PGliteConnection;
  readonly #turnstile: { queue: Promise<void> };
  #release: (() => void) | undefined;

  constructor(pglite: PGlite) {
    this.#connection = new PGliteConnection(pglite);
    this.#turnstile = turnstileOf(pglite);
  }

  async init(): Promise<void> {
    // Loaded here, not at the top: a host on PostgreSQL never loads PGlite.
    this.#connection.wire = await import("@electric-sql/pglite");
    await this.#connection.pglite.waitReady;
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    this.#release = await takeTurn(this.#turnstile);
    return this.#connection;
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    let statement = "begin";
    if (settings.isolationLevel !== undefined) statement += ` isolation level ${settings.isolationLevel}`;
    if (settings.accessMode !== undefined) statement += ` ${settings.accessMode}`;
    await connection.executeQuery(CompiledQuery.raw(statement));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("commit"));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("rollback"));
  }

  async savepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`savepoint ${quoteIdentifier(name)}`));
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`rollback to savepoint ${quoteIdentifier(name)}`));
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`release savepoint ${quoteIdentifier(name)}`));
  }

  async releaseConnection(): Promise<void> {
    const release = this.#release;
    this.#release = undefined;
    release?.();
  }

  async destroy(): Promise<void> {
    // The PGlite instance belongs to whoever created it; closing it is theirs to do.
  }
}

type Wire = Pick<typeof import("@electric-sql/pglite"), "parse" | "protocol" | "MemoryFS">;

interface ExchangeOptions {
  throwOnError: false;
  syncToFs: boolean;
}

const exchanges = new WeakMap<PGlite, ExchangeOptions>();

/**
 * After every exchange PGlite syncs its filesystem to storage, through a
 * mutex and several awaits: ~12 µs a statement measured, for nothing on the
 * filesystems Annex runs on in Node (in memory, a data directory), which
 * inherit a sync that does nothing. It is skipped for those, recognised by
 * that inherited method, and kept for every filesystem with a sync of its own
 * (IndexedDB, OPFS, a custom one given to PGlite).
 */
function exchangeOptions(pglite: PGlite, wire: Wire): ExchangeOptions {
  let options = exchanges.get(pglite);
  if (options === undefined) {
    const sync = pglite.fs?.syncToFs;
    options = { throwOnError: false, syncToFs: sync === undefined || sync !== wire.MemoryFS.prototype.syncToFs };
    exchanges.set(pglite, options);
  }
  return options;
}

class PGliteConnection implements DatabaseConnection {
  readonly pglite: PGlite;
  wire: Wire | undefined;

  constructor(pglite: PGlite) {
    this.pglite = pglite;
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const parameters = compiledQuery.parameters;
    const text = textParameters(parameters);
    const wire = this.wire;
    const result =
      text === null || wire === undefined
        ? await this.pglite.query<R>(compiledQuery.sql, [...parameters])
        : await this.pglite.runExclusive(() => oneTrip<R>(this.pglite, wire, compiledQuery.sql, text));
    const command = result.command?.toUpperCase();
    const changes = command === "INSERT" || command === "UPDATE" || command === "DELETE" || command === "MERGE";
    return changes
      ? { rows: result.rows, numAffectedRows: BigInt(result.rowCount ?? result.affectedRows ?? 0) }
      : { rows: result.rows };
  }

  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error("PGliteDialect does not support streaming queries; use execute()");
  }
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * PGlite's `query()` makes six calls into PostgreSQL for one statement (parse,
 * describe the statement to learn its parameter types, bind, describe the
 * portal, execute, sync). When every parameter is a scalar whose text form
 * does not depend on the column's type, the types are not needed: the server
 * infers them as it would anyway, and the whole exchange goes in one message.
 * That takes ~30 µs off every statement (~25 % of a small insert).
 *
 * Returns null when a parameter needs PGlite's type-directed serialisers
 * (arrays, plain objects): those statements take `query()`'s path.
 */
function textParameters(parameters: readonly unknown[]): (string | null)[] | null {
  const out: (string | null)[] = new Array(parameters.length);
  for (let i = 0; i < parameters.length; i++) {
    const value = parameters[i];
    switch (typeof value) {
      case "string":
        out[i] = value;
        break;
      case "number":
        out[i] = value === Infinity ? "infinity" : value === -Infinity ? "-infinity" : String(value);
        break;
      case "bigint":
      case "boolean":
        out[i] = String(value);
        break;
      case "undefined":
        out[i] = null;
        break;
      case "object":
        if (value === null) out[i] = null;
        else if (value instanceof Date) out[i] = value.toISOString();
        else if (value instanceof Uint8Array) out[i] = `\\x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex")}`;
        else return null;
        break;
      default:
        return null;
    }
  }
  return out;
}

async function oneTrip<R>(pglite: PGlite, wire: Wire, sql: string, values: (string | null)[]): Promise<Results<R>> {
  const { parse, protocol: { serialize } } = wire;
  const cache = statementsOf(pglite);
  const parts: Uint8Array[] = [];
  for (const name of cache.closing.splice(0)) parts.push(serialize.close({ type: "S", name }));
  // A statement with result columns is named only outside transactions: should its plan have gone stale, the
  // error then aborts nothing and the statement runs again (below); in a transaction it would abort the transaction.
  const named = cache.names.get(sql);
  let name: string | undefined;
  let rows = false;
  let preparing = false;
  if (named !== undefined) {
    if (!named.rows || cache.status === "I") {
      name = named.name;
      cache.names.delete(sql);
      cache.names.set(sql, named);
    }
  } else {
    // Classified only until the statement is named: a named one carries its kind.
    const kind = statementKind(sql);
    rows = kind === "rows";
    if (kind === "no-rows" || (rows && cache.status === "I")) {
      const seen = (cache.seen.get(sql) ?? 0) + 1;
      if (seen >= 2) {
        name = `annex_stmt_${++cache.counter}`;
        preparing = true;
        cache.seen.delete(sql);
      } else {
        if (cache.seen.size >= 1024) cache.seen.clear();
        cache.seen.set(sql, seen);
      }
    }
  }
  if (name === undefined) parts.push(serialize.parse({ text: sql, types: [] }), serialize.bind({ values }));
  else {
    if (preparing) parts.push(serialize.parse({ name, text: sql, types: [] }));
    parts.push(serialize.bind({ statement: name, values }));
  }
  // Sync in the same message: after an error the server skips to it, so the session is ready again either way.
  parts.push(serialize.describe({ type: "P" }), serialize.execute({}), serialize.sync());
  const { messages } = await pglite.execProtocol(Buffer.concat(parts), exchangeOptions(pglite, wire));
  const ready = messages.findLast((message) => message.name === "readyForQuery") as { status?: string } | undefined;
  if (ready?.status !== undefined) cache.status = ready.status;
  if (preparing && messages.some((message) => message.name === "parseComplete")) {
    cache.names.set(sql, { name: name!, rows });
    if (cache.names.size > MAX_PREPARED) {
      const [oldestSql, oldest] = cache.names.entries().next().value as [string, NamedStatement];
      cache.names.delete(oldestSql);
      cache.closing.push(oldest.name);
    }
  }
  const failure = messages.find((message) => message.name === "error");
  if (failure !== undefined) {
    if (name !== undefined && !preparing && mayBeStale(failure)) {
      // Its tables may have changed since it was prepared (a column's type, the columns it returns): it is
      // dropped, to be prepared anew. Run once more, unnamed, only when the failed run was its own implicit
      // transaction (the session is idle again): then nothing of it stayed, and a real error comes back again.
      if (cache.names.get(sql)?.name === name) cache.names.delete(sql);
      cache.closing.push(name);
      if (ready?.status === "I") return oneTrip(pglite, wire, sql, values);
    }
    throw failure;
  }
  const [result] = parse.parseResults(messages, (pglite as PGlite & { parsers: ParserOptions }).parsers) as Results<R>[];
  return result ?? { rows: [], fields: [] };
}

/**
 * Which statements may become named ones: writes without RETURNING ("no-rows": no result columns, so no
 * later change to a table can make their plan's result stale); reads and RETURNING writes ("rows") when
 * no `*` stands for their columns (a column added would change the result; `count(*)` is one bigint).
 * Anything else, DDL and the like, is never named.
 */
function statementKind(sql: string): "no-rows" | "rows" | null {
  const write = WRITE.test(sql);
  const returning = RETURNING.test(sql);
  if (write && !returning) return "no-rows";
  if ((write || READ.test(sql)) && !STAR.test(sql.replace(COUNT_STAR, ""))) return "rows";
  return null;
}

/**
 * Errors a named statement can meet after its tables changed: PostgreSQL's refusal to let its result
 * columns change (0A000), and the analysis errors of class 42 (its parameters keep the types they were
 * prepared with: 42804 when a column's type no longer matches them, 42883 when no operator takes them).
 * With `values`, also the data exceptions of class 22: a value read as the parameter's old type
 * (22P02 "invalid input syntax for type integer" once the column became text).
 */
function mayBeStale(error: unknown, values = false): boolean {
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (code === "0A000") return typeof message === "string" && message.includes("cached plan must not change result type");
  return typeof code === "string" && (code.startsWith("42") || (values && code.startsWith("22")));
}

const MAX_PREPARED = 256;
const WRITE = /^\s*(?:insert|update|delete)\b/i;
const READ = /^\s*(?:select|with)\b/i;
const RETURNING = /\breturning\b/i;
const STAR = /\*/;
const COUNT_STAR = /\bcount\(\*\)/gi;

/**
 * Named statements for the statements a host repeats (an audit line, a kv
 * read, a lease renewal): planning a statement costs PGlite more than running
 * a small one, so the second time the same text comes, it is prepared once
 * and then only bound (with a generic plan when the session says
 * `plan_cache_mode = force_generic_plan`, as the PGlite Annex opens itself
 * does; otherwise PostgreSQL may keep planning it per call). Which statements
 * qualify, see statementKind. Named statements outlive transactions, rolled
 * back or not. Per PGlite session, shared by every dialect over it; the least
 * recently used beyond MAX_PREPARED are closed with the next statement.
 */
interface Statements {
  names: Map<string, NamedStatement>;
  seen: Map<string, number>;
  closing: string[];
  counter: number;
  /** The session's transaction status after the last exchange here: "I" idle, "T" in a transaction, "E" in a failed one. */
  status: string;
}

/** A prepared statement's name, and whether it has result columns (then it is used outside transactions only). */
interface NamedStatement {
  name: string;
  rows: boolean;
}

const statements = new WeakMap<PGlite, Statements>();

function statementsOf(pglite: PGlite): Statements {
  let cache = statements.get(pglite);
  if (cache === undefined) {
    cache = { names: new Map(), seen: new Map(), closing: [], counter: 0, status: "I" };
    statements.set(pglite, cache);
  }
  return cache;
}

