import { refused } from "./errors.js";
import { lastName, type Node } from "./parse-tree.js";

/**
 * Built-ins whose work is the product of two of their inputs: a text and
 * what is searched for in it, two arrays or documents compared element by
 * element. The planner costs each as one call whatever the sizes (~0.01),
 * PGlite cannot stop a statement, and on PostgreSQL these loops do not look
 * at cancel requests, so the statement timeout waits for the call to return
 * (translate over 30,000 characters, timeout 0.5 s: cancelled after 10 s).
 * Measured, PGlite 0.5.16 / PostgreSQL 15 on the test machine, worst-case
 * inputs (a text of n `a`, a search string of n/4 that fails at its last
 * compared character; disjoint or last-element-matching arrays):
 *
 * | n (needle n/4)                        | 10,000      | 20,000      | 40,000       |
 * | translate(s, from, to)                | 0.50 / 0.18 | 2.5 / 1.0 s | 7.1 / 4.0 s  |
 * | btrim(s, characters)                  | 0.17 / 0.21 | 0.78 / 0.88 | 2.5 / 2.1 s  |
 * | s LIKE / ILIKE '%…%'                  | 0.10 / 0.03 | 0.30 / 0.11 | 1.5 / 0.53 s |
 * | strpos, position, replace, split_part | 0.03 / 0.01 | 0.14 / 0.05 | 0.52 / 0.13 s|
 * | int[] && int[]                        | 0.28 / 0.10 | 1.0 / 0.40  | 7.1 / 1.5 s  |
 * | text[] @> text[]                      | 1.2 / 0.42  | 6.0 / 1.6   | 17 / 6.8 s   |
 * | jsonb @> jsonb (arrays)               | 1.8 / 0.47  | 6.5 / 1.8   | 14 / 10.5 s  |
 * | jsonb ?& text[]                       | 0.33 / 0.22 | 1.5 / 0.66  | 5.6 / 3.2 s  |
 *
 * Through an install, 20,000-character texts: translate($1, $2, 'x') 15.6 s
 * on PGlite, 5.0 s on PostgreSQL (past its 5 s timeout); a migration's
 * `CREATE INDEX … ((length(translate(a, b, 'x'))))` over three such rows
 * 16.7 s / 13.3 s. What is not a problem: starts_with, `^@`, `=`, `= ANY`,
 * array_position, jsonb `?`, jsonb object containment by key (binary search),
 * ranges (`@>`, `&&` on ranges compare bounds).
 *
 * The rule: of the two inputs whose product is the cost, one — the needle:
 * the search string, the pattern, translate's `from`, trim's characters, or
 * either operand of a containment operator — is bounded: a string literal, a
 * parameter `$n`, or a concatenation (`||`, concat) of them, possibly cast;
 * for containment operators also ARRAY[…], jsonb_build_object / _array (…)
 * of them, now() and the like. Literals are measured when the statement is
 * checked; a parameter's value on every call, before the statement is sent
 * (checkNeedleParameters, from sql-storage.ts). The caps, so that the work
 * stays a small multiple of reading the other input (per 100,000 characters
 * of it, worst case, PGlite / PostgreSQL, ASCII and 2- or 3-byte characters):
 *
 * - strpos, position, split_part, replace, string_to_array: 256 characters
 *   (≤ 42 / 43 ms);
 * - LIKE, ILIKE, NOT LIKE, NOT ILIKE (`~~` `~~*` `!~~` `!~~*`): 128
 *   characters (28 / 19 ms ASCII, ≤ 108 / 86 ms multi-byte); a pattern with
 *   ESCAPE counts twice (like_escape may double it);
 * - translate's `from`, btrim / ltrim / rtrim's characters: 64 characters
 *   (83–122 / 44–76 ms; translate walks `from` for every character);
 * - `@>`, `<@`, `&&`, jsonb `?|`, `?&`: 256 characters and 32 items (one plus
 *   each `,` `[` `{`: an upper bound of elements, keys and nested
 *   containers), one operand compared with each element of the other
 *   (32 elements against 100,000: jsonb ~0.17 / 0.08 s, text[] ~0.16 / 0.09 s).
 * Measured on a quiet machine; with other work on its two cores, up to 3 ×
 * as long. At 20,000 characters of the other input, the size the red team
 * used, each stays under ~40 ms.
 * When the needle side is not bounded, the other input may be instead
 * (`$1 LIKE pattern`, `strpos($1, word)`): the product is as small. When
 * neither is (two columns, a column and an expression), refused.
 *
 * What this cannot bound: the other input. A text column or parameter may be
 * megabytes (a parameter is limited by the execution's host-call bytes, a
 * stored value by the schema quota), and the work grows with it times the
 * cap, as any function reading it grows with it. And the parse tree has no
 * types: `jsonb - text[]` (jsonb_delete, keys × array) is arithmetic `-` to
 * the guard, and a range or geometric `@>` / `&&` of two columns (constant
 * or linear work) is refused with the array one.
 */

