import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { Kysely, sql } from "kysely";
import { describe, expect, it } from "vitest";
import {
  ANNEX_MIGRATIONS,
  createHost,
  DatabaseError,
  MigrationError,
  PGliteDialect,
  migrate,
  migrationChecksum,
  openDatabase,
  readLedger,
  type Migration,
} from "../src/index.js";
import { describeBackends, hostOn } from "./support/backends.js";

function rootOf(connection: unknown): Kysely<any> {
  return connection instanceof Kysely ? connection : new Kysely<any>({ dialect: new PGliteDialect(connection as never) });
}

describeBackends("migrations", (backend) => {
  it("creates every annex_ table in the given schema and records each migration in the ledger", async () => {
    const db = rootOf(await backend.connect());
    const schema = backend.freshSchema();
    const result = await migrate(db, { schema });
    expect(result.applied).toEqual(ANNEX_MIGRATIONS.map((migration) => migration.name));

    const tables = await sql<{ table_name: string }>`
      SELECT table_name FROM information_schema.tables WHERE table_schema = ${schema} ORDER BY table_name`.execute(db);
    const names = tables.rows.map((row) => row.table_name);
    expect(names.length).toBeGreaterThan(0);
    expect(names.every((name) => name.startsWith("annex_"))).toBe(true);
    expect(names).toEqual(
      expect.arrayContaining(["annex_migrations", "annex_extensions", "annex_extension_versions", "annex_blobs", "annex_installs", "annex_install_secrets", "annex_audit"]),
    );

    const ledger = await readLedger(db, schema);
    expect(ledger.map((entry) => entry.name)).toEqual(ANNEX_MIGRATIONS.map((migration) => migration.name));
    for (const [index, entry] of ledger.entries()) {
      expect(entry.checksum).toBe(await migrationChecksum(ANNEX_MIGRATIONS[index]!));
      expect(entry.appliedAt).toBeInstanceOf(Date);
    }
  });

  it("applies nothing the second time and only the new migration when one is appended", async () => {
    const db = rootOf(await backend.connect());
    const schema = backend.freshSchema();
    await migrate(db, { schema });
    expect((await migrate(db, { schema })).applied).toEqual([]);

    const next: Migration = { name: "9999_extra", statements: ["CREATE TABLE annex_extra (id integer PRIMARY KEY)"] };
    expect((await migrate(db, { schema, migrations: [...ANNEX_MIGRATIONS, next] })).applied).toEqual(["9999_extra"]);
    const exists = await sql`SELECT 1 FROM information_schema.tables WHERE table_schema = ${schema} AND table_name = 'annex_extra'`.execute(db);
    expect(exists.rows).toHaveLength(1);
  });

  it("refuses to start when an applied migration's checksum changed", async () => {
    const db = rootOf(await backend.connect());
    const schema = backend.freshSchema();
    await migrate(db, { schema });
    const edited = ANNEX_MIGRATIONS.map((migration, index) =>
      index === 0 ? { ...migration, statements: [...migration.statements, "CREATE TABLE annex_sneaky (id integer)"] } : migration,
    );
    const error = await migrate(db, { schema, migrations: edited }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as MigrationError).code).toBe("E_MIGRATION_CHECKSUM");
    expect((error as MigrationError).message).toContain(ANNEX_MIGRATIONS[0]!.name);
    const sneaky = await sql`SELECT 1 FROM information_schema.tables WHERE table_schema = ${schema} AND table_name = 'annex_sneaky'`.execute(db);
    expect(sneaky.rows).toHaveLength(0);
  });

  it("refuses a ledger that lists a migration this code does not ship, or one inserted before applied ones", async () => {
    const db = rootOf(await backend.connect());
    const schema = backend.freshSchema();
    await migrate(db, { schema, migrations: [...ANNEX_MIGRATIONS, { name: "9999_future", statements: ["SELECT 1"] }] });
    await expect(migrate(db, { schema })).rejects.toMatchObject({ code: "E_MIGRATION_UNKNOWN" });

    const other = backend.freshSchema();
    await migrate(db, { schema: other, migrations: [ANNEX_MIGRATIONS[0]!, ANNEX_MIGRATIONS[2]!] });
    await expect(migrate(db, { schema: other })).rejects.toMatchObject({ code: "E_MIGRATION_UNKNOWN" });
  });

  it("0060 gives each install its own kv version count, above every version the shared sequence handed out", async () => {
    const db = rootOf(await backend.connect());
    const schema = backend.freshSchema();
    await migrate(db, { schema, migrations: ANNEX_MIGRATIONS.filter((migration) => migration.name < "0060") });
    await db.transaction().execute(async (trx) => {
      await sql`SET LOCAL search_path TO ${sql.id(schema)}`.execute(trx);
      // Rows as an older host left them; the install rows they point at do not matter here.
      await sql`SET LOCAL session_replication_role = replica`.execute(trx);
      for (const install of ["i-1", "i-2"]) {
        await sql`INSERT INTO annex_kv (tenant, install_id, key, value, size_bytes, updated_at) VALUES ('t', ${install}, 'k', '1', 2, now())`.execute(trx);
        await sql`INSERT INTO annex_kv_usage (tenant, install_id, keys, bytes) VALUES ('t', ${install}, 1, 2)`.execute(trx);
      }
      await sql`SELECT setval('annex_kv_versions', 41)`.execute(trx);
    });
    expect((await migrate(db, { schema, migrations: ANNEX_MIGRATIONS.filter((migration) => migration.name < "0070") })).applied).toEqual(["0060_kv_versions_per_install"]);
    const usage = await sql<{ install_id: string; last_version: string | number }>`
      SELECT install_id, last_version FROM ${sql.id(schema, "annex_kv_usage")} ORDER BY install_id`.execute(db);
    expect(usage.rows.map((row) => [row.install_id, Number(row.last_version)])).toEqual([["i-1", 41], ["i-2", 41]]);
    const sequence = await sql<{ found: string | null }>`SELECT to_regclass(${`"${schema}".annex_kv_versions`})::text AS found`.execute(db);
    expect(sequence.rows[0]!.found).toBeNull();
    const column = await sql<{ column_default: string | null }>`
      SELECT column_default FROM information_schema.columns WHERE table_schema = ${schema} AND table_name = 'annex_kv' AND column_name = 'version'`.execute(db);
    expect(column.rows).toEqual([{ column_default: null }]);
  });

  it("with migrate: false, refuses to start on a schema the migrations have not reached (E_MIGRATION_PENDING), and starts once they ran", async () => {
    const database = await backend.connect();
    const schema = backend.freshSchema("annex_unmigrated");
    const refused = await createHost({ database, schema, migrate: false }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(MigrationError);
    expect(refused).toMatchObject({ code: "E_MIGRATION_PENDING", details: { schema, pending: ANNEX_MIGRATIONS.length } });
    expect((refused as Error).message).toContain(`run migrate(db, { schema: "${schema}" })`);
    // Behind by one (a deploy of a newer Annex before its migration step ran).
    await migrate(rootOf(database), { schema, migrations: ANNEX_MIGRATIONS.slice(0, -1) });
    await expect(createHost({ database, schema, migrate: false })).rejects.toMatchObject({
      code: "E_MIGRATION_PENDING",
      details: { pending: 1, first: ANNEX_MIGRATIONS.at(-1)!.name },
    });
    await migrate(rootOf(database), { schema });
    const host = await createHost({ database, schema, migrate: false });
    await host.close();
  });

  it("rolls back a failing migration entirely, ledger included", async () => {
    const db = rootOf(await backend.connect());
    const schema = backend.freshSchema();
    const broken: Migration = { name: "0001_broken", statements: ["CREATE TABLE annex_half (id integer)", "THIS IS NOT SQL"] };
    await expect(migrate(db, { schema, migrations: [broken] })).rejects.toMatchObject({ code: "E_MIGRATION_FAILED" });
    // Nothing survives: not the half-made table, not the ledger, not even the schema the call created.
    const left = await sql`SELECT table_name FROM information_schema.tables WHERE table_schema = ${schema}`.execute(db);
    expect(left.rows).toEqual([]);
    const schemas = await sql`SELECT 1 FROM information_schema.schemata WHERE schema_name = ${schema}`.execute(db);
    expect(schemas.rows).toEqual([]);
  });

  it("applies each migration once when several hosts start on one schema at the same time", async () => {
    const connection = await backend.connect();
    const schema = backend.freshSchema();
    const results = await Promise.all([0, 1, 2].map(() => migrate(rootOf(connection), { schema })));
    const applied = results.flatMap((result) => result.applied);
    expect(applied.sort()).toEqual(ANNEX_MIGRATIONS.map((migration) => migration.name).sort());
  });

  it("keeps hosts in different schemas apart", async () => {
    const a = await hostOn(backend);
    const b = await hostOn(backend);
    await a.database.db.insertInto("annex_extensions").values({ id: "acme.only-a", publisher: "acme" }).execute();
    expect(await b.database.db.selectFrom("annex_extensions").selectAll().execute()).toEqual([]);
    expect(await a.database.db.selectFrom("annex_extensions").select("id").execute()).toEqual([{ id: "acme.only-a" }]);
    await a.close();
    await b.close();
  });

  it("makes annex_audit append-only in the database itself", async () => {
    const host = await hostOn(backend);
    const db = host.database.db;
    await db.insertInto("annex_audit").values({ actor: "t", tenant: null, action: "test", target: "x", decision: "allow", details: "{}" }).execute();
    await expect(db.updateTable("annex_audit").set({ actor: "forged" }).execute()).rejects.toThrow(/append-only/);
    await expect(db.deleteFrom("annex_audit").execute()).rejects.toThrow(/append-only/);
    await expect(sql`TRUNCATE ${sql.id(host.database.schema!, "annex_audit")}`.execute(host.database.root)).rejects.toThrow(/append-only/);
    expect(await db.selectFrom("annex_audit").select("actor").execute()).toEqual([{ actor: "t" }]);
    await host.close();
  });

  it("serialises transactions on one connection: a transaction's statements never interleave with another's", async () => {
    const host = await hostOn(backend);
    const db = host.database.db;
    await db.insertInto("annex_extensions").values({ id: "acme.counter", publisher: "0" }).execute();
    // Read-modify-write under a row lock, 10 at once: every increment must survive.
    await Promise.all(
      Array.from({ length: 10 }, () =>
        db.transaction().execute(async (trx) => {
          const row = await trx.selectFrom("annex_extensions").select("publisher").where("id", "=", "acme.counter").forUpdate().executeTakeFirstOrThrow();
          await new Promise((resolve) => setTimeout(resolve, 1));
          await trx.updateTable("annex_extensions").set({ publisher: String(Number(row.publisher) + 1) }).where("id", "=", "acme.counter").execute();
        }),
      ),
    );
    expect(await db.selectFrom("annex_extensions").select("publisher").where("id", "=", "acme.counter").executeTakeFirst()).toEqual({ publisher: "10" });
    await host.close();
  });

  it("rolls back a transaction that throws", async () => {
    const host = await hostOn(backend);
    const db = host.database.db;
    await expect(
      db.transaction().execute(async (trx) => {
        await trx.insertInto("annex_extensions").values({ id: "acme.gone", publisher: "acme" }).execute();
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(await db.selectFrom("annex_extensions").selectAll().execute()).toEqual([]);
    await host.close();
  });
});

describeBackends("values through the dialect", (backend) => {
  // On PGlite, statements whose parameters are all scalars go in one protocol message without asking
  // the server for parameter types; the same statements on PostgreSQL (pg) say what the answer must be.
  it("round-trips every scalar parameter type into typed columns and reads them back typed", async () => {
    const db = rootOf(await backend.connect());
    const schema = backend.freshSchema();
    await sql`CREATE SCHEMA ${sql.id(schema)}`.execute(db);
    const table = sql.id(schema, "values_roundtrip");
    await sql`CREATE TABLE ${table} (t text, n integer, f double precision, b boolean, big bigint, at timestamptz, bytes bytea, doc jsonb, bt text)`.execute(db);
    const at = new Date("2026-11-25T21:05:55.168Z");
    const bytes = new Uint8Array([0, 1, 2, 253, 254, 255]);
    await sql`INSERT INTO ${table} VALUES (${"it's \\ \"quoted\""}, ${42}, ${Infinity}, ${true}, ${2n ** 62n}, ${at}, ${bytes}, ${JSON.stringify({ a: [1, "x"] })}, ${false})`.execute(db);
    await sql`INSERT INTO ${table} (t, doc) VALUES (${null}, ${sql`${JSON.stringify(null)}::jsonb`})`.execute(db);
    const rows = (await sql<Record<string, unknown>>`SELECT * FROM ${table} ORDER BY t NULLS LAST`.execute(db)).rows;
    expect(rows[0]).toEqual({ t: "it's \\ \"quoted\"", n: 42, f: Infinity, b: true, big: expect.anything(), at, bytes: expect.anything(), doc: { a: [1, "x"] }, bt: "false" });
    expect(BigInt(rows[0]!["big"] as string | bigint)).toBe(2n ** 62n);
    expect([...new Uint8Array(rows[0]!["bytes"] as Uint8Array)]).toEqual([...bytes]);
    expect(rows[1]).toMatchObject({ t: null, doc: null });
    // Parameters compared in a WHERE clause are typed by the server from their column.
    const found = await sql<{ n: number }>`SELECT n FROM ${table} WHERE at = ${at} AND bytes = ${bytes} AND b = ${true}`.execute(db);
    expect(found.rows).toEqual([{ n: 42 }]);
    await sql`DROP SCHEMA ${sql.id(schema)} CASCADE`.execute(db);
  });

  it("runs a repeated write the same after its table is dropped and made again with other columns, or a transaction around it rolls back", async () => {
    // On PGlite a write seen twice becomes a named statement: later changes to its table must not break it.
    const db = rootOf(await backend.connect());
    const schema = backend.freshSchema();
    await sql`CREATE SCHEMA ${sql.id(schema)}`.execute(db);
    const table = sql.id(schema, "repeated");
    const insert = (n: number) => sql`INSERT INTO ${table} (n) VALUES (${n})`.execute(db);
    const all = async () => (await sql<{ n: number }>`SELECT n FROM ${table} ORDER BY n`.execute(db)).rows.map((row) => row.n);
    await sql`CREATE TABLE ${table} (n integer PRIMARY KEY)`.execute(db);
    for (let n = 1; n <= 4; n++) await insert(n);
    await expect(insert(1)).rejects.toMatchObject({ code: "23505" });
    await expect(
      db.transaction().execute(async (trx) => {
        await sql`INSERT INTO ${table} (n) VALUES (${5})`.execute(trx);
        throw new Error("roll back");
      }),
    ).rejects.toThrow("roll back");
    await insert(6);
    expect(await all()).toEqual([1, 2, 3, 4, 6]);
    await sql`DROP TABLE ${table}`.execute(db);
    await sql`CREATE TABLE ${table} (label text DEFAULT 'x', n integer)`.execute(db);
    await insert(7);
    await insert(8);
    expect(await all()).toEqual([7, 8]);
    await sql`DROP SCHEMA ${sql.id(schema)} CASCADE`.execute(db);
  });

  it("answers a repeated read or RETURNING write the same after its table's columns change, inside transactions and out", async () => {
    // On PGlite a statement with result columns seen twice outside a transaction becomes a named one, whose
    // result type PostgreSQL then refuses to see change: the dialect must prepare it anew, and never let that
    // refusal abort a transaction.
    const db = rootOf(await backend.connect());
    const schema = backend.freshSchema();
    await sql`CREATE SCHEMA ${sql.id(schema)}`.execute(db);
    const table = sql.id(schema, "reshaped");
    await sql`CREATE TABLE ${table} (n integer PRIMARY KEY, label text)`.execute(db);
    await sql`INSERT INTO ${table} VALUES (1, 'a')`.execute(db);
    const read = async (on: Kysely<any> = db) => (await sql<{ n: number; label: unknown }>`SELECT n, label FROM ${table} WHERE n = ${1}`.execute(on)).rows;
    const relabel = async (value: string, on: Kysely<any> = db) =>
      (await sql<{ label: unknown }>`UPDATE ${table} SET label = ${value} WHERE n = ${1} RETURNING label`.execute(on)).rows;
    const all = async () => (await sql<Record<string, unknown>>`SELECT * FROM ${table} WHERE n = ${1}`.execute(db)).rows;
    const write = (value: string) => sql`UPDATE ${table} SET label = ${value} WHERE n = ${1}`.execute(db);
    for (let i = 0; i < 3; i++) {
      await write("a");
      expect(await read()).toEqual([{ n: 1, label: "a" }]);
      expect(await relabel("a")).toEqual([{ label: "a" }]);
      expect(await all()).toEqual([{ n: 1, label: "a" }]);
    }
    if (backend.name === "pglite") {
      const named = await sql<{ statement: string }>`SELECT statement FROM pg_prepared_statements WHERE statement LIKE ${"%reshaped%"}`.execute(db);
      expect(named.rows.map((row) => row.statement).sort()).toEqual([
        expect.stringMatching(/^SELECT n, label FROM/),
        expect.stringMatching(/^UPDATE .* WHERE n = \$2$/),
        expect.stringMatching(/^UPDATE .* RETURNING label$/),
      ]);
    }

    await sql`ALTER TABLE ${table} ALTER COLUMN label TYPE integer USING 7`.execute(db);
    expect(await read()).toEqual([{ n: 1, label: 7 }]);
    // A write prepared when label was text: its parameter was typed text then.
    await write("6");
    expect(await read()).toEqual([{ n: 1, label: 6 }]);
    expect(await relabel("8")).toEqual([{ label: 8 }]);
    for (let i = 0; i < 2; i++) expect(await read()).toEqual([{ n: 1, label: 8 }]);

    await sql`ALTER TABLE ${table} ALTER COLUMN label TYPE text USING 'b'`.execute(db);
    await sql`ALTER TABLE ${table} ADD COLUMN extra boolean DEFAULT true`.execute(db);
    const inTransaction = await db.transaction().execute(async (trx) => {
      await sql`INSERT INTO ${table} VALUES (2, 'c')`.execute(trx);
      return { read: await read(trx), relabel: await relabel("d", trx) };
    });
    expect(inTransaction).toEqual({ read: [{ n: 1, label: "b" }], relabel: [{ label: "d" }] });
    expect(await read()).toEqual([{ n: 1, label: "d" }]);
    expect(await all()).toEqual([{ n: 1, label: "d", extra: true }]);
    expect((await sql<{ n: number }>`SELECT n FROM ${table} ORDER BY n`.execute(db)).rows).toEqual([{ n: 1 }, { n: 2 }]);
    await sql`DROP SCHEMA ${sql.id(schema)} CASCADE`.execute(db);
  });

  it("reports a failing statement with its SQLSTATE and keeps the session usable, inside and outside transactions", async () => {
    const host = await hostOn(backend);
    const db = host.database.db;
    await db.insertInto("annex_extensions").values({ id: "acme.once", publisher: "acme" }).execute();
    await expect(db.insertInto("annex_extensions").values({ id: "acme.once", publisher: "acme" }).execute()).rejects.toMatchObject({ code: "23505" });
    expect(await db.selectFrom("annex_extensions").select("id").where("id", "=", "acme.once").execute()).toEqual([{ id: "acme.once" }]);
    await expect(
      db.transaction().execute(async (trx) => {
        await trx.insertInto("annex_extensions").values({ id: "acme.twice", publisher: "acme" }).execute();
        await trx.insertInto("annex_extensions").values({ id: "acme.once", publisher: "acme" }).execute();
      }),
    ).rejects.toMatchObject({ code: "23505" });
    expect((await db.selectFrom("annex_extensions").select("id").orderBy("id").execute()).map((row) => row.id)).toEqual(["acme.once"]);
    const updated = await db.updateTable("annex_extensions").set({ publisher: "acme2" }).where("id", "=", "acme.once").executeTakeFirst();
    expect(updated.numUpdatedRows).toBe(1n);
    await host.close();
  });
});

describe("openDatabase", () => {
  it("keeps a PGlite data directory across hosts, and closes the PGlite it opened", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "annex-pglite-"));
    try {
      const first = await createHost({ database: { dataDir } });
      expect(first.database.kind).toBe("pglite");
      await first.database.db.insertInto("annex_extensions").values({ id: "acme.kept", publisher: "acme" }).execute();
      await first.close();
      await expect(first.database.db.selectFrom("annex_extensions").selectAll().execute()).rejects.toThrow();

      const second = await createHost({ database: { dataDir } });
      expect(await second.database.db.selectFrom("annex_extensions").select("id").execute()).toEqual([{ id: "acme.kept" }]);
      expect((await migrate(second.database.root)).applied).toEqual([]);
      await second.close();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);

  it("starts an in-memory PGlite from a dumped data folder ({ loadDataDir }), owns it as its own in-memory one, and refuses what is not one", async () => {
    const { PGlite } = await import("@electric-sql/pglite");
    const seeded = await PGlite.create();
    await seeded.exec("CREATE TABLE public.seeded_marker (x int); INSERT INTO public.seeded_marker VALUES (42)");
    const image = await seeded.dumpDataDir("none");
    await seeded.close();
    for (const loadDataDir of [image, new Uint8Array(await image.arrayBuffer())]) {
      const host = await createHost({ database: { loadDataDir } });
      try {
        expect(host.database.kind).toBe("pglite");
        expect((await sql<{ x: number }>`SELECT x FROM public.seeded_marker`.execute(host.database.root)).rows).toEqual([{ x: 42 }]);
        // Annex's schema went in on top, and the settings of an in-memory PGlite Annex opens itself are set.
        expect(await host.getInstall("t", "acme.none")).toBeNull();
        const shown = async (name: string) => Object.values((await sql.raw(`SHOW ${name}`).execute(host.database.root)).rows[0] as object)[0];
        expect(await shown("wal_init_zero")).toBe("off");
        expect(await shown("plan_cache_mode")).toBe("force_generic_plan");
      } finally {
        await host.close();
      }
      await expect(host.database.root.selectFrom("annex_extensions").selectAll().execute()).rejects.toThrow();
    }
    const refusals: Array<[unknown, string]> = [
      ["./data.tar", "expected a Blob or a Uint8Array"],
      [null, "expected a Blob or a Uint8Array"],
      [new Uint8Array(4096), "not a tar archive"],
      [new Blob(["not a tar at all ".repeat(100)]), "not a tar archive"],
    ];
    for (const [loadDataDir, message] of refusals) {
      const error = await createHost({ database: { loadDataDir } as never }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(DatabaseError);
      expect(error).toMatchObject({ code: "E_DATABASE_CONFIG", details: { field: "database.loadDataDir" } });
      expect((error as Error).message).toContain(message);
    }
    await expect(createHost({ database: { loadDataDir: image, dataDir: "./x" } as never })).rejects.toMatchObject({ code: "E_DATABASE_CONFIG", details: { field: "database" } });
    await expect(createHost({ database: null as never })).rejects.toMatchObject({ code: "E_DATABASE_CONFIG" });
  }, 120_000);

  it("an in-memory PGlite does not zero-fill new WAL segments (nothing to reserve); a data directory's does", async () => {
    const inMemory = await openDatabase(undefined);
    const dataDir = await mkdtemp(join(tmpdir(), "annex-pglite-wal-"));
    try {
      const onDisk = await openDatabase({ dataDir });
      try {
        const setting = async (db: Kysely<any>) => (await sql<{ wal_init_zero: string }>`SHOW wal_init_zero`.execute(db)).rows[0]?.wal_init_zero;
        expect(await setting(inMemory.root)).toBe("off");
        expect(await setting(onDisk.root)).toBe("on");
      } finally {
        await onDisk.close();
      }
    } finally {
      await inMemory.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it("holds a PGlite data directory for one host at a time: a second one is refused until the first closes, a lock left by a dead process is taken over", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "annex-pglite-lock-"));
    const lock = `${dataDir}.lock`;
    const sleeper = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
    try {
      const first = await createHost({ database: { dataDir } });
      // Two PGlite instances on one directory both answered and overwrote each other's pages: writes were lost without an error.
      const second = await createHost({ database: { dataDir } }).catch((error: unknown) => error);
      expect(second).toBeInstanceOf(DatabaseError);
      expect(second).toMatchObject({ code: "E_DATABASE_LOCKED", details: { dataDir, lock, pid: process.pid } });
      expect((second as Error).message).toContain("PostgreSQL for several processes");
      await first.close();
      await expect(stat(lock)).rejects.toMatchObject({ code: "ENOENT" });

      // Another live process holds it.
      await writeFile(lock, JSON.stringify({ pid: sleeper.pid, host: hostname(), since: new Date().toISOString() }));
      await expect(createHost({ database: { dataDir } })).rejects.toMatchObject({ code: "E_DATABASE_LOCKED", details: { pid: sleeper.pid } });
      // That process died without removing it (a crash): the lock is stale.
      sleeper.kill("SIGKILL");
      await new Promise((resolve) => sleeper.once("exit", resolve));
      const third = await createHost({ database: { dataDir } });
      expect(JSON.parse(await readFile(lock, "utf8"))).toMatchObject({ pid: process.pid });
      await third.close();
    } finally {
      sleeper.kill("SIGKILL");
      await rm(dataDir, { recursive: true, force: true });
      await rm(lock, { force: true });
    }
  }, 120_000);

  it("says which database it could not reach, without its password (E_DATABASE_UNREACHABLE)", async () => {
    const refused = await createHost({ database: "postgres://annex:s3cret-pw@127.0.0.1:1/annex_app" }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(DatabaseError);
    expect(refused).toMatchObject({ code: "E_DATABASE_UNREACHABLE", details: { field: "database", code: "ECONNREFUSED", where: "127.0.0.1:1/annex_app" } });
    expect((refused as Error).message).toContain("check that PostgreSQL runs there");
    expect(JSON.stringify({ message: (refused as Error).message, details: (refused as DatabaseError).details })).not.toContain("s3cret-pw");
    const url = process.env["ANNEX_TEST_DATABASE_URL"];
    if (url !== undefined && url !== "") {
      // A server that answers, and a database that does not exist there.
      const missing = new URL(url);
      missing.pathname = "/annex_no_such_database";
      await expect(createHost({ database: missing.toString() })).rejects.toMatchObject({ code: "E_DATABASE_UNREACHABLE", details: { code: "3D000" } });
    }
  });

  it("refuses a connection string that is not postgres://", async () => {
    const error = await openDatabase("mysql://localhost/db").catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DatabaseError);
    expect(error).toMatchObject({ code: "E_DATABASE_CONFIG" });
    expect((error as Error).message).toContain("postgres://");
  });

  it("refuses a schema name that is not a plain identifier", async () => {
    for (const schema of ['bad"name', "Upper", "pg_catalog", "a; DROP TABLE x", ""]) {
      await expect(openDatabase("postgres://localhost/x", { schema })).rejects.toMatchObject({ code: "E_DATABASE_SCHEMA" });
    }
  });

  it("refuses a pool size that is not a whole number of connections, and createHost passes it on", async () => {
    for (const poolSize of [0, -1, 1.5, 1001, Number.NaN, "10"]) {
      await expect(openDatabase("postgres://localhost/x", { poolSize: poolSize as number }), String(poolSize)).rejects.toMatchObject({ code: "E_DATABASE_CONFIG", details: { field: "poolSize" } });
    }
    await expect(createHost({ database: "postgres://localhost/x", poolSize: 0 })).rejects.toMatchObject({ code: "E_DATABASE_CONFIG", details: { field: "poolSize" } });
  });

  it("refuses something that is neither a connection nor options", async () => {
    await expect(openDatabase({ dataDir: "" } as never)).rejects.toMatchObject({ code: "E_DATABASE_CONFIG" });
    await expect(openDatabase(42 as never)).rejects.toMatchObject({ code: "E_DATABASE_CONFIG" });
  });
});
