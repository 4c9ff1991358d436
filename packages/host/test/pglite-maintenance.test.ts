import { PGlite } from "@electric-sql/pglite";
import { Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PGliteDialect } from "../src/index.js";
import { startPGliteMaintenance } from "../src/database/pglite-maintenance.js";
import { createTestHost } from "../src/testing/index.js";
import { createLedger, ordersBundle } from "./events/support.js";

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

interface Stats {
  relname: string;
  last_vacuum: Date | null;
  last_analyze: Date | null;
  reltuples: number;
}

async function statsOf(db: Kysely<any>, schema: string): Promise<Map<string, Stats>> {
  const result = await sql<Stats>`
    SELECT s.relname, s.last_vacuum, s.last_analyze, c.reltuples FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
    WHERE s.schemaname = ${schema}`.execute(db);
  return new Map(result.rows.map((row) => [row.relname, row]));
}

/**
 * PGlite runs no autovacuum: the host runs its rule on its own tables, or
 * their statistics stay those of an empty table and their indexes keep every
 * dead row (a backlog of one install's events then cost each claim the whole
 * backlog; the events bench's serving-backlog row measures it).
 */
describe("PGlite maintenance: the host's stand-in for autovacuum", () => {
  let pglite: PGlite;
  let db: Kysely<any>;
  beforeAll(async () => {
    pglite = await PGlite.create();
    db = new Kysely<any>({ dialect: new PGliteDialect(pglite) });
  }, 60_000);
  afterAll(async () => {
    await db.destroy();
    await pglite.close();
  });

  it("vacuums and analyzes the host's tables that changed past PostgreSQL's thresholds, and nothing else", async () => {
    await sql`CREATE SCHEMA m1`.execute(db);
    await sql`CREATE TABLE m1.annex_churn (id int PRIMARY KEY, v int)`.execute(db);
    await sql`CREATE TABLE m1.annex_calm (id int PRIMARY KEY)`.execute(db);
    await sql`CREATE TABLE m1.annex_read (id int PRIMARY KEY, v int)`.execute(db);
    // An install's own table, as storage.sql makes them in their schemas: never the host's to vacuum.
    await sql`CREATE TABLE m1.notes (id int PRIMARY KEY, v int)`.execute(db);
    // The audit log: append-only and ever growing; its ANALYZE read more of it on every pass.
    await sql`CREATE TABLE m1.annex_audit (id int PRIMARY KEY, v int)`.execute(db);
    await sql`INSERT INTO m1.annex_audit SELECT g, g FROM generate_series(1, 3000) g`.execute(db);
    for (const table of ["annex_churn", "notes"]) {
      await sql`INSERT INTO ${sql.id("m1", table)} SELECT g, g FROM generate_series(1, 500) g`.execute(db);
      await sql`UPDATE ${sql.id("m1", table)} SET v = v + 1`.execute(db);
    }
    await sql`INSERT INTO m1.annex_calm VALUES (1), (2)`.execute(db);
    // 60 changed rows of 0 known: over ANALYZE's 50, under VACUUM's 50 dead rows and 1,000 inserts.
    await sql`INSERT INTO m1.annex_read SELECT g, g FROM generate_series(1, 60) g`.execute(db);

    const maintenance = startPGliteMaintenance({ db, schema: "m1", intervalMs: 3_600_000, logger: quiet });
    try {
      const pass = await maintenance.run();
      expect(pass).toEqual({ vacuumed: ["annex_churn"], analyzed: ["annex_read"], checkpoint: false });
      const stats = await statsOf(db, "m1");
      expect(stats.get("annex_churn")?.last_vacuum).toBeInstanceOf(Date);
      expect(stats.get("annex_churn")?.last_analyze).toBeInstanceOf(Date);
      expect(Number(stats.get("annex_churn")?.reltuples)).toBe(500);
      expect(stats.get("annex_read")?.last_vacuum).toBeNull();
      expect(stats.get("annex_read")?.last_analyze).toBeInstanceOf(Date);
      expect(stats.get("annex_calm")?.last_analyze).toBeNull();
      expect(stats.get("notes")?.last_vacuum).toBeNull();
      expect(stats.get("notes")?.last_analyze).toBeNull();
      expect(stats.get("annex_audit")?.last_analyze).toBeNull();
      // Done: the next pass finds nothing to do until the tables change again.
      expect(await maintenance.run()).toEqual({ vacuumed: [], analyzed: [], checkpoint: false });
    } finally {
      await maintenance.stop();
    }
  }, 60_000);

  it("checkpoints once 32 MB of WAL were written since the last, so that PGlite recycles its WAL files", async () => {
    const walBytes = async () => {
      const fs = (pglite as unknown as { mod: { FS: { readdir(path: string): string[]; stat(path: string): { size: number; mode: number }; isFile(mode: number): boolean } } }).mod.FS;
      let bytes = 0;
      for (const name of fs.readdir("/pglite/data/pg_wal")) {
        const stat = fs.stat(`/pglite/data/pg_wal/${name}`);
        if (fs.isFile(stat.mode)) bytes += stat.size;
      }
      return bytes;
    };
    await sql`CREATE SCHEMA m6`.execute(db);
    await sql`CREATE TABLE m6.annex_wal (id int, v text)`.execute(db);
    const maintenance = startPGliteMaintenance({ db, schema: "m6", intervalMs: 3_600_000, logger: quiet });
    try {
      expect((await maintenance.run()).checkpoint).toBe(false);
      const write = () => sql`INSERT INTO m6.annex_wal SELECT g, repeat('w', 1000) FROM generate_series(1, 20000) g`.execute(db);
      // 40 MB of rows, and more of WAL.
      await write();
      await write();
      const grown = await walBytes();
      const pass = await maintenance.run();
      expect(pass.checkpoint).toBe(true);
      // Writing as much again after the checkpoint reuses the segments it recycled instead of adding as many.
      await write();
      await write();
      expect((await maintenance.run()).checkpoint).toBe(true);
      expect(await walBytes()).toBeLessThanOrEqual(grown);
    } finally {
      await maintenance.stop();
    }
  }, 60_000);

  it("a pass that fails is logged and the timer goes on", async () => {
    const warnings: string[] = [];
    // A connection that fails every statement, as a database closed under the host would.
    const gone = new Kysely<any>({
      dialect: {
        createAdapter: () => new PostgresAdapter(),
        createIntrospector: (db) => new PostgresIntrospector(db),
        createQueryCompiler: () => new PostgresQueryCompiler(),
        createDriver: () => ({
          init: async () => {},
          acquireConnection: async () => ({
            executeQuery: () => Promise.reject(new Error("the database is closed")),
            streamQuery: () => {
              throw new Error("the database is closed");
            },
          }),
          beginTransaction: async () => {},
          commitTransaction: async () => {},
          rollbackTransaction: async () => {},
          releaseConnection: async () => {},
          destroy: async () => {},
        }),
      },
    });
    const maintenance = startPGliteMaintenance({
      db: gone,
      schema: "m2",
      intervalMs: 100,
      logger: { ...quiet, warn: (_: unknown, message?: string) => void warnings.push(String(message)) },
    });
    try {
      // Each failed pass is told of, and the next one comes all the same.
      await expect.poll(() => warnings.length, { timeout: 10_000 }).toBeGreaterThan(2);
      expect(warnings[0]).toMatch(/PGlite maintenance failed; it runs again/);
      await expect(maintenance.run()).rejects.toThrow();
    } finally {
      await maintenance.stop();
    }
  }, 30_000);

  it("runs in a host on PGlite: its outbox tables get vacuumed and analyzed as events go through", async () => {
    const ledger = createLedger();
    const t = await createTestHost({ database: pglite, schema: "m3", capabilities: [ledger.capability], maintenanceIntervalMs: 200 });
    try {
      await t.install(await ordersBundle(), { tenant: "acme" });
      for (let i = 0; i < 120; i++) await t.events.publish("order.refunded", { n: i }, { tenant: "acme" });
      await t.relay.drain();
      expect(ledger.calls).toHaveLength(120);
      await expect
        .poll(async () => (await statsOf(db, "m3")).get("annex_event_deliveries")?.last_vacuum ?? null, { timeout: 15_000, interval: 100 })
        .toBeInstanceOf(Date);
      const stats = await statsOf(db, "m3");
      expect(stats.get("annex_events")?.last_analyze).toBeInstanceOf(Date);
      // A table nothing wrote is left alone.
      expect(stats.get("annex_jobs")?.last_analyze).toBeNull();
    } finally {
      await t.close();
    }
  }, 60_000);

  it("an interval under 100 ms, or not a whole number, is refused, naming the field", async () => {
    for (const bad of [5, 1.5, "10000", Number.NaN, true]) {
      await expect(createTestHost({ database: pglite, schema: "m5", maintenanceIntervalMs: bad as never })).rejects.toMatchObject({
        code: "E_HOST_OPTIONS",
        details: { field: "maintenanceIntervalMs" },
      });
    }
  }, 60_000);
});