/** Where a needle is read: the cap it is held to. */
export type NeedleFamily = "search" | "like" | "characters" | "containment";

/** Characters of a needle (UTF-16 code units of a parameter's value, characters of a literal), per family. */
export const NEEDLE_CAPS: Readonly<Record<NeedleFamily, number>> = Object.freeze({ search: 256, like: 128, characters: 64, containment: 256 });
/** Items (elements, keys, nested containers: one plus each `,` `[` `{`) of a containment operand. */
export const MAX_CONTAINMENT_ITEMS = 32;

/** The functions: which argument is the needle, which the text it is applied to (0-based), and the family. */
export const NEEDLE_FUNCTIONS: ReadonlyMap<string, { family: NeedleFamily; needle: number; other: number; what: string; minArgs: number }> = new Map([
  ["strpos", { family: "search", needle: 1, other: 0, what: "search string", minArgs: 2 }],
  // position(a in b) is parsed as position(b, a).
  ["position", { family: "search", needle: 1, other: 0, what: "search string", minArgs: 2 }],
  ["split_part", { family: "search", needle: 1, other: 0, what: "delimiter", minArgs: 2 }],
  ["replace", { family: "search", needle: 1, other: 0, what: "search string", minArgs: 2 }],
  ["string_to_array", { family: "search", needle: 1, other: 0, what: "delimiter", minArgs: 2 }],
  ["translate", { family: "characters", needle: 1, other: 0, what: "from", minArgs: 2 }],
  // trim(both x from s) is parsed as btrim(s, x); the one-argument forms trim spaces.
  ["btrim", { family: "characters", needle: 1, other: 0, what: "characters", minArgs: 2 }],
  ["ltrim", { family: "characters", needle: 1, other: 0, what: "characters", minArgs: 2 }],
  ["rtrim", { family: "characters", needle: 1, other: 0, what: "characters", minArgs: 2 }],
]);

/** LIKE and its operators, by name, as the message names them. */
export const LIKE_OPERATORS: ReadonlyMap<string, string> = new Map([
  ["~~", "LIKE"],
  ["~~*", "ILIKE"],
  ["!~~", "NOT LIKE"],
  ["!~~*", "NOT ILIKE"],
]);

/** Operators comparing every element of one operand with every element of the other. */
export const CONTAINMENT_OPERATORS: ReadonlySet<string> = new Set(["@>", "<@", "&&", "?|", "?&"]);

/** A needle with parameters: checked on every call, before the statement is sent. */
export interface NeedleCheck {
  /** The needle's place, named in messages (`strpos's search string`, `the right operand of @>`). */
  where: string;
  /** The function or operator, named in messages (`strpos`, `ILIKE`, `@> ANY`). */
  fn: string;
  family: NeedleFamily;
  /** Characters of its literals. */
  fixed: number;
  /** Items of its literals (containment only). */
  fixedItems: number;
  /** Its parameters, each counted `factor` times (a pattern through like_escape may double). */
  params: Array<{ number: number; factor: number }>;
}

