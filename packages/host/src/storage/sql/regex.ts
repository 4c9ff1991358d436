import { refused, SqlStorageError } from "./errors.js";
import { lastName, type Node } from "./parse-tree.js";

/**
 * Where a regular expression is evaluated, and what it may say.
 *
 * PostgreSQL's regex engine (Spencer's, with a DFA front end) runs inside one
 * function call or operator: the planner costs it as one call whatever the
 * pattern, and on PGlite, which runs on the host's main thread, nothing stops
 * it. Measured on PGlite 0.5.16 (PostgreSQL 18), inputs ≤ 10 KB unless said:
 *
 * - back-references backtrack without bound: `(a*)*\1` over 10 KB 1.0 s,
 *   `^(.*)(.*)(.*)\3\2\1$` over 300 characters > 8 s (killed); in BRE too
 *   (`(?b)\(a*\)*\1` 0.23 s at 1 KB), and in SIMILAR TO, whose escape
 *   character before a digit becomes `\1` (`#1` with ESCAPE '#', referring
 *   to the `#"…#"` part);
 * - lookahead and lookbehind constraints are re-run at every position:
 *   `(?=a*b)a` 0.3 s at 10 KB (n²), two nested lookaheads 1.1 s at 1 KB and
 *   > 8 s at 3 KB (n³), even for a plain `~`;
 * - compiling alone, with no input: nested counted repetitions of optional
 *   items (`((a?){32}){32}` > 8 s, 14 characters; `((a*){32}){32}` 4.7 s;
 *   `(a?){255}` ×4 1.8 s): the cost grows with the cube of the number of
 *   optional or repeated items once repetitions are expanded (256 of them:
 *   40–100 ms, 400: 0.2 s, 784: 2.4 s); 16 adjacent word constraints
 *   (`\y`, `\m`, `[[:<:]]` …) 0.26–0.54 s; forty `[\u0001-\U0010ffff]`
 *   case-insensitive 0.62 s (15 ms per full-Unicode range: case folding walks
 *   the range);
 * - the functions that need to know WHERE a pattern matches (regexp_match(es),
 *   regexp_replace, regexp_substr / _instr / _count, regexp_split_*,
 *   substring) try each start position in turn, and from each one scan as far
 *   as the pattern could still match: a repetition followed by anything
 *   (`\s*,x`, `a[^z]*zb`, `a|a*b`, even `a+$|b`) rescans the rest of the text
 *   from every position, n²: `\s*,x` 0.5 s at 10 KB and 4.0 s at 30 KB,
 *   `a|a*b` in regexp_count 0.36 s at 10 KB and 2.6 s at 30 KB. Capture groups
 *   add the "dissect" phase, which retries split points the same way
 *   (`substring(x similar '%#"a[^z]*zb#"%' escape '#')` 0.62 s at 10 KB).
 *   The plain `~` family, SIMILAR TO and regexp_like only ask whether there
 *   is a match: one DFA pass, linear in the input, for every pattern without
 *   back-references and lookaround (the same `\s*,x`: 8 ms at 10 KB, 0.7 ms
 *   at 30 KB).
 * Not a problem, and left alone: many `%` in LIKE / ILIKE (their own matcher:
 * 30 `%a` over 10 KB of `a`: < 7 ms; a long pattern is bounded by needles.ts), nested quantifiers over captures in a `~`
 * (`^(a+)+$`, `(a|aa)+`, `(x+x+)+y`: < 1 ms at 10 KB), case-insensitive
 * matching as such.
 *
 * The rule: every pattern evaluated — the right operand of `~ ~* !~ !~*`
 * (and each element of `~ ANY (ARRAY[…])`), the pattern of SIMILAR TO, the
 * pattern of the regexp_* functions and of substring(x from pattern) /
 * substring(x similar pattern escape e) — is a string literal, checked when
 * the statement is checked, or a parameter `$n`, whose value is checked the
 * same way on every call before the statement is sent (checkRegexParameters,
 * from sql-storage.ts). A column, an expression or a concatenation could hold
 * anything: refused. The flags argument, and SIMILAR's ESCAPE, are literals.
 * The check is textual and conservative (it parses the advanced-regex syntax
 * far enough to see its structure; it may refuse an unusual harmless pattern,
 * never one of the forms above):
 *
 * - at most 1,000 characters;
 * - no back-reference: no backslash before a digit anywhere (`\1` … `\9`,
 *   `\12`, octal `\0…` too), in SIMILAR TO after its escape character as well;
 * - only the advanced syntax: flags and embedded options `b` (BRE, where
 *   `\(…\)` groups and `\1` refers back), `e` and `x` (expanded: spaces and
 *   `#` comments ignored) are refused; `q` / `***=` (a literal string) are
 *   fine; no lookahead / lookbehind `(?=` `(?!` `(?<=` `(?<!`, no `(?#…)`
 *   comments; an escape the advanced syntax does not define is refused;
 * - at most 256 optional or repeated items once counted repetitions are
 *   expanded (each atom under a quantifier counts the product of the upper
 *   bounds around it; anchors and empty alternatives count too): `(a?){255}`
 *   and `((a?){16}){16}` pass, `(a?){255}(b?){2}` does not;
 * - at most 8 word constraints (`\m \M \y \Y [[:<:]] [[:>:]]`), counted the
 *   same way;
 * - case-insensitive (`~*`, flag `i`, `(?i)`): bracket ranges spanning at
 *   most 200,000 code points in all;
 * - where the position is needed (RegexUse `locate`), unless the pattern has
 *   no capture group and every alternative starts with `^` (no `n`, `m`, `w`
 *   flag) or `\A`, so that there is one start position to try and one match
 *   at most: an unbounded repetition (`*`, `+`, `{n,}`, lazy or not) only as
 *   the very last thing of the pattern — nothing after it, not even `$` — and
 *   not inside another repetition, so each attempt stops within the
 *   pattern's bounded part or keeps what it scanned as its match; no capture
 *   group inside a repetition (`(ab)+`: write `(?:ab)+`; the dissect phase
 *   backtracks over each repetition's split points); at most 256 characters
 *   before that last repetition (each start position scans that far: 255 of
 *   them cost 0.18 s per 100 KB, 999 cost 0.7 s); and, unless anchored, at
 *   most 32 optional or repeated items: the global forms (regexp_count,
 *   'g', regexp_split_*) find match after match, and each search builds its
 *   DFA states afresh, at a cost that grows with the square of a run of
 *   optional items (10,000 empty matches of `(?:b?){255}`: 2.8 s; of
 *   `(?:b?){64}`: 0.13 s; of `(?:b?){32}`: 0.04–0.07 s).
 *
 * Checked by fuzzing too (scratch scripts, not in the repository): 1,100 random patterns the
 * rule accepts for `locate`, run by regexp_count, regexp_matches 'g',
 * regexp_replace 'g', regexp_split_to_array and substring over nine
 * adversarial 20 KB inputs, stayed linear (at most 0.17 s, noise included).
 */


