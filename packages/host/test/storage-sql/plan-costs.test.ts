import { PGlite } from "@electric-sql/pglite";
import { sql, type Kysely } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeBackends } from "../support/backends.js";
import { FIRST_MIGRATION, runSql, sqlBundle } from "./support.js";
import { createTestHost, type TestHost } from "../../src/testing/index.js";
import { checkSql, loadParser } from "../../src/storage/sql/guard.js";
import { createPlanCostCache } from "../../src/storage/sql/plan-costs.js";


/** A cross join whose estimate grows with the square of the table: ~1.1e4 at two rows, ~1.3e6 at 20,000. */
const CROSS = "SELECT count(*) AS n FROM items a, items b";
const LIMIT = 1e6;
const numbers = (count: number, prefix = "x") => Array.from({ length: count }, (_, i) => `${prefix}${i}`).join(",");
const BULK_INSERT = "INSERT INTO items (id, name) SELECT i, 'bulk' FROM unnest(string_to_array($1, ',')) AS i";

describe("plan cost cache", () => {
  it("keeps an estimate per schema and text until it is invalidated, too old, or pushed out", () => {
    let clock = 0;
    const costs = createPlanCostCache({ maxEntries: 2, maxAgeMs: 100, now: () => clock });
    costs.set("ext_a", "SELECT 1", 5);
    costs.set("ext_b", "SELECT 1", 7);
    expect(costs.get("ext_a", "SELECT 1")).toBe(5);
    expect(costs.get("ext_b", "SELECT 1")).toBe(7);
    expect(costs.get("ext_a", "SELECT 1 ")).toBeUndefined();

    costs.invalidate("ext_a");
    expect(costs.get("ext_a", "SELECT 1")).toBeUndefined();
    expect(costs.get("ext_b", "SELECT 1")).toBe(7);

    clock = 101;
    expect(costs.get("ext_b", "SELECT 1")).toBeUndefined();
    expect(costs.size).toBe(0);

    costs.set("ext_a", "q1", 1);
    costs.set("ext_a", "q2", 2);
    expect(costs.get("ext_a", "q1")).toBe(1); // q1 is now the most recently used
    costs.set("ext_a", "q3", 3);
    expect([costs.get("ext_a", "q1"), costs.get("ext_a", "q2"), costs.get("ext_a", "q3")]).toEqual([1, undefined, 3]);
    costs.invalidate("ext_a");
    expect(costs.size).toBe(0);
  });
});

describe("estimates no parameter value can move (valueFreeEstimate, through the guard)", () => {
  beforeAll(() => loadParser());
  const free = (text: string) => checkSql(text, { schema: "ext_a", mode: "query", interruptible: false })[0]!.valueFreeEstimate;

  it("holds for parameters that are only plain comparison operands, through casts", () => {
    for (const text of [
      "SELECT id FROM items",
      "SELECT id FROM items WHERE id = $1",
      "SELECT id FROM items WHERE n > $1::int AND n <= $2 AND name <> $3::text::text LIMIT 10 OFFSET 5",
      "SELECT count(*) FROM items a, items b WHERE a.id = $1 OR $2 < b.n",
    ]) {
      expect([text, free(text)]).toEqual([text, true]);
    }
  });

  it("fails wherever a value moves the estimate", () => {
    for (const text of [
      "SELECT id FROM items LIMIT $1",
      "SELECT id FROM items OFFSET $1",
      "SELECT id FROM items WHERE id = ANY($1)",
      "SELECT id FROM items WHERE id <> ALL($1)",
      "SELECT id FROM items WHERE id IN ($1, $2)",
      "SELECT id FROM items WHERE name LIKE $1",
      "SELECT id FROM items WHERE name ~ $1",
      "SELECT id FROM items WHERE name SIMILAR TO $1",
      "SELECT count(*) FROM items, unnest($1::int[]) AS u",
      "SELECT id FROM items WHERE lower(name) = lower($1)",
      "SELECT id FROM items WHERE n = $1 + 1",
      "SELECT id FROM items WHERE n BETWEEN $1 AND $2",
      "SELECT id FROM items WHERE n = (SELECT max(n) FROM items LIMIT $1)",
    ]) {
      expect([text, free(text)]).toEqual([text, false]);
    }
  });
});

