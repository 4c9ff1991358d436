import { refused, SqlStorageError } from "./errors.js";
import { lastName, type Node } from "./parse-tree.js";

/**
 * Where a jsonpath is evaluated, and what it may say.
 *
 * A jsonpath runs inside one function call: the planner costs it as one
 * call whatever it does, and on PGlite nothing stops it. Measured: `$.**`
 * (every item at any depth, each with its whole subtree) over 12 KB of nested
 * brackets ran >25 s on PGlite, and out of memory in jsonb_path_query_array;
 * nested filters that read the root again (`$[*] ? (@ == $[*] ? (@ == -1))`)
 * are n³ (3 s at 300 elements on PostgreSQL); a subscript list repeats
 * (`$[0,0,0,0,0,0,0,0,0,0]` ten times per level: 10⁶ items from six levels).
 *
 * The rule: every jsonpath evaluated — the path argument of the jsonb_path_*
 * functions, the right operand of `@?` (and of `@@` when it could be
 * jsonpath), any cast to jsonpath, the path of JSON_QUERY / JSON_VALUE /
 * JSON_EXISTS / JSON_TABLE and its columns — is a string literal (a parameter
 * or a column could hold anything), and the literal passes checkJsonPathText.
 * That check is textual and conservative (it does not parse jsonpath; it may
 * refuse an unusual path that would be harmless, never let through one of
 * the forms above):
 *
 * - no `**` (any level, `**{m to n}`), checked on the text with jsonpath's
 *   escapes decoded too (`\u002a`);
 * - no `like_regex` (regex CPU in a call PGlite cannot stop), in any case and
 *   with escapes decoded: jsonpath reads `LIKE_REGEX` and `lik\e_regex` as the
 *   keyword;
 * - no comments (`/* … *\/`), so what the scan below sees as brackets,
 *   strings and `$` is what jsonpath sees;
 * - no `$` (the root, `$.a`, `$[*]`, or a `$variable` of `vars` / PASSING)
 *   inside a filter `? (…)` or a subscript `[…]`: those are evaluated once per
 *   item, so each re-reads a whole sequence per item, a degree more per
 *   nesting level. Except a bare `$name` / `$"name"` when the call's vars is
 *   `jsonb_build_object('name', $1::int, …)` of literals and scalar casts:
 *   one value read once per item (a variable holding an array would be
 *   compared item by item, lax mode unwrapping it);
 * - no comparison whose two operands both read the data (`@…`, `$…`, a
 *   variable not known scalar): it compares every pair, and lax mode unwraps
 *   arrays on both sides even without `[*]` (`$ ? (@.a[*] == @.b[*])`: 3.65 s
 *   on PGlite at 10,000 elements; `@.a == @.b` alike);
 * - no `,` inside a subscript (`[0, 0]`): each list repeats its items, a
 *   factor per level.
 *
 * What remains iterates each sequence once per enclosing item.
 *
 * `@@` is also text search (tsvector @@ tsquery, text @@ tsquery …), and the
 * parse tree has no types. jsonb @@ jsonpath is the only `@@` with a jsonpath,
 * and jsonpath has no casts: so `@@` is let through when an operand is
 * visibly text search (a to_tsvector / *_tsquery / setweight call, or a cast to
 * tsvector or tsquery), when it is prefix (geometric `@@ box`), or when its
 * right operand is a string literal passing the same check; any other `@@` is
 * refused (write `$1::tsquery` or `to_tsquery($1)`).
 */


/** The functions that evaluate a jsonpath given as their second (`path`) argument. */
export const JSONPATH_FUNCTIONS: ReadonlySet<string> = new Set([
  "jsonb_path_exists", "jsonb_path_match", "jsonb_path_query", "jsonb_path_query_array", "jsonb_path_query_first",
  "jsonb_path_exists_tz", "jsonb_path_match_tz", "jsonb_path_query_tz", "jsonb_path_query_array_tz", "jsonb_path_query_first_tz",
]);

