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

class PGliteDriver implements Driver {
  readonly #connection: PGliteConnection;
  readonly #turnstile: { queue: Promise<void> };
  #release: (() => void) | undefined;

  constructor(pglite: PGlite) {
    this.#connection = new PGliteConnection(pglite);
    let turnstile = turnstiles.get(pglite);
    if (turnstile === undefined) {
      turnstile = { queue: Promise.resolve() };
      turnstiles.set(pglite, turnstile);
    }
    this.#turnstile = turnstile;
  }

  async init(): Promise<void> {
    // Loaded here, not at the top: a host on PostgreSQL never loads PGlite.
    this.#connection.wire = await import("@electric-sql/pglite");
    await this.#connection.pglite.waitReady;
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const previous = this.#turnstile.queue;
    let release!: () => void;
    this.#turnstile.queue = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    this.#release = release;
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

type Wire = Pick<typeof import("@electric-sql/pglite"), "parse" | "protocol">;

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

async function oneTrip<R>(pglite: PGlite, { parse, protocol: { serialize } }: Wire, sql: string, values: (string | null)[]): Promise<Results<R>> {
  const message = concatBytes([
    serialize.parse({ text: sql, types: [] }),
    serialize.bind({ values }),
    serialize.describe({ type: "P" }),
    serialize.execute({}),
    // In the same message: after an error the server skips to this Sync, so the session is ready again either way.
    serialize.sync(),
  ]);
  const { messages } = await pglite.execProtocol(message);
  const [result] = parse.parseResults(messages, (pglite as PGlite & { parsers: ParserOptions }).parsers) as Results<R>[];
  return result ?? { rows: [], fields: [] };
}

function concatBytes(parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.byteLength;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}