/** `match`: only whether the pattern matches (one DFA pass). `locate`: where, or what each part matched. */
export type RegexUse = "match" | "locate";

/** Where a pattern is evaluated: what a parameter's value is checked against on each call. */
export interface RegexPlace {
  /** The pattern's place, named in messages (`regexp_replace's pattern`). */
  where: string;
  use: RegexUse;
  /** `regex`: PostgreSQL's advanced regular expressions; `similar`: a SIMILAR TO pattern, translated as PostgreSQL does. */
  syntax: "regex" | "similar";
  /** The literal flags, `i` for `~*`; '' when none. */
  flags: string;
  /** SIMILAR's escape character: absent for the default backslash, '' for none. */
  escape?: string | undefined;
}

/** A parameter used as a pattern: its value is checked by checkRegexParameters before every run. */
export interface RegexParameter {
  /** 1-based, as in `$1`. */
  number: number;
  place: RegexPlace;
}

/** Longest pattern, in UTF-16 code units. */
export const MAX_PATTERN_LENGTH = 1000;
/** Optional or repeated items once counted repetitions are expanded (the compile cost grows with its cube). */
export const MAX_REPEATED_ITEMS = 256;
/** Word constraints (\m \M \y \Y [[:<:]] [[:>:]]), expanded likewise. */
export const MAX_WORD_CONSTRAINTS = 8;
/** Code points covered by bracket ranges in a case-insensitive pattern. */
export const MAX_FOLDED_SPAN = 200_000;
/** Characters a locating pattern may match before its final repetition. */
export const MAX_LOCATE_WIDTH = 256;
/** Optional or repeated items of a locating pattern (each match builds its DFA states afresh). */
export const MAX_LOCATE_REPEATED_ITEMS = 32;

/** The operators that evaluate a regular expression (a test checks them against pg_operator). */
export const REGEX_OPERATORS: ReadonlySet<string> = new Set(["~", "~*", "!~", "!~*"]);

/**
 * The regexp_* functions: whether they only test, and where their flags argument sits (0-based). With substring,
 * the allowlisted functions that evaluate a regular expression (a test checks them against pg_proc).
 */
export const REGEX_FUNCTIONS: ReadonlyMap<string, { use: RegexUse; flags: number }> = new Map([
  ["regexp_like", { use: "match", flags: 2 }],
  ["regexp_match", { use: "locate", flags: 2 }],
  ["regexp_matches", { use: "locate", flags: 2 }],
  ["regexp_split_to_array", { use: "locate", flags: 2 }],
  ["regexp_split_to_table", { use: "locate", flags: 2 }],
  // regexp_replace(string, pattern, replacement [, start [, N]] [, flags]): the 4th is flags or start (see below).
  ["regexp_replace", { use: "locate", flags: 5 }],
  ["regexp_count", { use: "locate", flags: 3 }],
  ["regexp_instr", { use: "locate", flags: 5 }],
  ["regexp_substr", { use: "locate", flags: 4 }],
]);

/**
 * Checks one parse node (its kind and body, as guard.ts's walk hands them)
 * wherever a regular expression is evaluated: literal patterns now, and
 * answers the parameters whose values must be checked on each call.
 */