/** Calls whose result is a tsvector or tsquery: an `@@` with one of them as an operand is text search. */
const TEXT_SEARCH_FUNCTIONS: ReadonlySet<string> = new Set(["to_tsvector", "to_tsquery", "plainto_tsquery", "phraseto_tsquery", "websearch_to_tsquery", "setweight"]);
const TEXT_SEARCH_TYPES: ReadonlySet<string> = new Set(["tsvector", "tsquery"]);

/** Checks one parse node (its kind and body, as guard.ts's walk hands them) wherever a jsonpath is evaluated. */
export function checkJsonPathUse(kind: string, node: Node): void {
  switch (kind) {
    case "FuncCall": {
      const name = lastName(node["funcname"]);
      if (!JSONPATH_FUNCTIONS.has(name)) return;
      const args = (node["args"] as Node[] | undefined) ?? [];
      const argument = (field: string, position: number): unknown => {
        const named = args.find((arg) => (arg["NamedArgExpr"] as Node | undefined)?.["name"] === field);
        if (named !== undefined) return (named["NamedArgExpr"] as Node)["arg"];
        const arg = args[position];
        return arg === undefined || arg["NamedArgExpr"] !== undefined ? undefined : arg;
      };
      pathLiteral(argument("path", 1), `${name}'s path`, scalarVars(argument("vars", 2)));
      return;
    }
    case "A_Expr":
      return operator(lastName(node["name"]), node["lexpr"], node["rexpr"]);
    case "SubLink": {
      const name = lastName(node["operName"]);
      if (name === "@?" || (name === "@@" && !textSearch(node["testexpr"]))) {
        throw refused(`${name} over a subquery is not allowed: its jsonpath would not be a literal the guard can check; use ${name} with a string literal path`, { operator: name });
      }
      return;
    }
    case "TypeCast": {
      const type = node["typeName"] as Node | undefined;
      const name = lastName(type?.["names"]);
      if (name === "_jsonpath" || (name === "jsonpath" && Array.isArray(type?.["arrayBounds"]))) {
        throw refused("jsonpath arrays are not allowed: give each jsonpath as a string literal where it is used", { type: "jsonpath[]" });
      }
      if (name === "jsonpath") pathLiteral(node["arg"], "a cast to jsonpath");
      return;
    }
    case "JsonFuncExpr":
      return pathLiteral(node["pathspec"], `${String(node["op"]).replace(/_OP$/, "")}'s path`);
    case "JsonTable":
    case "JsonTableColumn": {
      const spec = node["pathspec"] as Node | undefined;
      if (spec !== undefined) pathLiteral(spec["string"], kind === "JsonTable" ? "JSON_TABLE's path" : "a JSON_TABLE column's PATH");
      return;
    }
  }
}

function operator(name: string, left: unknown, right: unknown): void {
  if (name === "@?") return pathLiteral(right, "the @? operator's path");
  if (name !== "@@" || left === undefined) return;
  if (textSearch(left) || textSearch(right)) return;
  if (literal(right) === undefined) {
    throw refused("@@ is allowed as text search with a visible tsvector or tsquery operand (to_tsvector(…), to_tsquery($1), $1::tsquery, col::tsvector), or as jsonb @@ with a string literal jsonpath; a parameter or column on both sides could be a jsonpath the guard cannot check. For a tsquery from FROM (FROM docs, to_tsquery('simple', $1) query WHERE tsv @@ query), write the call in the condition: WHERE tsv @@ to_tsquery('simple', $1), or tsv @@ $1::tsquery", { operator: "@@" });
  }
  pathLiteral(right, "the @@ operator's path");
}

function textSearch(value: unknown): boolean {
  const node = value as Node | undefined;
  const call = node?.["FuncCall"] as Node | undefined;
  if (call !== undefined) return TEXT_SEARCH_FUNCTIONS.has(lastName(call["funcname"]));
  const cast = node?.["TypeCast"] as Node | undefined;
  const type = cast?.["typeName"] as Node | undefined;
  return type !== undefined && !Array.isArray(type["arrayBounds"]) && TEXT_SEARCH_TYPES.has(lastName(type["names"]));
}

