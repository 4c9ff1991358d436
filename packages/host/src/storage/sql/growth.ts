import { GROWING_FUNCTIONS } from "./allowlist.js";
import { SqlStorageError } from "./errors.js";

/**
 * How large a statement's values may grow from its input.
 *
 * PostgreSQL allocates each value whole (up to 1 GB) and PGlite's
 * WebAssembly heap never shrinks; on PGlite nothing stops a statement once it
 * runs, and the planner's cost estimate does not see a value's size. So what
 * a statement may compute must stay within a fixed bound of what it is given
 * (its text, its parameters and the rows it reads). Most functions return at
 * most a fixed multiple of their arguments; chains of `||`, `concat` or
 * `format` repeat a value once per few characters of the statement. What
 * remains are the functions of GROWING_FUNCTIONS (allowlist.ts), whose result
 * can be a product of two inputs. The rules:
 *
 * - `format` takes a literal format string whose conversions have no width
 *   (`%s`, `%2$I`, `%-L`, `%%`): `%400000000s` or `%*s` with a parameter
 *   pads to any size (allowlist.ts leaves out repeat, lpad and rpad for the
 *   same reason), and a format string sent as a parameter could hold either.
 * - Multiply once: no growing call takes another's result as input. So none
 *   sits inside another's arguments (a subquery there included), and all of
 *   a statement's growing calls sit at one place a value can flow from: one
 *   query level. A FROM subquery, a CTE, a function in FROM, INSERT's SELECT
 *   or VALUES, and RETURNING (which reads the rows the statement wrote) are
 *   each a place of their own; a scalar or ARRAY subquery is part of the
 *   level it is written in (its value leaves it only where it is written,
 *   which the first half of the rule checks).
 * - A growing aggregate is not a window function: `string_agg(…) OVER
 *   (ORDER BY …)` returns a prefix of the whole per row, n² in all.
 * - Not in migrations' stored expressions (views, column defaults, generated
 *   columns, checks, indexes): PostgreSQL applies them again to what a
 *   statement writes or reads, which this check cannot see.
 */
export function checkGrowth(kind: string, statement: Node): void {
  const stored = !DML_STATEMENTS.has(kind);
  let first: { name: string; place: object } | undefined;

  const visit = (value: unknown, place: object, inside: string | undefined, field: string): void => {
    if (Array.isArray(value)) {
      for (const item of value) visit(item, place, inside, field);
      return;
    }
    if (typeof value !== "object" || value === null) return;
    for (const [key, child] of Object.entries(value as Node)) {
      if (key === "returningList") {
        visit(child, {}, inside, key);
        continue;
      }
      if (!/^[A-Z]/.test(key) || typeof child !== "object" || child === null || Array.isArray(child)) {
        visit(child, place, inside, key);
        continue;
      }
      const node = child as Node;
      if (key === "FuncCall" && lastName(node["funcname"]) === "format") checkFormat(node);
      // A statement read as a relation is a place of its own; a sublink's query is part of the expression it sits in.
      const here = (LEVELS.has(key) && field !== "subselect" && field !== "query") || key === "RangeFunction" ? {} : place;
      const name = growingName(key, node);
      if (name === undefined) {
        visit(node, here, inside, key);
        continue;
      }
      if (stored) {
        throw refused(`${name} is not allowed in ${kind.replace(/Stmt$/, "")} statements of a migration: a stored expression (view, default, generated column, check, index) would apply it to what a statement's own ${name} already grew; call it in the statement that reads or writes the data`, { function: name });
      }
      if (inside !== undefined) {
        throw refused(`${name} over the result of ${inside} is not allowed: each can return far more than it is given, so one inside the other multiplies without bound; compute the inner one in a separate statement`, { function: name, inside });
      }
      if (isWindow(key, node)) {
        throw refused(`${name} as a window function is not allowed: each row's value grows with the rows before it; aggregate with GROUP BY instead`, { function: name });
      }
      if (first !== undefined && first.place !== here) {
        throw refused(`${first.name} and ${name} in different query levels of one statement are not allowed: one would read what the other grew (through a subquery, CTE, function in FROM or RETURNING); split the statement`, { function: name, other: first.name });
      }
      first ??= { name, place: here };
      visit(node, here, name, key);
    }
  };
  visit(statement, {}, undefined, "");
}

type Node = Record<string, unknown>;

const DML_STATEMENTS = new Set(["SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"]);
const LEVELS = DML_STATEMENTS;

function refused(message: string, details: Record<string, unknown>): SqlStorageError {
  return new SqlStorageError("E_SQL_REFUSED", message, details);
}

function lastName(list: unknown): string | undefined {
  if (!Array.isArray(list)) return undefined;
  return (list.at(-1) as { String?: { sval?: string } } | undefined)?.String?.sval;
}

/** The name of a growing call (a function of GROWING_FUNCTIONS, or its SQL syntax), else undefined. */
function growingName(kind: string, node: Node): string | undefined {
  switch (kind) {
    case "FuncCall": {
      const name = lastName(node["funcname"]) ?? "";
      if (GROWING_FUNCTIONS.has(name)) return name;
      // The separator once per element of an array of any length.
      if (name === "concat_ws" && node["func_variadic"] === true) return "concat_ws(VARIADIC …)";
      return undefined;
    }
    case "SubLink":
      return node["subLinkType"] === "ARRAY_SUBLINK" ? "ARRAY(subquery)" : undefined;
    case "JsonArrayAgg":
      return "JSON_ARRAYAGG";
    case "JsonObjectAgg":
      return "JSON_OBJECTAGG";
    case "JsonArrayQueryConstructor":
      return "JSON_ARRAY(subquery)";
    default:
      return undefined;
  }
}

function isWindow(kind: string, node: Node): boolean {
  if (kind === "FuncCall") return node["over"] !== undefined;
  return (node["constructor"] as Node | undefined)?.["over"] !== undefined;
}

/** A conversion: `%%`, or `%[n$][-…]` and the type, with no width (`%10s`, `%*s`, `%*2$s`). */
const CONVERSION = /^%(?:%|(?:[1-9][0-9]*\$)?-*[sIL])/;

function checkFormat(node: Node): void {
  const first = (node["args"] as Node[] | undefined)?.[0];
  const text = ((first?.["A_Const"] as Node | undefined)?.["sval"] as { sval?: unknown } | undefined)?.sval;
  if (typeof text !== "string" || node["agg_star"] === true) {
    throw refused("format takes a string literal as its format string (a parameter could pad to any width); or use concat and ||", { function: "format" });
  }
  for (let at = text.indexOf("%"); at !== -1; ) {
    const match = CONVERSION.exec(text.slice(at, at + 24));
    if (match === null) {
      throw refused(`format's conversion "${text.slice(at, at + 12)}" is not allowed: widths pad to any size (use %s, %I, %L, %n$s and %-s, without a width)`, { function: "format" });
    }
    at = text.indexOf("%", at + match[0].length);
  }
}