describeBackends("ctx.sql.query's cost check and session pin", (backend) => {
  if (backend.name === "pglite") {
    let pglite: PGlite;
    let t: TestHost;
    let explains = 0;

    beforeAll(async () => {
      pglite = await PGlite.create();
      // Counts the planner estimates Annex asks for: each exchange that carries an EXPLAIN.
      const execProtocol = pglite.execProtocol.bind(pglite);
      pglite.execProtocol = async (message, options) => {
        if (Buffer.from(message).includes("EXPLAIN (FORMAT JSON")) explains += 1;
        return execProtocol(message, options);
      };
      t = await createTestHost({ database: pglite, sql: { limits: { maxPlannerCost: LIMIT } } });
    });
    afterAll(async () => {
      await t?.close();
      await pglite?.close();
    });

    const fresh = async (tenant: string) => {
      const install = await t.install(await sqlBundle(), { tenant });
      const schema = install.sql!.schema;
      return { install, schema };
    };
    const estimate = async (schema: string) => {
      const plan = await sql.raw<{ "QUERY PLAN": Array<{ Plan: { "Total Cost": number } }> }>(`EXPLAIN (FORMAT JSON) ${CROSS.replace(/items/g, `"${schema}".items`)}`).execute(t.host.database.root);
      return plan.rows[0]!["QUERY PLAN"][0]!.Plan["Total Cost"];
    };

    it("asks for a read's estimate once, whatever its parameters; a write's every time", async () => {
      await fresh("tenant-once");
      explains = 0;
      for (const id of ["a", "b", "c", "a"]) {
        expect(await runSql(t, "SELECT id FROM items WHERE id = $1", [id], "tenant-once")).toMatchObject({ ok: true });
      }
      expect(explains).toBe(1);
      for (const id of ["a", "b"]) {
        expect(await runSql(t, "UPDATE items SET n = n + 1 WHERE id = $1", [id], "tenant-once")).toMatchObject({ ok: true, rowCount: 1 });
      }
      expect(explains).toBe(3);
      // The writes dropped the read's estimate: it is made again, once.
      await runSql(t, "SELECT id FROM items WHERE id = $1", ["a"], "tenant-once");
      await runSql(t, "SELECT id FROM items WHERE id = $1", ["b"], "tenant-once");
      expect(explains).toBe(4);
    });

    it("checks a remembered read again after the extension's write makes it too costly", async () => {
      const { schema } = await fresh("tenant-write");
      expect(await runSql(t, CROSS, [], "tenant-write")).toMatchObject({ ok: true, rows: [{ n: 4 }] });
      expect(await runSql(t, BULK_INSERT, [numbers(20_000)], "tenant-write")).toMatchObject({ ok: true, rowCount: 20_000 });
      expect(await estimate(schema)).toBeGreaterThan(LIMIT);
      const again = await runSql(t, CROSS, [], "tenant-write");
      expect(again).toMatchObject({ ok: false, code: "E_SQL_TIMEOUT" });
      expect(again.message).toMatch(/estimated cost/);
    });

    it("counts a SELECT whose WITH inserts as the write it is", async () => {
      const { schema } = await fresh("tenant-cte");
      expect(await runSql(t, CROSS, [], "tenant-cte")).toMatchObject({ ok: true, rows: [{ n: 4 }] });
      const grow = `WITH added AS (${BULK_INSERT} RETURNING 1) SELECT count(*)::int AS n FROM added`;
      expect(await runSql(t, grow, [numbers(20_000)], "tenant-cte")).toMatchObject({ ok: true, rows: [{ n: 20_000 }] });
      expect(await estimate(schema)).toBeGreaterThan(LIMIT);
      expect(await runSql(t, CROSS, [], "tenant-cte")).toMatchObject({ ok: false, code: "E_SQL_TIMEOUT" });
    });

    it("checks it again after a write that failed: its rolled-back rows still take pages", async () => {
      const { schema } = await fresh("tenant-failed");
      expect(await runSql(t, CROSS, [], "tenant-failed")).toMatchObject({ ok: true, rows: [{ n: 4 }] });
      // 40,000 rows, then 'a' again: the primary key refuses the whole statement.
      const failed = await runSql(t, BULK_INSERT, [`${numbers(40_000)},a`], "tenant-failed");
      expect(failed).toMatchObject({ ok: false, code: "E_SQL_FAILED" });
      expect((await t.sql((await t.host.getInstall("tenant-failed", "acme.notes"))!.id).query("SELECT count(*)::int AS n FROM items")).rows).toEqual([{ n: 2 }]);
      expect(await estimate(schema)).toBeGreaterThan(LIMIT);
      expect(await runSql(t, CROSS, [], "tenant-failed")).toMatchObject({ ok: false, code: "E_SQL_TIMEOUT" });
    });

    it("checks it again after an upgrade's migration", async () => {
      const { schema } = await fresh("tenant-migration");
      expect(await runSql(t, CROSS, [], "tenant-migration")).toMatchObject({ ok: true, rows: [{ n: 4 }] });
      const grow = `INSERT INTO items (id, name) SELECT i, 'migrated' FROM unnest(string_to_array('${numbers(20_000, "m")}', ',')) AS i;`;
      await t.upgrade(await sqlBundle({ "0001_items.sql": FIRST_MIGRATION, "0002_grow.sql": grow }, { version: "1.1.0" }), { tenant: "tenant-migration" });
      expect(await estimate(schema)).toBeGreaterThan(LIMIT);
      expect(await runSql(t, CROSS, [], "tenant-migration")).toMatchObject({ ok: false, code: "E_SQL_TIMEOUT" });
    });

    it("estimates with its values, on every call, a read whose values move the estimate (= ANY); a LIMIT or OFFSET discounts nothing", async () => {
      await fresh("tenant-values");
      expect(await runSql(t, BULK_INSERT, [numbers(20_000)], "tenant-values")).toMatchObject({ ok: true, rowCount: 20_000 });
      // The 400-million-row cross join under the LIMIT is what runs when the rows it waits for never come (an OFFSET past
      // them, a filter that never matches): its cost counts whatever the values.
      const offset = "SELECT a.id FROM items a, items b LIMIT 10 OFFSET $1";
      expect(await runSql(t, offset, [0], "tenant-values")).toMatchObject({ ok: false, code: "E_SQL_TIMEOUT" });
      expect(await runSql(t, offset, [400_000_000], "tenant-values")).toMatchObject({ ok: false, code: "E_SQL_TIMEOUT" });
      expect(await runSql(t, "SELECT id FROM items ORDER BY id LIMIT 10 OFFSET $1", [5], "tenant-values")).toMatchObject({ ok: true, rowCount: 10 });
      const any = "SELECT count(*) AS n FROM items a, items b WHERE a.id = ANY(string_to_array($1, ','))";
      expect(await runSql(t, any, ["x1"], "tenant-values")).toMatchObject({ ok: true, rows: [{ n: 20_002 }] });
      expect(await runSql(t, any, [numbers(20_000)], "tenant-values")).toMatchObject({ ok: false, code: "E_SQL_TIMEOUT" });
    });

    it("keeps no estimate longer than a second: rows written behind Annex's back are seen then", async () => {
      const { schema } = await fresh("tenant-behind");
      expect(await runSql(t, CROSS, [], "tenant-behind")).toMatchObject({ ok: true, rows: [{ n: 4 }] });
      await sql`INSERT INTO ${sql.table(`${schema}.items`)} (id, name) SELECT i, 'app' FROM unnest(string_to_array(${numbers(20_000)}, ',')) AS i`.execute(t.host.database.root);
      expect(await estimate(schema)).toBeGreaterThan(LIMIT);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      expect(await runSql(t, CROSS, [], "tenant-behind")).toMatchObject({ ok: false, code: "E_SQL_TIMEOUT" });
    });
  } else {
    let t: TestHost;
    let admin: Kysely<any>;

    beforeAll(async () => {
      admin = (await backend.connect()) as Kysely<any>;
      t = await createTestHost({ database: admin, schema: backend.freshSchema("annex_sqlpin") });
    });
    afterAll(async () => {
      for (const tenant of ["tenant-pin", "tenant-clean"]) {
        if ((await t.host.getInstall(tenant, "acme.notes")) !== null) await t.host.uninstall(tenant, "acme.notes", { purge: true });
      }
      await t?.close();
    });

    it("never runs a statement whose pin failed: with the install's role gone, a qualified insert does not happen as the host's user", async () => {
      const install = await t.install(await sqlBundle(), { tenant: "tenant-pin" });
      const { schema } = install.sql!;
      // Dropping the role makes SET LOCAL ROLE fail inside the pin (the schema keeps its data; ownership moves to the admin).
      await sql.raw(`REASSIGN OWNED BY "${schema}" TO CURRENT_USER; DROP OWNED BY "${schema}"; DROP ROLE "${schema}"`).execute(admin);
      const result = await runSql(t, `INSERT INTO ${schema}.items (id, name) VALUES ('unpinned', 'ran as the host')`, [], "tenant-pin");
      expect(result.ok).toBe(false);
      expect(result.message).toMatch(/role/);
      const rows = await sql<{ id: string }>`SELECT id FROM ${sql.table(`${schema}.items`)} WHERE id = 'unpinned'`.execute(admin);
      expect(rows.rows).toEqual([]);
      // Back as it was, so that the purge can drop the role with the schema.
      await sql.raw(`CREATE ROLE "${schema}" NOLOGIN; ALTER SCHEMA "${schema}" OWNER TO "${schema}"`).execute(admin);
    });

    it("gives every connection back clean: no open transaction, the host's own path and user, after answers and failures alike", async () => {
      const install = await t.install(await sqlBundle(), { tenant: "tenant-clean" });
      const host = await sql<{ path: string; me: string }>`SELECT current_setting('search_path') AS path, current_user AS me`.execute(admin);
      for (let i = 0; i < 12; i++) {
        expect((await runSql(t, "SELECT id FROM items WHERE id = $1", ["a"], "tenant-clean")).ok).toBe(true);
        expect(await runSql(t, "SELECT 1 / (n - n) FROM items", [], "tenant-clean")).toMatchObject({ ok: false, code: "E_SQL_FAILED" });
      }
      // More checks than the pool has connections, all at once, so that each connection answers one.
      const seen = await Promise.all(
        Array.from({ length: 16 }, () =>
          admin.connection().execute(async (connection) => {
            const state = await sql<{ path: string; me: string; open: boolean }>`SELECT current_setting('search_path') AS path, current_user AS me, now() <> statement_timestamp() AS open`.execute(connection);
            await new Promise((resolve) => setTimeout(resolve, 20));
            return state.rows[0]!;
          }),
        ),
      );
      for (const state of seen) expect(state).toEqual({ path: host.rows[0]!.path, me: host.rows[0]!.me, open: false });
      expect(install.sql!.schema).toMatch(/^ext_acme_notes_/);
    });
  }
});

describeBackends("TRUNCATE in ctx.sql.query", (backend) => {
  let t: TestHost;
  beforeAll(async () => {
    t = await createTestHost({ database: await backend.connect(), schema: backend.freshSchema("annex_sqltrunc") });
  });
  afterAll(async () => {
    if ((await t?.host.getInstall("tenant-truncate", "acme.notes")) !== null) await t.host.uninstall("tenant-truncate", "acme.notes", { purge: true });
    await t?.close();
  });

  it("empties the extension's own table (PGlite has no plan to estimate for it), and reads see it empty", async () => {
    const install = await t.install(await sqlBundle(), { tenant: "tenant-truncate" });
    expect(await runSql(t, "SELECT count(*)::int AS n FROM items", [], "tenant-truncate")).toMatchObject({ ok: true, rows: [{ n: 2 }] });
    expect(await runSql(t, "TRUNCATE items", [], "tenant-truncate")).toMatchObject({ ok: true });
    expect(await runSql(t, "SELECT count(*)::int AS n FROM items", [], "tenant-truncate")).toMatchObject({ ok: true, rows: [{ n: 0 }] });
    expect((await t.sql(install.id).query("SELECT count(*)::int AS n FROM items")).rows).toEqual([{ n: 0 }]);
  });
});