interface Measure {
  fixed: number;
  items: number;
  params: Array<{ number: number; factor: number }>;
}

const TEXT_TYPES: ReadonlySet<string> = new Set(["text", "varchar", "bpchar", "name"]);
/** Calls of fixed-size results a containment operand may hold (`during @> now()`). */
const CLOCK_FUNCTIONS: ReadonlySet<string> = new Set(["now", "clock_timestamp", "statement_timestamp", "transaction_timestamp"]);
const BUILDERS: ReadonlySet<string> = new Set(["jsonb_build_object", "jsonb_build_array", "json_build_object", "json_build_array"]);
/** What a clock value counts, generously: its text is shorter. */
const SCALAR_WIDTH = 32;

/**
 * Checks one parse node (its kind and body, as guard.ts's walk hands them)
 * wherever a needle is read: literal needles now, and answers the needles
 * with parameters, whose values are checked on each call.
 */
export function checkNeedleUse(kind: string, node: Node): NeedleCheck[] {
  const found: NeedleCheck[] = [];
  switch (kind) {
    case "FuncCall": {
      const name = lastName(node["funcname"]);
      const shape = NEEDLE_FUNCTIONS.get(name);
      const args = (node["args"] as unknown[] | undefined) ?? [];
      if (shape === undefined || args.length < shape.minArgs) return found;
      bounded(found, shape.family, name, [
        [args[shape.needle], `${name}'s ${shape.what}`],
        [args[shape.other], `the text ${name} reads`],
      ]);
      return found;
    }
    case "A_Expr": {
      const name = lastName(node["name"]);
      const family = LIKE_OPERATORS.has(name) ? "like" : CONTAINMENT_OPERATORS.has(name) ? "containment" : undefined;
      // Prefix forms (`?| lseg`) compare nothing.
      if (family === undefined || node["lexpr"] === undefined) return found;
      const operator = LIKE_OPERATORS.get(name) ?? name;
      const exprKind = node["kind"];
      if (exprKind === "AEXPR_OP_ANY" || exprKind === "AEXPR_OP_ALL") {
        const quantifier = exprKind === "AEXPR_OP_ANY" ? "ANY" : "ALL";
        // Either the left operand is bounded, or the array's elements are, all together.
        bounded(found, family, `${operator} ${quantifier}`, [
          [node["lexpr"], `the left operand of ${operator} ${quantifier}`],
          [node["rexpr"], `the array of ${operator} ${quantifier} (…)`, true],
        ]);
        return found;
      }
      const left = family === "like" ? `the text ${operator} reads` : `the left operand of ${operator}`;
      const right = family === "like" ? `the pattern of ${operator}` : `the right operand of ${operator}`;
      bounded(found, family, operator, [
        [node["rexpr"], right],
        [node["lexpr"], left],
      ]);
      return found;
    }
    case "SubLink": {
      const name = lastName(node["operName"]);
      const family = LIKE_OPERATORS.has(name) ? "like" : CONTAINMENT_OPERATORS.has(name) ? "containment" : undefined;
      if (family === undefined) return found;
      const operator = LIKE_OPERATORS.get(name) ?? name;
      // The subquery's rows could be anything: the left operand is the bound.
      bounded(found, family, `${operator} over a subquery`, [[node["testexpr"], `the left operand of ${operator} ANY / ALL (SELECT …)`]]);
      return found;
    }
  }
  return found;
}

/**
 * Of `sides` (the needle first), the first whose literals alone fit; else the
 * first with parameters, recorded for the per-call check; else refused.
 */
