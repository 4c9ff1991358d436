import { GROWING_FUNCTIONS } from "./allowlist.js";
import { refused, SqlStorageError } from "./errors.js";
import { lastName, type Node } from "./parse-tree.js";

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
 * - Size-increasing operations (concatenation, building arrays, rows and
 *   json, escaping, whole-row references; see LARGER_FUNCTIONS,
 *   ESCAPING_FUNCTIONS) each return a fixed multiple of their input, but one
 *   per level of a CTE chain is a tower (22 levels of `v || v` ran PGlite out
 *   of memory): they and the growing calls all sit at one query level, except
 *   where a value never leaves its level (SINK_FIELDS: WHERE, ON, ORDER BY …).
 * - Escape once: no escaping call takes another escaping or growing call's
 *   result (22 nested quote_literal built 277 MB), except a json, array or
 *   row value handed as it is to a builder (EMBEDDING), which embeds it.
 * - A growing aggregate is not a window function: `string_agg(…) OVER
 *   (ORDER BY …)` returns a prefix of the whole per row, n² in all.
 * - Not in migrations' stored expressions (views, column defaults, generated
 *   columns, checks, indexes): PostgreSQL applies them again to what a
 *   statement writes or reads, which this check cannot see.
 */
export function checkGrowth(kind: string, statement: Node): void {
  const stored = !DML_STATEMENTS.has(kind);
  const relations = relationNames(statement);
  let first: { name: string; place: object } | undefined;

  const visit = (value: unknown, at: Context, field: string): void => {
    if (Array.isArray(value)) {
      for (const item of value) visit(item, at, field);
      return;
    }
    if (typeof value !== "object" || value === null) return;
    for (const [key, child] of Object.entries(value as Node)) {
      if (key === "returningList") {
        visit(child, { ...at, place: {}, sink: false }, key);
        continue;
      }
      if (!/^[A-Z]/.test(key) || typeof child !== "object" || child === null || Array.isArray(child)) {
        // A value computed in a condition, ordering or limit never leaves its query level.
        visit(child, SINK_FIELDS.has(key) ? { ...at, sink: true } : at, key);
        continue;
      }
      const node = child as Node;
      if (key === "FuncCall" && lastName(node["funcname"]) === "format") checkFormat(node);
      // A statement read as a relation is a place of its own; a sublink's query is part of the expression it sits in.
      const level = (LEVELS.has(key) && field !== "subselect" && field !== "query") || key === "RangeFunction";
      const here: Context = level ? { ...at, place: {}, sink: false } : at;
      const name = growingName(key, node);
      // A value spelled out in the text (ARRAY[1, 2, 3], 'a' || 'b') is as large as its text wherever it sits: seed data in a migration.
      const literal = name === undefined && spelledOut(key, node);
      const escaping = literal ? undefined : escapingName(key, node);
      const larger = name ?? escaping ?? (literal ? undefined : largerName(key, node, field, relations));
      // Inside an escaping call's arguments, what the path passes through: only embedding (json, arrays, rows) keeps it clean.
      const clean = here.escaping !== undefined && here.clean && (EMBEDDING.has(key === "FuncCall" ? lastName(node["funcname"]) ?? "" : key) || (key === "TypeCast" && JSON_TYPES.has(lastName((node["typeName"] as Node | undefined)?.["names"]) ?? "")) || key === "CoalesceExpr" || (key === "SubLink" && node["subLinkType"] === "EXPR_SUBLINK") || key === "SelectStmt" || key === "ResTarget");
      if (here.escaping !== undefined && (escaping !== undefined || name !== undefined) && !(here.clean && (name !== undefined || EMBEDDING.has(escapingKey(key, node))))) {
        const what = escaping ?? name!;
        throw refused(`${here.escaping} over the result of ${what} is not allowed: ${here.escaping} escapes or quotes its input (which can double it) and ${what} can return more than it is given, so nesting them doubles a value per call; escape once (quote_literal(x), to_jsonb(x)), or embed json values directly (json_build_object('a', json_build_object('b', col)))`, { function: what, inside: here.escaping });
      }
      if (larger !== undefined && name === undefined && !here.sink) {
        if (first !== undefined && first.place !== here.place) {
          throw refused(`${first.name} and ${larger} in different query levels of one statement are not allowed: each can return more than it is given, and one level would read what the other produced (through a subquery, CTE, function in FROM or RETURNING), so a chain of levels doubles a value per level; build the value in one query level, or split the statement`, { function: larger, other: first.name });
        }
        first ??= { name: larger, place: here.place };
      }
      let next: Context = escaping !== undefined
        ? { ...here, escaping, clean: EMBEDDING.has(escapingKey(key, node)) }
        : here.escaping !== undefined ? { ...here, clean } : here;
      const quoting = key === "RowExpr" || (key === "A_ArrayExpr" && here.quoting > 0) ? here.quoting + 1 : JSON_BUILDERS.has(escapingKey(key, node)) ? 0 : here.quoting;
      if (quoting > MAX_QUOTING) {
        throw refused(
          `a row or array inside ${MAX_QUOTING} rows (ROW(ROW(ROW(…))), ROW(ARRAY[ROW(…)]) …) is not allowed: PostgreSQL's text form of a row quotes each row or array in it again, so the text doubles per level; keep rows one level deep, or build the nested value as json (jsonb_build_object, to_jsonb), which nests without quoting`,
          { nesting: quoting, maxRowNesting: MAX_QUOTING },
        );
      }
      if (quoting !== next.quoting) next = { ...next, quoting };
      if (name === undefined) {
        visit(node, next, key);
        continue;
      }
      if (stored) {
        throw refused(`${name} is not allowed in ${kind.replace(/Stmt$/, "")} statements of a migration: a stored expression (view, default, generated column, check, index) would apply it to what a statement's own ${name} already grew; call it in the statement that reads or writes the data`, { function: name });
      }
      if (here.inside !== undefined) {
        throw refused(`${name} over the result of ${here.inside} is not allowed: each can return far more than it is given, so one inside the other multiplies without bound; compute the inner one in a separate statement`, { function: name, inside: here.inside });
      }
      if (isWindow(key, node)) {
        throw refused(`${name} as a window function is not allowed: each row's value grows with the rows before it; aggregate with GROUP BY instead`, { function: name });
      }
      if (first !== undefined && first.place !== here.place) {
        throw refused(`${first.name} and ${name} in different query levels of one statement are not allowed: one would read what the other grew (through a subquery, CTE, function in FROM or RETURNING); split the statement`, { function: name, other: first.name });
      }
      first ??= { name, place: here.place };
      visit(node, { ...next, inside: name }, key);
    }
  };
  visit(statement, { place: {}, inside: undefined, sink: false, escaping: undefined, clean: false, quoting: 0 }, "");
}

