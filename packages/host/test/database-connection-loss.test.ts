import { sql } from "kysely";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { createInMemoryRunner } from "@annex/runner";
import { createHost, type Logger } from "../src/index.js";
import { testDatabaseBackends } from "../src/testing/index.js";

/** A logger that keeps its warnings (the host's other lines are dropped). */
function keepingLogger(warnings: string[]): Logger {
  const logger: Logger = {
    level: "info",
    trace: () => {},
    debug: () => {},
    info: () => {},
    warn: (_fields: unknown, message?: string) => void warnings.push(String(message)),
    error: () => {},
    fatal: () => {},
    child: () => logger,
  } as unknown as Logger;
  return logger;
}

const postgres = testDatabaseBackends().filter((backend) => backend.name === "postgres");

describe.each(postgres)("a pooled connection lost outside Annex's control, on $name", (backend) => {
  afterAll(() => backend.cleanup());

  it("survives connections terminated while idle and while running a query; the pool opens new ones", async () => {
    // A red team: pg_terminate_backend of the pool's idle connections (an admin's kill, a restart, a failover) was an
    // unhandled 'error' event, and the host process exited.
    const warnings: string[] = [];
    const host = await createHost({
      runner: createInMemoryRunner(),
      logger: keepingLogger(warnings),
      database: process.env["ANNEX_TEST_DATABASE_URL"],
      schema: backend.freshSchema("annex_lost"),
    });
    const admin = new pg.Client({ connectionString: process.env["ANNEX_TEST_DATABASE_URL"] });
    await admin.connect();
    try {
      const root = host.database.root;
      // Several at once, so that the pool holds several connections; each says which backend it is.
      const pids = new Set(
        (await Promise.all(Array.from({ length: 4 }, () => sql<{ pid: number }>`SELECT pg_backend_pid() AS pid, pg_sleep(0.05)`.execute(root)))).map((r) => r.rows[0]!.pid),
      );
      expect(pids.size).toBeGreaterThan(1);
      await admin.query("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", [[...pids]]);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(warnings.some((w) => /pooled connection failed/.test(w))).toBe(true);

      // In use: the query running on it fails, the host does not.
      const marker = `annex_lost_${Date.now()}`;
      // Observed at once: it fails as soon as its connection is killed, maybe before the kill's own answer arrives.
      const running = sql`SELECT pg_sleep(5), ${marker}::text`.execute(root).then(
        () => null,
        (error: unknown) => error,
      );
      let busy: number | undefined;
      for (let i = 0; i < 50 && busy === undefined; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        busy = (await admin.query("SELECT pid FROM pg_stat_activity WHERE query LIKE '%pg_sleep(5)%' AND pid <> pg_backend_pid() AND state = 'active'")).rows[0]?.pid;
      }
      expect(busy).toBeDefined();
      const heard = warnings.length;
      await admin.query("SELECT pg_terminate_backend($1)", [busy]);
      expect(await running).toMatchObject({ message: expect.stringMatching(/terminat/) });
      // Its socket closes right after the error (pg then drops the connection from the pool): until then a query
      // sent on it would fail too, as any pool's would.
      for (let i = 0; i < 100 && warnings.length === heard; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(warnings.length).toBeGreaterThan(heard);

      // The host goes on: its own queries and the lifecycle API work on new connections.
      expect(await host.listInstalls("t1")).toEqual([]);
      expect((await sql<{ one: number }>`SELECT 1 AS one`.execute(root)).rows).toEqual([{ one: 1 }]);
    } finally {
      await admin.end();
      await host.close();
    }
  });
});