export function checkRegexUse(kind: string, node: Node): RegexParameter[] {
  const found: RegexParameter[] = [];
  switch (kind) {
    case "A_Expr": {
      const name = lastName(node["name"]);
      const exprKind = node["kind"];
      if (exprKind === "AEXPR_SIMILAR") {
        similar(node["rexpr"], name === "!~" ? "NOT SIMILAR TO" : "SIMILAR TO", found);
        return found;
      }
      // Prefix `~` is bitwise NOT; infix `~ ~* !~ !~*` are the regex operators (text, name and char on the left).
      if (!REGEX_OPERATORS.has(name) || node["lexpr"] === undefined) return found;
      const flags = name.endsWith("*") ? "i" : "";
      if (exprKind === "AEXPR_OP") {
        pattern(node["rexpr"], { where: `the pattern of ${name}`, use: "match", syntax: "regex", flags }, found);
      } else if (exprKind === "AEXPR_OP_ANY" || exprKind === "AEXPR_OP_ALL") {
        const quantifier = exprKind === "AEXPR_OP_ANY" ? "ANY" : "ALL";
        const array = (node["rexpr"] as Node | undefined)?.["A_ArrayExpr"] as Node | undefined;
        if (array === undefined) {
          throw refused(`${name} ${quantifier} (…) takes its patterns as ARRAY[…] of string literals or parameters (${name} ${quantifier} (ARRAY['^a', $1])): an array from a parameter or a column could hold any regular expression`, { operator: name });
        }
        for (const element of (array["elements"] as unknown[] | undefined) ?? []) {
          pattern(element, { where: `a pattern of ${name} ${quantifier} (ARRAY[…])`, use: "match", syntax: "regex", flags }, found);
        }
      } else {
        throw refused(`${name} is allowed as a plain operator or with ANY / ALL (ARRAY[…])`, { operator: name });
      }
      return found;
    }
    case "SubLink": {
      const name = lastName(node["operName"]);
      if (REGEX_OPERATORS.has(name)) {
        throw refused(`${name} over a subquery is not allowed: its patterns would not be literals or parameters the guard can check; give them as ARRAY['…', $1]`, { operator: name });
      }
      return found;
    }
    case "FuncCall": {
      const name = lastName(node["funcname"]);
      const args = (node["args"] as Node[] | undefined) ?? [];
      if (name === "substring") {
        substring(args, found);
        return found;
      }
      const shape = REGEX_FUNCTIONS.get(name);
      if (shape === undefined) return found;
      const argument = (field: string, position: number): unknown => {
        const named = args.find((arg) => (arg["NamedArgExpr"] as Node | undefined)?.["name"] === field);
        if (named !== undefined) return (named["NamedArgExpr"] as Node)["arg"];
        const arg = args[position];
        return arg === undefined || arg["NamedArgExpr"] !== undefined ? undefined : arg;
      };
      let flagsArg = argument("flags", shape.flags);
      if (name === "regexp_replace" && args.length === 4 && flagsArg === undefined) {
        // regexp_replace(s, p, r, x): x is flags when text, the start position when an integer. A bare $4 is typed
        // text by PostgreSQL, so flags: it must be a literal like any flags.
        const fourth = argument("start", 3);
        if (fourth !== undefined && !integerLike(fourth)) flagsArg = fourth;
      }
      const flags = flagsLiteral(flagsArg, `${name}'s flags`);
      pattern(argument("pattern", 1), { where: `${name}'s pattern`, use: shape.use, syntax: "regex", flags }, found);
      return found;
    }
  }
  return found;
}

/** `x SIMILAR TO p [ESCAPE e]`: the parser wraps p as pg_catalog.similar_to_escape(p [, e]). */
function similar(right: unknown, operator: string, found: RegexParameter[]): void {
  const call = (right as Node | undefined)?.["FuncCall"] as Node | undefined;
  const args = (call?.["args"] as unknown[] | undefined) ?? [];
  if (call === undefined || lastName(call["funcname"]) !== "similar_to_escape" || args.length < 1 || args.length > 2) {
    throw refused(`${operator} takes a string literal or a parameter as its pattern`, { operator });
  }
  const escape = args.length === 2 ? escapeLiteral(args[1], `the ESCAPE of ${operator}`) : undefined;
  if (escape === null) return; // ESCAPE NULL: the result is NULL, nothing is matched
  pattern(args[0], { where: `the pattern of ${operator}`, use: "match", syntax: "similar", flags: "", escape }, found);
}

/**
 * substring(x from p) is substring(x, p): a regex when p is text, a position when it is an integer; substring(x
 * similar p escape e) and substring(x from p for e) are substring(x, p, e): a SIMILAR pattern when p is text. The
 * parse tree has no types: an argument that is not visibly an integer is taken as a pattern.
 */
function substring(args: Node[], found: RegexParameter[]): void {
  if (args.length !== 2 && args.length !== 3) return;
  const second = args[1];
  if (integerLike(second)) return;
  if (args.length === 2) {
    if (!isPatternOperand(second)) {
      throw refused("substring's second argument must be an integer (a literal, a cast such as pos::int, length(…), arithmetic) or, as a regular expression, a string literal or a parameter: a column or other expression could be either; for a position write substr(x, pos) or substring(x from pos::int)", { function: "substring" });
    }
    pattern(second, { where: "substring's pattern", use: "locate", syntax: "regex", flags: "" }, found);
    return;
  }
  if (!isPatternOperand(second)) {
    throw refused("substring(x from a for b) with a that is not visibly an integer is substring(x similar a escape b), a SIMILAR pattern: give positions as integers (substring(x from pos::int for len::int), or substr(x, pos, len)), or the pattern as a string literal or a parameter", { function: "substring" });
  }
  const escape = escapeLiteral(args[2], "substring's ESCAPE");
  if (escape === null) return;
  pattern(second, { where: "substring's SIMILAR pattern", use: "locate", syntax: "similar", flags: "", escape }, found);
}

const INTEGER_TYPES: ReadonlySet<string> = new Set(["int2", "int4", "int8", "smallint", "integer", "int", "bigint"]);
const INTEGER_FUNCTIONS: ReadonlySet<string> = new Set(["length", "char_length", "character_length", "octet_length", "bit_length", "strpos", "position", "ascii", "array_length", "cardinality"]);
const ARITHMETIC: ReadonlySet<string> = new Set(["+", "-", "*", "/", "%"]);

