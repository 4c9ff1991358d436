import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestHost, type TestHost } from "../../src/testing/index.js";
import { createTextBudget } from "../../src/storage/sql/text-budget.js";
import { describeBackends } from "../support/backends.js";
import { runSql, sqlBundle } from "./support.js";

describe("the budget of new statement text", () => {
  it("spends per key, refills at its rate up to its burst, and refuses what it cannot pay for without spending it", () => {
    let now = 0;
    const budget = createTextBudget(1000, 4000, () => now);
    budget.spend("a", 3000);
    expect(() => budget.spend("a", 1500)).toThrow(expect.objectContaining({ code: "E_SQL_BUSY", details: expect.objectContaining({ retryAfterMs: 500 }) }));
    // The refusal spent nothing: 1,000 are still there. Another key has its own bucket.
    budget.spend("a", 1000);
    budget.spend("b", 4000);
    now = 1500;
    budget.spend("a", 1500);
    expect(() => budget.spend("a", 1)).toThrow(/E_SQL_BUSY|more new statement text/);
    // Never more than the burst, however long it waited.
    now = 1_000_000;
    expect(() => budget.spend("a", 4001)).toThrow(expect.objectContaining({ code: "E_SQL_BUSY" }));
    budget.spend("a", 4000);
  });
});

describeBackends("an install's new statement text, through ctx.sql.query", (backend) => {
  let t: TestHost;

  beforeAll(async () => {
    t = await createTestHost({ database: await backend.connect(), schema: backend.freshSchema("annex_sqltext"), sql: { limits: { checkedTextPerSecond: 1000, maxTextLength: 1000 } } });
    await t.install(await sqlBundle());
  });
  afterAll(async () => {
    await t.host.uninstall("test-tenant", "acme.notes", { purge: true });
    await t.close();
  });

  it("refuses new texts past the budget before parsing them, and keeps answering texts it has checked", async () => {
    // A red team: 990 different 8 KB texts in one request held the main thread 23-30 s (the guard parses each).
    const distinct = (i: number) => `SELECT id FROM items WHERE name = 'x' /* ${String(i).padStart(4, "0")} ${"p".repeat(880)} */`;
    const known = "SELECT id FROM items WHERE id = $1";
    expect(await runSql(t, known, ["a"])).toEqual({ ok: true, rows: [{ id: "a" }], rowCount: 1 });
    const codes: string[] = [];
    for (let i = 0; i < 6; i++) {
      const result = await runSql(t, distinct(i));
      codes.push(result.ok ? "ok" : result.code!);
    }
    // A burst of 4,000 characters: four texts of ~930, then none until it refills (1,000 a second).
    expect(codes.slice(0, 4)).toEqual(["ok", "ok", "ok", "ok"]);
    expect(codes.slice(4)).toEqual(["E_SQL_BUSY", "E_SQL_BUSY"]);
    const busy = await runSql(t, distinct(99));
    expect(busy.message).toMatch(/parameters \(\$1, \$2 …\)/);
    // Texts it has a verdict for cost nothing.
    expect(await runSql(t, known, ["b"])).toEqual({ ok: true, rows: [{ id: "b" }], rowCount: 1 });
    expect(await runSql(t, distinct(0))).toMatchObject({ ok: true });
    // A text longer than maxTextLength is refused as such.
    expect(await runSql(t, `SELECT 1 /* ${"q".repeat(1000)} */`)).toMatchObject({ ok: false, code: "E_SQL_PARAMS", message: expect.stringContaining("at most 1000 characters") });
  });
});
