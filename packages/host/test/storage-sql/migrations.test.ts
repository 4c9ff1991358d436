import { sql, type Kysely } from "kysely";
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from "vitest";
import { describeBackends } from "../support/backends.js";
import { FIRST_MIGRATION, runSql, sqlBundle } from "./support.js";
import { createTestHost, type TestHost } from "../../src/testing/index.js";
import { installSchemaName, openDatabase, SqlStorageError, type AnnexDatabase } from "../../src/index.js";

const ADD_TAGS = "CREATE TABLE tags (item_id text NOT NULL REFERENCES items (id), tag text NOT NULL, PRIMARY KEY (item_id, tag));";
const ADD_COLOR = "ALTER TABLE items ADD COLUMN color text NOT NULL DEFAULT 'green';";

describeBackends("owned schema migrations", (backend) => {
  let t: TestHost;
  let admin: AnnexDatabase;
  const EXT = "acme.notes";

  const schemaExists = async (schema: string) =>
    (await sql<{ n: number }>`SELECT 1 AS n FROM pg_namespace WHERE nspname = ${schema}`.execute(admin.root)).rows.length === 1;
  const tableExists = async (schema: string, table: string) =>
    (await sql<{ n: number }>`SELECT 1 AS n FROM information_schema.tables WHERE table_schema = ${schema} AND table_name = ${table}`.execute(admin.root)).rows.length === 1;
  // Published versions are immutable: each test publishes its own majors (round 3's "1.1.0" is 31.1.0).
  let round = 0;
  const v = (version: string, migrations: Record<string, string>) => sqlBundle(migrations, { version: version.replace(/^(\d+)/, (major) => `${round}${major}`) });

  beforeAll(async () => {
    t = await createTestHost({ database: await backend.connect(), schema: backend.freshSchema("annex_sqlmig") });
    admin = await openDatabase(await backend.connect());
  });
  beforeEach(() => {
    round += 1;
  });
  afterEach(async () => {
    if ((await t.host.getInstall("test-tenant", EXT)) !== null) await t.host.uninstall("test-tenant", EXT, { purge: true });
  });
  afterAll(async () => {
    await t.close();
  });

  it("creates the install's schema at install, named ext_<slug>_<short id>, and runs the migrations in order with a ledger", async () => {
    const install = await t.install(await v("1.0.0", { "0002_tags.sql": ADD_TAGS, "0001_items.sql": FIRST_MIGRATION, "0010_color.sql": ADD_COLOR }));
    const schema = installSchemaName(EXT, install.id);
    expect(schema).toMatch(/^ext_acme_notes_[0-9a-f]{12}$/);
    expect(await schemaExists(schema)).toBe(true);
    expect(install.sql).toMatchObject({ schema, version: "0010", status: "ready", lastError: null });
    expect(install.sql!.migrations.map((entry) => entry.name)).toEqual(["0001_items.sql", "0002_tags.sql", "0010_color.sql"]);
    for (const entry of install.sql!.migrations) {
      expect(entry.checksum).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(entry.durationMs).toBeGreaterThanOrEqual(0);
      expect(entry.appliedAt).toBeInstanceOf(Date);
    }
    expect((await runSql(t, "SELECT id, color FROM items ORDER BY id")).rows).toEqual([{ id: "a", color: "green" }, { id: "b", color: "green" }]);
    // The listing shows it too.
    const [listed] = await t.host.listInstalls("test-tenant");
    expect(listed!.sql).toMatchObject({ schema, version: "0010", status: "ready" });
  });

  it("keeps schema names within PostgreSQL's 63 bytes for long extension ids", () => {
    const name = installSchemaName(`${"p".repeat(60)}.${"n".repeat(60)}`, "0d9e6a58-4f7b-4c39-9a8e-1b2c3d4e5f60");
    expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63);
    expect(name).toMatch(/^ext_p+_0d9e6a584f7b$/);
  });

  it("upgrades by running only the new migrations, keeping the data", async () => {
    const install = await t.install(await v("1.0.0", { "0001_items.sql": FIRST_MIGRATION }));
    await runSql(t, "INSERT INTO items (id, name) VALUES ('c', 'cherry')");
    const first = install.sql!.migrations[0]!;
    const upgraded = await t.upgrade(await v("1.1.0", { "0001_items.sql": FIRST_MIGRATION, "0002_tags.sql": ADD_TAGS }));
    expect(upgraded.version).toBe(`${round}1.1.0`);
    const status = (await t.sql(install.id).status())!;
    expect(status.version).toBe("0002");
    expect(status.migrations).toHaveLength(2);
    // 0001 did not run again: same ledger row, and the seed rows were not inserted twice.
    expect(status.migrations[0]).toEqual(first);
    expect((await t.sql(install.id).query("SELECT id FROM items ORDER BY id")).rows).toEqual([{ id: "a" }, { id: "b" }, { id: "c" }]);
    expect((await runSql(t, "INSERT INTO tags (item_id, tag) VALUES ('c', 'red') RETURNING tag")).rows).toEqual([{ tag: "red" }]);
  });

  it("answers repeated statements with the table's new shape after an upgrade changes it", async () => {
    // On PGlite they are prepared statements by then, planned for the old columns.
    await t.install(await v("1.0.0", { "0001_items.sql": FIRST_MIGRATION }));
    const all = "SELECT * FROM items WHERE id = $1";
    const insert = "INSERT INTO items (id, name, n) VALUES ($1, $2, $3) RETURNING n";
    for (let i = 0; i < 3; i++) {
      expect((await runSql(t, all, ["a"])).rows).toEqual([{ id: "a", name: "apple", n: 1 }]);
      expect((await runSql(t, insert, [`old${i}`, "old", String(i)])).rows).toEqual([{ n: i }]);
    }
    await t.upgrade(await v("1.1.0", { "0001_items.sql": FIRST_MIGRATION, "0002_reshape.sql": `${ADD_COLOR}\nALTER TABLE items ALTER COLUMN n TYPE text USING n::text;` }));
    for (let i = 0; i < 3; i++) {
      expect((await runSql(t, all, ["a"])).rows).toEqual([{ id: "a", name: "apple", n: "1", color: "green" }]);
      expect(await runSql(t, insert, [`new${i}`, "new", `many ${i}`])).toEqual({ ok: true, rows: [{ n: `many ${i}` }], rowCount: 1 });
    }
    // Each write ran once.
    expect((await runSql(t, "SELECT count(*)::int AS rows FROM items")).rows).toEqual([{ rows: 8 }]);
  });

  it("reads a repeated statement's parameters as the upgraded column's type, even where the old type would still parse them", async () => {
    // A parameter typed `timestamp` when prepared reads '…+02:00' without its offset: no error would say that the
    // column is `timestamptz` now, so an install's prepared statements must not outlive its migration.
    const created = "CREATE TABLE events (id integer PRIMARY KEY, at timestamp NOT NULL);";
    await t.install(await v("1.0.0", { "0001_items.sql": FIRST_MIGRATION, "0002_events.sql": created }));
    const insert = "INSERT INTO events (id, at) VALUES ($1, $2)";
    for (let id = 1; id <= 3; id++) expect((await runSql(t, insert, [id, "2026-01-01T10:00:00"])).ok).toBe(true);
    await t.upgrade(
      await v("1.1.0", { "0001_items.sql": FIRST_MIGRATION, "0002_events.sql": created, "0003_zoned.sql": "ALTER TABLE events ALTER COLUMN at TYPE timestamptz USING at AT TIME ZONE 'UTC';" }),
    );
    for (let id = 4; id <= 6; id++) expect((await runSql(t, insert, [id, "2026-01-01T10:00:00+02:00"])).ok).toBe(true);
    const check = await runSql(t, "SELECT id, at = '2026-01-01T08:00:00Z'::timestamptz AS eight_utc FROM events WHERE id > 3 ORDER BY id");
    expect(check.rows).toEqual([4, 5, 6].map((id) => ({ id, eight_utc: true })));
  });

  it("refuses an applied migration whose file changed, and leaves the old version serving", async () => {
    const install = await t.install(await v("1.0.0", { "0001_items.sql": FIRST_MIGRATION }));
    const edited = FIRST_MIGRATION.replace("'apple'", "'apricot'");
    const error = await t.upgrade(await v("1.1.0", { "0001_items.sql": edited, "0002_tags.sql": ADD_TAGS })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SqlStorageError);
    expect((error as SqlStorageError).code).toBe("E_SQL_MIGRATION_CHECKSUM");
    expect((error as SqlStorageError).message).toMatch(/0001_items\.sql changed since it was applied/);
    const after = (await t.host.getInstall("test-tenant", EXT))!;
    expect(after).toMatchObject({ version: `${round}1.0.0`, state: "active" });
    expect(after.sql).toMatchObject({ version: "0001", status: "failed", lastError: { code: "E_SQL_MIGRATION_CHECKSUM" } });
    expect(await tableExists(after.sql!.schema, "tags")).toBe(false);
    expect((await runSql(t, "SELECT name FROM items WHERE id = 'a'")).rows).toEqual([{ name: "apple" }]);
    expect(install.id).toBe(after.id);
  });

  it("refuses a bundle that dropped an applied migration", async () => {
    await t.install(await v("1.0.0", { "0001_items.sql": FIRST_MIGRATION, "0002_tags.sql": ADD_TAGS }));
    const error = await t.upgrade(await v("1.1.0", { "0001_items.sql": FIRST_MIGRATION })).catch((e: unknown) => e);
    expect((error as SqlStorageError).code).toBe("E_SQL_MIGRATION_CHECKSUM");
    expect((await t.host.getInstall("test-tenant", EXT))!.version).toBe(`${round}1.0.0`);
  });

  it("rolls a failing migration back alone; the install stays on its previous version, serving", async () => {
    const install = await t.install(await v("1.0.0", { "0001_items.sql": FIRST_MIGRATION }));
    const failing = "CREATE TABLE half (a int);\nINSERT INTO half VALUES (1);\nINSERT INTO items (id, name) VALUES ('a', 'duplicate key');";
    const error = await t.upgrade(await v("1.1.0", { "0001_items.sql": FIRST_MIGRATION, "0002_tags.sql": ADD_TAGS, "0003_half.sql": failing })).catch((e: unknown) => e);
    expect((error as SqlStorageError).code).toBe("E_SQL_MIGRATION_FAILED");
    expect((error as SqlStorageError).message).toMatch(/0003_half\.sql failed and was rolled back/);
    const after = (await t.host.getInstall("test-tenant", EXT))!;
    expect(after).toMatchObject({ version: `${round}1.0.0`, state: "active", lastError: { code: "E_SQL_MIGRATION_FAILED" } });
    // 0002 ran in its own transaction and stays; 0003 left nothing behind.
    expect(after.sql).toMatchObject({ version: "0002", status: "failed" });
    expect(await tableExists(after.sql!.schema, "tags")).toBe(true);
    expect(await tableExists(after.sql!.schema, "half")).toBe(false);
    expect((await runSql(t, "SELECT count(*)::int AS n FROM items")).rows).toEqual([{ n: 2 }]);
    // A fixed release picks up from there.
    const fixed = await t.upgrade(await v("1.2.0", { "0001_items.sql": FIRST_MIGRATION, "0002_tags.sql": ADD_TAGS, "0003_half.sql": "CREATE TABLE half (a int);" }));
    expect(fixed.version).toBe(`${round}1.2.0`);
    expect((await t.sql(install.id).status())).toMatchObject({ version: "0003", status: "ready", lastError: null });
  });

  it("names the failing statement, and on PGlite refuses one the planner expects to run too long before it runs; the install stays as it was", async () => {
    const install = await t.install(await v("1.0.0", { "0001_items.sql": FIRST_MIGRATION }));
    // 400 rows, then a three-way join of them: 64 million rows. PGlite cannot stop it (nor honour migrationTimeoutMs): it froze the host 4.9 s.
    const rows = Array.from({ length: 400 }, (_, i) => `(${i})`).join(", ");
    const heavy = `CREATE TABLE a (x int);\nINSERT INTO a VALUES ${rows};\nSELECT count(*) FROM a a1, a a2, a a3 WHERE a1.x + a2.x + a3.x < 0;`;
    const failing = backend.name === "pglite" ? heavy : "CREATE TABLE a (x int);\nINSERT INTO a VALUES (1);\nINSERT INTO items (id, name) VALUES ('a', 'duplicate key');";
    const error = await t.upgrade(await v("1.1.0", { "0001_items.sql": FIRST_MIGRATION, "0002_heavy.sql": failing })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SqlStorageError);
    expect((error as SqlStorageError).code).toBe("E_SQL_MIGRATION_FAILED");
    expect((error as SqlStorageError).message).toMatch(/0002_heavy\.sql failed and was rolled back: statement 3 \((SELECT count|INSERT INTO items)/);
    expect((error as SqlStorageError).details).toMatchObject({ version: "0002", statement: 3, cause: backend.name === "pglite" ? "E_SQL_TIMEOUT" : "E_SQL_FAILED" });
    if (backend.name === "pglite") expect((error as SqlStorageError).message).toMatch(/estimated cost/);
    const after = (await t.host.getInstall("test-tenant", EXT))!;
    expect(after).toMatchObject({ version: `${round}1.0.0`, state: "active" });
    expect(after.sql).toMatchObject({ version: "0001", status: "failed" });
    expect(await tableExists(after.sql!.schema, "a")).toBe(false);
    expect((await runSql(t, "SELECT count(*)::int AS n FROM items")).rows).toEqual([{ n: 2 }]);
    // Plain DDL, and a backfill the planner bounds, still run.
    const backfill = `CREATE TABLE a (x int);\nCREATE INDEX a_x ON a (x);\nINSERT INTO a VALUES ${rows};\nUPDATE items SET n = n + (SELECT count(*) FROM a WHERE x < 10);\nDELETE FROM a WHERE x >= 200;`;
    await t.upgrade(await v("1.2.0", { "0001_items.sql": FIRST_MIGRATION, "0002_heavy.sql": backfill }));
    expect(await t.sql(install.id).status()).toMatchObject({ version: "0002", status: "ready", lastError: null });
    expect((await runSql(t, "SELECT (SELECT count(*)::int FROM a) AS a, (SELECT sum(n)::int FROM items) AS n")).rows).toEqual([{ a: 200, n: 23 }]);
  });

  it("fails an install whose first migration fails, with nothing of it left in the schema", async () => {
    const error = await t.install(await v("1.0.0", { "0001_items.sql": "CREATE TABLE items (id text);\nINSERT INTO missing VALUES (1);" })).catch((e: unknown) => e);
    expect((error as SqlStorageError).code).toBe("E_SQL_MIGRATION_FAILED");
    const after = (await t.host.getInstall("test-tenant", EXT))!;
    expect(after.state).toBe("failed");
    expect(after.sql).toMatchObject({ version: null, status: "failed" });
    expect(await tableExists(after.sql!.schema, "items")).toBe(false);
  });

  it("refuses a migration holding a statement outside the allowlist before running any", async () => {
    const error = await t
      .install(await v("1.0.0", { "0001_items.sql": FIRST_MIGRATION, "0002_evil.sql": "CREATE TABLE ok (a int);\nDO $$ BEGIN EXECUTE 'RESET ROLE'; END $$;" }))
      .catch((e: unknown) => e);
    expect((error as SqlStorageError).code).toBe("E_SQL_MIGRATION_INVALID");
    expect((error as SqlStorageError).message).toMatch(/migrations\/0002_evil\.sql: DO/);
    const after = (await t.host.getInstall("test-tenant", EXT))!;
    expect(after.state).toBe("failed");
    expect(await tableExists(after.sql!.schema, "items")).toBe(false);
  });

  it("refuses a view that reads another view, and a statement nested past the bound; the install stays as it was", async () => {
    await t.install(await v("1.0.0", { "0001_items.sql": FIRST_MIGRATION }));
    // Three such views of 120 nested + each broke PGlite's planner on a SELECT of the last: the folds add up.
    const chained = "CREATE VIEW totals AS SELECT id, n + 1 AS n FROM items;\nCREATE VIEW totals2 AS SELECT id, n + 1 AS n FROM totals;\n";
    const error = await t.upgrade(await v("1.1.0", { "0001_items.sql": FIRST_MIGRATION, "0002_views.sql": chained })).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "E_SQL_MIGRATION_FAILED", details: { statement: 2, cause: "E_SQL_REFUSED" } });
    expect((error as SqlStorageError).message).toMatch(/view totals2 reads view totals: a view may read tables only/);
    const after = (await t.host.getInstall("test-tenant", EXT))!;
    expect(after.state).toBe("active");
    expect(await tableExists(after.sql!.schema, "totals")).toBe(false);
    // A view over tables is fine; so is a query joining two of them.
    await t.upgrade(await v("1.2.0", { "0001_items.sql": FIRST_MIGRATION, "0002_views.sql": "CREATE VIEW plus AS SELECT id, n + 1 AS n FROM items;\nCREATE VIEW minus AS SELECT id, n - 1 AS n FROM items;\n" }));
    expect((await t.sql(after.id).query("SELECT p.n AS p, m.n AS m FROM plus p JOIN minus m USING (id) WHERE id = 'a'")).rows).toEqual([{ p: 2, m: 0 }]);
    const deep = `CREATE VIEW deep AS SELECT ${Array(200).fill("n").join(" + ")} AS n FROM items;\n`;
    const refusedDeep = await t.upgrade(await v("1.3.0", { "0001_items.sql": FIRST_MIGRATION, "0002_views.sql": "CREATE VIEW plus AS SELECT id, n + 1 AS n FROM items;\nCREATE VIEW minus AS SELECT id, n - 1 AS n FROM items;\n", "0003_deep.sql": deep })).catch((e: unknown) => e);
    expect(refusedDeep).toMatchObject({ code: "E_SQL_MIGRATION_INVALID", details: { file: "migrations/0003_deep.sql", reason: "E_SQL_REFUSED" } });
    expect((refusedDeep as SqlStorageError).message).toMatch(/nests \d+ levels deep/);
  });

  it("refuses row types nested more than 3 deep (a json record reader would build them in one step, printed 2ⁿ times its size)", async () => {
    const types = (levels: number) =>
      Array.from({ length: levels }, (_, i) => (i === 0 ? "CREATE TYPE t0 AS (v text);" : `CREATE TYPE t${i} AS (v t${i - 1}[]);`)).join("\n") + "\n";
    const error = await t.install(await v("1.0.0", { "0001_items.sql": FIRST_MIGRATION, "0002_types.sql": types(4) })).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "E_SQL_MIGRATION_FAILED", details: { cause: "E_SQL_REFUSED" } });
    expect((error as SqlStorageError).message).toMatch(/t3 nests row types more than 3 deep/);
    const after = (await t.host.getInstall("test-tenant", EXT))!;
    expect(after.state).toBe("failed");
    // Three levels, a table with a column of such a type included, install and read.
    await t.host.uninstall("test-tenant", EXT, { purge: true });
    const ok = await t.install(await v("2.0.0", { "0001_items.sql": FIRST_MIGRATION, "0002_types.sql": `${types(2)}CREATE TABLE boxes (id text PRIMARY KEY, b t1);\n` }));
    await t.sql(ok.id).query("INSERT INTO boxes (id, b) SELECT 'x', x.b FROM jsonb_to_record($1::jsonb) AS x(b t1)", [JSON.stringify({ b: { v: [{ v: "in" }] } })]);
    expect((await t.sql(ok.id).query("SELECT (((b).v)[1]).v AS v FROM boxes")).rows).toEqual([{ v: "in" }]);
  });

  it("names the line and column of a syntax error in a migration file", async () => {
    const error = await t
      .install(await v("1.0.0", { "0001_items.sql": "-- the items\nCREATE TABLE items (\n  id text PRIMARY KEY,\n  name text NOT NULL,\n);\n" }))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "E_SQL_MIGRATION_INVALID", details: { file: "migrations/0001_items.sql", line: 5, column: 1, reason: "E_SQL_SYNTAX" } });
    expect((error as SqlStorageError).message).toMatch(/^migrations\/0001_items\.sql:5:1: SQL syntax error: syntax error at or near "\)"/);
    await t.host.uninstall("test-tenant", EXT, { purge: true });
  });

  it("refuses migrations that reach outside the schema or change identity", async () => {
    for (const [file, text] of [
      ["0001_other.sql", "CREATE TABLE public.stolen (a int);"],
      ["0001_role.sql", "SET ROLE postgres;"],
      ["0001_func.sql", "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$;"],
      ["0001_grant.sql", "CREATE TABLE a (x int); GRANT ALL ON a TO PUBLIC;"],
      ["0001_owner.sql", "CREATE TABLE a (x int); ALTER TABLE a OWNER TO postgres;"],
    ] as const) {
      round += 1;
      const error = await t.install(await v("1.0.0", { [file]: text })).catch((e: unknown) => e);
      expect((error as SqlStorageError).code, file).toBe("E_SQL_MIGRATION_INVALID");
      await t.host.uninstall("test-tenant", EXT, { purge: true });
    }
  });

  it("refuses migrations that change PostgreSQL's own objects, which search_path reaches by plain names, and leaves them as they were", async () => {
    // On PGlite migrations run as a superuser: the guard and the type look-up are all that stand in the way.
    for (const [file, text, code] of [
      ["0002_rename.sql", "ALTER TYPE int4 RENAME TO int4_gone;", "E_SQL_MIGRATION_FAILED"],
      ["0002_comment.sql", "COMMENT ON TYPE int8 IS 'mine';", "E_SQL_MIGRATION_FAILED"],
      ["0002_drop.sql", "DROP VIEW pg_roles CASCADE;", "E_SQL_MIGRATION_INVALID"],
      ["0002_sequence.sql", "CREATE TABLE annex_audit (id bigint GENERATED BY DEFAULT AS IDENTITY (SEQUENCE NAME public.planted));", "E_SQL_MIGRATION_INVALID"],
    ] as const) {
      round += 1;
      const error = await t.install(await v("1.0.0", { "0001_items.sql": FIRST_MIGRATION, [file]: text })).catch((e: unknown) => e);
      expect((error as SqlStorageError).code, file).toBe(code);
      if (code === "E_SQL_MIGRATION_FAILED") expect((error as SqlStorageError).message).toMatch(/is pg_catalog\.int[48], not one of the extension's own/);
      await t.host.uninstall("test-tenant", EXT, { purge: true });
    }
    const catalog = await sql<{ typname: string; roles: number }>`SELECT (SELECT typname FROM pg_type WHERE oid = 23) AS typname, (SELECT count(*)::int FROM pg_views WHERE viewname = 'pg_roles') AS roles`.execute(admin.root);
    expect(catalog.rows).toEqual([{ typname: "int4", roles: 1 }]);
    // Its own types it may still change by their plain names.
    round += 1;
    const own = "CREATE TYPE mood AS ENUM ('ok');\nALTER TYPE mood ADD VALUE 'great';\nCOMMENT ON TYPE mood IS 'how it went';\nALTER TYPE mood RENAME TO feeling;";
    const install = await t.install(await v("1.0.0", { "0001_items.sql": FIRST_MIGRATION, "0002_own.sql": own }));
    expect(await t.sql(install.id).status()).toMatchObject({ version: "0002", status: "ready" });
  });

  it("refuses misnamed migration files", async () => {
    const error = await t.install(await v("1.0.0", { "1_items.sql": FIRST_MIGRATION })).catch((e: unknown) => e);
    expect((error as SqlStorageError).code).toBe("E_SQL_MIGRATION_INVALID");
    expect((error as SqlStorageError).message).toMatch(/NNNN_name\.sql/);
  });

  it("keeps the schema on uninstall without purge, and a reinstall finds its data", async () => {
    const install = await t.install(await v("1.0.0", { "0001_items.sql": FIRST_MIGRATION }));
    await runSql(t, "INSERT INTO items (id, name) VALUES ('kept', 'kept')");
    await t.uninstall(EXT);
    expect(await schemaExists(install.sql!.schema)).toBe(true);
    const again = await t.install(await v("1.0.0", { "0001_items.sql": FIRST_MIGRATION }));
    expect(again.id).toBe(install.id);
    expect((await runSql(t, "SELECT name FROM items WHERE id = 'kept'")).rows).toEqual([{ name: "kept" }]);
  });

  it("drops the schema on uninstall with purge, after exporting its tables", async () => {
    const install = await t.install(await v("1.0.0", { "0001_items.sql": FIRST_MIGRATION }));
    const schema = install.sql!.schema;
    const result = await t.uninstall(EXT, { purge: true });
    expect(result.purged).toBe(true);
    expect(result.export!.data["sql"]).toMatchObject({ schema, version: "0001", tables: { items: [{ id: "a", name: "apple", n: 1 }, { id: "b", name: "banana", n: 2 }] } });
    expect(await schemaExists(schema)).toBe(false);
    if (backend.name === "postgres") {
      const roles = await sql<{ n: number }>`SELECT 1 AS n FROM pg_roles WHERE rolname = ${schema}`.execute(admin.root);
      expect(roles.rows).toHaveLength(0);
    }
  });
});
