import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEMO_PASSWORD, type ReferenceHostOptions } from "../../src/index.js";

/**
 * Where a suite starts the reference host: PGlite in a temporary data folder
 * always, and PostgreSQL (ANNEX_TEST_DATABASE_URL) with schemas of its own
 * when set. `options()` gives the same database on every call (a restart),
 * `cleanup()` removes the folder and drops the schemas.
 */
export interface Backend {
  name: "pglite" | "postgres";
  options(): Promise<ReferenceHostOptions>;
  cleanup(): Promise<void>;
}

let counter = 0;
const unique = (prefix: string) => `${prefix}_${process.pid}_${Date.now().toString(36)}_${(counter += 1)}`.toLowerCase();

function backend(name: Backend["name"], databaseUrl: string | undefined): Backend {
  let dataDir: string | undefined;
  const schemas = { app: unique("refhost_app"), annex: unique("refhost_annex") };
  return {
    name,
    async options() {
      dataDir ??= await mkdtemp(join(tmpdir(), "annex-refhost-test-"));
      // The demo's password on PostgreSQL too (where the host would pick a random one): the tests sign in with it.
      return { dataDir, databaseUrl, schemas: databaseUrl === undefined ? undefined : schemas, logger: silentLogger, seedPassword: DEMO_PASSWORD };
    },
    async cleanup() {
      if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
      if (databaseUrl !== undefined) {
        const { default: pg } = await import("pg");
        const client = new pg.Client({ connectionString: databaseUrl });
        await client.connect();
        try {
          for (const schema of Object.values(schemas)) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        } finally {
          await client.end();
        }
      }
    },
  };
}

export function backends(): Backend[] {
  const list = [backend("pglite", undefined)];
  const url = process.env["ANNEX_TEST_DATABASE_URL"];
  if (url !== undefined && url !== "") list.push(backend("postgres", url));
  return list;
}

const noop = () => {};
export const silentLogger = { debug: noop, info: noop, warn: noop, error: noop };