/** The text of a string literal, or of a string literal cast to jsonpath; else undefined. */
function literal(value: unknown): string | undefined {
  let node = value as Node | undefined;
  const cast = node?.["TypeCast"] as Node | undefined;
  if (cast !== undefined) {
    const type = cast["typeName"] as Node | undefined;
    if (lastName(type?.["names"]) !== "jsonpath" || Array.isArray(type?.["arrayBounds"])) return undefined;
    node = cast["arg"] as Node | undefined;
  }
  const text = ((node?.["A_Const"] as Node | undefined)?.["sval"] as { sval?: unknown } | undefined)?.sval;
  return typeof text === "string" ? text : undefined;
}

/** Types whose values are one json scalar: a variable of one of them read in a filter is one value, not a sequence. */
const SCALAR_TYPES: ReadonlySet<string> = new Set([
  "int2", "int4", "int8", "smallint", "integer", "int", "bigint", "numeric", "decimal", "float4", "float8", "real",
  "text", "varchar", "bpchar", "bool", "boolean", "date", "timestamp", "timestamptz", "time", "timetz",
]);

/** Whether a jsonpath call's vars is visibly an object of scalars: jsonb_build_object('name', $1::int, …) with casts to scalar types or literals. */
function scalarVars(value: unknown): boolean {
  const call = (value as Node | undefined)?.["FuncCall"] as Node | undefined;
  if (call === undefined || lastName(call["funcname"]) !== "jsonb_build_object" || call["func_variadic"] === true) return false;
  const args = (call["args"] as Node[] | undefined) ?? [];
  return args.every((arg, index) => {
    if (index % 2 === 0) return arg["A_Const"] !== undefined;
    if (arg["A_Const"] !== undefined) return true;
    const cast = arg["TypeCast"] as Node | undefined;
    const type = cast?.["typeName"] as Node | undefined;
    return type !== undefined && !Array.isArray(type["arrayBounds"]) && SCALAR_TYPES.has(lastName(type["names"]));
  });
}

function pathLiteral(value: unknown, where: string, scalar = false): void {
  const text = literal(value);
  if (text === undefined) {
    throw refused(`${where} must be a string literal: a jsonpath sent as a parameter or read from a column could hold anything (** over nested input, like_regex); write the path into the statement and pass values through vars / PASSING`, { jsonpath: where });
  }
  checkJsonPathText(text, where, scalar);
}

/** The conservative textual check of a jsonpath literal (see the top of this file). */
export function checkJsonPathText(text: string, where = "a jsonpath", scalarVariables = false): void {
  // jsonpath's own escapes, decoded; then any other backslash dropped (`lik\e_regex` is the keyword).
  const decoded = text
    .replace(/\\u\{([0-9a-fA-F]{1,6})\}/g, (_, hex: string) => safeChar(parseInt(hex, 16)))
    .replace(/\\u([0-9a-fA-F]{4})/g, (_, hex: string) => safeChar(parseInt(hex, 16)))
    .replace(/\\x([0-9a-fA-F]{1,2})/g, (_, hex: string) => safeChar(parseInt(hex, 16)))
    .replace(/\\/g, "")
    .toLowerCase();
  if (text.includes("**") || decoded.includes("**")) {
    throw refused(`${where}: the ** accessor (any level) is not allowed: its result and work grow with the square of the input's nesting; name the levels ($.a.b, $.*, $[*])`, { jsonpath: text });
  }
  if (decoded.includes("like_regex")) {
    throw refused(`${where}: like_regex is not allowed in a jsonpath; filter the rows with SQL (~ or regexp_like) instead`, { jsonpath: text });
  }
  const stack: string[] = [];
  let previous = "";
  for (let at = 0; at < text.length; at++) {
    const c = text[at]!;
    if (c === '"') {
      // A string or quoted key: skip to its closing quote, escapes included.
      for (at++; at < text.length && text[at] !== '"'; at++) if (text[at] === "\\") at++;
      previous = '"';
      continue;
    }
    if (c === "\\") {
      at++;
      previous = "\\";
      continue;
    }
    if (c === "/" && text[at + 1] === "*") throw refused(`${where}: comments are not allowed in a jsonpath`, { jsonpath: text });
    if (c === "[") stack.push("[");
    else if (c === "(") stack.push(previous === "?" ? "?" : "(");
    else if (c === ")" || c === "]") stack.pop();
    else if (c === "," && stack.includes("[")) {
      throw refused(`${where}: a subscript list ([0, 1]) is not allowed: each repeats its items, a factor per level; use one index or a range ([0 to 1])`, { jsonpath: text });
    } else if (c === "$" && (stack.includes("[") || stack.includes("?"))) {
      const variable = /^\$(?:[A-Za-z_][A-Za-z0-9_]*|"(?:[^"\\]|\\.)*")/.exec(text.slice(at));
      if (variable !== null && !/^\s*[.[]/.test(text.slice(at + variable[0].length))) {
        if (scalarVariables) {
          at += variable[0].length - 1;
          previous = "v";
          continue;
        }
        throw refused(`${where}: a variable ${variable[0]} inside a filter ? (…) or a subscript […] is allowed only when the call's vars is jsonb_build_object('name', $1::int, …) of scalar casts or literals: a variable holding an array is compared item by item, for every item the filter reads`, { jsonpath: text });
      }
      throw refused(`${where}: $ (the root or a variable) inside a filter ? (…) or a subscript […] is not allowed: it is read again for every item, a degree more per level; compare with @ and literals, or split the query`, { jsonpath: text });
    }
    if (!" \t\n\r\f".includes(c)) previous = c;
  }
  checkComparisons(text, where, scalarVariables);
}