/** Visibly a number: an integer or numeric literal, a cast to an integer type, arithmetic, or a call returning an integer. */
function integerLike(value: unknown): boolean {
  const node = value as Node | undefined;
  const constant = node?.["A_Const"] as Node | undefined;
  if (constant !== undefined) return "ival" in constant || "fval" in constant;
  const cast = node?.["TypeCast"] as Node | undefined;
  if (cast !== undefined) {
    const type = cast["typeName"] as Node | undefined;
    return !Array.isArray(type?.["arrayBounds"]) && INTEGER_TYPES.has(lastName(type?.["names"]));
  }
  const expr = node?.["A_Expr"] as Node | undefined;
  if (expr !== undefined) return expr["kind"] === "AEXPR_OP" && ARITHMETIC.has(lastName(expr["name"]));
  const call = node?.["FuncCall"] as Node | undefined;
  return call !== undefined && INTEGER_FUNCTIONS.has(lastName(call["funcname"]));
}

const PATTERN_TYPES: ReadonlySet<string> = new Set(["text", "varchar"]);

/** A string literal, NULL or a parameter, possibly cast to text / varchar (no length) or given a COLLATE. */
function unwrap(value: unknown): Node | undefined {
  let node = value as Node | undefined;
  for (;;) {
    const collate = node?.["CollateClause"] as Node | undefined;
    if (collate !== undefined) {
      node = collate["arg"] as Node | undefined;
      continue;
    }
    const cast = node?.["TypeCast"] as Node | undefined;
    if (cast !== undefined) {
      const type = cast["typeName"] as Node | undefined;
      if (Array.isArray(type?.["arrayBounds"]) || Array.isArray(type?.["typmods"]) || !PATTERN_TYPES.has(lastName(type?.["names"]))) return undefined;
      node = cast["arg"] as Node | undefined;
      continue;
    }
    return node;
  }
}

function isPatternOperand(value: unknown): boolean {
  const node = unwrap(value);
  const constant = node?.["A_Const"] as Node | undefined;
  return node?.["ParamRef"] !== undefined || (constant !== undefined && (constant["isnull"] === true || constant["sval"] !== undefined));
}

/** A pattern operand: a literal is checked now, a parameter recorded for checkRegexParameters; anything else refused. */
function pattern(value: unknown, place: RegexPlace, found: RegexParameter[]): void {
  if (value === undefined) return;
  const node = unwrap(value);
  const constant = node?.["A_Const"] as Node | undefined;
  if (constant?.["isnull"] === true) return;
  const text = (constant?.["sval"] as { sval?: unknown } | undefined)?.sval;
  if (constant?.["sval"] !== undefined) {
    checkRegexText(typeof text === "string" ? text : "", place);
    return;
  }
  const number = (node?.["ParamRef"] as Node | undefined)?.["number"];
  if (typeof number === "number" && number > 0) {
    found.push({ number, place });
    return;
  }
  throw refused(
    `${place.where} must be a string literal or a parameter ($1): a column, an expression or a concatenation could hold any regular expression (back-references and nested lookaheads run for seconds, and PGlite cannot stop a statement); write the pattern into the statement, or pass it as a parameter, which the host checks before each run`,
    { pattern: place.where },
  );
}

/** A flags argument: a string literal (or NULL), its letters checked; '' when absent. */
function flagsLiteral(value: unknown, where: string): string {
  if (value === undefined) return "";
  const node = unwrap(value);
  const constant = node?.["A_Const"] as Node | undefined;
  if (constant?.["isnull"] === true) return "";
  const text = (constant?.["sval"] as { sval?: unknown } | undefined)?.sval;
  if (constant?.["sval"] === undefined) {
    throw refused(`${where} must be a string literal ('g', 'i', 'gi' …): a parameter or column could switch to BRE ('b'), where \\1 is a back-reference, or expanded syntax ('x'); for a start position write an integer ($4::int)`, { flags: where });
  }
  const flags = typeof text === "string" ? text : "";
  regexFlags(flags, where);
  return flags;
}

/** SIMILAR's ESCAPE: a string literal; null for ESCAPE NULL. */
function escapeLiteral(value: unknown, where: string): string | null {
  const node = unwrap(value);
  const constant = node?.["A_Const"] as Node | undefined;
  if (constant?.["isnull"] === true) return null;
  const text = (constant?.["sval"] as { sval?: unknown } | undefined)?.sval;
  if (constant?.["sval"] === undefined) {
    throw refused(`${where} must be a string literal ('#', or '' for none): the escape character decides what the pattern means (#1 is a back-reference with ESCAPE '#')`, { escape: where });
  }
  return typeof text === "string" ? text : "";
}

/** Checks the values of the pattern parameters of a statement, before it is sent: the same check as a literal's. */
export function checkRegexParameters(checks: readonly RegexParameter[], values: readonly unknown[]): void {
  for (const { number, place } of checks) {
    const value = values[number - 1];
    if (value === null || value === undefined) continue;
    checkRegexText(String(value), place, `parameter $${number} (${place.where})`);
  }
}

interface Mode {
  literal: boolean;
  caseInsensitive: boolean;
  /** `^` and `$` also match at newlines (flags n, m, w): `^` no longer pins a single start. */
  newlineAnchors: boolean;
}

