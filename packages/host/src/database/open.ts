import type { PGlite } from "@electric-sql/pglite";
import { Kysely, PostgresDialect } from "kysely";
import { DatabaseError } from "./errors.js";
import { PGliteDialect, pglitePipeline, type PGlitePipeline } from "./pglite-dialect.js";
import { lockDataDir } from "./data-dir-lock.js";
import { importPGlite } from "./pglite-module.js";
import { guardStackOverflow } from "./pglite-overflow.js";
import type { PinnedPool } from "./postgres-pinned.js";
import { assertSchemaName } from "./schema-name.js";
import type { AnnexTables } from "./tables.js";
import { pgliteNotifications, postgresNotifications, type NotificationSource } from "./notifications.js";

/**
 * What `createHost({ database })` accepts:
 * - a `Kysely` instance (PostgreSQL dialect) the embedding app owns;
 * - a `postgres://` / `postgresql://` connection string (Annex opens and closes a `pg` pool);
 * - a PGlite instance the caller owns (Annex makes a statement that runs out of
 *   stack fail alone on it, see pglite-overflow.ts), or `{ dataDir }` for a
 *   PGlite kept on disk;
 * - `{ loadDataDir }`: PGlite in memory, started from a data folder a PGlite
 *   dumped (`dumpDataDir`, `writePGliteSnapshot`) instead of running initdb;
 * - nothing: PGlite in memory.
 */
export type DatabaseOption = Kysely<any> | string | PGlite | { dataDir: string } | { loadDataDir: Blob | Uint8Array } | undefined;

export interface AnnexDatabase {
  /** Queries Annex's tables, qualified with the host's schema when one is set. */
  db: Kysely<AnnexTables>;
  /** The same connection without the schema plugin, for DDL and raw statements. */
  root: Kysely<any>;
  schema: string | undefined;
  kind: "postgres" | "pglite";
  /**
   * Where this process hears NOTIFY: PGlite's own listen, or a dedicated `pg`
   * connection when Annex opened the database from a connection string.
   * Undefined for a Kysely instance the app passed (see `createHost({ notifications })`).
   */
  notifications?: NotificationSource | undefined;
  /**
   * PGlite only: runs statements in one exchange, as one implicit transaction
   * (see pglitePipeline). Must not be called inside a transaction on `root`.
   */
  pipeline?: PGlitePipeline | undefined;
  /**
   * The `pg` pool Annex opened for a connection string (undefined for a
   * Kysely instance the app passed): the SQL storage takes the connections of
   * extensions' statements from it, so that it can close one whose statement
   * PostgreSQL does not stop (see postgres-pinned.ts).
   */
  pool?: PinnedPool | undefined;
  /** Closes what Annex opened itself; a Kysely or PGlite given by the caller is left open. */
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  schema?: string | undefined;
  /** Connections of the `pg` pool Annex opens for a connection string. Default 10. */
  poolSize?: number | undefined;
  /**
   * A connection of the pool Annex opened failed outside a query (terminated
   * by an admin, a restart, a failover, idle_session_timeout): the pool drops
   * it and opens another when needed; this hears of it. Without a listener
   * such an error would end the process.
   */
  onConnectionError?: ((error: Error) => void) | undefined;
}

