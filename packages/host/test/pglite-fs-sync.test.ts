import { MemoryFS, PGlite } from "@electric-sql/pglite";
import { CompiledQuery, sql } from "kysely";
import { afterAll, describe, expect, it } from "vitest";
import { openDatabase } from "../src/index.js";

/**
 * PGlite syncs its filesystem after every exchange unless told not to. Annex
 * skips it where the filesystem's sync does nothing (in memory, a data
 * directory) and must keep it wherever a filesystem has a sync of its own
 * (IndexedDB, OPFS, a custom one), or writes would never reach that storage.
 */
describe("PGlite filesystem sync after an exchange", () => {
  const opened: PGlite[] = [];
  afterAll(async () => {
    for (const pglite of opened) await pglite.close();
  });

  /** Runs the statements Annex runs (kysely through the dialect, the one-trip path, the pipeline) and counts the syncs they made. */
  async function syncsOf(pglite: PGlite, count: () => number): Promise<number> {
    const database = await openDatabase(pglite);
    try {
      await sql`CREATE TABLE IF NOT EXISTS sync_probe (n integer)`.execute(database.root);
      const before = count();
      for (let i = 0; i < 3; i++) await sql`INSERT INTO sync_probe VALUES (${i})`.execute(database.root);
      expect((await sql<{ n: number }>`SELECT count(*)::int AS n FROM sync_probe`.execute(database.root)).rows).toEqual([{ n: 3 }]);
      await database.pipeline!([CompiledQuery.raw("SELECT n FROM sync_probe WHERE n = $1", [1])]);
      return count() - before;
    } finally {
      await database.close();
    }
  }

  it("skips the sync on an in-memory PGlite, whose sync does nothing", async () => {
    const pglite = await PGlite.create();
    opened.push(pglite);
    let syncs = 0;
    const sync = pglite.syncToFs.bind(pglite);
    pglite.syncToFs = async () => {
      syncs++;
      await sync();
    };
    expect(await syncsOf(pglite, () => syncs)).toBe(0);
  }, 60_000);

  it("keeps the sync for a filesystem with a sync of its own, after every exchange", async () => {
    let syncs = 0;
    class SyncedFS extends MemoryFS {
      override async syncToFs(): Promise<void> {
        syncs++;
      }
    }
    const pglite = await PGlite.create({ fs: new SyncedFS() });
    opened.push(pglite);
    // Five exchanges: three inserts, the count, the pipeline.
    expect(await syncsOf(pglite, () => syncs)).toBeGreaterThanOrEqual(5);
  }, 60_000);
});