function bounded(found: NeedleCheck[], family: NeedleFamily, fn: string, sides: Array<[value: unknown, where: string, array?: boolean]>): void {
  const measured = sides.map(([value, where, array]) => ({ where, measure: measure(value, family, array === true) }));
  for (const side of measured) {
    if (side.measure !== undefined && side.measure.params.length === 0 && fits(side.measure.fixed, side.measure.items, family)) return;
  }
  for (const side of measured) {
    const m = side.measure;
    if (m === undefined || m.params.length === 0) continue;
    // Its literals alone may already be over: refuse now rather than on every call.
    assertFits(side.where, family, m.fixed, m.items, fn);
    found.push({ where: side.where, fn, family, fixed: m.fixed, fixedItems: m.items, params: m.params });
    return;
  }
  const literal = measured.find((side) => side.measure !== undefined);
  if (literal !== undefined) assertFits(literal.where, family, literal.measure!.fixed, literal.measure!.items, fn);
  throw refused(notBounded(family, fn, measured.map((side) => side.where)), { function: fn, cap: NEEDLE_CAPS[family] });
}

function fits(characters: number, items: number, family: NeedleFamily): boolean {
  return characters <= NEEDLE_CAPS[family] && (family !== "containment" || items <= MAX_CONTAINMENT_ITEMS);
}

function assertFits(where: string, family: NeedleFamily, characters: number, items: number, fn: string): void {
  const cap = NEEDLE_CAPS[family];
  if (characters > cap) {
    throw refused(`${where}: at most ${cap} characters are allowed (this one has ${characters}): ${WHY[family](fn)}; ${INSTEAD[family]}`, { function: fn, characters, cap });
  }
  if (family === "containment" && items > MAX_CONTAINMENT_ITEMS) {
    throw refused(
      `${where}: at most ${MAX_CONTAINMENT_ITEMS} items are allowed (this one has up to ${items}, counting one plus each comma and opening bracket): ${WHY[family](fn)}; ${INSTEAD[family]}`,
      { function: fn, items, cap: MAX_CONTAINMENT_ITEMS },
    );
  }
}

/** Why the product matters: nothing stops one call midway. */
const UNSTOPPABLE = "and nothing stops the call midway (PGlite cannot interrupt a statement; PostgreSQL's timeout waits for the call to return)";

const WHY: Readonly<Record<NeedleFamily, (fn: string) => string>> = {
  search: (fn) => `${fn} compares it at each position of the text, so its work is the product of the two lengths (20,000 × 5,000 characters: 0.14 s on PGlite, 40,000 × 10,000: 0.5 s), ${UNSTOPPABLE}`,
  like: (fn) => `${fn} retries the pattern at each position of the text, so its work is the product of the two lengths (a 5,000-character pattern over 20,000 characters: 0.3 s on PGlite, 10,000 over 40,000: 1.5 s), ${UNSTOPPABLE}`,
  characters: (fn) => `${fn} looks each character of the text up in it, so its work is the product of the two lengths (translate, 5,000 over 20,000 characters: 2.5 s on PGlite), ${UNSTOPPABLE}`,
  containment: (fn) => `${fn} compares each element of one operand with each element of the other (jsonb arrays of 20,000 and 5,000 elements: 6.5 s on PGlite), ${UNSTOPPABLE}`,
};

const INSTEAD: Readonly<Record<NeedleFamily, string>> = {
  search: "search for a shorter string, or filter in the handler",
  like: "match a shorter pattern, or filter in the handler",
  characters: "list fewer characters (replace the rest with regexp_replace or in the handler)",
  containment: "compare fewer elements at once (several statements, or unnest one side and join)",
};

function notBounded(family: NeedleFamily, fn: string, places: string[]): string {
  const cap = NEEDLE_CAPS[family];
  const sides = places.length === 1 ? places[0]! : `${places[0]} (or else ${places.slice(1).join(", ")})`;
  const forms =
    family === "containment"
      ? `a string literal, a parameter ($1, $1::int[]), or ARRAY[…], jsonb_build_object(…), now() of them, at most ${cap} characters and ${MAX_CONTAINMENT_ITEMS} items`
      : `a string literal, a parameter ($1), or a concatenation of them ('%' || $1 || '%'), at most ${cap} characters`;
  const instead =
    family === "containment"
      ? "pass one side as a parameter, unnest one array and join on its elements, and for two range columns compare their bounds (lower(…), upper(…))"
      : "pass it as a parameter, which the host measures before each run, or compare in the handler";
  return `${sides} must be ${forms}: a column or another expression could be as long as the data, and ${WHY[family](fn)}; ${instead}`;
}