/** Applies flag letters (flags argument or embedded options) as PostgreSQL's parse_re_flags does; refuses the flavors it cannot check. */
function regexFlags(letters: string, where: string, mode: Mode = { literal: false, caseInsensitive: false, newlineAnchors: false }, embedded = false): Mode {
  for (const letter of letters) {
    switch (letter) {
      case "b":
      case "e":
      case "x":
        throw refused(
          `${where}: ${embedded ? `the embedded option (?${letter})` : `the flag '${letter}'`} is not allowed: ${letter === "x" ? "expanded syntax ignores spaces and # comments" : letter === "b" ? "basic regular expressions read \\(…\\) as groups and \\1 as a back-reference" : "extended regular expressions read escapes differently"}, and the guard checks advanced regular expressions only; write the pattern without it`,
          { flag: letter },
        );
      case "q":
        mode.literal = true;
        break;
      case "i":
        mode.caseInsensitive = true;
        break;
      case "c":
        mode.caseInsensitive = false;
        break;
      case "n":
      case "m":
      case "w":
        mode.newlineAnchors = true;
        break;
      case "s":
      case "p":
        mode.newlineAnchors = false;
        break;
      case "t":
        break;
      case "g":
        // A flag of the functions (global), not an option of the pattern.
        if (!embedded) break;
        throw refused(`${where}: unknown regular expression option "g"`, { flag: letter });
      default:
        throw refused(`${where}: unknown regular expression ${embedded ? "option" : "flag"} ${JSON.stringify(letter)} (use g, i, c, n, m, p, s, w, t, q)`, { flag: letter });
    }
  }
  return mode;
}

/** The conservative textual check of one pattern (see the top of this file). `where` overrides the place's name in messages. */
export function checkRegexText(text: string, place: RegexPlace, where = place.where): void {
  if (text.length > MAX_PATTERN_LENGTH) {
    throw refused(`${where}: a regular expression of at most ${MAX_PATTERN_LENGTH} characters is allowed (this one has ${text.length})`, { pattern: excerpt(text) });
  }
  const source = place.syntax === "similar" ? similarToRegex(text, place.escape, where) : text;
  const mode = regexFlags(place.flags, where);
  let body = Array.from(source);
  if (!mode.literal) {
    // Directors and embedded options, at the very start (PostgreSQL's prefixes()).
    if (body[0] === "*" && body[1] === "*" && body[2] === "*") {
      if (body[3] === "=") mode.literal = true;
      else if (body[3] !== ":") throw refused(`${where}: the director ${body.slice(0, 4).join("")} is not allowed (***= and ***: are)`, { pattern: excerpt(text) });
      body = body.slice(4);
    }
    if (!mode.literal && body[0] === "(" && body[1] === "?" && /^[A-Za-z]$/.test(body[2] ?? "")) {
      const close = body.indexOf(")");
      if (close < 0) throw refused(`${where}: unterminated embedded options`, { pattern: excerpt(text) });
      regexFlags(body.slice(2, close).join(""), where, mode, true);
      body = body.slice(close + 1);
    }
  }
  let stats: Stats;
  if (mode.literal) {
    stats = { repeated: 0, words: 0, span: 0, capture: false, anchored: false, width: body.length };
  } else {
    const branches = new Parser(body, where, text).parse();
    stats = analyse(branches, mode);
  }
  const details = { pattern: excerpt(text) };
  if (stats.repeated > MAX_REPEATED_ITEMS) {
    throw refused(`${where}: the pattern has ${stats.repeated} optional or repeated items once its counted repetitions are expanded (x{m,n} counts n times x, nested ones multiply); at most ${MAX_REPEATED_ITEMS} are allowed: compiling more takes seconds on PGlite (((a?){32}){32} ran > 8 s); use fewer or smaller repetitions`, details);
  }
  if (stats.words > MAX_WORD_CONSTRAINTS) {
    throw refused(`${where}: at most ${MAX_WORD_CONSTRAINTS} word constraints (\\m \\M \\y \\Y [[:<:]] [[:>:]]) are allowed, repetitions expanded (this one has ${stats.words}): 16 adjacent ones take 0.3–0.5 s to compile on PGlite`, details);
  }
  if (mode.caseInsensitive && stats.span > MAX_FOLDED_SPAN) {
    throw refused(`${where}: a case-insensitive pattern's bracket ranges may cover at most ${MAX_FOLDED_SPAN} characters in all (these cover ${stats.span}): case folding walks each range when the pattern is compiled (15 ms per full Unicode range on PGlite); narrow the ranges or match case-sensitively`, details);
  }
  if (place.use === "locate" && !(stats.anchored && !stats.capture)) {
    if (stats.tail !== undefined) {
      throw refused(`${where}: ${stats.tail} Where the match's position is needed (regexp_match(es), regexp_replace, regexp_substr, regexp_instr, regexp_count, regexp_split_*, substring), each start position is scanned as far as the pattern could still match, so this rescans the text from every position: n² (\\s*,x over 10 KB: 0.5 s on PGlite, 30 KB: 4 s). Allowed: an unbounded repetition as the very last thing of the pattern ([a-z]+, id=\\d+, \\s+), bounded ones anywhere (\\d{1,10}), or, without capture groups, a pattern anchored at the start (^…); or test with ~ / regexp_like, which only ask whether it matches`, details);
    }
    if (stats.captureInRepetition) {
      throw refused(`${where}: a capture group inside a repetition ((ab)+, (x|y){2,3}) is not allowed where the match's parts are located: finding each repetition's part backtracks over split points; repeat a non-capturing group instead, capturing the whole repetition if you need it: ((?:ab)+)`, details);
    }
    // An anchored pattern matches once at most (one search): the per-match cost below is paid once.
    if (!stats.anchored && stats.repeated > MAX_LOCATE_REPEATED_ITEMS) {
      throw refused(`${where}: the pattern has ${stats.repeated} optional or repeated items once its counted repetitions are expanded; at most ${MAX_LOCATE_REPEATED_ITEMS} are allowed where the match's position is needed: every match builds the pattern's matcher states again, and their cost grows with the square of a run of optional items ((?:b?){255} over 10 KB: 2.8 s on PGlite, (?:b?){64}: 0.13 s); use fewer or smaller repetitions, or anchor the pattern with ^`, details);
    }
    if (stats.width > MAX_LOCATE_WIDTH) {
      throw refused(`${where}: the pattern can match ${stats.width} characters before its final repetition; at most ${MAX_LOCATE_WIDTH} are allowed where the match's position is needed (each start position may scan that far: 999 characters cost 0.7 s per 100 KB on PGlite)`, details);
    }
  }
}

