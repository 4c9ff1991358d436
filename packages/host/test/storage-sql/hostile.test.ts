import { Kysely, PostgresDialect, sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeBackends } from "../support/backends.js";
import { makeBundle, serviceManifest } from "../support/fixtures.js";
import { callSql, runSql, SQL_SERVER, sqlBundle, type SqlResult } from "./support.js";
import { createTestHost, type TestHost } from "../../src/testing/index.js";
import type { InstallInfo } from "../../src/index.js";
import { createSqlStorage } from "../../src/storage/sql/sql-storage.js";

/**
 * Hostile SQL from a handler, one escape per test, on PGlite and PostgreSQL.
 * Each test sends the statement through the gateway to an extension whose
 * handler runs whatever it is given, and checks both the error the guest saw
 * and that nothing outside its schema moved.
 */
describeBackends("owned schema boundary", (backend) => {
  let t: TestHost;
  let own: InstallInfo;
  let other: InstallInfo;
  let annexSchema: string;

  const refused = (result: SqlResult) => {
    expect(result.ok).toBe(false);
    expect(result.code).toBe("E_SQL_REFUSED");
    expect(result.rows).toBeUndefined();
  };
  /** The install's own data, read as the host (t.sql), to show nothing moved. */
  const ownNames = async () => (await t.sql(own.id).query("SELECT name FROM items ORDER BY id")).rows.map((row) => row["name"]);

  beforeAll(async () => {
    annexSchema = backend.freshSchema("annex_sqlhostile");
    t = await createTestHost({ database: await backend.connect(), schema: annexSchema, sql: { limits: { timeoutMs: 1500, maxRows: 50, maxBytes: 20_000 } } });
    own = await t.install(await sqlBundle());
    other = await t.install(await sqlBundle(), { tenant: "tenant-b" });
    await t.sql(other.id).query("INSERT INTO items (id, name) VALUES ('secret', 'tenant b private')");
  });
  afterAll(async () => {
    for (const [tenant, id] of [["test-tenant", "acme.notes"], ["tenant-b", "acme.notes"], ["test-tenant", "acme.plain"]] as const) {
      if ((await t.host.getInstall(tenant, id)) !== null) await t.host.uninstall(tenant, id, { purge: true });
    }
    await t.close();
  });

  it("runs the extension's own statements, with parameters", async () => {
    expect(await runSql(t, "SELECT id, name FROM items WHERE id = $1", ["a"])).toEqual({ ok: true, rows: [{ id: "a", name: "apple" }], rowCount: 1 });
    const inserted = await runSql(t, "INSERT INTO items (id, name, n) VALUES ($1, $2, $3) RETURNING id, n", ["z", "zucchini", 7]);
    expect(inserted).toEqual({ ok: true, rows: [{ id: "z", n: 7 }], rowCount: 1 });
    expect((await runSql(t, "DELETE FROM items WHERE id = $1", ["z"])).rowCount).toBe(1);
  });

  it("refuses statements nested past the bound before PGlite plans them (≈280 nested `+` left PGlite answering nothing, then hung), and serves the next", async () => {
    const deep: Record<string, string> = {
      "a chain of 300 ||": `SELECT ${Array(300).fill("$1").join(" || ")} AS v`,
      "150 nested scalar subqueries": `SELECT ${"(SELECT ".repeat(150)}1${")".repeat(150)} AS v`,
      "200 nested CASE": `SELECT ${"CASE WHEN true THEN ".repeat(200)}1${" END".repeat(200)} AS v`,
      // Each level is shallow, but PostgreSQL folds subqueries in FROM into their reader: the depths add up.
      "40 subqueries in FROM, each adding 3": `SELECT x FROM ${"(SELECT x + 1 + 1 + 1 AS x FROM ".repeat(40)}(SELECT 1 AS x) AS s0${") AS s".repeat(40)}`,
      "a chain of 40 CTEs, each adding 3": `WITH c0 AS (SELECT 1 AS x), ${Array.from({ length: 40 }, (_, i) => `c${i + 1} AS (SELECT x + 1 + 1 + 1 AS x FROM c${i})`).join(", ")} SELECT x FROM c40`,
      // Deeper than libpg_query's own stack: refused, not a syntax error.
      "2,700 nested subqueries": `SELECT ${"(SELECT ".repeat(2700)}1${")".repeat(2700)}`,
    };
    for (const [name, text] of Object.entries(deep)) {
      const result = await runSql(t, text, text.includes("$1") ? ["ab"] : []);
      expect({ name, ...result }).toMatchObject({ name, ok: false, code: "E_SQL_REFUSED", message: expect.stringMatching(/nests .*deep/) });
    }
    // Within the bound, the same shapes run, and give PostgreSQL's answers.
    expect(await runSql(t, `SELECT ${Array(70).fill("$1").join(" || ")} AS v`, ["ab"])).toEqual({ ok: true, rows: [{ v: "ab".repeat(70) }], rowCount: 1 });
    expect(await runSql(t, `SELECT ${"(SELECT ".repeat(25)}7${")".repeat(25)} AS v`)).toEqual({ ok: true, rows: [{ v: 7 }], rowCount: 1 });
    const ctes = `WITH c0 AS (SELECT 1 AS x), ${Array.from({ length: 20 }, (_, i) => `c${i + 1} AS (SELECT x + 1 AS x FROM c${i})`).join(", ")} SELECT x FROM c20`;
    expect(await runSql(t, ctes)).toEqual({ ok: true, rows: [{ x: 21 }], rowCount: 1 });
    expect(await runSql(t, "SELECT name FROM items WHERE id = $1", ["a"])).toEqual({ ok: true, rows: [{ name: "apple" }], rowCount: 1 });
  });

  it("refuses a parameter nested past 1,000 brackets (PGlite's json reader ran out of stack at 8,000 and answered nothing), and serves the next", async () => {
    const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth);
    const deep = await runSql(t, "SELECT jsonb_typeof($1::jsonb) AS v", [nested(8000)]);
    expect(deep).toMatchObject({ ok: false, code: "E_SQL_PARAMS", message: expect.stringMatching(/params\[0\] nests brackets 8000 deep .* more than the 1000 allowed/) });
    // A value passed as an array is sent as its JSON text, and counted the same way (a request body nests 128 deep at
    // most, so this one is the host's own call).
    let array: unknown = [];
    for (let i = 0; i < 1200; i++) array = [array];
    await expect(t.sql(own.id).query("SELECT jsonb_typeof($1::jsonb) AS v", [array])).rejects.toMatchObject({ code: "E_SQL_PARAMS", details: { index: 0, nesting: 1201 } });
    expect(await runSql(t, "SELECT $1::tsquery IS NOT NULL AS v", ["(".repeat(5000) + "a" + ")".repeat(5000)])).toMatchObject({ ok: false, code: "E_SQL_PARAMS" });
    // Within the bound (and brackets that never close count only as deep as they go).
    expect(await runSql(t, "SELECT jsonb_typeof($1::jsonb) AS v", [nested(900)])).toEqual({ ok: true, rows: [{ v: "array" }], rowCount: 1 });
    expect(await runSql(t, "SELECT length($1) AS n", [")".repeat(5000) + "(".repeat(900)])).toEqual({ ok: true, rows: [{ n: 5900 }], rowCount: 1 });
    expect(await runSql(t, "SELECT name FROM items WHERE id = $1", ["a"])).toEqual({ ok: true, rows: [{ name: "apple" }], rowCount: 1 });
  });

  it("answers thirty statements one execution starts at once, queued in its lane, without Node warning of a listener leak", async () => {
    // They wait on one signal of the execution's (it aborts them on a revocation): thirty listeners, all the host's own.
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
    process.on("warning", onWarning);
    try {
      const { settled } = (await callSql(t, "/burst", { text: "SELECT 1 AS one", n: 30 })) as { settled: string[] };
      expect(settled).toEqual(Array(30).fill("ok"));
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off("warning", onWarning);
    }
    expect(warnings.filter((warning) => warning.startsWith("MaxListenersExceededWarning"))).toEqual([]);
  });

  it("refuses a call without the storage.sql grant", async () => {
    const bytes = await makeBundle(
      serviceManifest({ id: "acme.plain", capabilities: [], endpoints: [{ class: "api", method: "POST", path: "/run", handler: "noGrant" }] }),
      { "server/index.js": SQL_SERVER },
    );
    await t.install(bytes);
    const response = await t.request("POST", "/api/ext/acme.plain/run", { as: "u1", body: {} });
    expect(await response.json()).toEqual({ ok: false, code: "E_CAPABILITY_DENIED" });
  });

  it("does not find Annex's tables by their plain names", async () => {
    const result = await runSql(t, "SELECT * FROM annex_installs");
    expect(result).toMatchObject({ ok: false, code: "E_SQL_FAILED" });
    expect(result.message).toMatch(/does not exist/);
  });

  it("refuses Annex's tables named with their schema", async () => {
    refused(await runSql(t, `SELECT * FROM ${annexSchema}.annex_installs`));
    refused(await runSql(t, `DELETE FROM "${annexSchema}"."annex_audit"`));
  });

  it("refuses another tenant's schema, and its data stays put", async () => {
    const schema = (await t.sql(other.id).status())!.schema;
    refused(await runSql(t, `SELECT * FROM ${schema}.items`));
    refused(await runSql(t, `UPDATE "${schema}".items SET name = 'stolen'`));
    refused(await runSql(t, `SELECT ${schema}.items.name FROM items`));
    expect((await t.sql(other.id).query("SELECT name FROM items WHERE id = 'secret'")).rows).toEqual([{ name: "tenant b private" }]);
  });

  it("host.sql with { tenant } treats another tenant's install as missing: no query runs, no status shows", async () => {
    const missing = await t.host.sql.query("no-such-install", "SELECT 1", [], { tenant: "test-tenant" }).catch((error: unknown) => error);
    expect(missing).toMatchObject({ code: "E_INSTALL_NOT_FOUND" });
    for (const text of ["SELECT name FROM items WHERE id = 'secret'", "UPDATE items SET name = 'stolen' WHERE id = 'secret'"]) {
      const crossed = await t.host.sql.query(other.id, text, [], { tenant: "test-tenant" }).catch((error: unknown) => error);
      expect(crossed).toMatchObject({ code: "E_INSTALL_NOT_FOUND", message: (missing as Error).message.replace("no-such-install", other.id) });
    }
    expect(await t.host.sql.status(other.id, { tenant: "test-tenant" })).toBeNull();
    expect((await t.host.sql.status(other.id, { tenant: "tenant-b" }))?.schema).toMatch(/^ext_acme_notes_/);
    expect((await t.host.sql.query(other.id, "SELECT name FROM items WHERE id = 'secret'", [], { tenant: "tenant-b" })).rows).toEqual([{ name: "tenant b private" }]);
  });

  it("keeps two tenants' installs of one extension apart with plain names", async () => {
    const mine = await runSql(t, "SELECT id FROM items ORDER BY id");
    const theirs = await runSql(t, "SELECT id FROM items ORDER BY id", [], "tenant-b");
    expect(mine.rows!.map((row) => row["id"])).not.toContain("secret");
    expect(theirs.rows!.map((row) => row["id"])).toContain("secret");
  });

  it("keeps two tenants' installs apart when one statement repeats, alternating, long enough to be prepared", async () => {
    // On PGlite a statement seen twice is prepared once and then only bound: per install schema, never shared.
    const read = "SELECT id, n FROM items WHERE id = $1";
    const bump = "UPDATE items SET n = n + 1 WHERE id = $1 RETURNING id, n";
    const before = (await runSql(t, read, ["secret"], "tenant-b")).rows![0]!["n"] as number;
    for (let i = 1; i <= 4; i++) {
      expect(await runSql(t, read, ["secret"])).toEqual({ ok: true, rows: [], rowCount: 0 });
      expect((await runSql(t, read, ["secret"], "tenant-b")).rows).toEqual([{ id: "secret", n: before + i - 1 }]);
      expect(await runSql(t, bump, ["secret"])).toEqual({ ok: true, rows: [], rowCount: 0 });
      expect((await runSql(t, bump, ["secret"], "tenant-b")).rows).toEqual([{ id: "secret", n: before + i }]);
    }
    expect(await ownNames()).not.toContain("tenant b private");
  });

  it("refuses pg_catalog, qualified or not", async () => {
    refused(await runSql(t, "SELECT relname FROM pg_catalog.pg_class"));
    refused(await runSql(t, "SELECT relname FROM pg_class"));
    refused(await runSql(t, "SELECT rolname, rolpassword FROM pg_authid"));
    refused(await runSql(t, "SELECT * FROM pg_roles"));
  });

  it("refuses information_schema", async () => {
    refused(await runSql(t, "SELECT table_schema, table_name FROM information_schema.tables"));
    refused(await runSql(t, "SELECT * FROM information_schema.columns WHERE table_name = 'items'"));
  });

  it("refuses SET ROLE", async () => {
    refused(await runSql(t, "SET ROLE postgres"));
    refused(await runSql(t, "SET LOCAL ROLE postgres"));
  });

  it("refuses RESET ROLE", async () => {
    refused(await runSql(t, "RESET ROLE"));
    refused(await runSql(t, "RESET ALL"));
  });

  it("refuses SET SESSION AUTHORIZATION", async () => {
    refused(await runSql(t, "SET SESSION AUTHORIZATION postgres"));
    refused(await runSql(t, "RESET SESSION AUTHORIZATION"));
  });

  it("refuses set_config('role', …) and other settings functions", async () => {
    refused(await runSql(t, "SELECT set_config('role', 'postgres', false)"));
    refused(await runSql(t, "SELECT pg_catalog.set_config('session_authorization', 'postgres', true)"));
    refused(await runSql(t, "SELECT current_setting('data_directory')"));
  });

  it("refuses pg_read_file and the other file functions", async () => {
    refused(await runSql(t, "SELECT pg_read_file('/etc/passwd')"));
    refused(await runSql(t, "SELECT pg_catalog.pg_read_binary_file('postgresql.conf')"));
    refused(await runSql(t, "SELECT * FROM pg_ls_dir('.')"));
  });

  it("refuses COPY … PROGRAM and COPY to or from files", async () => {
    refused(await runSql(t, "COPY items TO PROGRAM 'id > /tmp/annex-pwned'"));
    refused(await runSql(t, "COPY items FROM PROGRAM 'echo x'"));
    refused(await runSql(t, "COPY items TO '/tmp/annex-items'"));
  });

  it("refuses lo_import and large objects", async () => {
    refused(await runSql(t, "SELECT lo_import('/etc/passwd')"));
    refused(await runSql(t, "SELECT lo_export(1, '/tmp/x')"));
  });

  it("refuses functions in any language, untrusted ones first", async () => {
    refused(await runSql(t, "CREATE FUNCTION evil() RETURNS int LANGUAGE plpython3u AS 'import os; return 1'"));
    refused(await runSql(t, "CREATE FUNCTION evil() RETURNS int LANGUAGE c AS '/lib/x.so', 'f'"));
    refused(await runSql(t, "CREATE FUNCTION evil() RETURNS int LANGUAGE sql AS 'SELECT 1'"));
    refused(await runSql(t, "CREATE OR REPLACE PROCEDURE evil() LANGUAGE plpgsql AS $$ BEGIN RESET ROLE; END $$"));
  });

  it("refuses DO blocks", async () => {
    refused(await runSql(t, "DO $$ BEGIN EXECUTE 'RESET ROLE'; END $$"));
    refused(await runSql(t, "DO LANGUAGE plpgsql 'BEGIN PERFORM 1; END'"));
  });

  it("refuses a second statement hidden after the first", async () => {
    refused(await runSql(t, "SELECT 1; RESET ROLE"));
    refused(await runSql(t, "SELECT name FROM items;SELECT * FROM pg_authid"));
    refused(await runSql(t, "SELECT 1;\n;\nSET ROLE postgres;"));
  });

  it("reads comments as comments: what they hide never runs, what they split is still two statements", async () => {
    refused(await runSql(t, "SELECT 1 /* harmless */; SET ROLE postgres"));
    refused(await runSql(t, "-- a comment line\nRESET ROLE"));
    refused(await runSql(t, "SELECT 1 /* nested /* comment */ still */; RESET ROLE"));
    expect(await runSql(t, "SELECT 1 AS one -- ; RESET ROLE")).toEqual({ ok: true, rows: [{ one: 1 }], rowCount: 1 });
  });

  it("reads dollar quoting as a string, and refuses what follows it", async () => {
    const quoted = await runSql(t, "SELECT $q$; RESET ROLE; SELECT $q$ AS text");
    expect(quoted).toEqual({ ok: true, rows: [{ text: "; RESET ROLE; SELECT " }], rowCount: 1 });
    refused(await runSql(t, "SELECT $$x$$; RESET ROLE"));
    refused(await runSql(t, "SELECT $a$ $b$ $a$; SET ROLE postgres; SELECT $b$ $b$"));
  });

  it("decodes quoted and Unicode-escaped identifiers before checking them", async () => {
    refused(await runSql(t, 'SELECT * FROM U&"pg\\005fclass"'));
    refused(await runSql(t, 'SELECT * FROM "pg_catalog"."pg_class"'));
    refused(await runSql(t, `SELECT * FROM U&"${annexSchema.replace(/a/g, "\\0061")}".annex_installs`));
    refused(await runSql(t, 'SELECT * FROM U&"!0070g_authid" UESCAPE \'!\''));
  });

  it("treats look-alike and differently cased names as other names, never as the catalogs", async () => {
    const fullwidth = await runSql(t, 'SELECT * FROM "ｐｇ_class"');
    expect(fullwidth).toMatchObject({ ok: false, code: "E_SQL_FAILED" });
    refused(await runSql(t, 'SELECT * FROM "PG_CATALOG".pg_class'));
    const cased = await runSql(t, 'SELECT * FROM "PG_CLASS"');
    expect(cased).toMatchObject({ ok: false, code: "E_SQL_FAILED" });
    expect(cased.message).toMatch(/does not exist/);
  });

  it("refuses changing search_path, in any spelling", async () => {
    refused(await runSql(t, `SET search_path = ${annexSchema}`));
    refused(await runSql(t, `SET LOCAL search_path TO ${annexSchema}, public`));
    refused(await runSql(t, `SELECT set_config('search_path', '${annexSchema}', true)`));
    // And the pinned path does not reach Annex's schema after those attempts.
    expect(await runSql(t, "SELECT count(*) AS n FROM annex_audit")).toMatchObject({ ok: false, code: "E_SQL_FAILED" });
  });

  it("refuses gcd and lcm, whose work is the square of a numeric's digits (two of 100,000 digits held PGlite's thread 74 s)", async () => {
    const digits = (seed: number) => Array.from({ length: 100_000 }, (_, i) => String((i * 7 + seed) % 9 + 1)).join("");
    refused(await runSql(t, "SELECT length(gcd($1::numeric, $2::numeric + 1)::text) AS n", [digits(1), digits(2)]));
    refused(await runSql(t, "SELECT length(lcm($1::numeric, $2::numeric)::text) AS n", [digits(3), digits(4)]));
  });

  it("refuses pg_sleep", async () => {
    refused(await runSql(t, "SELECT pg_sleep(30)"));
    refused(await runSql(t, "SELECT pg_catalog.pg_sleep_for('30 seconds')"));
  });

  if (backend.name === "postgres") {
    it("stops a statement that runs past its timeout", async () => {
      const started = Date.now();
      const result = await runSql(t, "SELECT count(*) FROM generate_series(1, 1000000000)");
      expect(result).toMatchObject({ ok: false, code: "E_SQL_TIMEOUT" });
      expect(Date.now() - started).toBeLessThan(15_000);
    });

    it("stops a recursive query that never ends at its timeout", async () => {
      const result = await runSql(t, "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r");
      expect(result).toMatchObject({ ok: false, code: "E_SQL_TIMEOUT" });
    });

    it("gives up waiting for a lock at its lock timeout, and holds none after its call", async () => {
      const admin = (await backend.connect()) as Kysely<any>;
      const schema = (await t.sql(own.id).status())!.schema;
      const blocked = admin.transaction().execute(async (trx) => {
        await sql.raw(`SELECT * FROM "${schema}".items WHERE id = 'a' FOR UPDATE`).execute(trx);
        const result = await runSql(t, "UPDATE items SET n = n + 1 WHERE id = 'a'");
        expect(result).toMatchObject({ ok: false, code: "E_SQL_TIMEOUT" });
      });
      await blocked;
      // Its own FOR UPDATE ends with its call: the host takes the same row lock at once.
      expect((await runSql(t, "SELECT id FROM items WHERE id = 'a' FOR UPDATE")).ok).toBe(true);
      await admin.transaction().execute(async (trx) => {
        await sql.raw(`SET LOCAL lock_timeout = '200ms'`).execute(trx);
        await sql.raw(`SELECT * FROM "${schema}".items WHERE id = 'a' FOR UPDATE`).execute(trx);
      });
    });

    it("runs as a role of the install's own, which owns its schema and reaches nothing of Annex's", async () => {
      const admin = (await backend.connect()) as Kysely<any>;
      const schema = (await t.sql(own.id).status())!.schema;
      expect(await runSql(t, "SELECT current_user AS me")).toEqual({ ok: true, rows: [{ me: schema }], rowCount: 1 });
      const role = await sql<{ rolsuper: boolean; rolcanlogin: boolean; rolcreaterole: boolean; owner: string; annex: boolean; theirs: boolean }>`
        SELECT r.rolsuper, r.rolcanlogin, r.rolcreaterole,
          (SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = ${schema}) AS owner,
          has_table_privilege(${schema}, ${`"${annexSchema}".annex_installs`}, 'SELECT') AS annex,
          has_schema_privilege(${schema}, (SELECT schema_name FROM ${sql.table(`${annexSchema}.annex_sql_schemas`)} WHERE install_id = ${other.id}), 'USAGE') AS theirs
        FROM pg_roles r WHERE r.rolname = ${schema}`.execute(admin);
      expect(role.rows[0]).toEqual({ rolsuper: false, rolcanlogin: false, rolcreaterole: false, owner: schema, annex: false, theirs: false });
    });
  } else {
    it("refuses on PGlite what it could not stop: generate_series, recursive queries, ts_headline", async () => {
      refused(await runSql(t, "SELECT count(*) FROM generate_series(1, 1000000000)"));
      refused(await runSql(t, "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"));
      // 50,000 words and an 800-term phrase held the host's thread 13.7 s.
      const words = Array.from({ length: 50_000 }, (_, i) => `w${i % 50}`).join(" ");
      const phrase = Array.from({ length: 800 }, (_, i) => `w${i % 50}`).join(" <-> ");
      refused(await runSql(t, "SELECT length(ts_headline('simple', $1, to_tsquery('simple', $2))) AS n", [words, phrase]));
    });

    it("refuses on PGlite a product of set-returning functions, however it is written", async () => {
      // Estimated at 7 whatever the array; ran 4.7 s at 200 elements (n³ rows), blocking every install.
      const elements = JSON.stringify(Array.from({ length: 200 }, (_, i) => i));
      const attempts = [
        "SELECT 1 FROM jsonb_array_elements($1) a, jsonb_array_elements($1) b, jsonb_array_elements($1) c WHERE a::text || b::text || c::text = 'x' LIMIT 1",
        "SELECT count(*) FROM (SELECT jsonb_array_elements($1) AS v) a CROSS JOIN LATERAL jsonb_array_elements_text($1) b",
        "SELECT count(*) FROM ROWS FROM (jsonb_array_elements($1)) a, ROWS FROM (jsonb_array_elements_text($1), jsonb_array_elements($1)) b",
        "SELECT jsonb_array_elements($1), x FROM jsonb_array_elements_text($1) AS x",
      ];
      for (const text of attempts) {
        const result = await runSql(t, text, [elements]);
        expect([text, result.code]).toEqual([text, "E_SQL_REFUSED"]);
        expect(result.message).toMatch(/at most one set-returning function/);
      }
      refused(await runSql(t, "SELECT * FROM JSON_TABLE($1::jsonb, '$[*]' COLUMNS (v int PATH '$')) AS jt", [elements]));
    });

    it("bounds a set-returning function on PGlite by its input, wherever its rows are read again", async () => {
      // One function, its rows read three times through a CTE: 2,000³ rows if it ran. The planner guesses 100 each.
      const elements = JSON.stringify(Array.from({ length: 2000 }, (_, i) => i));
      const cube = await runSql(t, "WITH e AS (SELECT value FROM jsonb_array_elements($1)) SELECT count(*) FROM e a, e b, e c WHERE a.value = b.value AND b.value <> c.value LIMIT 1", [elements]);
      expect(cube).toMatchObject({ ok: false, code: "E_SQL_TIMEOUT" });
      expect(cube.message).toMatch(/estimated cost/);
      // What set-returning functions are for still runs: a bulk insert, a lookup by a list of keys, a small cross join.
      const rows = Array.from({ length: 1000 }, (_, i) => ({ id: `bulk-${i}`, name: `item ${i}` }));
      const inserted = await runSql(t, "INSERT INTO items (id, name) SELECT id, name FROM jsonb_to_recordset($1) AS r(id text, name text)", [rows]);
      expect(inserted).toMatchObject({ ok: true, rowCount: 1000 });
      const found = await runSql(t, "SELECT count(*)::int AS n FROM items WHERE id IN (SELECT value FROM jsonb_array_elements_text($1))", [rows.map((row) => row.id)]);
      expect(found).toMatchObject({ ok: true, rows: [{ n: 1000 }] });
      const pairs = await runSql(t, "SELECT count(*)::int AS n FROM jsonb_array_elements($1) e, items i WHERE i.id IN ('a', 'b')", [[1, 2, 3]]);
      expect(pairs).toMatchObject({ ok: true, rows: [{ n: 6 }] });
      expect((await runSql(t, "DELETE FROM items WHERE id LIKE 'bulk-%'")).rowCount).toBe(1000);
    });

    it("refuses on PGlite a query the planner expects to run past its timeout", async () => {
      const result = await runSql(t, "SELECT count(*) FROM items a, items b, items c, items d, items e, items f");
      expect(result).toMatchObject({ ok: false, code: "E_SQL_TIMEOUT" });
      expect(result.message).toMatch(/estimated cost/);
    });

    it("holds no lock past its call on PGlite: the next statement takes the same row at once", async () => {
      expect((await runSql(t, "SELECT id FROM items WHERE id = 'a' FOR UPDATE")).ok).toBe(true);
      expect(await runSql(t, "UPDATE items SET n = n WHERE id = 'a'")).toMatchObject({ ok: true, rowCount: 1 });
    });
  }

  it("refuses LOCK TABLE and advisory locks", async () => {
    refused(await runSql(t, "LOCK TABLE items IN ACCESS EXCLUSIVE MODE"));
    refused(await runSql(t, "SELECT pg_advisory_lock(42)"));
  });

  it("refuses transaction control, which would end the host's transaction", async () => {
    refused(await runSql(t, "COMMIT"));
    refused(await runSql(t, "BEGIN"));
    refused(await runSql(t, "SAVEPOINT s"));
  });

  it("refuses DDL at run time, temporary tables and SELECT INTO", async () => {
    refused(await runSql(t, "CREATE TABLE x (a int)"));
    refused(await runSql(t, "CREATE TEMP TABLE x (a int)"));
    refused(await runSql(t, "SELECT * INTO copied FROM items"));
    refused(await runSql(t, "DROP TABLE items"));
    expect(await ownNames()).toEqual(["apple", "banana"]);
  });

  it("refuses names looked up from strings: regclass casts and sequence functions", async () => {
    refused(await runSql(t, `SELECT '${annexSchema}.annex_installs'::regclass`));
    refused(await runSql(t, `SELECT nextval('${annexSchema}.annex_audit_id_seq')`));
    refused(await runSql(t, "SELECT to_regclass('pg_authid')"));
  });

  it("refuses the array forms of the catalog-lookup types, aclitem, and the keywords that name the host's database identity", async () => {
    const otherSchema = (await t.sql(other.id).status())!.schema;
    // regclassout, regnamespaceout, regroleout print any OID's name with no privilege check: other tenants' schemas and tables, the roles.
    refused(await runSql(t, `SELECT '{${otherSchema}.items, ${annexSchema}.annex_kv}'::_regclass::text[] AS r`));
    refused(await runSql(t, "SELECT (('{' || current_schema || '}')::_regnamespace::oid[])[1]::int AS o"));
    refused(await runSql(t, "SELECT (('{10}')::pg_catalog._regrole::text[])[1] AS r"));
    refused(await runSql(t, `SELECT '{x}'::"_regproc", '{int4}'::_regtype, '{}'::_xml`));
    refused(await runSql(t, "SELECT 'postgres=r/postgres'::aclitem"));
    for (const keyword of ["session_user", "current_catalog"]) refused(await runSql(t, `SELECT ${keyword} AS v`));
    refused(await runSql(t, "SELECT current_database() AS v"));
    refused(await runSql(t, "SELECT inet_server_addr() AS v"));
    // The install's own schema is no secret.
    expect(await runSql(t, "SELECT current_schema AS s")).toMatchObject({ ok: true, rows: [{ s: (await t.sql(own.id).status())!.schema }] });
  });

  it("refuses format widths and a growing function over another's result; one replace or regexp_replace still runs", async () => {
    // 400 MB from a statement of 40 characters; with a parameter width, the format string checked tells nothing.
    refused(await runSql(t, "SELECT octet_length(format('%400000000s', '')) AS n"));
    refused(await runSql(t, "SELECT octet_length(format('%*s', $1::int, '')) AS n", [100_000_000]));
    refused(await runSql(t, "SELECT octet_length(format($1, '')) AS n", ["%100000000s"]));
    // The red team's CPU bomb (8.9 s on PGlite's, which is the host's, thread) and nested replaces: each level multiplies the last.
    refused(await runSql(t, "SELECT length(regexp_replace(format('%*s', $1::int, ''), ' ', 'xy', 'g')) AS n", [20_000_000]));
    refused(await runSql(t, "SELECT length(replace(replace(replace($1, 'a', 'aaaaaaaa'), 'a', 'aaaaaaaa'), 'a', 'aaaaaaaa')) AS n", ["a"]));
    refused(await runSql(t, "SELECT length(replace(x, 'a', $2)) AS n FROM (SELECT string_agg(name, $2) AS x FROM items) s", ["a", "aaaa"]));
    refused(await runSql(t, "SELECT length(string_agg(r, '')) AS n FROM items, LATERAL regexp_replace($1, 'a', $2, 'g') AS r", ["a", "bb"]));
    const single = await runSql(t, "SELECT replace(name, 'an', 'AN') AS r, regexp_replace(name, '([aeiou])', '<\\1>', 'g') AS x, format('%s:%s %L', id, name, n) AS f FROM items ORDER BY id");
    expect(single).toEqual({
      ok: true,
      rows: [
        { r: "apple", x: "<a>ppl<e>", f: "a:apple '1'" },
        { r: "bANANa", x: "b<a>n<a>n<a>", f: "b:banana '2'" },
      ],
      rowCount: 2,
    });
    expect(await runSql(t, "SELECT string_agg(replace(id, 'a', 'A'), ',' ORDER BY id) AS s FROM items")).toMatchObject({ ok: false, code: "E_SQL_REFUSED" });
    expect(await runSql(t, "SELECT string_agg(id, ',' ORDER BY id) AS s, array_agg(upper(name) ORDER BY id) AS a FROM items")).toMatchObject({ ok: true, rows: [{ s: "a,b", a: ["APPLE", "BANANA"] }] });
  });

  it("refuses a jsonpath that is not a checked literal (the $.** bomb); a literal path and text search still run", async () => {
    // 12 KB of nested brackets ran >25 s on PGlite (the host's thread) with '$.**'; kept small here in case it ran.
    const nested = "[".repeat(200) + "]".repeat(200);
    refused(await runSql(t, "SELECT count(*) AS n FROM jsonb_path_query($1::jsonb, '$.**')", [nested]));
    refused(await runSql(t, "SELECT jsonb_array_length(jsonb_path_query_array($1::jsonb, '$.**{0 to last}')) AS n", [nested]));
    refused(await runSql(t, "SELECT $1::jsonb @? '$.** ? (@ == 1)' AS b", [nested]));
    refused(await runSql(t, "SELECT count(*) AS n FROM jsonb_path_query($1::jsonb, $2::jsonpath)", [nested, "$.**"]));
    refused(await runSql(t, "SELECT $1::jsonb @@ $2 AS b", [nested, "$.** == 1"]));
    refused(await runSql(t, "SELECT jsonb_path_exists($1::jsonb, '$[*] ? (@ like_regex \"^(a|a)*$\")') AS b", [["aaaa"]]));
    refused(await runSql(t, "SELECT count(*) AS n FROM jsonb_path_query($1::jsonb, '$[*] ? (@ == $[*] ? (@ == -1))')", [[1, 2, 3]]));
    const paths = await runSql(t, "SELECT jsonb_path_query_array($1::jsonb, '$.a[*] ? (@ > 1)') AS q, $1::jsonb @? '$.a[*] ? (@ == 3)' AS e, $1::jsonb @@ '$.a[0] == 1' AS m", [{ a: [1, 2, 3] }]);
    expect(paths).toEqual({ ok: true, rows: [{ q: [2, 3], e: true, m: true }], rowCount: 1 });
    const search = await runSql(t, "SELECT id FROM items WHERE to_tsvector('simple', name) @@ to_tsquery('simple', $1) OR to_tsvector('simple', name) @@ $2::tsquery ORDER BY id", ["banana", "nothing"]);
    expect(search).toEqual({ ok: true, rows: [{ id: "b" }], rowCount: 1 });
  });

  it("refuses a value doubled per query level or per escaping call (the red team's G1, G2); concatenation in one level still runs", async () => {
    // 22 levels ran PGlite out of memory (2.5 GB); 22 nested quote_literal calls built 277 MB. Kept at sizes that would run.
    const ctes = ["a0 AS (SELECT $1::text AS v)"];
    for (let i = 1; i <= 4; i++) ctes.push(`a${i} AS (SELECT v || v AS v FROM a${i - 1})`);
    refused(await runSql(t, `WITH ${ctes.join(", ")} SELECT length(v) AS n FROM a4`, ["x"]));
    let quoted = "$1::text";
    for (let i = 0; i < 4; i++) quoted = `quote_literal(${quoted})`;
    refused(await runSql(t, `SELECT length(${quoted}) AS n`, ["''"]));
    const one = await runSql(t, "SELECT id || ' ' || name AS full, concat_ws(', ', id, name) AS list, quote_ident(name) AS q, json_build_object('a', json_build_object('b', name)) AS j FROM items WHERE id = $1", ["a"]);
    expect(one).toEqual({ ok: true, rows: [{ full: "a apple", list: "a, apple", q: "apple", j: { a: { b: "apple" } } }], rowCount: 1 });
  });

  it("refuses a jsonpath comparison between two paths (the red team's J1); a comparison with a literal or a scalar variable still runs", async () => {
    const doc = JSON.stringify({ a: [1, 2, 3], b: [-1, -2, -3] });
    refused(await runSql(t, "SELECT jsonb_path_exists($1::jsonb, '$ ? (@.a[*] == @.b[*])') AS x", [doc]));
    refused(await runSql(t, "SELECT jsonb_path_exists($1::jsonb, '$ ? (@.a == @.b)') AS x", [doc]));
    const ok = await runSql(t, "SELECT jsonb_path_query_array($1::jsonb, '$.a[*] ? (@ > $min)', jsonb_build_object('min', $2::int)) AS q, jsonb_path_exists($1::jsonb, '$ ? (@.a[*] == 3)') AS e", [doc, 1]);
    expect(ok).toEqual({ ok: true, rows: [{ q: [2, 3], e: true }], rowCount: 1 });
  });

  it("runs the text it checked: a refused type followed by a Unicode space is not trimmed into the refused type", async () => {
    // PostgreSQL reads U+FEFF as part of the name: "regrole\ufeff" is no type, so the statement fails as such.
    for (const text of [`UPDATE items SET name = name WHERE id = 'a' RETURNING '${annexSchema}.annex_installs'::regclass\ufeff`, "DELETE FROM items WHERE false RETURNING 'postgres'::regrole\u00a0"]) {
      const result = await runSql(t, text);
      expect(result.ok, text).toBe(false);
      expect(result.rows).toBeUndefined();
      expect(result.message).toMatch(/type .* does not exist/);
    }
    expect(await ownNames()).toEqual(["apple", "banana"]);
  });

  it("refuses functions that run SQL given as text", async () => {
    refused(await runSql(t, `SELECT query_to_xml('SELECT * FROM ${annexSchema}.annex_installs', true, true, '')`));
    refused(await runSql(t, "SELECT * FROM dblink('dbname=test', 'SELECT 1') AS x(a int)"));
  });

  it("refuses role, schema, grant and extension statements", async () => {
    refused(await runSql(t, "CREATE ROLE evil SUPERUSER LOGIN"));
    refused(await runSql(t, "ALTER ROLE CURRENT_USER SUPERUSER"));
    refused(await runSql(t, "GRANT ALL ON items TO PUBLIC"));
    refused(await runSql(t, "CREATE SCHEMA evil"));
    refused(await runSql(t, "CREATE EXTENSION dblink"));
  });

  it("refuses prepared statements, cursors, LISTEN and NOTIFY", async () => {
    refused(await runSql(t, "PREPARE p AS SELECT 1"));
    refused(await runSql(t, "DECLARE c CURSOR FOR SELECT 1"));
    refused(await runSql(t, "LISTEN annex"));
    refused(await runSql(t, "NOTIFY annex, 'x'"));
  });

  it("hides nothing in a subquery or CTE", async () => {
    refused(await runSql(t, "SELECT * FROM items WHERE id IN (SELECT rolname FROM pg_authid)"));
    refused(await runSql(t, `WITH x AS (SELECT * FROM ${annexSchema}.annex_installs) SELECT * FROM x`));
    refused(await runSql(t, "INSERT INTO items (id, name) SELECT usename, passwd FROM pg_shadow"));
  });

  if (backend.name === "pglite") {
    it("refuses on PGlite a cross join whose cost the host's own LIMIT hid (24 copies of a small table, a filter that never matches)", async () => {
      const tables = Array.from({ length: 24 }, (_, i) => `items t${i}`).join(", ");
      const never = Array.from({ length: 24 }, (_, i) => `length(t${i}.id)`).join(" + ");
      const result = await runSql(t, `SELECT t0.id FROM ${tables} WHERE ${never} = 0`);
      expect(result).toMatchObject({ ok: false, code: "E_SQL_TIMEOUT", message: expect.stringMatching(/estimated cost/i) });
    });
  }

  it("caps the rows of a result with a typed error", async () => {
    const result = await runSql(t, "SELECT g FROM unnest(string_to_array($1, ',')) AS g LIMIT 60", [Array.from({ length: 60 }, (_, i) => i).join(",")]);
    expect(result).toMatchObject({ ok: false, code: "E_SQL_TOO_MANY_ROWS" });
    expect((await runSql(t, "SELECT a.id FROM items a, items b LIMIT 4")).rows).toHaveLength(4);
  });

  it("caps the bytes of a result with a typed error", async () => {
    await t.sql(own.id).query("INSERT INTO items (id, name) VALUES ('big', $1)", ["x".repeat(30_000)]);
    try {
      expect(await runSql(t, "SELECT name FROM items WHERE id = 'big'")).toMatchObject({ ok: false, code: "E_SQL_RESULT_TOO_LARGE" });
    } finally {
      await t.sql(own.id).query("DELETE FROM items WHERE id = 'big'");
    }
  });

  it("answers a syntax error with E_SQL_SYNTAX", async () => {
    expect(await runSql(t, "SELEC 1")).toMatchObject({ ok: false, code: "E_SQL_SYNTAX" });
  });
});

