import { afterAll, beforeAll, expect, it } from "vitest";
import { describeBackends } from "../support/backends.js";
import { createTestHost, type TestHost } from "../../src/testing/index.js";
import { FIRST_MIGRATION, runSql, sqlBundle, type SqlResult } from "./support.js";

/**
 * A value nested deeper by each of many statements, each within the guard's
 * bounds, until copying it runs out of stack. On PGlite (before
 * pglite-overflow.ts) the statement that ran out answered nothing and the next
 * one hung the host's thread for good: no statement-shape rule can refuse it,
 * as each statement adds only 70 levels. Now it fails alone with PostgreSQL's
 * own error, as it does on PostgreSQL past max_stack_depth.
 */
describeBackends("a stored value nested past the stack", (backend) => {
  let t: TestHost;
  const DOCS = "CREATE TABLE docs (id int PRIMARY KEY, d jsonb NOT NULL);\nINSERT INTO docs VALUES (1, '[]');\n";
  const deeper = `UPDATE docs SET d = ${"jsonb_build_array(".repeat(70)}d${")".repeat(70)} WHERE id = 1`;
  const length = async (tenant?: string) => (await runSql(t, "SELECT length(d::text) AS n FROM docs WHERE id = 1", [], tenant)).rows?.[0]?.["n"];

  beforeAll(async () => {
    t = await createTestHost({ database: await backend.connect(), schema: backend.freshSchema("annex_sqloverflow"), sql: { limits: { timeoutMs: 10_000 } } });
    for (const tenant of [undefined, "tenant-b"]) await t.install(await sqlBundle({ "0001_items.sql": FIRST_MIGRATION, "0002_docs.sql": DOCS }), tenant === undefined ? {} : { tenant });
  }, 60_000);
  afterAll(async () => {
    for (const tenant of ["test-tenant", "tenant-b"]) if ((await t.host.getInstall(tenant, "acme.notes")) !== null) await t.host.uninstall(tenant, "acme.notes", { purge: true });
    await t.close();
  });

  it("fails the statement that runs out of stack alone, with PostgreSQL's error, and serves the next ones and other tenants", async () => {
    const results: SqlResult[] = [];
    // PGlite on Node's main thread runs out near 90 statements (≈6,300 levels). PostgreSQL's 2 MB max_stack_depth
    // allows far more, and each statement takes it ~200 ms at these depths: 20 show its answers match.
    const statements = backend.name === "pglite" ? 110 : 20;
    for (let i = 0; i < statements && results.filter((result) => !result.ok).length < 3; i++) results.push(await runSql(t, deeper));
    for (const result of results) {
      if (result.ok) expect(result).toEqual({ ok: true, rows: [], rowCount: 1 });
      else expect(result).toEqual({ ok: false, code: "E_SQL_FAILED", message: "stack depth limit exceeded" });
    }
    if (backend.name === "pglite") expect(results.some((result) => !result.ok)).toBe(true);
    // A failed statement changed nothing (each one that ran wrapped `[]` in 70 more pairs of brackets); the
    // install's other statements and another tenant's install are served.
    expect(await length()).toBe(2 + 140 * results.filter((result) => result.ok).length);
    expect(await runSql(t, "SELECT name FROM items WHERE id = $1", ["a"])).toEqual({ ok: true, rows: [{ name: "apple" }], rowCount: 1 });
    expect(await runSql(t, "UPDATE items SET n = n + 1 WHERE id = $1", ["a"])).toEqual({ ok: true, rows: [], rowCount: 1 });
    expect(await runSql(t, "SELECT name, n FROM items WHERE id = $1", ["a"], "tenant-b")).toEqual({ ok: true, rows: [{ name: "apple", n: 1 }], rowCount: 1 });
    expect(await length("tenant-b")).toBe(2);
  }, 120_000);

  it("refuses the deep value in a result with a typed error, and serves its text", async () => {
    // Left by the test above: over a thousand levels on either backend.
    expect(await length()).toBeGreaterThan(2 * 1400);
    const deep = await runSql(t, "SELECT d FROM docs WHERE id = 1");
    expect(deep).toMatchObject({ ok: false, code: "E_SQL_RESULT_TOO_DEEP", message: expect.stringMatching(/nests deeper than 1000 levels/) });
    const text = await runSql(t, "SELECT d::text AS d FROM docs WHERE id = 1");
    expect(text.ok).toBe(true);
    expect(String(text.rows?.[0]?.["d"])).toMatch(/^\[\[\[\[/);
    // 999 levels of json in a row (1,000 with the row) still come back as values.
    const nested = (n: number) => "[".repeat(n) + "]".repeat(n);
    expect(await runSql(t, "UPDATE docs SET d = $1::jsonb WHERE id = 1", [nested(999)])).toMatchObject({ ok: true, rowCount: 1 });
    const read = await runSql(t, "SELECT d FROM docs WHERE id = 1");
    expect(read.ok).toBe(true);
    expect(JSON.stringify(read.rows?.[0]?.["d"])).toBe(nested(999));
  });

  it("exports a table holding a value past the bound with its json columns as text, so a purge goes through", async () => {
    const nested = "[".repeat(1000) + "]".repeat(1000);
    expect(await runSql(t, "UPDATE docs SET d = $1::jsonb WHERE id = 1", [nested], "tenant-b")).toMatchObject({ ok: true, rowCount: 1 });
    const { purged, export: exported } = await t.host.uninstall("tenant-b", "acme.notes", { purge: true });
    expect(purged).toBe(true);
    const data = (exported!.data as { sql: { tables: Record<string, Record<string, unknown>[]>; jsonAsText?: Record<string, string[]> } }).sql;
    expect(data.jsonAsText).toEqual({ docs: ["d"] });
    expect(data.tables["docs"]).toEqual([{ id: 1, d: nested }]);
    // A table with nothing too deep is exported as values, as before.
    expect(data.tables["items"]).toEqual([
      { id: "a", name: "apple", n: 1 },
      { id: "b", name: "banana", n: 2 },
    ]);
  });
});