interface Context {
  /** The query level (an identity). */
  place: object;
  /** The growing call whose arguments these are. */
  inside: string | undefined;
  /** In a condition, ordering or limit: the value does not leave its level. */
  sink: boolean;
  /** The escaping call whose arguments these are, and whether only embedding (json, array, row) lies between. */
  escaping: string | undefined;
  clean: boolean;
  /** Rows (and arrays under a row) built around this value whose text form quotes it again (see MAX_QUOTING). */
  quoting: number;
}

/**
 * How many row constructors (and arrays under one) may wrap a value. A row
 * or array is embedded as it is in the binary value, but PostgreSQL's text
 * form of a row quotes a field that is itself a row or an array, doubling
 * its quotes, and an array quotes a row element the same way: the text
 * doubles per level. `ROW(ROW(… ROW($1) …))` 26 deep printed 134 MB in
 * 2.5 s on PGlite (+376 MB it keeps), 30 deep ran it out of memory, from
 * a statement of 150 characters. Two levels quadruple at most. json
 * builders convert rows structurally (no quoting), so they start again.
 */
const MAX_QUOTING = 2;

/** Fields whose values never leave their query level: conditions, orderings, limits. */
const SINK_FIELDS: ReadonlySet<string> = new Set([
  "whereClause", "havingClause", "quals", "sortClause", "limitCount", "limitOffset", "distinctClause", "partitionClause",
  "orderClause", "startOffset", "endOffset", "agg_filter", "agg_order", "joinCondition", "condition",
]);

