import { refused } from "./errors.js";
import type { Node } from "./parse-tree.js";

/**
 * How deeply a statement may nest, as PGlite would plan it.
 *
 * PostgreSQL recurses over a statement's tree to analyse, plan and start it,
 * and guards that with `max_stack_depth`, measured on its own C stack. Under
 * PGlite most of a WebAssembly function's frame lives on V8's native stack
 * instead (~1 MB on Node's main thread), which runs out first: measured on
 * PGlite 0.5 and Node 20, `SELECT 1 + 1 + …` of ~280 terms, ~240 nested
 * `abs(` or `NOT`, ~150 nested scalar subqueries or 200 nested `CASE` made
 * the Bind of the extended protocol stop half-way without an error (no
 * BindComplete, a snapshot left active), the statement answered no rows or
 * "unnamed prepared statement does not exist", and ~300 terms hung the
 * host's thread for good. `max_stack_depth` at its minimum (100kB) does not
 * catch it. So the bound is taken before PostgreSQL sees the text, on
 * PostgreSQL too (where the same statement fails with 54001 at a depth that
 * depends on the server's settings) so that an extension behaves alike on
 * both.
 *
 * The depth counted is what the planner may stack, not only the text's
 * nesting: a subquery in FROM or WITH is folded into the query reading it
 * (its output expressions replace the columns that read them), so its depth
 * adds to the reader's rather than sitting beside it; an expression's
 * subquery is planned in the middle of the expression, so it continues that
 * path. Each node of libpg-query's tree counts one. A set operation's arms
 * (UNION …) are planned one after the other and count as their deepest.
 */
export const MAX_NESTING = 80;

/** Fields under which a query's rows are folded into the query that reads them (a CTE's body, a subquery in FROM). */
const FOLDED = new Set(["ctequery", "subquery"]);
const QUERIES = new Set(["SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"]);
/**
 * Of a folded query's depth, what its own wrapping takes (the query, its
 * output column, the column it reads): only the expression beyond them is
 * folded into the reader's.
 */
const FOLDED_FRAME = 3;

/** The depth of `statement` as defined above; refuses past MAX_NESTING (E_SQL_REFUSED). */
export function checkNesting(statement: Node, kind: string): void {
  const depth = composedDepth({ [kind]: statement });
  if (depth > MAX_NESTING) {
    throw refused(
      `the statement nests ${depth} levels deep (its expressions and subqueries, with those of the queries it reads in FROM and WITH added on), more than the ${MAX_NESTING} allowed: PGlite runs out of stack a few hundred levels down. Split long chains of operators across columns or statements, or use functions over arrays (array_to_string, sum …)`,
      { nesting: depth, maxNesting: MAX_NESTING },
    );
  }
}

interface Level {
  own: number;
  folded: number;
  parent: Level | undefined;
}

/**
 * The longest path of nodes in the tree, where a query under a FOLDED field
 * adds its depth (less FOLDED_FRAME) to its reader's instead of continuing
 * the path: the sum over siblings, since one may read another (a CTE reads
 * those before it, a LATERAL subquery the items before it). Iterative, so
 * that a tree deeper than JavaScript's own stack is measured, not thrown on.
 */
function composedDepth(root: unknown): number {
  const top: Level = { own: 0, folded: 0, parent: undefined };
  const levels: Level[] = [];
  const stack: Array<{ value: unknown; depth: number; level: Level; field: string }> = [{ value: root, depth: 0, level: top, field: "" }];
  while (stack.length > 0) {
    const { value, depth, level, field } = stack.pop()!;
    if (Array.isArray(value)) {
      for (const item of value) stack.push({ value: item, depth, level, field });
      continue;
    }
    if (typeof value !== "object" || value === null) continue;
    for (const [name, child] of Object.entries(value as Node)) {
      // Node types are capitalised (SelectStmt, A_Expr); fields are not (targetList, lexpr).
      if (!/^[A-Z]/.test(name)) {
        stack.push({ value: child, depth, level, field: name });
      } else if (FOLDED.has(field) && QUERIES.has(name)) {
        const inner: Level = { own: 1, folded: 0, parent: level };
        levels.push(inner);
        stack.push({ value: child, depth: 1, level: inner, field: "" });
      } else {
        level.own = Math.max(level.own, depth + 1);
        stack.push({ value: child, depth: depth + 1, level, field: "" });
      }
    }
  }
  // A level is made after the level holding it: from the last one made, each is complete when added to its parent.
  for (let i = levels.length - 1; i >= 0; i--) {
    const inner = levels[i]!;
    inner.parent!.folded += Math.max(0, inner.own - FOLDED_FRAME) + inner.folded;
  }
  return top.own + top.folded;
}