/**
 * A comparison evaluates every pair of its operands' sequences, and lax mode unwraps arrays on both sides
 * (`@.a == @.b` iterates two arrays as `@.a[*] == @.b[*]` does): n² from one parameter (3.65 s on PGlite at
 * 10,000 elements). So at most one operand of a comparison reads the data (`@`, `$`, a variable not known scalar);
 * the other is a literal (or a scalar variable).
 */
function checkComparisons(text: string, where: string, scalarVariables: boolean): void {
  const tokens = text.match(/"(?:[^"\\]|\\.)*"|\$(?:[A-Za-z_][A-Za-z0-9_]*|"(?:[^"\\]|\\.)*")?|==|!=|<>|<=|>=|&&|\|\||[<>!()[\]?@]|\bstarts\s+with\b|[^\s"$=!<>&|()[\]?@]+|\S/g) ?? [];
  // Each group ( … ) or [ … ] is split into clauses by && || ! and ?; a clause with a comparison operator has two operands.
  const COMPARE = /^(?:==|!=|<>|<=|>=|<|>|starts\s+with)$/;
  const reads = (token: string): boolean => token === "@" || (token.startsWith("$") && !(scalarVariables && token.length > 1));
  const stack: { sides: boolean[]; compare: string | undefined }[] = [{ sides: [false], compare: undefined }];
  const close = (): void => {
    const group = stack.at(-1)!;
    if (group.compare !== undefined && group.sides.length >= 2 && group.sides.at(-1) && group.sides.at(-2)) {
      throw refused(`${where}: a comparison whose two operands both read the data (${group.compare} between two paths) is not allowed: it compares every item of one with every item of the other (lax mode unwraps arrays on both sides), the square of the input; compare a path with a literal or a scalar variable, or filter in SQL`, { jsonpath: text });
    }
    group.sides = [false];
    group.compare = undefined;
  };
  for (const token of tokens) {
    if (token === "(" || token === "[") {
      stack.push({ sides: [false], compare: undefined });
    } else if (token === ")" || token === "]") {
      close();
      if (stack.length > 1) stack.pop();
    } else if (token === "&&" || token === "||" || token === "!" || token === "?") {
      close();
    } else if (COMPARE.test(token)) {
      const group = stack.at(-1)!;
      group.compare = token;
      group.sides.push(false);
    } else if (reads(token)) {
      // The read counts for every group it sits in (a nested group is part of the enclosing operand).
      for (const group of stack) group.sides[group.sides.length - 1] = true;
    }
  }
  while (stack.length > 0) {
    close();
    stack.pop();
  }
}

function safeChar(code: number): string {
  return code <= 0x10ffff ? String.fromCodePoint(code) : "";
}
