import { afterAll, beforeAll, expect, it } from "vitest";
import { describeBackends } from "../support/backends.js";
import { FIRST_MIGRATION, runSql, sqlBundle } from "./support.js";
import { createTestHost, type TestHost } from "../../src/testing/index.js";

/**
 * What an install's own names can do to the host's text around its
 * statements. The host's wrappers run on the install's search_path, where
 * the install's schema comes before pg_catalog, so a type the migration
 * created (an enum, a table's row type) named like a built-in one would be
 * the one they cast to.
 */
describeBackends("owned schema: names the install chose", (backend) => {
  let t: TestHost;

  beforeAll(async () => {
    t = await createTestHost({ database: await backend.connect(), schema: backend.freshSchema("annex_sqlnames"), sql: { limits: { maxRows: 50, maxBytes: 20_000 } } });
  });
  afterAll(async () => {
    await t.close();
  });

  it("keeps the row and byte bounds pg_catalog's when the install made types named text and record", async () => {
    const install = await t.install(
      await sqlBundle({
        "0001_items.sql": FIRST_MIGRATION,
        "0002_names.sql": "CREATE TYPE text AS ENUM ('x');\nCREATE TABLE record (a integer);\nCREATE TABLE float8 (a integer);",
      }),
    );
    try {
      expect(install.state).toBe("active");
      expect(await runSql(t, "SELECT id, name FROM items ORDER BY id")).toEqual({ ok: true, rows: [{ id: "a", name: "apple" }, { id: "b", name: "banana" }], rowCount: 2 });
      expect(await runSql(t, "INSERT INTO items (id, name) VALUES ('z', 'zucchini') RETURNING id")).toEqual({ ok: true, rows: [{ id: "z" }], rowCount: 1 });
      // The bounds still hold with the built-in types: a row past maxBytes, read or returned by a write (rolled back).
      await t.sql(install.id).query("INSERT INTO items (id, name) VALUES ('big', $1)", ["x".repeat(30_000)]);
      expect(await runSql(t, "SELECT name FROM items WHERE id = 'big'")).toMatchObject({ ok: false, code: "E_SQL_RESULT_TOO_LARGE" });
      expect(await runSql(t, "UPDATE items SET n = n + 1 WHERE id = 'big' RETURNING name")).toMatchObject({ ok: false, code: "E_SQL_RESULT_TOO_LARGE" });
      expect(await runSql(t, "SELECT n FROM items WHERE id = 'big'")).toMatchObject({ ok: true, rows: [{ n: 0 }] });
      expect(await runSql(t, "SELECT id FROM items WHERE n >= 0")).toMatchObject({ ok: true, rowCount: 4 });
      // The install's own types are still its own to use.
      expect(await runSql(t, "SELECT 'x'::text AS v")).toMatchObject({ ok: true, rows: [{ v: "x" }] });
    } finally {
      await t.host.uninstall(install.tenant, install.extensionId, { purge: true });
    }
  });

  it("keeps a json key named __proto__ as data, in query results and in the export a purge returns", async () => {
    const install = await t.install(
      await sqlBundle(
        {
          "0001_docs.sql": `CREATE TABLE items (id text PRIMARY KEY, body jsonb NOT NULL);
INSERT INTO items VALUES ('a', '{"__proto__": {"secret": "kept"}, "visible": 1}');`,
        },
        { version: "1.1.0" },
      ),
    );
    // Rows as the guest receives them (what a guest returns is its own business: the runner drops its __proto__ keys).
    const { rows } = await t.sql(install.id).query("SELECT body FROM items");
    expect(Object.getPrototypeOf(rows[0]!["body"])).toBe(Object.prototype);
    expect(JSON.stringify(rows)).toBe('[{"body":{"visible":1,"__proto__":{"secret":"kept"}}}]');
    const purged = await t.host.uninstall(install.tenant, install.extensionId, { purge: true });
    const body = (purged.export!.data["sql"] as { tables: Record<string, Array<{ body: Record<string, unknown> }>> }).tables["items"]![0]!.body;
    expect(Object.getPrototypeOf(body)).toBe(Object.prototype);
    expect(Object.keys(body)).toEqual(["visible", "__proto__"]);
    expect(JSON.stringify(body)).toBe('{"visible":1,"__proto__":{"secret":"kept"}}');
  });
});
