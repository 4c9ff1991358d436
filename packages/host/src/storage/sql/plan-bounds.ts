import { FUNCTIONS, SET_RETURNING_FUNCTIONS } from "./allowlist.js";
import { SqlStorageError } from "./errors.js";

/** The alias of the statement's rows under the host's byte bound (verdicts.ts's boundedSelect). */
export const ROW_BOUND_ALIAS = "annex_capped";
/** The alias of the level of boundedSelect that sums the rows' bytes. */
const BOUND_LEVEL_ALIAS = "annex_w";
/** The alias of the level of boundedSelect that measures each row once, under the sum. */
export const ROW_SIZE_ALIAS = "annex_s";

/**
 * PGlite only: the cost a statement is checked against, read from its
 * `EXPLAIN (FORMAT JSON)` plan.
 *
 * PGlite cannot stop a statement once it runs, so the planner's estimate is
 * the only bound. It is a fair one for tables (the planner knows their
 * size), but not for set-returning functions: `jsonb_array_elements($1)`,
 * `unnest($1)`, `regexp_split_to_table($1, '')` are estimated at a fixed 100
 * or 1,000 rows whatever their input. Three of them over one 200-element
 * parameter, cross-joined under `LIMIT 1`, were estimated at 7 and ran 4.7 s
 * (n³ rows), blocking every install on the host. So, when a plan reads a
 * set-returning function:
 *
 * - One per plan at most. Their product is where the work grows faster than
 *   the input; a view or a subquery hides nothing here, since this reads the
 *   plan, not the text.
 * - The rows it returns are taken to be as many as the statement's input has
 *   characters (its text and its parameters): each element, key, match or
 *   piece it yields takes at least one of them. Every node that reads it
 *   (the function's scan, a CTE scan of its rows, each counted once per
 *   reference) scales the estimate by that input over the planner's guess.
 * - The cost is the plan's costliest node, not its top one: `LIMIT 1` over a
 *   filter that never matches still runs its whole input.
 *
 * Every plan, with a set-returning function or not, is bounded by its
 * costliest node: the host wraps every SELECT in `LIMIT maxRows + 1`, and a
 * LIMIT's cost is its input's scaled by the share of it the planner expects
 * to read, which is the whole of it when the filter never matches.
 */
export interface PlanBound {
  /** The cost to compare with `maxPlannerCost` (Infinity when the plan carries none). */
  cost: number;
  /** The plan reads a set-returning function: its bound depends on the parameters, so it is never remembered. */
  setReturning: boolean;
}

interface PlanNode {
  "Node Type"?: unknown;
  Alias?: unknown;
  "Total Cost"?: unknown;
  "Plan Rows"?: unknown;
  "Function Name"?: unknown;
  Plans?: unknown;
}

/**
 * Statements PostgreSQL plans (what EXPLAIN accepts): a migration's are
 * checked against the same bound before they run on PGlite; its DDL is not
 * (a table or an index is created in O(n log n) of its rows at most).
 */
export const PLANNED_STATEMENTS: ReadonlySet<string> = new Set(["SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"]);

/** Nodes that produce a set-returning function's rows. */
const PRODUCERS = new Set(["Function Scan", "ProjectSet", "Table Function Scan"]);
/** Nodes that read rows already produced once more (a CTE referenced twice is scanned twice). */
const REREADERS = new Set(["CTE Scan", "WorkTable Scan"]);

export function boundPlan(explained: unknown, inputSize: number): PlanBound {
  const root = (explained as Array<{ Plan?: PlanNode }> | undefined)?.[0]?.Plan;
  if (root === undefined) return { cost: Number.POSITIVE_INFINITY, setReturning: false };
  const nodes: PlanNode[] = [];
  // The host's byte bound (verdicts.ts's boundedSelect) scans the rows the statement returns, at most maxRows + 1 of
  // them, but the planner prices its nodes as if they read every row below: they are left out, so the statement is
  // bounded as it was before the host wrapped it. Everything under them is the statement's, and counts.
  const wrapper = new Set<PlanNode>();
  const visit = (node: PlanNode, parent: PlanNode | undefined): void => {
    const type = node["Node Type"];
    if (
      (type === "Subquery Scan" && node.Alias === BOUND_LEVEL_ALIAS) ||
      (type === "WindowAgg" && parent !== undefined && wrapper.has(parent) && parent.Alias === BOUND_LEVEL_ALIAS) ||
      (type === "Subquery Scan" && node.Alias === ROW_SIZE_ALIAS && parent !== undefined && wrapper.has(parent)) ||
      (type === "Subquery Scan" && node.Alias === ROW_BOUND_ALIAS && parent !== undefined && wrapper.has(parent))
    ) {
      wrapper.add(node);
    } else {
      nodes.push(node);
    }
    if (Array.isArray(node.Plans)) for (const child of node.Plans as PlanNode[]) visit(child, node);
  };
  visit(root, undefined);

  const producers = nodes.filter(isProducer);
  if (producers.length > 1) {
    throw new SqlStorageError(
      "E_SQL_REFUSED",
      `on PGlite a statement may read at most one set-returning function (jsonb_array_elements, unnest …); this one reads ${producers.length}: their rows multiply and PGlite cannot stop a statement once it runs. Split it into several statements (or call unnest with several arrays at once); on PostgreSQL the statement timeout bounds it instead`,
      { setReturning: producers.length },
    );
  }
  // The plan's costliest node, not its top one: a LIMIT scales its cost by the share of its input it expects to read,
  // so the host's own `LIMIT maxRows + 1` over a join whose filter never matches (24 copies of a 2-row table: 2²⁴
  // rows, 7-11 s on PGlite) was estimated at ~13,500 while the whole join ran.
  let cost = Math.max(...nodes.map((node) => finite(node["Total Cost"])));
  if (producers.length === 0) return { cost, setReturning: false };
  for (const node of nodes) {
    if (!isProducer(node) && !REREADERS.has(String(node["Node Type"]))) continue;
    const guessed = typeof node["Plan Rows"] === "number" && node["Plan Rows"] >= 1 ? node["Plan Rows"] : 1;
    cost *= Math.max(1, inputSize / guessed);
  }
  return { cost: Number.isFinite(cost) ? cost : Number.POSITIVE_INFINITY, setReturning: true };
}

/**
 * A function scan of a function known to return one row (`FROM lower($1)`)
 * is not a producer; one of a set-returning function, of several functions
 * (`ROWS FROM (…)`, no single name), or of a name not on the allowlist is.
 */
function isProducer(node: PlanNode): boolean {
  const type = String(node["Node Type"]);
  if (!PRODUCERS.has(type)) return false;
  if (type !== "Function Scan") return true;
  const name = node["Function Name"];
  return typeof name !== "string" || SET_RETURNING_FUNCTIONS.has(name) || !FUNCTIONS.has(name);
}

function finite(value: unknown): number {
  // No estimate is no permission: a plan without a cost is refused as if it cost too much.
  return typeof value === "number" && Number.isFinite(value) ? value : Number.POSITIVE_INFINITY;
}

/**
 * What bounds a set-returning function's rows: the characters of the
 * statement's text and of its parameters (after `toParams`, every value is a
 * string, number, boolean or null).
 */
export function inputSize(text: string, params: readonly unknown[]): number {
  let size = text.length;
  for (const value of params) size += value === null ? 0 : String(value).length;
  return Math.max(1, size);
}
