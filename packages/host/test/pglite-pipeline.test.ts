import { CompiledQuery, sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type AnnexDatabase } from "../src/index.js";

/**
 * The PGlite pipeline (what ctx.sql.query runs through on PGlite) names a keyed
 * statement at its second run. These tests hold it to what the unnamed run
 * answered: the same rows, in the right schema, after the tables change, and
 * without running a write twice.
 */
describe("pglitePipeline with keys", () => {
  let database: AnnexDatabase;
  let pipeline: NonNullable<AnnexDatabase["pipeline"]>;
  const pinText = "SELECT set_config('search_path', $1, true)";
  const pin = (schema: string) => CompiledQuery.raw(pinText, [`"${schema}", pg_catalog, pg_temp`]);
  const named = async (like: string) =>
    (await sql<{ name: string; statement: string }>`SELECT name, statement FROM pg_prepared_statements WHERE statement LIKE ${like} ORDER BY name`.execute(database.root)).rows;
  /** One statement run in `schema`, the way sql-storage runs an install's: pin and statement keyed. */
  const inSchema = async (schema: string, text: string, params: unknown[] = [], key: string | null = `${schema}\u0000${text}`) =>
    (await pipeline([pin(schema), CompiledQuery.raw(text, params)], [pinText, key ?? undefined]))[1]!;

  beforeAll(async () => {
    database = await openDatabase(undefined);
    pipeline = database.pipeline!;
    for (const schema of ["pipe_a", "pipe_b"]) {
      await sql`CREATE SCHEMA ${sql.id(schema)}`.execute(database.root);
      await sql`CREATE TABLE ${sql.id(schema, "items")} (id text PRIMARY KEY, n integer NOT NULL)`.execute(database.root);
      await sql`INSERT INTO ${sql.id(schema, "items")} VALUES ('k', ${schema === "pipe_a" ? 1 : 2})`.execute(database.root);
    }
  }, 60_000);
  afterAll(async () => {
    await database.close();
  });

  it("names a keyed statement at its second run, and a statement without a key never", async () => {
    const text = "SELECT n FROM items WHERE id = $1 /* first */";
    expect(await named("%/* first */%")).toEqual([]);
    expect((await inSchema("pipe_a", text, ["k"])).rows).toEqual([{ n: 1 }]);
    expect(await named("%/* first */%")).toEqual([]);
    for (let i = 0; i < 3; i++) expect((await inSchema("pipe_a", text, ["k"])).rows).toEqual([{ n: 1 }]);
    expect(await named("%/* first */%")).toEqual([{ name: expect.stringMatching(/^annex_pipe_\d+$/), statement: text }]);
    const unkeyed = "SELECT n FROM items WHERE id = $1 /* unkeyed */";
    for (let i = 0; i < 3; i++) expect((await inSchema("pipe_a", unkeyed, ["k"], null)).rows).toEqual([{ n: 1 }]);
    expect(await named("%/* unkeyed */%")).toEqual([]);
    expect(await named(pinText)).toHaveLength(1);
  });

  it("keeps one name per schema: the same text, alternating between two schemas, reads each its own table", async () => {
    const text = "SELECT n FROM items WHERE id = $1 /* alternating */";
    for (let i = 0; i < 4; i++) {
      expect((await inSchema("pipe_a", text, ["k"])).rows).toEqual([{ n: 1 }]);
      expect((await inSchema("pipe_b", text, ["k"])).rows).toEqual([{ n: 2 }]);
    }
    expect(await named("%/* alternating */%")).toHaveLength(2);
  });

  it("reads the schema the pin names even when a name prepared for another is bound (PostgreSQL analyses it again)", async () => {
    // sql-storage never does this (the key holds the schema); this shows the name could not leak another schema's rows if it did.
    const text = "SELECT n FROM items WHERE id = $1 /* crossed */";
    const keyOfA = `pipe_a\u0000${text}`;
    for (let i = 0; i < 2; i++) expect((await inSchema("pipe_a", text, ["k"], keyOfA)).rows).toEqual([{ n: 1 }]);
    expect(await named("%/* crossed */%")).toHaveLength(1);
    expect((await inSchema("pipe_b", text, ["k"], keyOfA)).rows).toEqual([{ n: 2 }]);
    expect((await inSchema("pipe_a", text, ["k"], keyOfA)).rows).toEqual([{ n: 1 }]);
  });

  it("prepares anew a named statement its table no longer fits, running the exchange once more unnamed, its write once", async () => {
    await sql`CREATE TABLE pipe_a.reshaped (id integer PRIMARY KEY, label text)`.execute(database.root);
    const insert = "INSERT INTO reshaped (id, label) VALUES ($1, $2)";
    const readAll = "SELECT * FROM reshaped WHERE id = $1";
    const both = (id: number, label: string) =>
      pipeline([pin("pipe_a"), CompiledQuery.raw(insert, [id, label]), CompiledQuery.raw(readAll, [id])], [pinText, `pipe_a\u0000${insert}`, `pipe_a\u0000${readAll}`]);
    for (let id = 1; id <= 3; id++) expect((await both(id, "x"))[2]!.rows).toEqual([{ id, label: "x" }]);
    expect(await named("%reshaped%")).toHaveLength(2);

    // The star now stands for one more column, and the write's second parameter was prepared as text.
    await sql`ALTER TABLE pipe_a.reshaped ADD COLUMN extra boolean NOT NULL DEFAULT true`.execute(database.root);
    await sql`ALTER TABLE pipe_a.reshaped ALTER COLUMN label TYPE integer USING 0`.execute(database.root);
    expect((await both(4, "7"))[2]!.rows).toEqual([{ id: 4, label: 7, extra: true }]);
    expect((await both(5, "8"))[2]!.rows).toEqual([{ id: 5, label: 8, extra: true }]);
    const rows = await sql<{ id: number }>`SELECT id FROM pipe_a.reshaped ORDER BY id`.execute(database.root);
    expect(rows.rows.map((row) => row.id)).toEqual([1, 2, 3, 4, 5]);
    // Named again, for the table as it is now.
    for (let id = 6; id <= 8; id++) expect((await both(id, "9"))[2]!.rows).toEqual([{ id, label: 9, extra: true }]);
    expect(await named("%reshaped%")).toHaveLength(2);
    // Back to text: the write's parameter, prepared as integer now, would not read "nine" (22P02).
    await sql`ALTER TABLE pipe_a.reshaped ALTER COLUMN label TYPE text`.execute(database.root);
    expect((await both(9, "nine"))[2]!.rows).toEqual([{ id: 9, label: "nine", extra: true }]);
    expect((await sql<{ n: number }>`SELECT count(*)::int AS n FROM pipe_a.reshaped`.execute(database.root)).rows).toEqual([{ n: 9 }]);
  });

  it("throws a statement's own error once, with the whole exchange rolled back, and the next exchange runs", async () => {
    const insert = "INSERT INTO items (id, n) VALUES ($1, $2) /* dup */";
    for (const id of ["d1", "d2"]) await inSchema("pipe_a", insert, [id, 0]);
    const exchange = () =>
      pipeline([pin("pipe_a"), CompiledQuery.raw(insert, ["d3", 0]), CompiledQuery.raw(insert, ["d1", 0])], [pinText, `pipe_a\u0000${insert}`, `pipe_a\u0000${insert}`]);
    await expect(exchange()).rejects.toMatchObject({ code: "23505" });
    // Not even d3 stayed: the exchange was one implicit transaction.
    const ids = async () => (await sql<{ id: string }>`SELECT id FROM pipe_a.items WHERE id LIKE 'd%' ORDER BY id`.execute(database.root)).rows.map((row) => row.id);
    expect(await ids()).toEqual(["d1", "d2"]);
    // A class-42 error from a named statement is run again unnamed, and still comes back as itself.
    await sql`ALTER TABLE pipe_a.items RENAME COLUMN n TO m`.execute(database.root);
    await expect(inSchema("pipe_a", insert, ["d4", 0])).rejects.toMatchObject({ code: "42703" });
    await sql`ALTER TABLE pipe_a.items RENAME COLUMN m TO n`.execute(database.root);
    await inSchema("pipe_a", insert, ["d4", 0]);
    expect(await ids()).toEqual(["d1", "d2", "d4"]);
  });

  it("closes the least recently used names past its bound, and never the host's own statements", async () => {
    // The dialect's named statement (a read the host repeats) lives beside the pipelines', in another cache.
    const hostRead = () => sql<{ host_own: number }>`SELECT n AS host_own FROM pipe_b.items WHERE id = ${"k"}`.execute(database.root);
    for (let i = 0; i < 2; i++) await hostRead();
    expect(await named("%host_own%")).toHaveLength(1);
    for (let i = 0; i < 600; i++) {
      const text = `SELECT n + ${i} AS n FROM items WHERE id = $1 /* many */`;
      for (let run = 0; run < 2; run++) expect((await inSchema("pipe_b", text, ["k"])).rows).toEqual([{ n: 2 + i }]);
    }
    const pipes = await sql<{ count: string | number }>`SELECT count(*) AS count FROM pg_prepared_statements WHERE name LIKE 'annex_pipe_%'`.execute(database.root);
    expect(Number(pipes.rows[0]!.count)).toBeLessThanOrEqual(513);
    expect(Number(pipes.rows[0]!.count)).toBeGreaterThanOrEqual(500);
    expect(await named("%host_own%")).toHaveLength(1);
    expect((await hostRead()).rows).toEqual([{ host_own: 2 }]);
  });
});
