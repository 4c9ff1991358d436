import { randomBytes } from "node:crypto";
import { sql, type Kysely } from "kysely";
import { afterAll, beforeAll, expect, it, vi } from "vitest";
import { createHost } from "../../src/index.js";
import { createTestHost, type TestHost } from "../../src/testing/index.js";
import type { InstallInfo } from "../../src/index.js";
import { createSqlStorage, type SqlStorage } from "../../src/storage/sql/sql-storage.js";
import { schemaBytes } from "../../src/storage/sql/quota.js";
import { describeBackends, describePostgres } from "../support/backends.js";
import { FIRST_MIGRATION, runSql, sqlBundle } from "./support.js";
import type { SqlStorageError } from "../../src/storage/sql/errors.js";

const MiB = 1024 * 1024;
/** 40,000 hex characters of random bytes: TOASTed, and not compressible by pglz. */
const blob = () => randomBytes(20_000).toString("hex");
const INSERT = "INSERT INTO items (id, name) VALUES ($1, $2)";
const error = (promise: Promise<unknown>) => promise.then(() => undefined, (caught: unknown) => caught as { code: string; message: string; details: Record<string, unknown> });

/**
 * The quota of an install's owned schema (`maxSchemaBytes`, quota.ts): writes
 * that can grow it are refused at or over it, the one that crosses it near
 * it is rolled back, reads, DELETE and TRUNCATE go on and bring it back
 * under; another install is not affected.
 */