/**
 * Calls and syntax whose result can be larger than their input by a factor (concatenation, building arrays, rows
 * and json, splitting text into an array, whose text form quotes each element). Harmless in one query level: the
 * factor is bounded by the statement's text. Across levels each level could double again what the last produced.
 */
const LARGER_FUNCTIONS: ReadonlySet<string> = new Set([
  "concat", "concat_ws", "textcat", "format", "overlay", "array_cat", "array_append", "array_prepend", "jsonb_set",
  "jsonb_insert", "jsonb_set_lax", "string_to_array", "regexp_split_to_array", "regexp_match", "regexp_matches", "to_tsvector",
  "json_object", "jsonb_object",
]);

/** Calls that escape or quote their input (its quotes, backslashes or bytes take more room in the result). */
const ESCAPING_FUNCTIONS: ReadonlySet<string> = new Set([
  "quote_literal", "quote_ident", "quote_nullable", "encode", "to_json", "to_jsonb", "row_to_json", "array_to_json",
  "json_build_object", "jsonb_build_object", "json_build_array", "jsonb_build_array",
]);

/** Calls and syntax that embed a json, array or row value as it is: one of them as a direct argument is not escaped again. */
const EMBEDDING: ReadonlySet<string> = new Set([
  "to_json", "to_jsonb", "row_to_json", "array_to_json", "json_build_object", "jsonb_build_object", "json_build_array",
  "jsonb_build_array", "json_agg", "jsonb_agg", "json_object_agg", "jsonb_object_agg", "array_agg", "jsonb_set", "jsonb_insert",
  "jsonb_strip_nulls", "json_strip_nulls", "A_ArrayExpr", "RowExpr", "JsonObjectConstructor", "JsonArrayConstructor",
  "JsonArrayAgg", "JsonObjectAgg", "JsonArrayQueryConstructor",
]);
/** The embedding calls that return json: they convert a row structurally, so the rows around it count from zero (MAX_QUOTING). */
const JSON_BUILDERS: ReadonlySet<string> = new Set([...EMBEDDING].filter((name) => name !== "array_agg" && name !== "A_ArrayExpr" && name !== "RowExpr"));
const JSON_TYPES: ReadonlySet<string> = new Set(["json", "jsonb"]);

/** The name of an escaping call (its text says what it is), else undefined. */
function escapingName(kind: string, node: Node): string | undefined {
  switch (kind) {
    case "FuncCall": {
      const name = lastName(node["funcname"]) ?? "";
      if (ESCAPING_FUNCTIONS.has(name)) return name;
      if (name === "format" && /%(?:[1-9][0-9]*\$)?-*[IL]/.test(formatText(node) ?? "")) return "format (%L / %I)";
      return undefined;
    }
    case "A_ArrayExpr":
      return "ARRAY[…]";
    case "RowExpr":
      return "ROW(…)";
    case "JsonObjectConstructor":
      return "JSON_OBJECT";
    case "JsonArrayConstructor":
      return "JSON_ARRAY";
    default:
      return undefined;
  }
}

function escapingKey(kind: string, node: Node): string {
  return kind === "FuncCall" ? lastName(node["funcname"]) ?? "" : kind;
}