/**
 * Every statement that returns rows fetches at most maxRows + 1 of them, and a
 * result stops at the first row past maxBytes where the database can stream
 * it. Rows past the limit are made to fail when they are evaluated
 * (`100 / (n - k)`), so a statement that read them would answer E_SQL_FAILED.
 */
describeBackends("owned schema result limits", (backend) => {
  let t: TestHost;
  let own: InstallInfo;
  const names = async (pattern: string) => (await t.sql(own.id).query("SELECT count(*)::int AS n FROM items WHERE name = $1", [pattern])).rows[0]!["n"];

  beforeAll(async () => {
    t = await createTestHost({ database: await backend.connect(), schema: backend.freshSchema("annex_sqllimits"), sql: { limits: { timeoutMs: 3000, maxRows: 50, maxBytes: 20_000, maxParamBytes: 50_000 } } });
    own = await t.install(await sqlBundle());
    // One statement into a fresh table: a sequential scan reads a, b, r1 … r60, then zz.
    const values = Array.from({ length: 60 }, (_, i) => `('r${i + 1}', 'row', ${i + 1})`).join(", ");
    await t.sql(own.id).query(`INSERT INTO items (id, name, n) VALUES ${values}, ('zz', 'row', 1000)`);
  });
  afterAll(async () => {
    await t.host.uninstall("test-tenant", "acme.notes", { purge: true });
    await t.close();
  });

  it("reads a locking SELECT (FOR UPDATE) only up to maxRows + 1 rows", async () => {
    // zz, the 63rd row, divides by zero: reading every row fails with E_SQL_FAILED. (First: an UPDATE moves rows after it.)
    const result = await runSql(t, "SELECT id, 100 / (n - 1000) AS x FROM items FOR UPDATE");
    expect(result).toMatchObject({ ok: false, code: "E_SQL_TOO_MANY_ROWS" });
    expect(await runSql(t, "SELECT id FROM items WHERE id IN ('a', 'b') ORDER BY id FOR UPDATE")).toEqual({ ok: true, rows: [{ id: "a" }, { id: "b" }], rowCount: 2 });
  });

  it("caps a write's RETURNING at maxRows and rolls the whole write back, with a data-modifying WITH too", async () => {
    expect(await runSql(t, "UPDATE items SET name = 'changed' WHERE id LIKE 'r%' RETURNING id")).toMatchObject({ ok: false, code: "E_SQL_TOO_MANY_ROWS" });
    expect(await names("changed")).toBe(0);
    const withWrite = await runSql(t, "WITH u AS (UPDATE items SET name = 'changed' WHERE id LIKE 'r%' RETURNING id) SELECT id FROM u");
    expect(withWrite).toMatchObject({ ok: false, code: "E_SQL_TOO_MANY_ROWS" });
    expect(withWrite.message).toMatch(/more than 50 rows/);
    expect(await names("changed")).toBe(0);
    // Within the limit, the rows and the count are the write's.
    const some = await runSql(t, "UPDATE items SET name = 'row' WHERE id LIKE 'r1%' RETURNING id, id AS again");
    expect(some).toMatchObject({ ok: true, rowCount: 11 });
    expect(some.rows).toHaveLength(11);
    expect(some.rows![0]).toEqual({ id: expect.any(String), again: expect.any(String) });
    expect(await runSql(t, "WITH u AS (UPDATE items SET n = n WHERE id = 'a' RETURNING id) SELECT id FROM u")).toEqual({ ok: true, rows: [{ id: "a" }], rowCount: 1 });
  });

  it("a write whose RETURNING passes maxBytes fails with E_SQL_RESULT_TOO_LARGE and writes nothing, in every shape", async () => {
    const big = "x".repeat(8_000);
    for (const text of [
      "UPDATE items SET name = $1 WHERE id LIKE 'r%' AND n <= 5 RETURNING id, name",
      "INSERT INTO items (id, name) VALUES ('new1', $1), ('new2', $1), ('new3', $1) RETURNING name",
      "WITH u AS (UPDATE items SET name = $1 WHERE id LIKE 'r%' AND n <= 5 RETURNING name) SELECT name FROM u",
      "DELETE FROM items WHERE id LIKE 'r%' AND n <= 5 RETURNING id, $1::text AS pad",
    ]) {
      expect(await runSql(t, text, [big]), text).toMatchObject({ ok: false, code: "E_SQL_RESULT_TOO_LARGE" });
      expect(await names(big), text).toBe(0);
      expect((await t.sql(own.id).query("SELECT count(*)::int AS n FROM items WHERE id LIKE 'new%' OR (id LIKE 'r%' AND n <= 5)")).rows, text).toEqual([{ n: 5 }]);
    }
    // Within the limit it writes, and answers its rows.
    expect(await runSql(t, "UPDATE items SET name = 'row' WHERE id = 'r1' RETURNING id, name", [])).toEqual({ ok: true, rows: [{ id: "r1", name: "row" }], rowCount: 1 });
  });

  it("stops a result soon past maxBytes, rows after it never computed (the database past twice the limit; on PostgreSQL a cursor's batches first)", async () => {
    // 5,000 bytes a row: past 20,000 at the 4th; r40 divides by zero, so reading up to the row cap (51) would fail.
    const result = await runSql(t, "SELECT id, $1::text AS pad, 100 / (n - 40) AS x FROM items WHERE id LIKE 'r%'", ["x".repeat(5000)]);
    expect(result).toMatchObject({ ok: false, code: "E_SQL_RESULT_TOO_LARGE" });
    expect(result.message).toMatch(/limit of 20000 bytes/);
    // A result within both limits reads whole (on PostgreSQL in several batches: 16, then as many as the bytes allow).
    const many = await runSql(t, "SELECT id FROM items WHERE id LIKE 'r%' AND n <= 50 ORDER BY n");
    expect(many).toMatchObject({ ok: true, rowCount: 50 });
    expect(many.rows!.map((row) => row["id"])).toEqual(Array.from({ length: 50 }, (_, i) => `r${i + 1}`));
    // A locking SELECT reads the same way; the rows after the stop are neither read nor locked.
    expect(await runSql(t, "SELECT id, $1::text AS pad, 100 / (n - 40) AS x FROM items WHERE id LIKE 'r%' FOR UPDATE", ["x".repeat(5000)])).toMatchObject({ ok: false, code: "E_SQL_RESULT_TOO_LARGE" });
  });

  it("stops in the database rows that turn wide after narrow ones, not after a batch sized by the narrow ones", async () => {
    // r1 … r20 take a few bytes (on PostgreSQL the whole first FETCH), the 40 rows after them 5,000 each: 200 kB, ten
    // times maxBytes, which the next FETCH, sized by the narrow rows, would have held before the host counted them.
    const result = await runSql(t, "SELECT id, CASE WHEN n > 20 THEN $1::text ELSE '' END AS pad FROM items WHERE id LIKE 'r%' ORDER BY n", ["x".repeat(5000)]);
    expect(result).toMatchObject({ ok: false, code: "E_SQL_RESULT_TOO_LARGE", message: expect.stringMatching(/its rows take at least \d+ bytes as PostgreSQL's text/) });
  });

  it("refuses in the database a single row far over maxBytes, before it is sent (each column repeating a parameter)", async () => {
    // 300 columns of 10,000 bytes: a 3 MB row, 150 times maxBytes; the database sums the rows' sizes before sending each.
    const columns = Array.from({ length: 300 }, (_, i) => `$1::text AS c${i}`).join(", ");
    const result = await runSql(t, `SELECT ${columns} FROM items WHERE id = 'a'`, ["x".repeat(10_000)]);
    expect(result).toMatchObject({ ok: false, code: "E_SQL_RESULT_TOO_LARGE", message: expect.stringMatching(/limit of 20000 bytes: its rows take at least \d+ bytes as PostgreSQL's text/) });
    // So does a locking SELECT; a row within the limit still reads (a column named as the check's own alias is only a column).
    expect(await runSql(t, `SELECT ${columns} FROM items WHERE id = 'a' FOR UPDATE`, ["x".repeat(10_000)])).toMatchObject({ ok: false, code: "E_SQL_RESULT_TOO_LARGE" });
    expect(await runSql(t, "SELECT id, $1::text AS annex_capped, $1::text AS annex_rows FROM items WHERE id = 'a'", ["x".repeat(8000)])).toMatchObject({ ok: true, rowCount: 1 });
  });

  it("fails a row far over the bound on its own size, before the running sum holds it (a 300 MB row took PGlite 97 s and 4.5 GB)", async () => {
    // Row a (30,000 bytes) fits the database's bound (41,126 here), row b (60,000) does not even alone. The sum
    // used to take b into its window first, and report a and b together; PGlite spilled such rows to its in-memory
    // files, which is what took the time. Now b is measured alone, under the window, and refused at its own size.
    const result = await runSql(t, "SELECT id, CASE WHEN id = 'a' THEN $1 ELSE $2 || $2 || $2 END AS pad FROM items WHERE id IN ('a', 'b') ORDER BY id", [
      "x".repeat(30_000),
      "y".repeat(20_000),
    ]);
    expect(result).toMatchObject({ ok: false, code: "E_SQL_RESULT_TOO_LARGE" });
    const measured = Number(/its rows take at least (\d+) bytes/.exec(result.message!)?.[1]);
    expect(measured).toBeGreaterThan(60_000);
    expect(measured).toBeLessThan(61_000);
    // Both within the bound together still read.
    expect(await runSql(t, "SELECT id, $1::text AS pad FROM items WHERE id IN ('a', 'b') ORDER BY id", ["x".repeat(9_000)])).toMatchObject({ ok: true, rowCount: 2 });
  });

  it("sums a write's RETURNING rows in the database: far over maxBytes, the write fails before any row is sent and rolls back", async () => {
    const before = (await t.sql(own.id).query("SELECT sum(n)::int AS n FROM items")).rows[0]!["n"];
    // 40 rows of 5,000 bytes: 200 kB, ten times maxBytes.
    const result = await runSql(t, "UPDATE items SET n = n + 1 WHERE id LIKE 'r%' AND n <= 40 RETURNING id, $1::text AS pad", ["x".repeat(5000)]);
    expect(result).toMatchObject({ ok: false, code: "E_SQL_RESULT_TOO_LARGE", message: expect.stringMatching(/its rows take at least \d+ bytes as PostgreSQL's text, and the database stopped/) });
    expect((await t.sql(own.id).query("SELECT sum(n)::int AS n FROM items")).rows[0]!["n"]).toBe(before);
  });

  it("refuses parameters past maxParamBytes (UTF-8 bytes of all of them together) with E_SQL_PARAMS before the query runs", async () => {
    expect(await runSql(t, "SELECT length($1) AS n", ["x".repeat(50_000)])).toEqual({ ok: true, rows: [{ n: 50_000 }], rowCount: 1 });
    const one = await runSql(t, "SELECT length($1) AS n", ["x".repeat(50_001)]);
    expect(one).toMatchObject({ ok: false, code: "E_SQL_PARAMS", message: expect.stringMatching(/at most 50000 bytes together \(sql\.limits\.maxParamBytes\); params\[0\] brings them to 50001/) });
    // Counted together, in UTF-8 (2 bytes a character here), objects as their JSON.
    expect(await runSql(t, "SELECT length($1) + length($2) AS n", ["x".repeat(30_000), "x".repeat(30_000)])).toMatchObject({ ok: false, code: "E_SQL_PARAMS", message: expect.stringMatching(/params\[1\] brings them to 60000/) });
    expect(await runSql(t, "SELECT length($1) AS n", ["é".repeat(25_001)])).toMatchObject({ ok: false, code: "E_SQL_PARAMS" });
    expect(await runSql(t, "SELECT jsonb_array_length($1::jsonb) AS n", [Array.from({ length: 10_001 }, () => "abc")])).toMatchObject({ ok: false, code: "E_SQL_PARAMS" });
    // A write of one too-large value changes nothing.
    expect(await runSql(t, "UPDATE items SET name = $1 WHERE id = 'a'", ["x".repeat(50_001)])).toMatchObject({ ok: false, code: "E_SQL_PARAMS" });
    expect((await t.sql(own.id).query("SELECT name FROM items WHERE id = 'a'")).rows).toEqual([{ name: "apple" }]);
  });
});

/**
 * One install's statements hold at most `maxConcurrent` of the host's pooled
 * connections, however many calls its handlers start; `maxQueued` more wait,
 * the rest fail at once with E_SQL_BUSY; the statements of an execution that
 * ended are dropped (and on PostgreSQL a running one is cancelled).
 */
describeBackends("owned schema statements share the host's pool", (backend) => {
  let t: TestHost;
  let own: InstallInfo;
  let other: InstallInfo;

  beforeAll(async () => {
    t = await createTestHost({ database: await backend.connect(), schema: backend.freshSchema("annex_sqlpool"), sql: { limits: { timeoutMs: 1000, maxConcurrent: 2, maxQueued: 4 } } });
    own = await t.install(await sqlBundle());
    other = await t.install(await sqlBundle(), { tenant: "tenant-b" });
  });
  afterAll(async () => {
    for (const tenant of ["test-tenant", "tenant-b"]) await t.host.uninstall(tenant, "acme.notes", { purge: true });
    await t.close();
  });

  it("drops the statements an execution left waiting when it ended: only those that had a place ran", async () => {
    expect(await callSql(t, "/fire", { text: "INSERT INTO items (id, name) VALUES ($1, 'fired')", n: 10, prefix: "f" })).toEqual({ fired: 10 });
    // Behind whatever of the install's statements still held a place: these two run once those are done.
    await Promise.all([t.sql(own.id).query("SELECT 1 AS one"), t.sql(own.id).query("SELECT 1 AS one")]);
    const ran = (await t.sql(own.id).query("SELECT count(*)::int AS n FROM items WHERE name = 'fired'")).rows[0]!["n"] as number;
    // The lanes admitted six (two places, four waiting; the other four were refused at once): without the drop all six
    // would run. The first ran (awaited), and those given a freed place before the handler's answer, a message from the
    // worker, reached the host: one on PostgreSQL, up to four on PGlite, whose statements follow each other without a
    // turn of the event loop between them.
    expect(ran).toBeGreaterThanOrEqual(1);
    expect(ran).toBeLessThan(6);
    await t.sql(own.id).query("DELETE FROM items WHERE name = 'fired'");
  });

  if (backend.name === "postgres") {
    it("runs at most maxConcurrent statements of one install at once, refuses past maxQueued with E_SQL_BUSY, and another tenant's SQL, kv and the host's own queries go on", async () => {
      const admin = (await backend.connect()) as Kysely<any>;
      const marker = `burst_${Math.random().toString(36).slice(2)}`;
      // Runs until its 1 s timeout; the comment finds it in pg_stat_activity.
      const text = `UPDATE /* ${marker} */ items SET n = n WHERE (SELECT count(*) FROM generate_series(1, 10000000000)) < 0`;
      const active = async () =>
        (await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() AND query LIKE ${`%${marker}%`}`.execute(admin)).rows[0]!.n;
      const burst = callSql(t, "/burst", { text, n: 12 });
      let most = 0;
      for (let poll = 0; poll < 100 && most === 0; poll++) {
        most = await active();
        if (most === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const others = Promise.all([
        runSql(t, "SELECT 1 AS one", [], "tenant-b"),
        t.kv(other.id).set("k", 1),
        t.host.listInstalls("tenant-b"),
      ]);
      for (let sample = 0; sample < 10; sample++) {
        most = Math.max(most, await active());
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const [otherSql, , listed] = await others;
      expect(otherSql).toEqual({ ok: true, rows: [{ one: 1 }], rowCount: 1 });
      expect(listed).toHaveLength(1);
      expect(most).toBeGreaterThanOrEqual(1);
      expect(most).toBeLessThanOrEqual(2);
      const { settled } = (await burst) as { settled: string[] };
      // 2 ran, 4 waited and ran after them (each to its timeout); the other 6 were refused at once.
      expect(settled.filter((code) => code === "E_SQL_BUSY")).toHaveLength(6);
      expect(settled.filter((code) => code === "E_SQL_TIMEOUT")).toHaveLength(6);
    }, 30_000);

    it("cancels a running statement when its execution's signal aborts, long before its own timeout", async () => {
      const admin = (await backend.connect()) as Kysely<any>;
      const storage = createSqlStorage({ database: t.host.database, limits: { timeoutMs: 120_000 } });
      const marker = `cancel_${Math.random().toString(36).slice(2)}`;
      const text = `UPDATE /* ${marker} */ items SET n = n WHERE (SELECT count(*) FROM generate_series(1, 10000000000)) < 0`;
      const active = async () =>
        (await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() AND query LIKE ${`%${marker}%`}`.execute(admin)).rows[0]!.n;
      const execution = new AbortController();
      const running = storage.query(own.id, text, [], undefined, { signal: execution.signal }).catch((error: unknown) => error);
      let seen = 0;
      for (let poll = 0; poll < 200 && seen === 0; poll++) {
        seen = await active();
        if (seen === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(seen).toBe(1);
      execution.abort();
      expect(await running).toMatchObject({ code: "E_SQL_TIMEOUT", details: { reason: "execution-ended" } });
      expect(await active()).toBe(0);
      expect((await storage.query(own.id, "SELECT count(*)::int AS n FROM items")).rows).toEqual([{ n: 2 }]);
    }, 30_000);

    it("stops waiting for a statement PostgreSQL does not stop: the call fails, its connection is closed, and another install's statement runs meanwhile", async () => {
      // A host on a connection string: only a connection of a pool it opened itself can Annex close.
      const annexSchema = backend.freshSchema("annex_sqlstuck");
      const host = await createTestHost({ database: process.env["ANNEX_TEST_DATABASE_URL"]!, schema: annexSchema });
      const admin = (await backend.connect()) as Kysely<any>;
      const marker = `stuck_${Math.random().toString(36).slice(2)}`;
      const running = async () =>
        (await sql<{ pid: number }>`SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query LIKE ${`%${marker}%`} AND pid <> pg_backend_pid()`.execute(admin)).rows.map((row) => row.pid);
      try {
        const stuckInstall = await host.install(await sqlBundle(), { tenant: "tenant-stuck" });
        const bystander = await host.install(await sqlBundle(), { tenant: "tenant-bystander" });
        const { schema_name: schema } = await admin.selectFrom(`${annexSchema}.annex_sql_schemas`).select("schema_name").where("install_id", "=", stuckInstall.id).executeTakeFirstOrThrow();
        // translate walks its 64-character `from` for each of 8 million characters and looks at no cancel request
        // meanwhile: a couple of seconds in one call. (The guard caps `from`, not the text it is applied to.)
        await sql.raw(`UPDATE "${schema}".items SET name = repeat('a', 8000000) WHERE id = 'a'`).execute(admin);
        // One place for all installs, and a short grace: the bystander's statement runs only once the host gave up the other.
        const storage = createSqlStorage({ database: host.host.database, limits: { timeoutMs: 200, maxConcurrentTotal: 1 }, cancelGraceMs: 300 });
        const from = Array.from({ length: 64 }, (_, i) => String.fromCharCode(256 + i)).join("");
        const stuck = storage.query(stuckInstall.id, `UPDATE /* ${marker} */ items SET n = length(translate(name, $1, 'x')) WHERE id = 'a'`, [from]).catch((error: unknown) => error);
        for (let poll = 0; poll < 250 && (await running()).length === 0; poll++) await new Promise((resolve) => setTimeout(resolve, 10));
        const [pid] = await running();
        expect(pid).toBeDefined();
        expect(await storage.query(bystander.id, "SELECT 1 AS one")).toEqual({ rows: [{ one: 1 }], rowCount: 1 });
        // The bystander ran while the database still runs the other statement: the host did not wait for it to end.
        expect(await running()).toEqual([pid]);
        expect(await stuck).toMatchObject({ code: "E_SQL_TIMEOUT", details: { reason: "not-interrupted", timeoutMs: 200, graceMs: 300 } });
        // Once its call returns the backend goes: its connection was closed, not given back to the pool (where it would wait, idle).
        let gone = false;
        for (let poll = 0; poll < 1000 && !gone; poll++) {
          gone = (await sql`SELECT 1 FROM pg_stat_activity WHERE pid = ${pid}`.execute(admin)).rows.length === 0;
          if (!gone) await new Promise((resolve) => setTimeout(resolve, 20));
        }
        expect(gone).toBe(true);
        expect(await storage.query(stuckInstall.id, "SELECT n FROM items WHERE id = 'a'")).toEqual({ rows: [{ n: 1 }], rowCount: 1 });
      } finally {
        for (let poll = 0; poll < 1000 && (await running()).length > 0; poll++) await new Promise((resolve) => setTimeout(resolve, 20));
        for (const tenant of ["tenant-stuck", "tenant-bystander"]) await host.host.uninstall(tenant, "acme.notes", { purge: true }).catch(() => {});
        await host.close();
      }
    }, 60_000);

    it("a disable on this host cancels the statements an execution has running and drops those it has queued: none of them writes after it", async () => {
      const annexSchema = backend.freshSchema("annex_sqlrevoke");
      const host = await createTestHost({ database: await backend.connect(), schema: annexSchema, sql: { limits: { timeoutMs: 20_000, maxConcurrent: 2, maxQueued: 4 } } });
      const admin = (await backend.connect()) as Kysely<any>;
      try {
        const install = await host.install(await sqlBundle(), { tenant: "tenant-revoke" });
        const { schema_name: schema } = await admin.selectFrom(`${annexSchema}.annex_sql_schemas`).select("schema_name").where("install_id", "=", install.id).executeTakeFirstOrThrow();
        const marker = `revoke_${Math.random().toString(36).slice(2)}`;
        let unlock: () => void = () => {};
        const unlocked = new Promise<void>((resolve) => (unlock = resolve));
        let locked: () => void = () => {};
        const lockHeld = new Promise<void>((resolve) => (locked = resolve));
        // Another session holds the table, so the install's statements wait on it: two with a place, one queued behind them.
        const holder = admin.connection().execute(async (connection) => {
          await sql`BEGIN`.execute(connection);
          await sql.raw(`LOCK TABLE "${schema}".items IN ACCESS EXCLUSIVE MODE`).execute(connection);
          locked();
          await unlocked;
          await sql`COMMIT`.execute(connection);
        });
        await lockHeld;
        const waiting = async () =>
          (await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE ${`%${marker}%`} AND pid <> pg_backend_pid()`.execute(admin)).rows[0]!.n;
        const burst = callSql(host, "/burst", { text: `UPDATE /* ${marker} */ items SET n = n + 1 WHERE id = 'a'`, n: 3 }, "tenant-revoke");
        for (let poll = 0; poll < 250 && (await waiting()) < 2; poll++) await new Promise((resolve) => setTimeout(resolve, 20));
        expect(await waiting()).toBe(2);
        await host.host.disable("tenant-revoke", "acme.notes");
        unlock();
        await holder;
        expect(await burst).toEqual({ settled: ["E_INSTALL_CHANGED", "E_INSTALL_CHANGED", "E_INSTALL_CHANGED"] });
        // Neither the two cancelled nor the queued one wrote.
        const row = await admin.selectFrom(`${schema}.items`).select("n").where("id", "=", "a").executeTakeFirstOrThrow();
        expect(row.n).toBe(1);
        expect(await waiting()).toBe(0);
      } finally {
        await host.host.uninstall("tenant-revoke", "acme.notes", { purge: true }).catch(() => {});
        await host.close();
      }
    }, 60_000);
  }
});

/**
 * The role layer as production runs it: the host connects to PostgreSQL as an
 * ordinary login role (not a superuser) holding only what docs/storage-sql.md
 * lists — LOGIN, CREATEROLE, and CREATE on the database — and every install's
 * role, schema and migrations are made by that role. PostgreSQL only: PGlite
 * has no roles worth the name (every session is a superuser), so without
 * ANNEX_TEST_DATABASE_URL no suite is made (as describePostgres).
 */
const DATABASE_URL = process.env["ANNEX_TEST_DATABASE_URL"];

if (DATABASE_URL !== undefined && DATABASE_URL !== "") {
  describe("owned schemas with a non-superuser host role on PostgreSQL", () => {
    const suffix = `${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`;
    const hostRole = `annex_host_${suffix}`;
    const annexSchema = `annex_nsu_${suffix}`;
    let admin: Kysely<any>;
    let t: TestHost;
    let own: InstallInfo;
    let other: InstallInfo;

    const refused = (result: SqlResult) => expect(result).toMatchObject({ ok: false, code: "E_SQL_REFUSED" });

    /**
     * Runs `statement` as the install's role through the host's own connection, past the guard: what the
     * role alone allows. Always rolled back, so that nothing it sets (a session-level SET ROLE) outlives it
     * on the pooled connection.
     */
    async function asInstallRole(install: InstallInfo, statement: string): Promise<{ ok: true } | { ok: false; sqlstate: string; message: string }> {
      const rollback = new Error("roll back");
      try {
        await t.host.database.root.transaction().execute(async (trx) => {
          await sql.raw(`SET LOCAL ROLE "${install.sql!.schema}"`).execute(trx);
          await sql.raw(statement).execute(trx);
          throw rollback;
        });
      } catch (error) {
        if (error === rollback) return { ok: true };
        return { ok: false, sqlstate: (error as { code: string }).code, message: (error as Error).message };
      }
      throw new Error("unreachable: the transaction always rolls back");
    }

    beforeAll(async () => {
      const { default: pg } = await import("pg");
      admin = new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: DATABASE_URL, max: 2 }) }) });
      const database = (await sql<{ db: string }>`SELECT current_database() AS db`.execute(admin)).rows[0]!.db;
      // The minimal grants (docs/storage-sql.md): log in, create the installs' roles, create schemas (Annex's and the installs').
      await sql.raw(`CREATE ROLE "${hostRole}" LOGIN NOSUPERUSER NOCREATEDB CREATEROLE NOREPLICATION NOBYPASSRLS`).execute(admin);
      await sql.raw(`GRANT CREATE ON DATABASE "${database}" TO "${hostRole}"`).execute(admin);
      const url = new URL(DATABASE_URL);
      url.username = hostRole;
      url.password = "";
      t = await createTestHost({ database: url.toString(), schema: annexSchema });
      own = await t.install(await sqlBundle());
      other = await t.install(await sqlBundle(), { tenant: "tenant-b" });
    }, 60_000);

    afterAll(async () => {
      try {
        if (t !== undefined) {
          for (const tenant of ["test-tenant", "tenant-b"]) {
            for (const install of await t.host.listInstalls(tenant)) await t.host.uninstall(tenant, install.extensionId, { purge: true });
          }
          await t.close();
        }
      } finally {
        // Whatever a failed run left: the installs' roles (the host's role is a member of each), Annex's schema, the host's role.
        const leftovers = await sql<{ role: string }>`
          SELECT r.rolname AS role FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles h ON h.oid = m.member
          WHERE h.rolname = ${hostRole}`.execute(admin);
        await sql.raw(`DROP SCHEMA IF EXISTS "${annexSchema}" CASCADE`).execute(admin);
        for (const { role } of leftovers.rows) {
          await sql.raw(`DROP OWNED BY "${role}" CASCADE`).execute(admin);
          await sql.raw(`DROP ROLE IF EXISTS "${role}"`).execute(admin);
        }
        await sql.raw(`DROP OWNED BY "${hostRole}" CASCADE`).execute(admin);
        await sql.raw(`DROP ROLE IF EXISTS "${hostRole}"`).execute(admin);
        await admin.destroy();
      }
    });

    it("connects as a role that is not a superuser", async () => {
      const me = await sql<{ me: string; rolsuper: boolean; rolcreaterole: boolean }>`
        SELECT current_user AS me, rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user`.execute(t.host.database.root);
      expect(me.rows[0]).toEqual({ me: hostRole, rolsuper: false, rolcreaterole: true });
    });

    it("installs with migrations: each install gets a schema owned by a role of its own, and its ledger", async () => {
      for (const install of [own, other]) {
        const status = await t.sql(install.id).status();
        expect(status).toMatchObject({ status: "ready", version: "0001" });
        const owner = await sql<{ owner: string; login: boolean; sup: boolean }>`
          SELECT pg_get_userbyid(n.nspowner) AS owner, r.rolcanlogin AS login, r.rolsuper AS sup
          FROM pg_namespace n JOIN pg_roles r ON r.rolname = pg_get_userbyid(n.nspowner) WHERE n.nspname = ${status!.schema}`.execute(admin);
        expect(owner.rows[0]).toEqual({ owner: status!.schema, login: false, sup: false });
      }
    });

    it("runs the extension's statements as its role, in its schema", async () => {
      expect(await runSql(t, "SELECT current_user AS me, name FROM items WHERE id = $1", ["a"])).toEqual({
        ok: true,
        rows: [{ me: own.sql!.schema, name: "apple" }],
        rowCount: 1,
      });
      expect(await runSql(t, "INSERT INTO items (id, name, n) VALUES ($1, $2, $3) RETURNING n", ["c", "cherry", 3])).toEqual({ ok: true, rows: [{ n: 3 }], rowCount: 1 });
      expect((await runSql(t, "SELECT count(*)::int AS n FROM items", [], "tenant-b")).rows).toEqual([{ n: 2 }]);
    });

    it("refuses identity changes from a handler, and the role stays its own afterwards", async () => {
      refused(await runSql(t, "SET ROLE postgres"));
      refused(await runSql(t, `SET ROLE "${hostRole}"`));
      refused(await runSql(t, "RESET ROLE"));
      refused(await runSql(t, "SET SESSION AUTHORIZATION postgres"));
      refused(await runSql(t, "SELECT set_config('role', 'postgres', true)"));
      expect((await runSql(t, "SELECT current_user AS me")).rows).toEqual([{ me: own.sql!.schema }]);
    });

    it("refuses Annex's tables and the other install's schema from a handler", async () => {
      refused(await runSql(t, `SELECT * FROM "${annexSchema}".annex_installs`));
      refused(await runSql(t, `SELECT * FROM "${other.sql!.schema}".items`));
      expect(await runSql(t, "SELECT * FROM annex_installs")).toMatchObject({ ok: false, code: "E_SQL_FAILED" });
    });

    it("holds at the role layer too: past the guard, the install's role reaches nothing but its schema", async () => {
      const denied = (result: Awaited<ReturnType<typeof asInstallRole>>) => expect(result).toMatchObject({ ok: false, sqlstate: "42501" });
      denied(await asInstallRole(own, `SELECT * FROM "${annexSchema}".annex_installs`));
      denied(await asInstallRole(own, `SELECT * FROM "${other.sql!.schema}".items`));
      denied(await asInstallRole(own, `INSERT INTO "${other.sql!.schema}".items (id, name) VALUES ('x', 'x')`));
      denied(await asInstallRole(own, "SELECT pg_read_file('/etc/passwd')"));
      denied(await asInstallRole(own, "CREATE SCHEMA escape_attempt"));
      denied(await asInstallRole(own, "SET ROLE postgres"));
      denied(await asInstallRole(own, "SET SESSION AUTHORIZATION postgres"));
      expect(await asInstallRole(own, `SELECT * FROM "${own.sql!.schema}".items`)).toEqual({ ok: true });
    });

    it("shows why identity changes are the guard's to refuse: SET ROLE is checked against the session's user, the host", async () => {
      // Past the guard, the install's role could become any role the host's role may become — the host
      // itself, another install's role — as RESET ROLE would. Layer 1 refuses every spelling of it (the
      // test above); a host role that is not a superuser keeps even that worst case short of a superuser.
      expect(await asInstallRole(own, `SET ROLE "${hostRole}"`)).toEqual({ ok: true });
      expect(await asInstallRole(own, `SET ROLE "${other.sql!.schema}"`)).toEqual({ ok: true });
      expect(await asInstallRole(own, "SET ROLE postgres")).toMatchObject({ ok: false, sqlstate: "42501" });
    });

    it("purges an install as the non-superuser: its schema and its role are gone", async () => {
      const schema = other.sql!.schema;
      await t.host.uninstall("tenant-b", "acme.notes", { purge: true });
      const left = await sql<{ schemas: number; roles: number }>`
        SELECT (SELECT count(*)::int FROM pg_namespace WHERE nspname = ${schema}) AS schemas,
               (SELECT count(*)::int FROM pg_roles WHERE rolname = ${schema}) AS roles`.execute(admin);
      expect(left.rows[0]).toEqual({ schemas: 0, roles: 0 });
    });
  });
}
