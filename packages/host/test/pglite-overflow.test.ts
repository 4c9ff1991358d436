import type { PGlite } from "@electric-sql/pglite";
import { CompiledQuery, sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type AnnexDatabase } from "../src/index.js";
import { importPGlite } from "../src/database/pglite-module.js";
import { guardStackOverflow, overflowGuardOf, STACK_DEPTH_SQLSTATE } from "../src/database/pglite-overflow.js";

/**
 * A statement that runs out of PGlite's stack. PostgreSQL raises 54001 before
 * its own stack runs out; under PGlite V8's native stack runs out first, and
 * without the guard PGlite left PostgreSQL half-way through the statement: it
 * answered nothing, and the next statement on the table hung the thread for
 * good. Each test here reaches the overflow through what a host runs: the
 * dialect (`root`), the pipeline, a transaction.
 */
describe("PGlite's stack running out", () => {
  let database: AnnexDatabase;
  let pglite: PGlite;
  const memory = () => (pglite as unknown as { mod: { wasmMemory: WebAssembly.Memory } }).mod.wasmMemory.buffer.byteLength;
  /** jsonb_build_array 70 deep around `d`: within the SQL guard's nesting bound, so an extension may send it. */
  const deeper = `UPDATE deep SET d = ${"jsonb_build_array(".repeat(70)}d${")".repeat(70)} WHERE id = 1`;
  const depth = async () => (await sql<{ n: number }>`SELECT length(d::text) AS n FROM deep WHERE id = 1`.execute(database.root)).rows[0]!.n;

  /** Nests the stored value deeper, statement after statement, until one fails; answers that failure. */
  const deepenUntilItFails = async (): Promise<unknown> => {
    for (let i = 0; i < 400; i++) {
      try {
        await sql.raw(deeper).execute(database.root);
      } catch (error) {
        return error;
      }
    }
    throw new Error("400 statements nested the value 28,000 deep and none ran out of stack");
  };

  beforeAll(async () => {
    const { PGlite } = await importPGlite();
    pglite = await PGlite.create();
    // A PGlite the caller owns: openDatabase guards it too.
    database = await openDatabase(pglite);
    await sql`CREATE TABLE deep (id int PRIMARY KEY, d jsonb NOT NULL)`.execute(database.root);
    await sql`INSERT INTO deep VALUES (1, '[]'), (2, '{"kept": true}')`.execute(database.root);
  }, 60_000);
  afterAll(async () => {
    await database.close();
    await pglite.close();
  });

  it("fails the statement that overflows with PostgreSQL's 54001, leaves the value as the last statement that ran made it, and serves the next", async () => {
    // Installed by openDatabase: without it, the first overflow below would leave PGlite broken and hang this test.
    const guard = overflowGuardOf(pglite)!;
    expect(guard).toBeDefined();
    const before = guard.overflows;
    const failure = (await deepenUntilItFails()) as { code?: string; message?: string; hint?: string };
    expect(failure).toMatchObject({ code: STACK_DEPTH_SQLSTATE, message: "stack depth limit exceeded", hint: expect.stringContaining("deeper than the embedded database's stack allows") });
    expect(guard.overflows).toBe(before + 1);
    const length = await depth();
    // The same statement fails again, alone, and changes nothing; so does a read that nests the value deeper.
    for (let i = 0; i < 3; i++) await expect(sql.raw(deeper).execute(database.root)).rejects.toMatchObject({ code: STACK_DEPTH_SQLSTATE });
    const read = `SELECT ${"jsonb_build_array(".repeat(70)}d${")".repeat(70)} AS v FROM deep WHERE id = 1`;
    await expect(sql.raw(read).execute(database.root)).rejects.toMatchObject({ code: STACK_DEPTH_SQLSTATE });
    expect(await depth()).toBe(length);
    // Each time, the portal the statement ran in was found and marked failed, so PostgreSQL dropped it.
    expect(guard.overflows).toBe(before + 5);
    expect(guard.portalsLeft).toBe(0);
    const portals = await sql<{ statement: string }>`SELECT statement FROM pg_cursors`.execute(database.root);
    expect(portals.rows).toEqual([{ statement: "SELECT statement FROM pg_cursors" }]);
    // The next statements run: reads, writes, and DDL, which waits for every lock on the table (a broken statement held them).
    expect((await sql<{ d: unknown }>`SELECT d FROM deep WHERE id = 2`.execute(database.root)).rows).toEqual([{ d: { kept: true } }]);
    await sql`UPDATE deep SET d = '{"kept": 2}' WHERE id = 2`.execute(database.root);
    await sql`ALTER TABLE deep ADD COLUMN note text`.execute(database.root);
    await sql`ALTER TABLE deep DROP COLUMN note`.execute(database.root);
    expect((await sql<{ d: unknown }>`SELECT d FROM deep WHERE id = 2`.execute(database.root)).rows).toEqual([{ d: { kept: 2 } }]);
    // PGlite's own API, which binds the unnamed portal, still works too.
    expect((await pglite.query<{ n: number }>("SELECT count(*)::int AS n FROM deep")).rows).toEqual([{ n: 2 }]);
  });

  it("aborts the transaction the statement ran in, as any error does: the transaction's earlier writes roll back", async () => {
    await expect(
      database.root.transaction().execute(async (trx) => {
        await sql`UPDATE deep SET d = '"in the transaction"' WHERE id = 2`.execute(trx);
        await sql.raw(deeper).execute(trx);
      }),
    ).rejects.toMatchObject({ code: STACK_DEPTH_SQLSTATE });
    expect((await sql<{ d: unknown }>`SELECT d FROM deep WHERE id = 2`.execute(database.root)).rows).toEqual([{ d: { kept: 2 } }]);
    // The session is idle again: a new transaction commits.
    await database.root.transaction().execute(async (trx) => {
      await sql`UPDATE deep SET d = '{"kept": 3}' WHERE id = 2`.execute(trx);
    });
    expect((await sql<{ d: unknown }>`SELECT d FROM deep WHERE id = 2`.execute(database.root)).rows).toEqual([{ d: { kept: 3 } }]);
  });

  it("fails a pipeline exchange whole (statements before the overflow roll back) and runs the next exchange", async () => {
    const pipeline = database.pipeline!;
    const write = CompiledQuery.raw("UPDATE deep SET d = $1::jsonb WHERE id = 2", ['"from the pipeline"']);
    await expect(pipeline([write, CompiledQuery.raw(deeper)])).rejects.toMatchObject({ code: STACK_DEPTH_SQLSTATE });
    expect((await sql<{ d: unknown }>`SELECT d FROM deep WHERE id = 2`.execute(database.root)).rows).toEqual([{ d: { kept: 3 } }]);
    const [read] = await pipeline([CompiledQuery.raw("SELECT d FROM deep WHERE id = $1", [2])]);
    expect(read!.rows).toEqual([{ d: { kept: 3 } }]);
  });

  it("keeps memory flat over a hundred overflows (what the lost frames held is freed with the transaction)", async () => {
    await expect(sql.raw(deeper).execute(database.root)).rejects.toMatchObject({ code: STACK_DEPTH_SQLSTATE });
    const start = memory();
    for (let i = 0; i < 100; i++) await expect(sql.raw(deeper).execute(database.root)).rejects.toMatchObject({ code: STACK_DEPTH_SQLSTATE });
    expect(memory() - start).toBeLessThanOrEqual(16 * 1024 * 1024);
    expect(guardStackOverflow(pglite)!.portalsLeft).toBe(0);
    expect((await sql<{ n: number }>`SELECT count(*)::int AS n FROM deep`.execute(database.root)).rows).toEqual([{ n: 2 }]);
  });

  it("is installed once per PGlite, and not at all on something that is not one", async () => {
    expect(guardStackOverflow(pglite)).toBe(guardStackOverflow(pglite));
    expect(guardStackOverflow({} as PGlite)).toBeUndefined();
    expect(guardStackOverflow({ mod: { wasmMemory: new WebAssembly.Memory({ initial: 1 }) } } as unknown as PGlite)).toBeUndefined();
  });
});

describe("the PGlite Annex opens itself", () => {
  it("is guarded as well", async () => {
    const database = await openDatabase(undefined);
    try {
      expect(database.kind).toBe("pglite");
      await sql`CREATE TABLE deep (id int PRIMARY KEY, d jsonb NOT NULL)`.execute(database.root);
      // A parameter read as jsonb nested 20,000 deep: PostgreSQL's json reader recurses once per level.
      const nested = "[".repeat(20_000) + "]".repeat(20_000);
      await expect(sql`INSERT INTO deep VALUES (1, ${nested}::jsonb)`.execute(database.root)).rejects.toMatchObject({ code: STACK_DEPTH_SQLSTATE });
      await sql`INSERT INTO deep VALUES (1, ${"[[1]]"}::jsonb)`.execute(database.root);
      expect((await sql<{ d: unknown }>`SELECT d FROM deep`.execute(database.root)).rows).toEqual([{ d: [[1]] }]);
    } finally {
      await database.close();
    }
  }, 60_000);
});
