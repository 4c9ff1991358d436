import { SqlStorageError } from "./errors.js";

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
 * - no `$` (the root, or a `$variable` of `vars` / PASSING) inside a filter
 *   `? (…)` or a subscript `[…]`: those are evaluated once per item, so each
 *   re-reads a whole sequence per item, a degree more per nesting level;
 * - no `,` inside a subscript (`[0, 0]`): each list repeats its items, a
 *   factor per level.
 *
 * What remains is at most one product of two inputs (a comparison between
 * two sequences, `$[*] == $[*]` or `@[*] == @[*]`, compares every pair), the
 * degree growth.ts allows elsewhere.
 *
 * `@@` is also text search (tsvector @@ tsquery, text @@ tsquery …), and the
 * parse tree has no types. jsonb @@ jsonpath is the only `@@` with a jsonpath,
 * and jsonpath has no casts: so `@@` is let through when an operand is
 * visibly text search (a to_tsvector / *_tsquery / setweight call, or a cast to
 * tsvector or tsquery), when it is prefix (geometric `@@ box`), or when its
 * right operand is a string literal passing the same check; any other `@@` is
 * refused (write `$1::tsquery` or `to_tsquery($1)`).
 */

type Node = Record<string, unknown>;

/** The functions that evaluate a jsonpath given as their second (`path`) argument. */
export const JSONPATH_FUNCTIONS: ReadonlySet<string> = new Set([
  "jsonb_path_exists", "jsonb_path_match", "jsonb_path_query", "jsonb_path_query_array", "jsonb_path_query_first",
  "jsonb_path_exists_tz", "jsonb_path_match_tz", "jsonb_path_query_tz", "jsonb_path_query_array_tz", "jsonb_path_query_first_tz",
]);

/** Calls whose result is a tsvector or tsquery: an `@@` with one of them as an operand is text search. */
const TEXT_SEARCH_FUNCTIONS: ReadonlySet<string> = new Set(["to_tsvector", "to_tsquery", "plainto_tsquery", "phraseto_tsquery", "websearch_to_tsquery", "setweight"]);
const TEXT_SEARCH_TYPES: ReadonlySet<string> = new Set(["tsvector", "tsquery"]);

function refused(message: string, details?: Record<string, unknown>): SqlStorageError {
  return new SqlStorageError("E_SQL_REFUSED", message, details);
}

function lastName(list: unknown): string {
  if (!Array.isArray(list)) return "";
  const value = (list.at(-1) as { String?: { sval?: unknown } } | undefined)?.String?.sval;
  return typeof value === "string" ? value : "";
}

/** Checks one parse node (its kind and body, as guard.ts's walk hands them) wherever a jsonpath is evaluated. */
export function checkJsonPathUse(kind: string, node: Node): void {
  switch (kind) {
    case "FuncCall": {
      const name = lastName(node["funcname"]);
      if (!JSONPATH_FUNCTIONS.has(name)) return;
      ((node["args"] as Node[] | undefined) ?? []).forEach((arg, index) => {
        const named = arg["NamedArgExpr"] as Node | undefined;
        if (named !== undefined ? named["name"] === "path" : index === 1) pathLiteral(named !== undefined ? named["arg"] : arg, `${name}'s path`);
      });
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
    throw refused("@@ is allowed as text search with a visible tsvector or tsquery operand (to_tsvector(…), to_tsquery($1), $1::tsquery, col::tsvector), or as jsonb @@ with a string literal jsonpath; a parameter or column on both sides could be a jsonpath the guard cannot check", { operator: "@@" });
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

function pathLiteral(value: unknown, where: string): void {
  const text = literal(value);
  if (text === undefined) {
    throw refused(`${where} must be a string literal: a jsonpath sent as a parameter or read from a column could hold anything (** over nested input, like_regex); write the path into the statement and pass values through vars / PASSING`, { jsonpath: where });
  }
  checkJsonPathText(text, where);
}

/** The conservative textual check of a jsonpath literal (see the top of this file). */
export function checkJsonPathText(text: string, where = "a jsonpath"): void {
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
      throw refused(`${where}: $ (the root or a variable) inside a filter ? (…) or a subscript […] is not allowed: it is read again for every item, a degree more per level; compare with @ and literals, or split the query`, { jsonpath: text });
    }
    if (!" \t\n\r\f".includes(c)) previous = c;
  }
}

function safeChar(code: number): string {
  return code <= 0x10ffff ? String.fromCodePoint(code) : "";
}
