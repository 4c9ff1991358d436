import type { PGlite } from "@electric-sql/pglite";
import { Kysely, PostgresDialect, sql } from "kysely";
import { createPGliteFrom, PGLITE_SNAPSHOT_ENV } from "./pglite-snapshot.js";

/**
 * The databases a host test suite runs on: PGlite always, and PostgreSQL when
 * `ANNEX_TEST_DATABASE_URL` is set. Each backend opens one connection per
 * test file (PGlite takes seconds and hundreds of MB to start) and isolates
 * tests by schema: `freshSchema()` names a new one, `cleanup()` drops them
 * all and closes the connection.
 *
 * ```ts
 * describe.each(testDatabaseBackends())("registry on $name", (backend) => {
 *   afterAll(() => backend.cleanup());
 *   it("…", async () => {
 *     const host = await createHost({ database: await backend.connect(), schema: backend.freshSchema() });
 *   });
 * });
 * ```
 */
export interface TestDatabaseBackend {
  name: "pglite" | "postgres";
  /** The shared connection, opened on first call: a PGlite instance or a Kysely over a `pg` pool. */
  connect(): Promise<PGlite | Kysely<any>>;
  /** A new schema name, unique to this run; dropped by `cleanup()`. */
  freshSchema(prefix?: string): string;
  /** Drops every schema handed out and closes the connection. */
  cleanup(): Promise<void>;
}

export interface TestDatabaseOptions {
  /** Default: `process.env.ANNEX_TEST_DATABASE_URL`. */
  postgresUrl?: string | undefined;
  /**
   * A file written by `writePGliteSnapshot`: the PGlite backend starts from it
   * (≈1 s) instead of running initdb (≈3 s). Default:
   * `process.env.ANNEX_TEST_PGLITE_SNAPSHOT`; none: a fresh `PGlite.create()`.
   */
  pgliteSnapshot?: string | undefined;
}

let counter = 0;

function uniqueSchema(prefix: string): string {
  counter += 1;
  const random = Math.random().toString(36).slice(2, 8);
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${random}_${counter}`.toLowerCase().slice(0, 63);
}

export function testDatabaseBackends(options: TestDatabaseOptions = {}): TestDatabaseBackend[] {
  const backends: TestDatabaseBackend[] = [pgliteBackend(options.pgliteSnapshot ?? process.env[PGLITE_SNAPSHOT_ENV])];
  const url = options.postgresUrl ?? process.env["ANNEX_TEST_DATABASE_URL"];
  if (url !== undefined && url !== "") backends.push(postgresBackend(url));
  return backends;
}

function pgliteBackend(snapshot: string | undefined): TestDatabaseBackend {
  let instance: Promise<PGlite> | undefined;
  return {
    name: "pglite",
    connect() {
      instance ??= createPGliteFrom(snapshot);
      return instance;
    },
    freshSchema(prefix = "annex_test") {
      return uniqueSchema(prefix);
    },
    async cleanup() {
      // The whole database goes with the instance.
      const pending = instance;
      instance = undefined;
      if (pending !== undefined) await (await pending).close();
    },
  };
}

function postgresBackend(url: string): TestDatabaseBackend {
  let db: Promise<Kysely<any>> | undefined;
  const schemas = new Set<string>();
  return {
    name: "postgres",
    connect() {
      db ??= import("pg").then(({ default: pg }) => new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 8 }) }) }));
      return db;
    },
    freshSchema(prefix = "annex_test") {
      const schema = uniqueSchema(prefix);
      schemas.add(schema);
      return schema;
    },
    async cleanup() {
      const pending = db;
      db = undefined;
      if (pending === undefined) return;
      const kysely = await pending;
      for (const schema of schemas) await sql`DROP SCHEMA IF EXISTS ${sql.id(schema)} CASCADE`.execute(kysely);
      schemas.clear();
      await kysely.destroy();
    },
  };
}