describeBackends("owned schema quota", (backend) => {
  let t: TestHost;
  let own: InstallInfo;
  let other: InstallInfo;
  /** A second storage over the test host's database: 1 MiB quota, measured after every write (no 1 s interval). */
  let storage: SqlStorage;

  const count = async (id = own.id) => (await storage.query(id, "SELECT count(*)::int AS n FROM items")).rows[0]!["n"] as number;

  /** Inserts 40 kB rows until a write is refused; answers the error and the row count just before it. */
  async function fill(prefix: string): Promise<{ refused: { code: string; message: string; details: Record<string, unknown> }; before: number; inserted: number }> {
    for (let i = 0; i < 200; i++) {
      const before = await count();
      const refused = await error(storage.query(own.id, INSERT, [`${prefix}${i}`, blob()]));
      if (refused !== undefined) return { refused, before, inserted: i };
    }
    throw new Error("never refused");
  }

  beforeAll(async () => {
    t = await createTestHost({ database: await backend.connect(), schema: backend.freshSchema("annex_sqlquota"), sql: { limits: { maxSchemaBytes: MiB } } });
    own = await t.install(await sqlBundle());
    other = await t.install(await sqlBundle(), { tenant: "tenant-b" });
    storage = createSqlStorage({ database: t.host.database, limits: { maxSchemaBytes: MiB }, quotaIntervalMs: 0 });
  });
  afterAll(async () => {
    for (const tenant of ["test-tenant", "tenant-b"]) {
      for (const id of ["acme.notes", "acme.big"]) if ((await t.host.getInstall(tenant, id)) !== null) await t.host.uninstall(tenant, id, { purge: true });
    }
    await t.close();
  });

  it("measures a schema's tables with their indexes and TOAST, once each", async () => {
    const schema = (await t.sql(own.id).status())!.schema;
    await storage.query(own.id, INSERT, ["m1", blob()]);
    const db = t.host.database.root as Kysely<any>;
    const parts = await sql<{ heap: number; indexes: number; toast: number }>`SELECT
        sum(pg_table_size(c.oid) - coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0))::float8 AS heap,
        sum(pg_indexes_size(c.oid))::float8 AS indexes,
        sum(coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0))::float8 AS toast
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ${schema} AND c.relkind = 'r'`.execute(db);
    const { heap, indexes, toast } = parts.rows[0]!;
    expect(toast).toBeGreaterThan(40_000);
    expect(indexes).toBeGreaterThan(0);
    expect(await schemaBytes(db, schema)).toBe(heap + indexes + toast);
    await storage.query(own.id, "DELETE FROM items WHERE id = 'm1'");
  });

  it("refuses writes at the quota, rolls back the one that crossed it, keeps reads, DELETE and TRUNCATE; another install writes on", async () => {
    const { refused, before } = await fill("q");
    // The last measurement was at or above 75 %: the write that took the schema past 1 MiB ran measured, and rolled back.
    expect(refused.code).toBe("E_SQL_QUOTA");
    expect(refused.details).toMatchObject({ maxSchemaBytes: MiB, rolledBack: true });
    expect(refused.message).toMatch(/past its quota of 1\.00 MiB, and was rolled back/);
    expect(await count()).toBe(before);
    // Now over: refused before it runs, with what to do.
    const upFront = await error(storage.query(own.id, INSERT, ["q-late", "small"]));
    expect(upFront).toMatchObject({ code: "E_SQL_QUOTA", details: { maxSchemaBytes: MiB } });
    expect(upFront!.details["rolledBack"]).toBeUndefined();
    expect(upFront!.message).toMatch(/at or over its quota of 1\.00 MiB.*TRUNCATE.*DELETE/);
    expect(await error(storage.query(own.id, "UPDATE items SET n = n + 1 WHERE id = 'a'"))).toMatchObject({ code: "E_SQL_QUOTA" });
    expect(await error(storage.query(own.id, "WITH moved AS (INSERT INTO items (id, name) VALUES ('w', 'x') RETURNING id) DELETE FROM items WHERE id IN (SELECT id FROM moved)"))).toMatchObject({ code: "E_SQL_QUOTA" });
    // Reads go on; the listing shows the size and the quota.
    expect((await storage.query(own.id, "SELECT name FROM items WHERE id = 'a'")).rows).toEqual([{ name: "apple" }]);
    expect(await storage.status(own.id)).toMatchObject({ maxBytes: MiB, bytes: expect.any(Number) });
    expect((await storage.status(own.id))!.bytes).toBeGreaterThanOrEqual(MiB);
    // Another install has a quota of its own.
    await storage.query(other.id, INSERT, ["o1", blob()]);
    expect(await count(other.id)).toBe(3);
    // DELETE of the rows at the table's end: the host's VACUUM gives their pages back, and writes run again.
    const deleted = await storage.query(own.id, "DELETE FROM items WHERE id LIKE 'q%'");
    expect(deleted.rowCount).toBe(before - 2);
    expect((await storage.status(own.id))!.bytes).toBeLessThan(0.75 * MiB);
    await storage.query(own.id, INSERT, ["after-delete", blob()]);
    // Fill again, and TRUNCATE instead.
    const again = await fill("r");
    expect(again.refused.code).toBe("E_SQL_QUOTA");
    await storage.query(own.id, "TRUNCATE items");
    expect((await storage.status(own.id))!.bytes).toBeLessThan(0.25 * MiB);
    await storage.query(own.id, "INSERT INTO items (id, name, n) VALUES ('a', 'apple', 1), ('b', 'banana', 2)");
    expect(await count()).toBe(2);
  }, 120_000);

  it("tells the extension's handler E_SQL_QUOTA through createHost's gateway (1 s measurement interval), and lets it write again after DELETE", async () => {
    let refused: { code?: string; message?: string } | undefined;
    let i = 0;
    for (; i < 400 && refused === undefined; i++) {
      const result = await runSql(t, INSERT, [`g${i}`, blob()]);
      if (!result.ok) refused = result;
      // Below 75 % the host measures at most once a second: the loop has to outlast an interval.
      else await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(refused).toMatchObject({ code: "E_SQL_QUOTA" });
    const rows = (await runSql(t, "SELECT count(*)::int AS n FROM items")).rows![0]!["n"] as number;
    expect(await runSql(t, INSERT, ["g-late", "small"])).toMatchObject({ ok: false, code: "E_SQL_QUOTA" });
    expect((await runSql(t, "SELECT count(*)::int AS n FROM items")).rows![0]!["n"]).toBe(rows);
    // Another tenant's install of the same extension writes on.
    expect(await runSql(t, INSERT, ["g-b", "small"], "tenant-b")).toMatchObject({ ok: true });
    expect(await runSql(t, "DELETE FROM items WHERE id LIKE 'g%'")).toMatchObject({ ok: true });
    // The DELETE's VACUUM gives the pages back once no transaction of the cluster still sees the rows: on a
    // PostgreSQL shared with other suites (CI runs two test files at once), one of theirs can hold that back for a
    // while; each refused write runs the VACUUM due again (at most once per measurement interval).
    await vi.waitFor(async () => expect(await runSql(t, INSERT, ["g-again", "small"])).toMatchObject({ ok: true, rowCount: 1 }), { timeout: 30_000, interval: 500 });
    const listed = (await t.host.listInstalls("test-tenant")).find((install) => install.extensionId === "acme.notes")!;
    expect(listed.sql).toMatchObject({ maxBytes: MiB, bytes: expect.any(Number) });
    await runSql(t, "DELETE FROM items WHERE id LIKE 'g%'");
  }, 120_000);

  it("lets a migration leave the schema over its quota (the admin consented), then refuses the install's growing writes", async () => {
    // 30 rows of 40 kB (no generate_series: PGlite's migrations refuse it), about 1.2 MiB with TOAST.
    const rows = Array.from({ length: 30 }, (_, i) => `(${i + 1}, '${blob()}')`).join(",\n");
    const migration = `CREATE TABLE big (id integer PRIMARY KEY, body text NOT NULL);\nINSERT INTO big VALUES\n${rows};\n`;
    const install = await t.install(await sqlBundle({ "0001_big.sql": migration }, { id: "acme.big" }));
    expect(install.sql).toMatchObject({ status: "ready", maxBytes: MiB });
    expect(install.sql!.bytes).toBeGreaterThan(MiB);
    expect(await runSql(t, "INSERT INTO big VALUES (0, 'x')", [], undefined, "acme.big")).toMatchObject({ ok: false, code: "E_SQL_QUOTA" });
    expect(await runSql(t, "SELECT count(*)::int AS n FROM big", [], undefined, "acme.big")).toMatchObject({ ok: true, rows: [{ n: 30 }] });
    expect(await runSql(t, "TRUNCATE big", [], undefined, "acme.big")).toMatchObject({ ok: true });
    expect(await runSql(t, "INSERT INTO big VALUES (0, 'x')", [], undefined, "acme.big")).toMatchObject({ ok: true, rowCount: 1 });
  }, 60_000);

  it("refuses maxSchemaBytes and maxConcurrentTotal outside their ranges, in createSqlStorage and createHost", async () => {
    for (const limits of [{ maxSchemaBytes: 0 }, { maxSchemaBytes: 1.5 * MiB + 0.5 }, { maxSchemaBytes: "1MiB" }, { maxConcurrentTotal: 0 }, { maxConcurrentTotal: 2.5 }, { maxConcurrentTotal: 1001 }]) {
      const name = Object.keys(limits)[0];
      expect(() => createSqlStorage({ database: t.host.database, limits: limits as never })).toThrow(expect.objectContaining({ code: "E_SQL_OPTIONS", details: { field: `sql.limits.${name}` } }));
    }
    if (backend.name === "postgres") {
      await expect(createHost({ database: await backend.connect(), schema: backend.freshSchema("annex_sqlquota_bad"), sql: { limits: { maxConcurrentTotal: -1 } } })).rejects.toMatchObject({
        code: "E_SQL_OPTIONS",
        message: expect.stringMatching(/maxConcurrentTotal must be a whole number from 1 to 1000/),
      });
    }
  });
});

/**
 * What failed statements leave behind (quota.ts): PostgreSQL keeps the pages
 * of a rolled-back statement's rows, so a failure is measured too, and past
 * the quota the host's VACUUM gives them back. Repeated failures stay within
 * the quota plus about one statement's writes, not one more per attempt.
 * And the relations a migration may leave (`maxSchemaRelations`).
 */
describeBackends("owned schema quota after failed statements", (backend) => {
  let t: TestHost;
  let own: InstallInfo;
  const FK = `CREATE TABLE parent (id int PRIMARY KEY);
CREATE TABLE child (id int PRIMARY KEY, pid int NOT NULL DEFAULT 0 REFERENCES parent (id) ON DELETE SET DEFAULT, pad text NOT NULL);
INSERT INTO parent (id) VALUES (1);`;
  const code = (promise: Promise<unknown>) => promise.then(() => "ok", (caught: { code: string }) => caught.code);

  beforeAll(async () => {
    t = await createTestHost({ database: await backend.connect(), schema: backend.freshSchema("annex_sqlquotafail"), sql: { limits: { maxSchemaRelations: 13 } } });
    own = await t.install(await sqlBundle({ "0001_items.sql": FIRST_MIGRATION, "0002_fk.sql": FK }));
  });
  afterAll(async () => {
    if ((await t.host.getInstall("test-tenant", "acme.notes")) !== null) await t.host.uninstall("test-tenant", "acme.notes", { purge: true });
    await t.close();
  });

  it("bounds a loop of writes that fail after writing: the schema stays within its quota plus one statement's rows", async () => {
    // The host's own interval (1 s): every attempt below runs well within it.
    const storage = createSqlStorage({ database: t.host.database, limits: { maxSchemaBytes: MiB } });
    const schema = (await t.sql(own.id).status())!.schema;
    const db = t.host.database.root as Kysely<any>;
    // 64 rows of a 40 kB incompressible value (about 2.6 MB of TOAST), then a duplicate key: the statement fails.
    const values = Array.from({ length: 8 }, (_, i) => `(${i})`).join(",");
    const text = `INSERT INTO items (id, name) SELECT 'f' || a.x || '-' || b.y, $1 FROM (VALUES ${values}) a(x), (VALUES ${values}) b(y) UNION ALL SELECT 'a', 'dup'`;
    const start = await schemaBytes(db, schema);
    const codes: string[] = [];
    for (let i = 0; i < 8; i++) {
      const failure = await error(storage.query(own.id, text, [blob()]));
      codes.push(failure!.code);
      // The statement's own error, never one of the measurement after it.
      if (failure!.code !== "E_SQL_QUOTA") expect(failure!.message).toMatch(/duplicate key/);
    }
    const end = await schemaBytes(db, schema);
    expect(codes[0]).toBe("E_SQL_FAILED");
    expect(codes.every((c) => c === "E_SQL_FAILED" || c === "E_SQL_QUOTA")).toBe(true);
    // Unbounded, eight attempts leave about 21 MB; one statement writes about 2.6 MB.
    expect(end).toBeLessThan(start + MiB + 3 * MiB);
    // The host's VACUUM gave the pages back: the install writes again (a second later, once one is due).
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await code(storage.query(own.id, INSERT, ["after-failures", "small"]))).toBe("ok");
    expect(await schemaBytes(db, schema)).toBeLessThan(MiB);
    await storage.query(own.id, "DELETE FROM items WHERE id = 'after-failures'");
  }, 120_000);

  it("bounds a loop of DELETEs whose foreign-key actions write and then fail, while growing writes are refused", async () => {
    const storage = createSqlStorage({ database: t.host.database, limits: { maxSchemaBytes: MiB } });
    // Filled through a storage that measures after every write, so the fill stops at the quota.
    const filler = createSqlStorage({ database: t.host.database, limits: { maxSchemaBytes: MiB }, quotaIntervalMs: 0 });
    const schema = (await t.sql(own.id).status())!.schema;
    const db = t.host.database.root as Kysely<any>;
    // ~1.9 kB rows kept inline (not TOASTed): ON DELETE SET DEFAULT writes a full new version of each in the heap.
    let refused: string | undefined;
    for (let i = 0; i < 2000 && refused === undefined; i++) {
      const rows = Array.from({ length: 20 }, (_, k) => `(${i * 20 + k}, 1, $1)`).join(",");
      refused = await filler.query(own.id, `INSERT INTO child (id, pid, pad) VALUES ${rows}`, [randomBytes(950).toString("hex")]).then(() => undefined, (e: { code: string }) => e.code);
    }
    expect(refused).toBe("E_SQL_QUOTA");
    const start = await schemaBytes(db, schema);
    const child = Number((await sql<{ n: number }>`SELECT pg_catalog.pg_relation_size(${`"${schema}".child`}::regclass)::float8 AS n`.execute(db)).rows[0]!.n);
    const codes: string[] = [];
    // Each one sets every child row to the default 0, which no parent has: the statement writes, then fails.
    for (let i = 0; i < 10; i++) codes.push(await code(storage.query(own.id, "DELETE FROM parent WHERE id = 1")));
    const end = await schemaBytes(db, schema);
    expect(codes.every((c) => c === "E_SQL_FAILED" || c === "E_SQL_QUOTA")).toBe(true);
    // Unbounded, ten attempts add ten times the child table; bounded, about once.
    expect(end).toBeLessThan(start + 1.5 * child);
    await storage.query(own.id, "TRUNCATE child");
  }, 120_000);

  it("rolls back a DELETE near the quota whose foreign-key actions grow the schema past it (E_SQL_QUOTA), and lets plain DELETEs through", async () => {
    const storage = createSqlStorage({ database: t.host.database, limits: { maxSchemaBytes: MiB }, quotaIntervalMs: 0 });
    await storage.query(own.id, "INSERT INTO parent (id) VALUES (0), (2) ON CONFLICT DO NOTHING");
    // Children of parent 2 up to just under the quota: deleting parent 2 moves them all to parent 0, a new version each.
    let refused: string | undefined;
    for (let i = 0; i < 2000 && refused === undefined; i++) {
      const rows = Array.from({ length: 20 }, (_, k) => `(${100_000 + i * 20 + k}, 2, $1)`).join(",");
      refused = await code(storage.query(own.id, `INSERT INTO child (id, pid, pad) VALUES ${rows}`, [randomBytes(950).toString("hex")])).then((c) => (c === "ok" ? undefined : c));
    }
    expect(refused).toBe("E_SQL_QUOTA");
    const failure = await error(storage.query(own.id, "DELETE FROM parent WHERE id = 2"));
    expect(failure).toMatchObject({ code: "E_SQL_QUOTA", details: { rolledBack: true } });
    expect(failure!.message).toMatch(/DELETE/);
    expect((await storage.query(own.id, "SELECT count(*)::int AS n FROM parent WHERE id = 2")).rows).toEqual([{ n: 1 }]);
    // A DELETE that writes nothing new goes through, and frees the space.
    expect((await storage.query(own.id, "DELETE FROM child WHERE pid = 2")).rowCount).toBeGreaterThan(0);
    expect((await storage.query(own.id, "DELETE FROM parent WHERE id = 2")).rowCount).toBe(1);
    await storage.query(own.id, "TRUNCATE child");
  }, 120_000);

  it("fails a migration that leaves the schema with more relations than maxSchemaRelations, keeping the previous migration", async () => {
    // 0001 and 0002: items, parent and child, their primary keys (index and constraint each) and the foreign key: 10 of the
    // 13 allowed. Each new table with its primary key is 3 more.
    const more = Array.from({ length: 2 }, (_, i) => `CREATE TABLE more${i} (id int PRIMARY KEY, body text);`).join("\n");
    const failure = await t.upgrade(await sqlBundle({ "0001_items.sql": FIRST_MIGRATION, "0002_fk.sql": FK, "0003_more.sql": more }, { version: "1.1.0" })).catch((e: unknown) => e as SqlStorageError);
    expect(failure).toMatchObject({ code: "E_SQL_TOO_MANY_RELATIONS", details: { name: "0003_more.sql", relations: 16, maxSchemaRelations: 13 } });
    expect((failure as SqlStorageError).message).toMatch(/16 .*over this host's limit of 13 \(maxSchemaRelations\).*rolled back/);
    const status = (await t.sql(own.id).status())!;
    expect(status).toMatchObject({ version: "0002", status: "failed" });
    const tables = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_catalog.pg_tables WHERE schemaname = ${status.schema} AND tablename LIKE 'more%'`.execute(t.host.database.root as Kysely<any>);
    expect(tables.rows).toEqual([{ n: 0 }]);
    // One table fits.
    await t.upgrade(await sqlBundle({ "0001_items.sql": FIRST_MIGRATION, "0002_fk.sql": FK, "0003_more.sql": "CREATE TABLE more0 (id int PRIMARY KEY, body text);" }, { version: "1.2.0" }));
    expect(await t.sql(own.id).status()).toMatchObject({ version: "0003", status: "ready" });
  }, 60_000);

  it("refuses maxSchemaRelations outside its range", () => {
    for (const maxSchemaRelations of [0, 2.5, "500", 1_000_001]) {
      expect(() => createSqlStorage({ database: t.host.database, limits: { maxSchemaRelations } as never })).toThrow(
        expect.objectContaining({ code: "E_SQL_OPTIONS", details: { field: "sql.limits.maxSchemaRelations" }, message: expect.stringMatching(/maxSchemaRelations must be a whole number from 1 to 1000000/) }),
      );
    }
  });
});

/**
 * The host-wide cap (`maxConcurrentTotal`, statement-lanes.ts): however many
 * installs send statements, at most that many hold a pooled connection at
 * once, and a freed place goes to the installs in turn.
 */
// PostgreSQL only: PGlite runs one statement at a time whatever the cap; the lanes' own test covers the order there.
describePostgres("owned schema statements across installs", (backend) => {
  let t: TestHost;
  const installs: InstallInfo[] = [];

  beforeAll(async () => {
    t = await createTestHost({
      database: await backend.connect(),
      schema: backend.freshSchema("annex_sqltotal"),
      sql: { limits: { timeoutMs: 600, maxConcurrent: 2, maxQueued: 8, maxConcurrentTotal: 3 } },
    });
    for (const tenant of ["tenant-a", "tenant-b", "tenant-c", "tenant-d"]) installs.push(await t.install(await sqlBundle(), { tenant }));
  });
  afterAll(async () => {
    for (const tenant of ["tenant-a", "tenant-b", "tenant-c", "tenant-d"]) await t.host.uninstall(tenant, "acme.notes", { purge: true });
    await t.close();
  });

  it("runs at most maxConcurrentTotal statements of all installs at once, and a lone install's statement runs before a flooding install's queue drains", async () => {
    const admin = (await backend.connect()) as Kysely<any>;
    const marker = `total_${Math.random().toString(36).slice(2)}`;
    // Runs until its 600 ms timeout; the comment finds it in pg_stat_activity (a write: a SELECT is read through a
    // cursor, which pg_stat_activity shows as its FETCH, without the text).
    const text = `UPDATE /* ${marker} */ items SET n = n WHERE (SELECT count(*) FROM generate_series(1, 10000000000)) < 0`;
    const active = async () =>
      (await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() AND query LIKE ${`%${marker}%`}`.execute(admin)).rows[0]!.n;
    const [flood, b, c, lone] = installs as [InstallInfo, InstallInfo, InstallInfo, InstallInfo];
    const finished: string[] = [];
    const send = (install: InstallInfo, label: string) =>
      t.sql(install.id).query(text).then(
        () => finished.push(label),
        (caught: { code?: string }) => finished.push(`${label}:${caught.code}`),
      );
    const all = [
      ...Array.from({ length: 8 }, (_, i) => send(flood, `flood${i}`)),
      ...Array.from({ length: 2 }, (_, i) => send(b, `b${i}`)),
      ...Array.from({ length: 2 }, (_, i) => send(c, `c${i}`)),
    ];
    await new Promise((resolve) => setTimeout(resolve, 100));
    all.push(send(lone, "lone"));
    let most = 0;
    while (finished.length < all.length) {
      most = Math.max(most, await active());
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    await Promise.all(all);
    // Each ran to its timeout (nothing was refused: 8 queued at most per install).
    expect(finished.every((entry) => entry.endsWith(":E_SQL_TIMEOUT"))).toBe(true);
    // At most the cap, ever (polling every 25 ms on a loaded machine can miss the moments all three run).
    expect(most).toBeGreaterThanOrEqual(1);
    expect(most).toBeLessThanOrEqual(3);
    // 13 statements, 3 at a time: the lone one got the second round's place, not the last (global FIFO would give it the
    // last), and at least four of the flooding install's queue waited behind it (which four depends on the order the
    // sends reached the lanes, not asserted).
    const loneAt = finished.findIndex((entry) => entry.startsWith("lone:"));
    expect(loneAt).toBeLessThan(6);
    expect(finished.slice(loneAt + 1).filter((entry) => entry.startsWith("flood")).length).toBeGreaterThanOrEqual(4);
  }, 60_000);
});

// PostgreSQL only: PGlite has one session, so no other session can hold a lock.
describePostgres("purging an owned schema another session holds a lock in", (backend) => {
  it(
    "fails with E_SQL_BUSY after its lock timeout instead of waiting without end, purges nothing, and succeeds once the lock is gone",
    async () => {
      // A red team: a session holding ACCESS SHARE on one of the install's tables (pg_dump, a report) kept the purge,
      // and getInstall of the install, waiting for as long as it lasted.
      const t = await createTestHost({ database: await backend.connect(), schema: backend.freshSchema("annex_purgelock") });
      const install = await t.install(await sqlBundle());
      const schema = install.sql!.schema;
      const admin = (await backend.connect()) as Kysely<any>;
      let release: () => void = () => {};
      const held = new Promise<void>((resolve) => (release = resolve));
      let locked: () => void = () => {};
      const holding = new Promise<void>((resolve) => (locked = resolve));
      const session = admin.transaction().execute(async (trx) => {
        await sql`LOCK TABLE ${sql.id(schema, "items")} IN ACCESS SHARE MODE`.execute(trx);
        locked();
        await held;
      });
      try {
        await holding;
        const started = Date.now();
        await expect(t.host.uninstall("test-tenant", "acme.notes", { purge: true })).rejects.toMatchObject({ code: "E_SQL_BUSY", message: expect.stringMatching(/holds a lock/) });
        expect(Date.now() - started).toBeLessThan(15_000);
        expect(await t.host.getInstall("test-tenant", "acme.notes")).toMatchObject({ state: "active" });
        const still = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = ${schema}`.execute(admin);
        expect(still.rows[0]!.n).toBe(1);
      } finally {
        release();
        await session;
      }
      await expect(t.host.uninstall("test-tenant", "acme.notes", { purge: true })).resolves.toMatchObject({ purged: true });
      await t.close();
    },
    30_000,
  );
});
