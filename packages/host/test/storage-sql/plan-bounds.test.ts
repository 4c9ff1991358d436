import { Kysely, sql } from "kysely";
import { describe, expect, it } from "vitest";
import { describeBackends } from "../support/backends.js";
import { FUNCTIONS, SET_RETURNING_FUNCTIONS } from "../../src/storage/sql/allowlist.js";
import { boundPlan, inputSize } from "../../src/storage/sql/plan-bounds.js";
import { SqlStorageError } from "../../src/storage/sql/errors.js";

interface Node {
  "Node Type": string;
  "Total Cost": number;
  "Plan Rows": number;
  "Function Name"?: string;
  Plans?: Node[];
}
const node = (type: string, cost: number, rows: number, children: Node[] = [], name?: string): Node => ({
  "Node Type": type,
  "Total Cost": cost,
  "Plan Rows": rows,
  ...(name === undefined ? {} : { "Function Name": name }),
  ...(children.length === 0 ? {} : { Plans: children }),
});
const plan = (root: Node) => [{ Plan: root }];

describe("boundPlan (PGlite's cost bound, read from the plan)", () => {
  it("takes the costliest node of a plan without a set-returning function too: a LIMIT's scaled cost hides nothing", () => {
    // The host's own LIMIT maxRows + 1 over a join whose filter never matches runs the whole join.
    const limited = plan(node("Limit", 7, 1, [node("Nested Loop", 35_000, 5000, [node("Seq Scan", 20, 2), node("Seq Scan", 20, 2)])]));
    expect(boundPlan(limited, 1_000_000)).toEqual({ cost: 35_000, setReturning: false });
    // A function scan of a function that returns one value is not a set.
    expect(boundPlan(plan(node("Function Scan", 0.01, 1, [], "lower")), 1_000_000)).toEqual({ cost: 0.01, setReturning: false });
  });

  it("refuses two set-returning functions in one plan, wherever they sit (a view's body is in the plan too)", () => {
    const viaView = plan(node("Aggregate", 225, 1, [node("Nested Loop", 200, 10_000, [node("Function Scan", 1, 100, [], "jsonb_array_elements"), node("Function Scan", 1, 100, [], "unnest")])]));
    const error = (() => {
      try {
        boundPlan(viaView, 10);
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(SqlStorageError);
    expect(error).toMatchObject({ code: "E_SQL_REFUSED", details: { setReturning: 2 } });
    // A target-list set function and a FROM one; a table function scan (JSON_TABLE, should one ever pass the guard).
    expect(() => boundPlan(plan(node("ProjectSet", 5, 1000, [node("Function Scan", 1, 100, [], "jsonb_each")])), 10)).toThrow(/at most one set-returning function/);
    expect(() => boundPlan(plan(node("Nested Loop", 5, 1000, [node("Table Function Scan", 1, 100), node("Function Scan", 1, 100, [], "unnest")])), 10)).toThrow(/reads 2/);
    // A function the allowlist does not know, or several under one scan (ROWS FROM), counts as a set.
    expect(() => boundPlan(plan(node("Nested Loop", 5, 1000, [node("Function Scan", 1, 1, [], "mystery"), node("Function Scan", 1, 1)])), 10)).toThrow(/reads 2/);
  });

  it("scales the costliest node by the input over the planner's guess, once per node that reads the rows", () => {
    // LIMIT 1 over a join the filter never satisfies runs the whole join: the costliest node counts, not the top one.
    const once = plan(node("Limit", 7, 1, [node("Hash Join", 500, 5000, [node("Function Scan", 1, 100, [], "jsonb_array_elements"), node("Seq Scan", 20, 1000)])]));
    expect(boundPlan(once, 10_000)).toEqual({ cost: 500 * 100, setReturning: true });
    // A small input never lowers the estimate.
    expect(boundPlan(once, 10)).toEqual({ cost: 500, setReturning: true });
    // Its rows read three times through a CTE: three more factors.
    const cte = node("CTE Scan", 2, 100);
    const cubed = plan(node("Aggregate", 40_000, 1, [node("Function Scan", 1, 100, [], "jsonb_array_elements"), node("Nested Loop", 35_000, 1e6, [cte, cte, cte])]));
    expect(boundPlan(cubed, 1000)).toEqual({ cost: 40_000 * 10 ** 4, setReturning: true });
  });

  it("refuses a plan without a cost as if it cost too much", () => {
    expect(boundPlan(undefined, 1).cost).toBe(Number.POSITIVE_INFINITY);
    expect(boundPlan([{ Plan: { "Node Type": "Result" } }], 1).cost).toBe(Number.POSITIVE_INFINITY);
  });

  it("measures the input as the characters of the text and of every parameter", () => {
    expect(inputSize("SELECT 1", [])).toBe(8);
    expect(inputSize("", [null])).toBe(1);
    expect(inputSize("x", ["abc", 12.5, true, null])).toBe(1 + 3 + 4 + 4);
  });
});

describeBackends("the set-returning allowlist against the catalog", (backend) => {
  it("names exactly the allowlisted functions PostgreSQL declares as returning sets", async () => {
    const db = await backend.connect();
    const text = "SELECT DISTINCT proname FROM pg_catalog.pg_proc WHERE proretset AND pronamespace = 'pg_catalog'::regnamespace";
    const { rows } = db instanceof Kysely ? await sql.raw<{ proname: string }>(text).execute(db) : await db.query<{ proname: string }>(text);
    const sets = new Set(rows.map((row) => row.proname));
    const allowedSets = [...FUNCTIONS].filter((name) => sets.has(name)).sort();
    expect(allowedSets).toEqual([...SET_RETURNING_FUNCTIONS].sort());
  });
});