function excerpt(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/**
 * A SIMILAR TO pattern as PostgreSQL rewrites it into a regular expression
 * (similar_escape_internal in src/backend/utils/adt/regexp.c): `%` → `.*`,
 * `_` → `.`, `(` → `(?:`, the escape character before any character → `\`
 * and that character (so `#1` with ESCAPE '#' is `\1`), escape + `"` →
 * the capture separators of substring, `. ^ $ \` escaped; all of it in
 * `^(?: … )$`.
 */
export function similarToRegex(pattern: string, escape: string | undefined, where = "a SIMILAR TO pattern"): string {
  const e = escape ?? "\\";
  if (Array.from(e).length > 1) throw refused(`${where}: the escape string must be empty or one character`, { escape: e });
  let out = "^(?:";
  let afterEscape = false;
  let inClass = false;
  let quotes = 0;
  for (const c of pattern) {
    if (afterEscape) {
      if (c === '"' && !inClass) {
        if (quotes === 0) out += "){1,1}?(";
        else if (quotes === 1) out += "){1,1}(?:";
        else throw refused(`${where}: a SIMILAR pattern may hold at most two escape-double-quote separators`, { pattern: excerpt(pattern) });
        quotes++;
      } else {
        out += `\\${c}`;
      }
      afterEscape = false;
    } else if (e !== "" && c === e) {
      afterEscape = true;
    } else if (inClass) {
      if (c === "\\") out += "\\";
      out += c;
      if (c === "]") inClass = false;
    } else if (c === "[") {
      out += c;
      inClass = true;
    } else if (c === "%") {
      out += ".*";
    } else if (c === "_") {
      out += ".";
    } else if (c === "(") {
      out += "(?:";
    } else if (c === "\\" || c === "." || c === "^" || c === "$") {
      out += `\\${c}`;
    } else {
      out += c;
    }
  }
  return `${out})$`;
}

/** One element of a parsed pattern: a character (class) or group, possibly quantified; or a zero-width constraint. */
type Item =
  | { type: "atom"; span: number; quantifier?: Quantifier }
  | { type: "constraint"; word: boolean; start: "caret" | "absolute" | undefined; quantifier?: undefined }
  | { type: "group"; capture: boolean; branches: Item[][]; quantifier?: Quantifier };

interface Quantifier {
  min: number;
  /** Infinity when unbounded. */
  max: number;
}

const HEX = /^[0-9A-Fa-f]$/;
const ALNUM = /^[0-9A-Za-z]$/;
const CHAR_ESCAPES: Readonly<Record<string, number>> = { a: 7, b: 8, B: 92, e: 27, f: 12, n: 10, r: 13, t: 9, v: 11 };

/**
 * A parser of PostgreSQL's advanced regular expressions (tight syntax), far
 * enough to see their structure: atoms, groups, alternatives, quantifiers and
 * constraints. What it does not know (lookaround, comments, unknown escapes,
 * misplaced quantifiers) it refuses rather than guess.
 */
class Parser {
  private at = 0;

  constructor(
    private readonly chars: string[],
    private readonly where: string,
    private readonly text: string,
  ) {}

  parse(): Item[][] {
    const branches = this.alternatives(0);
    if (this.at < this.chars.length) this.fail("unbalanced parenthesis )");
    return branches;
  }

  private fail(what: string): never {
    throw refused(`${this.where}: ${what} (the guard reads advanced regular expressions; see storage-sql.md)`, { pattern: excerpt(this.text) });
  }

  private alternatives(depth: number): Item[][] {
    if (depth > 50) this.fail("groups nested more than 50 deep are not allowed");
    const branches: Item[][] = [[]];
    const chars = this.chars;
    while (this.at < chars.length) {
      const c = chars[this.at]!;
      const branch = branches.at(-1)!;
      if (c === ")") {
        if (depth === 0) this.fail("unbalanced parenthesis )");
        return branches;
      }
      if (c === "|") {
        this.at++;
        branches.push([]);
        continue;
      }
      if (c === "*" || c === "+" || c === "?") {
        this.at++;
        this.quantify(branch, c === "*" ? { min: 0, max: Infinity } : c === "+" ? { min: 1, max: Infinity } : { min: 0, max: 1 });
        continue;
      }
      if (c === "{" && /^[0-9]$/.test(chars[this.at + 1] ?? "")) {
        this.quantify(branch, this.bound());
        continue;
      }
      if (c === "(") {
        this.at++;
        let capture = true;
        if (chars[this.at] === "?") {
          const next = chars[this.at + 1];
          if (next === ":") {
            capture = false;
            this.at += 2;
          } else if (next === "=" || next === "!" || next === "<") {
            throw refused(
              `${this.where}: lookahead and lookbehind constraints ((?=…), (?!…), (?<=…), (?<!…)) are not allowed: each is run again at every position, n² and worse (two nested lookaheads over 1,000 characters: 1.1 s on PGlite, 3,000: > 8 s); match without them, or filter with a second condition`,
              { pattern: excerpt(this.text) },
            );
          } else if (next === "#") {
            this.fail("(?#…) comments are not allowed");
          } else {
            this.fail(`(?${next ?? ""} is not allowed (use (…) or (?:…); embedded options only at the very start)`);
          }
        }
        const branches2 = this.alternatives(depth + 1);
        if (chars[this.at] !== ")") this.fail("unbalanced parenthesis (");
        this.at++;
        branch.push({ type: "group", capture, branches: branches2 });
        continue;
      }
      if (c === "[") {
        branch.push(this.bracket());
        continue;
      }
      if (c === "\\") {
        branch.push(this.escape());
        continue;
      }
      this.at++;
      if (c === "^") branch.push({ type: "constraint", word: false, start: "caret" });
      else if (c === "$") branch.push({ type: "constraint", word: false, start: undefined });
      else branch.push({ type: "atom", span: 0 });
    }
    if (depth > 0) this.fail("unbalanced parenthesis (");
    return branches;
  }

  /** `{m}`, `{m,}`, `{m,n}` at the cursor (a `{` before a digit). */
  private bound(): Quantifier {
    const match = /^\{([0-9]+)(,([0-9]*))?\}/.exec(this.chars.slice(this.at, this.at + 12).join(""));
    if (match === null) this.fail("malformed repetition count {…}");
    this.at += match[0].length;
    const min = Number(match[1]);
    const max = match[2] === undefined ? min : match[3] === "" ? Infinity : Number(match[3]);
    if (min > 255 || (max !== Infinity && (max > 255 || max < min))) this.fail("invalid repetition count (0 to 255, m ≤ n)");
    return { min, max };
  }

  private quantify(branch: Item[], quantifier: Quantifier): void {
    const last = branch.at(-1);
    if (last === undefined || last.type === "constraint" || last.quantifier !== undefined) {
      this.fail("a quantifier must follow a character, a class or a group (not another quantifier or an anchor)");
    }
    last.quantifier = quantifier;
    // A trailing ? makes it lazy: the same structure.
    if (this.chars[this.at] === "?") this.at++;
  }

  /** A backslash escape outside brackets: a character, a class (\d \s \w …) or a constraint (\A \Z \m \M \y \Y). */
  private escape(): Item {
    const c = this.chars[this.at + 1];
    if (c === undefined) this.fail("a pattern cannot end with a backslash");
    if (/^[0-9]$/.test(c)) this.backReference();
    if ("dDsSwW".includes(c)) {
      this.at += 2;
      return { type: "atom", span: 0 };
    }
    if ("AZ".includes(c)) {
      this.at += 2;
      return { type: "constraint", word: false, start: c === "A" ? "absolute" : undefined };
    }
    if ("mMyY".includes(c)) {
      this.at += 2;
      return { type: "constraint", word: true, start: undefined };
    }
    this.character();
    return { type: "atom", span: 0 };
  }

  private backReference(): never {
    throw refused(
      `${this.where}: back-references (\\1 … \\9, and any backslash before a digit) are not allowed in a regular expression: matching one backtracks without bound ((a*)*\\1 over 10 KB: 1 s on PGlite; ^(.*)(.*)(.*)\\3\\2\\1$ over 300 characters: > 8 s), and PGlite cannot stop a statement; capture the parts with regexp_match and compare them in SQL, and write a character by \\x or \\u rather than in octal`,
      { pattern: excerpt(this.text) },
    );
  }

  /** A character escape at the cursor (a backslash): consumes it; answers its code point, or undefined when it is not one character. */
  private character(): number | undefined {
    const chars = this.chars;
    const c = chars[this.at + 1];
    if (c === undefined) this.fail("a pattern cannot end with a backslash");
    if (/^[0-9]$/.test(c)) this.backReference();
    const digits = (count: number): number | undefined => {
      let hex = "";
      while (hex.length < count && HEX.test(chars[this.at] ?? "")) hex += chars[this.at++];
      return hex === "" ? undefined : parseInt(hex, 16);
    };
    this.at += 2;
    if (c in CHAR_ESCAPES) return CHAR_ESCAPES[c];
    if (c === "c") {
      const next = chars[this.at++];
      if (next === undefined) this.fail("\\c needs a character");
      return next.codePointAt(0)! & 0x1f;
    }
    if (c === "x") return digits(255);
    if (c === "u") return digits(4);
    if (c === "U") return digits(8);
    if (ALNUM.test(c)) this.fail(`the escape \\${c} is not one of PostgreSQL's (\\d \\s \\w \\D \\S \\W, \\A \\Z \\m \\M \\y \\Y, \\a \\b \\B \\c \\e \\f \\n \\r \\t \\u \\U \\v \\x)`);
    return c.codePointAt(0);
  }

  /** A bracket expression `[…]` (or the word constraints `[[:<:]]`, `[[:>:]]`): one atom, with the span of its ranges. */
  private bracket(): Item {
    const chars = this.chars;
    const ahead = chars.slice(this.at, this.at + 7).join("");
    if (ahead === "[[:<:]]" || ahead === "[[:>:]]") {
      this.at += 7;
      return { type: "constraint", word: true, start: undefined };
    }
    this.at++;
    if (chars[this.at] === "^") this.at++;
    // Each element: a code point, "-", or null (a class, an equivalence class, a named collating element).
    const elements: Array<number | "-" | null> = [];
    let first = true;
    for (;;) {
      const c = chars[this.at];
      if (c === undefined) this.fail("unbalanced bracket [");
      if (c === "]" && !first) {
        this.at++;
        break;
      }
      first = false;
      if (c === "[" && (chars[this.at + 1] === ":" || chars[this.at + 1] === "." || chars[this.at + 1] === "=")) {
        const kind = chars[this.at + 1]!;
        let end = -1;
        for (let k = this.at + 2; k + 1 < chars.length; k++) {
          if (chars[k] === kind && chars[k + 1] === "]") {
            end = k;
            break;
          }
        }
        if (end < 0) this.fail(`unterminated [${kind} in a bracket expression`);
        const name = chars.slice(this.at + 2, end);
        elements.push(kind === "." && name.length === 1 ? name[0]!.codePointAt(0)! : null);
        this.at = end + 2;
        continue;
      }
      if (c === "\\") {
        const next = chars[this.at + 1];
        if (next !== undefined && "dDsSwW".includes(next)) {
          this.at += 2;
          elements.push(null);
          continue;
        }
        if (next !== undefined && "AZmMyY".includes(next)) this.fail(`\\${next} is not allowed in a bracket expression`);
        elements.push(this.character() ?? null);
        continue;
      }
      this.at++;
      elements.push(c === "-" ? "-" : c.codePointAt(0)!);
    }
    let span = 0;
    for (let i = 1; i + 1 < elements.length; i++) {
      const [low, dash, high] = [elements[i - 1], elements[i], elements[i + 1]];
      if (dash !== "-" || low === "-" || high === "-" || low === undefined || high === undefined) continue;
      // An endpoint that is not one known character counts as the whole of Unicode.
      span += typeof low === "number" && typeof high === "number" ? Math.max(0, high - low + 1) : 0x110000;
      i++;
    }
    return { type: "atom", span };
  }
}

interface Stats {
  /** Optional or repeated items, counted repetitions expanded (see MAX_REPEATED_ITEMS). */
  repeated: number;
  /** Word constraints, expanded likewise. */
  words: number;
  /** Code points covered by bracket ranges, each range once. */
  span: number;
  capture: boolean;
  /** Every alternative starts with ^ (no newline anchors) or \A: one start position to try. */
  anchored: boolean;
  /** The longest text the pattern matches, an unbounded repetition counted as its minimum plus one. */
  width: number;
  /** Why an unbounded repetition is not at the very end, if one is not. */
  tail?: string | undefined;
  captureInRepetition?: boolean;
}

function analyse(branches: Item[][], mode: Mode): Stats {
  const stats: Stats = { repeated: 0, words: 0, span: 0, capture: false, anchored: true, width: 0 };
  for (const branch of branches) {
    const first = branch[0];
    const anchored = first?.type === "constraint" && (first.start === "absolute" || (first.start === "caret" && !mode.newlineAnchors));
    if (!anchored) stats.anchored = false;
  }
  // weight: the product of the upper bounds around; optional: under a quantifier or an empty alternative; tail: this
  // group's end is the pattern's end; quantified: some group around has a quantifier; repeated: one allows > 1.
  const walk = (alternatives: Item[][], weight: number, optional: boolean, tail: boolean, quantified: boolean, repeated: boolean): number => {
    let widest = 0;
    const nullable = optional || alternatives.some((branch) => branch.length === 0);
    for (const branch of alternatives) {
      if (branch.length === 0) stats.repeated += weight;
      let width = 0;
      branch.forEach((item, index) => {
        const last = index === branch.length - 1;
        const quantifier = item.quantifier;
        const unbounded = quantifier !== undefined && quantifier.max === Infinity;
        const copies = quantifier === undefined ? 1 : unbounded ? quantifier.min + 1 : quantifier.max;
        const itemWeight = weight * copies;
        const itemOptional = nullable || quantifier !== undefined;
        if (unbounded && !(last && tail)) {
          stats.tail ??= quantified
            ? "an unbounded repetition (*, +, {n,}) inside another repetition is not allowed here."
            : "an unbounded repetition (*, +, {n,}) followed by more of the pattern (even a $) is not allowed here.";
        }
        let itemWidth = 0;
        if (item.type === "atom") {
          if (itemOptional) stats.repeated += itemWeight;
          stats.span += item.span;
          itemWidth = 1;
        } else if (item.type === "constraint") {
          stats.repeated += itemWeight;
          if (item.word) stats.words += itemWeight;
        } else {
          const inRepetition = repeated || (quantifier !== undefined && quantifier.max > 1);
          if (item.capture) {
            stats.capture = true;
            if (inRepetition) stats.captureInRepetition = true;
          }
          itemWidth = walk(item.branches, itemWeight, itemOptional, tail && last && quantifier === undefined, quantified || quantifier !== undefined, inRepetition);
        }
        width += itemWidth * copies;
      });
      widest = Math.max(widest, width);
    }
    return widest;
  };
  stats.width = walk(branches, 1, false, true, false, false);
  return stats;
}