/**
 * How much a needle holds: undefined when it is not one (a column, a call, a
 * subquery). Text families take literals, parameters, casts to a text type,
 * COLLATE, `||` and concat; containment also numbers, casts to any type, ARRAY[…],
 * the json builders, and clock values. `array`: the right side of ANY / ALL,
 * whose elements together are the needle.
 */
function measure(value: unknown, family: NeedleFamily, array: boolean): Measure | undefined {
  if (array && family !== "containment") return measureArray(value, family);
  const m: Measure = { fixed: 0, items: 0, params: [] };
  const containment = family === "containment";
  const visit = (node: Node | undefined, factor: number): boolean => {
    if (node === undefined) return false;
    const constant = node["A_Const"] as Node | undefined;
    if (constant !== undefined) {
      if (constant["isnull"] === true) return true;
      const literal = constantText(constant);
      if (literal !== undefined) {
        m.fixed += literal.length * factor;
        m.items += countItems(literal);
        return true;
      }
      // A numeric literal's text can be far longer than it (9e131071 is 131,072 digits): a number, never a text needle.
      if ("fval" in constant) {
        if (!containment) return false;
        m.fixed += String((constant["fval"] as { fval?: unknown } | undefined)?.fval ?? "").length;
        m.items += 1;
        return true;
      }
      if ("ival" in constant || "boolval" in constant) {
        m.fixed += "ival" in constant ? String((constant["ival"] as { ival?: unknown } | undefined)?.ival ?? 0).length : 5;
        m.items += 1;
        return true;
      }
      return false;
    }
    const param = node["ParamRef"] as Node | undefined;
    if (param !== undefined) {
      const number = param["number"];
      if (typeof number !== "number" || number < 1) return false;
      m.params.push({ number, factor });
      return true;
    }
    const collate = node["CollateClause"] as Node | undefined;
    if (collate !== undefined) return visit(collate["arg"] as Node | undefined, factor);
    const cast = node["TypeCast"] as Node | undefined;
    if (cast !== undefined) {
      const type = cast["typeName"] as Node | undefined;
      // char(n), bit(n) pad to n: a type modifier can make a short value long.
      if (Array.isArray(type?.["typmods"])) return false;
      // A text needle is text all along: a cast through numeric would turn 9e131071 into 131,072 digits. Compared
      // values (containment) may be of any type: comparing a long one costs what reading the other side does.
      if (!containment && (Array.isArray(type?.["arrayBounds"]) || !TEXT_TYPES.has(lastName(type?.["names"])))) return false;
      return visit(cast["arg"] as Node | undefined, factor);
    }
    const expr = node["A_Expr"] as Node | undefined;
    if (expr !== undefined) {
      if (expr["kind"] !== "AEXPR_OP") return false;
      const op = lastName(expr["name"]);
      if (op === "||" || (containment && (op === "+" || op === "-"))) {
        return visit(expr["lexpr"] as Node | undefined, factor) && visit(expr["rexpr"] as Node | undefined, factor);
      }
      return false;
    }
    if (node["SQLValueFunction"] !== undefined) {
      if (!containment) return false;
      m.fixed += SCALAR_WIDTH;
      m.items += 1;
      return true;
    }
    const arrayExpr = node["A_ArrayExpr"] as Node | undefined;
    if (arrayExpr !== undefined) {
      if (!containment) return false;
      const elements = (arrayExpr["elements"] as Node[] | undefined) ?? [];
      // Each element is one item at least, and its commas are not separators here: counted all the same (an upper bound).
      return elements.every((element) => visit(element, factor));
    }
    const call = node["FuncCall"] as Node | undefined;
    if (call !== undefined) {
      if (call["agg_star"] === true || call["over"] !== undefined || call["agg_filter"] !== undefined) return false;
      const name = lastName(call["funcname"]);
      const args = (call["args"] as Node[] | undefined) ?? [];
      if (args.some((arg) => arg["NamedArgExpr"] !== undefined)) return false;
      if (name === "concat") return args.every((arg) => visit(arg, factor));
      if (name === "like_escape" && args.length === 2) {
        // The pattern's escapes rewritten, its backslashes doubled: at most twice as long. The escape: one literal character.
        const escape = args[1]!["A_Const"] as Node | undefined;
        if (escape === undefined) return false;
        return visit(args[0], factor * 2);
      }
      if (!containment) return false;
      if (BUILDERS.has(name)) return args.every((arg) => visit(arg, factor));
      if (CLOCK_FUNCTIONS.has(name) && args.length === 0) {
        m.fixed += SCALAR_WIDTH;
        m.items += 1;
        return true;
      }
      return false;
    }
    return false;
  };
  return visit(value as Node | undefined, 1) ? m : undefined;
}

