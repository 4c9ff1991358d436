import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { lockDataDir, PGliteDialect } from "@annex/host";
import { Kysely, PostgresDialect } from "kysely";
import type { PGlite } from "@electric-sql/pglite";
import type { AppTables } from "./tables.js";

/**
 * The one database the reference host and Annex share: PGlite kept in the
 * data folder by default, PostgreSQL when a connection string is given.
 * Annex's tables live in their schema (default "annex"), the product's own
 * (tenants, users, sessions, API tokens) in theirs (default "app").
 */
export interface ProductDatabase {
  /** Handed to createHost({ database }): the PGlite instance, or the Kysely over the pg pool. */
  annexOption: PGlite | Kysely<any>;
  /** The product's own tables, qualified with its schema. */
  app: Kysely<AppTables>;
  /** The same connection unqualified, for the product's DDL. */
  root: Kysely<any>;
  appSchema: string;
  annexSchema: string;
  kind: "pglite" | "postgres";
  close(): Promise<void>;
}

export interface OpenProductDatabaseOptions {
  /** postgres://… ; absent: PGlite under `dataDir` (or in memory without one). */
  databaseUrl?: string | undefined;
  /** Where PGlite keeps its files (`<dataDir>/pglite`). */
  dataDir?: string | undefined;
  appSchema?: string | undefined;
  annexSchema?: string | undefined;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export async function openProductDatabase(options: OpenProductDatabaseOptions): Promise<ProductDatabase> {
  const appSchema = options.appSchema ?? "app";
  const annexSchema = options.annexSchema ?? "annex";
  for (const [field, name] of [["appSchema", appSchema], ["annexSchema", annexSchema]] as const) {
    if (!SCHEMA_NAME.test(name) || name.startsWith("pg_")) throw new Error(`${field}: ${JSON.stringify(name)} is not a plain lowercase schema name`);
  }
  if (options.databaseUrl !== undefined && options.databaseUrl !== "") {
    if (!/^postgres(ql)?:\/\//.test(options.databaseUrl)) throw new Error("DATABASE_URL must start with postgres:// or postgresql://");
    const { default: pg } = await import("pg");
    const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 10 });
    const root = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
    return {
      annexOption: root,
      app: root.withSchema(appSchema) as Kysely<AppTables>,
      root,
      appSchema,
      annexSchema,
      kind: "postgres",
      close: () => root.destroy(),
    };
  }
  const { PGlite } = await import("@electric-sql/pglite");
  let dataDir: string | undefined;
  if (options.dataDir !== undefined) {
    dataDir = join(options.dataDir, "pglite");
    await mkdir(dataDir, { recursive: true });
  }
  // The PGlite is the app's own, so the lock Annex takes for `{ dataDir }` is the app's to take: a second demo on
  // the same folder is refused instead of overwriting this one's writes.
  const lock = dataDir === undefined ? undefined : await lockDataDir(dataDir);
  let pglite: InstanceType<typeof PGlite>;
  try {
    pglite = await PGlite.create(dataDir === undefined ? {} : { dataDir });
    await pglite.exec("SET plan_cache_mode = force_generic_plan");
  } catch (error) {
    await lock?.release();
    throw error;
  }
  const root = new Kysely<any>({ dialect: new PGliteDialect(pglite) });
  return {
    annexOption: pglite,
    app: root.withSchema(appSchema) as Kysely<AppTables>,
    root,
    appSchema,
    annexSchema,
    kind: "pglite",
    async close() {
      try {
        await root.destroy();
        await pglite.close();
      } finally {
        await lock?.release();
      }
    },
  };
}
