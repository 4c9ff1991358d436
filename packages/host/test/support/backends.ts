import { afterAll, beforeAll, describe } from "vitest";
import { createHost, type Host, type HostOptions } from "../../src/index.js";
import { testDatabaseBackends, type TestDatabaseBackend } from "../../src/testing/index.js";

/**
 * Runs `body` once per database backend: PGlite always, PostgreSQL when
 * ANNEX_TEST_DATABASE_URL is set. One connection per backend per test file;
 * tests isolate themselves with `backend.freshSchema()` (or `hostOn`).
 */
export function describeBackends(title: string, body: (backend: TestDatabaseBackend) => void): void {
  describe.each(testDatabaseBackends())(`${title} on $name`, (backend) => {
    // Starting PGlite takes seconds: do it in a hook (60 s budget), not inside the first test (30 s).
    beforeAll(async () => {
      await backend.connect();
    });
    afterAll(() => backend.cleanup());
    body(backend);
  });
}

/**
 * As describeBackends, on PostgreSQL alone (when ANNEX_TEST_DATABASE_URL is
 * set): for what PGlite cannot show (other sessions, locks, a pool). Without
 * it no suite is made at all, rather than an empty or a skipped one.
 */
export function describePostgres(title: string, body: (backend: TestDatabaseBackend) => void): void {
  const postgres = testDatabaseBackends().filter((backend) => backend.name === "postgres");
  describe.each(postgres)(`${title} on $name`, (backend) => {
    beforeAll(async () => {
      await backend.connect();
    });
    afterAll(() => backend.cleanup());
    body(backend);
  });
}

/** A host in a fresh schema of `backend`. */
export async function hostOn(backend: TestDatabaseBackend, options: Omit<HostOptions, "database" | "schema"> = {}): Promise<Host> {
  return createHost({ ...options, database: await backend.connect(), schema: backend.freshSchema() });
}