/** The name of an operation that makes a value larger by a factor (not growing, not escaping), else undefined. */
function largerName(kind: string, node: Node, field: string, relations: ReadonlySet<string>): string | undefined {
  switch (kind) {
    case "FuncCall": {
      const name = lastName(node["funcname"]) ?? "";
      return LARGER_FUNCTIONS.has(name) ? name : undefined;
    }
    case "A_Expr":
      return lastName(node["name"]) === "||" ? "||" : undefined;
    case "ColumnRef": {
      // A whole row (t, or t.* as an argument), whose text form quotes each column again.
      const fields = (node["fields"] as Node[] | undefined) ?? [];
      const last = fields.at(-1);
      if (last !== undefined && "A_Star" in last) return field === "val" ? undefined : "a whole-row reference";
      const only = fields.length === 1 ? (fields[0]?.["String"] as { sval?: string } | undefined)?.sval : undefined;
      return only !== undefined && relations.has(only) ? `the whole-row reference ${only}` : undefined;
    }
    default:
      return undefined;
  }
}

/**
 * Whether a node is a value spelled out in the statement's text: literals, and casts, arrays, rows and operators of
 * literals only (no column, parameter, call or subquery). Its size is bounded by the text, so it grows nothing.
 */
function spelledOut(kind: string, node: Node): boolean {
  switch (kind) {
    case "A_Const":
      return true;
    case "TypeCast":
      return literalValue(node["arg"]);
    case "A_ArrayExpr":
      return ((node["elements"] as unknown[] | undefined) ?? []).every(literalValue);
    case "RowExpr":
      return ((node["args"] as unknown[] | undefined) ?? []).every(literalValue);
    case "A_Expr":
      return node["kind"] === "AEXPR_OP" && (node["lexpr"] === undefined || literalValue(node["lexpr"])) && literalValue(node["rexpr"]);
    default:
      return false;
  }
}

function literalValue(value: unknown): boolean {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const entries = Object.entries(value as Node);
  return entries.length === 1 && spelledOut(entries[0]![0], entries[0]![1] as Node);
}

/** Every name a FROM entry or CTE of the statement goes by: a bare column reference with one of them may be a whole row. */
function relationNames(statement: unknown): ReadonlySet<string> {
  const names = new Set<string>();
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(walk);
    if (typeof value !== "object" || value === null) return;
    const node = value as Node;
    for (const key of ["relname", "ctename"]) if (typeof node[key] === "string") names.add(node[key] as string);
    const range = node["RangeFunction"] as Node | undefined;
    // A function in FROM names a row only when it returns several columns (jsonb_each, unnest(a, b), WITH ORDINALITY …).
    const alias = ((range ?? node)["alias"] as Node | undefined)?.["aliasname"];
    if (typeof alias === "string" && (range === undefined || recordFunction(range))) names.add(alias);
    Object.values(range ?? node).forEach((child) => (child === range?.["alias"] ? undefined : walk(child)));
    if (range !== undefined) Object.entries(node).forEach(([key, child]) => (key === "RangeFunction" ? undefined : walk(child)));
  };
  walk(statement);
  return names;
}

const RECORD_FUNCTIONS: ReadonlySet<string> = new Set(["json_each", "jsonb_each", "json_each_text", "jsonb_each_text", "json_to_record", "jsonb_to_record", "json_to_recordset", "jsonb_to_recordset"]);

function recordFunction(range: Node): boolean {
  const functions = (range["functions"] as Node[] | undefined) ?? [];
  if (range["ordinality"] === true || range["coldeflist"] !== undefined || functions.length !== 1) return true;
  const call = ((functions[0]?.["List"] as Node | undefined)?.["items"] as Node[] | undefined)?.[0]?.["FuncCall"] as Node | undefined;
  if (call === undefined) return true;
  const name = lastName(call["funcname"]) ?? "";
  return RECORD_FUNCTIONS.has(name) || (name === "unnest" && ((call["args"] as unknown[] | undefined)?.length ?? 0) > 1);
}

function formatText(node: Node): string | undefined {
  const first = (node["args"] as Node[] | undefined)?.[0];
  const text = ((first?.["A_Const"] as Node | undefined)?.["sval"] as { sval?: unknown } | undefined)?.sval;
  return typeof text === "string" ? text : undefined;
}


const DML_STATEMENTS = new Set(["SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"]);
const LEVELS = DML_STATEMENTS;

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