export async function openDatabase(option: DatabaseOption, options: OpenDatabaseOptions = {}): Promise<AnnexDatabase> {
  const schema = options.schema === undefined ? undefined : assertSchemaName(options.schema);
  const poolSize = options.poolSize;
  if (poolSize !== undefined && (typeof poolSize !== "number" || !Number.isInteger(poolSize) || poolSize < 1 || poolSize > 1000)) {
    throw new DatabaseError("E_DATABASE_CONFIG", `poolSize must be a whole number of connections from 1 to 1000, got ${JSON.stringify(poolSize)}`, { field: "poolSize" });
  }
  const scoped = (root: Kysely<any>): Kysely<AnnexTables> =>
    (schema === undefined ? root : root.withSchema(schema)) as Kysely<AnnexTables>;

  if (isKysely(option)) {
    return { db: scoped(option), root: option, schema, kind: "postgres", close: async () => {} };
  }

  if (typeof option === "string") {
    if (!/^postgres(ql)?:\/\//.test(option)) {
      throw new DatabaseError(
        "E_DATABASE_CONFIG",
        "database: a connection string must start with postgres:// or postgresql://; pass a Kysely instance, a PGlite instance, { dataDir } or nothing (in-memory PGlite) instead",
        { scheme: option.split(":", 1)[0] ?? "" },
      );
    }
    const { default: pg } = await import("pg");
    const pool = new pg.Pool({ connectionString: option, max: poolSize ?? 10 });
    // `pg` emits a connection's failure as an 'error' event: on the pool for an idle connection, on the client for
    // one in use (pg-pool takes its own listener off while a client is checked out), where the query that was
    // running also fails. An 'error' event nobody listens to throws, and would take the whole host down.
    const heard = (error: Error) => {
      try {
        options.onConnectionError?.(error);
      } catch {
        // A failing listener must not bring back what it stands in for.
      }
    };
    pool.on("error", heard);
    pool.on("connect", (client) => void client.on("error", heard));
    const root = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
    return { db: scoped(root), root, schema, kind: "postgres", notifications: postgresNotifications(option), pool: pool as PinnedPool, close: () => root.destroy() };
  }

  if (isPGlite(option)) {
    // The one change made to a PGlite the caller owns: a statement that runs out of stack fails alone instead of
    // leaving the session broken (see pglite-overflow.ts).
    await option.waitReady;
    guardStackOverflow(option);
    const root = new Kysely<any>({ dialect: new PGliteDialect(option) });
    return { db: scoped(root), root, schema, kind: "pglite", notifications: pgliteNotifications(option), pipeline: pglitePipeline(option), close: () => root.destroy() };
  }

  const fields = typeof option === "object" && option !== null ? (option as Record<string, unknown>) : undefined;
  if (fields !== undefined && "loadDataDir" in fields && "dataDir" in fields) {
    throw new DatabaseError("E_DATABASE_CONFIG", "database: give { dataDir } (PGlite on disk) or { loadDataDir } (in memory, from a dumped data folder), not both", { field: "database" });
  }
  const image = fields !== undefined && "loadDataDir" in fields ? await dataDirImage(fields["loadDataDir"]) : undefined;
  const dataDir = fields !== undefined && typeof fields["dataDir"] === "string" && fields["dataDir"] !== "" ? fields["dataDir"] : undefined;
  if (option !== undefined && image === undefined && dataDir === undefined) {
    throw new DatabaseError(
      "E_DATABASE_CONFIG",
      "database: expected a Kysely instance, a postgres:// connection string, a PGlite instance, { dataDir: string }, { loadDataDir: Blob | Uint8Array } or nothing",
    );
  }
  const inMemory = dataDir === undefined;
  const { PGlite } = await importPGlite();
  const lock = dataDir === undefined ? undefined : await lockDataDir(dataDir);
  let pglite: PGlite;
  try {
    try {
      pglite = await PGlite.create(dataDir !== undefined ? { dataDir } : image !== undefined ? { loadDataDir: image } : {});
    } catch (error) {
      if (image === undefined) throw error;
      throw new DatabaseError("E_DATABASE_CONFIG", `database.loadDataDir: PGlite could not start from it (${error instanceof Error ? error.message : String(error)}): pass a data folder this PGlite version dumped`, { field: "database.loadDataDir" }, { cause: error });
    }
    // The dialect prepares the writes a host repeats (see pglite-dialect.ts); with PostgreSQL's default
    // it would still plan them anew each time, which is most of their cost. A PGlite the caller passes
    // in is left with its own settings.
    await pglite.exec("SET plan_cache_mode = force_generic_plan");
    // In memory, PostgreSQL's zero-filling of each new 16 MB WAL segment (which reserves its disk space) reserves
    // nothing, and PGlite's in-memory files grow by an eighth at a time, copying the whole file each time: the
    // audit log's inserts, which fill a segment every ~10k lines, ran ~14 % slower per line with it (median over
    // alternating rounds, fewer stalls too). A data directory keeps it: there it does reserve the space.
    if (inMemory) await pglite.exec("SET wal_init_zero = off");
  } catch (error) {
    await lock?.release();
    throw error;
  }
  guardStackOverflow(pglite);
  const root = new Kysely<any>({ dialect: new PGliteDialect(pglite) });
  return {
    db: scoped(root),
    root,
    schema,
    kind: "pglite",
    notifications: pgliteNotifications(pglite),
    pipeline: pglitePipeline(pglite),
    close: async () => {
      try {
        await root.destroy();
        await pglite.close();
      } finally {
        await lock?.release();
      }
    },
  };
}

/**
 * `{ loadDataDir }` as the Blob PGlite reads, checked to be a tar before PGlite sees it (its first header is enough):
 * handed something else, PGlite tries it as gzip too and leaves that failure unhandled (it would end the process).
 */
async function dataDirImage(value: unknown): Promise<Blob> {
  const image = value instanceof Uint8Array ? new Blob([value as Uint8Array<ArrayBuffer>], { type: "application/x-tar" }) : value instanceof Blob ? value : undefined;
  if (image === undefined) {
    throw new DatabaseError("E_DATABASE_CONFIG", "database.loadDataDir: expected a Blob or a Uint8Array of a data folder PGlite dumped (dumpDataDir, a tar)", { field: "database.loadDataDir" });
  }
  if (!isTar(new Uint8Array(await image.slice(0, 512).arrayBuffer()))) {
    throw new DatabaseError("E_DATABASE_CONFIG", "database.loadDataDir: not a tar archive; pass the data folder PGlite's dumpDataDir (or writePGliteSnapshot) wrote", { field: "database.loadDataDir" });
  }
  return image;
}

/** A POSIX tar archive: "ustar" at offset 257 of its first header. */
export function isTar(bytes: Uint8Array): boolean {
  return bytes.length >= 512 && new TextDecoder().decode(bytes.subarray(257, 262)) === "ustar";
}

function isKysely(value: unknown): value is Kysely<any> {
  return (
    value instanceof Kysely ||
    (typeof value === "object" &&
      value !== null &&
      typeof (value as Kysely<any>).selectFrom === "function" &&
      typeof (value as Kysely<any>).transaction === "function" &&
      typeof (value as Kysely<any>).withSchema === "function")
  );
}

function isPGlite(value: unknown): value is PGlite {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as PGlite).query === "function" &&
    typeof (value as PGlite).exec === "function" &&
    "waitReady" in value
  );
}