/** The patterns of `LIKE ANY (…)`: ARRAY[…] of text needles, or one literal or parameter (cast to an array type) holding them all. */
function measureArray(value: unknown, family: NeedleFamily): Measure | undefined {
  let node = value as Node | undefined;
  for (;;) {
    const cast = (node?.["TypeCast"] ?? node?.["CollateClause"]) as Node | undefined;
    if (cast === undefined || Array.isArray((cast["typeName"] as Node | undefined)?.["typmods"])) break;
    node = cast["arg"] as Node | undefined;
  }
  const array = node?.["A_ArrayExpr"] as Node | undefined;
  if (array !== undefined) {
    const total: Measure = { fixed: 0, items: 0, params: [] };
    for (const element of (array["elements"] as unknown[] | undefined) ?? []) {
      const part = measure(element, family, false);
      if (part === undefined) return undefined;
      total.fixed += part.fixed;
      total.params.push(...part.params);
    }
    return total;
  }
  if (node?.["ParamRef"] === undefined && (node?.["A_Const"] as Node | undefined)?.["sval"] === undefined) return undefined;
  return measure(node, family, false);
}

/** A string or bit-string literal's text; undefined for numbers and booleans. */
function constantText(constant: Node): string | undefined {
  for (const key of ["sval", "bsval"]) {
    const holder = constant[key] as Record<string, unknown> | undefined;
    if (holder === undefined) continue;
    const text = holder[key];
    return typeof text === "string" ? text : "";
  }
  return undefined;
}

/** An upper bound of the elements, keys and containers a value's text holds: one plus each `,`, `[` and `{`. */
export function countItems(text: string): number {
  let items = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 44 || c === 91 || c === 123) items++;
  }
  return items;
}

/** Checks the values of a statement's needle parameters, before it is sent: the literal part was checked with the statement. */
export function checkNeedleParameters(checks: readonly NeedleCheck[], values: readonly unknown[]): void {
  for (const check of checks) {
    let characters = check.fixed;
    for (const { number, factor } of check.params) {
      const value = values[number - 1];
      if (value === null || value === undefined) continue;
      characters += String(value).length * factor;
    }
    if (characters > NEEDLE_CAPS[check.family]) assertFits(parameterPlace(check), check.family, characters, 0, check.fn);
    if (check.family !== "containment") continue;
    // Only once within the character cap: the scan is over a few hundred characters at most.
    let items = check.fixedItems;
    for (const { number } of check.params) {
      const value = values[number - 1];
      if (value === null || value === undefined) continue;
      items += countItems(String(value));
    }
    if (items > MAX_CONTAINMENT_ITEMS) assertFits(parameterPlace(check), check.family, characters, items, check.fn);
  }
}

function parameterPlace(check: NeedleCheck): string {
  const names = check.params.map(({ number }) => `$${number}`).join(", ");
  return `${check.params.length === 1 ? "parameter" : "parameters"} ${names} (${check.where})`;
}
