import { Kysely, sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeBackends } from "../support/backends.js";
import { runSql, sqlBundle, type SqlResult } from "./support.js";
import { createTestHost, type TestHost } from "../../src/testing/index.js";
import type { InstallInfo } from "../../src/index.js";
import { checkSql, loadParser, type GuardOptions } from "../../src/storage/sql/guard.js";
import { FUNCTIONS } from "../../src/storage/sql/allowlist.js";
import { checkRegexParameters, checkRegexText, REGEX_FUNCTIONS, REGEX_OPERATORS, similarToRegex, type RegexPlace } from "../../src/storage/sql/regex.js";
import { SqlStorageError } from "../../src/index.js";

/**
 * Regular expressions run inside one call that PGlite cannot stop (regex.ts):
 * every pattern is a checked literal or a parameter whose value is checked on
 * each call. The bombs below are the ones measured there (seconds on inputs
 * of 10 KB or less), each in the spelling that reaches it.
 */

const query = { schema: "ext_acme_notes_0123456789ab", mode: "query" as const, interruptible: false };

function refusal(text: string, options: GuardOptions = query): SqlStorageError {
  try {
    checkSql(text, options);
  } catch (error) {
    return error as SqlStorageError;
  }
  throw new Error(`not refused: ${text}`);
}

const match: RegexPlace = { where: "the pattern of ~", use: "match", syntax: "regex", flags: "" };
const locate: RegexPlace = { where: "regexp_replace's pattern", use: "locate", syntax: "regex", flags: "" };

function textRefusal(pattern: string, place: RegexPlace = match): string {
  try {
    checkRegexText(pattern, place);
  } catch (error) {
    expect(error).toBeInstanceOf(SqlStorageError);
    expect((error as SqlStorageError).code).toBe("E_SQL_REFUSED");
    return (error as Error).message;
  }
  throw new Error(`not refused: ${pattern}`);
}

/** Patterns measured to take seconds on PGlite (regex.ts), where a plain ~ evaluates them, with the refusal each gets. */
const MATCH_BOMBS: Array<[pattern: string, reason: RegExp]> = [
  ["(a*)*\\1", /back-references/],
  ["^(a+)+\\1$", /back-references/],
  ["^(.*)(.*)(.*)\\3\\2\\1$", /back-references/],
  ["(a)\\12", /back-references/],
  ["(a)[\\1]", /back-references/],
  ["(a*)*\\01", /back-references/],
  ["(?b)\\(a*\\)*\\1", /embedded option \(\?b\)/],
  ["(?e)(a*)*\\1", /embedded option \(\?e\)/],
  ["(?x)(a*)* \\1", /embedded option \(\?x\)/],
  ["***:(a*)*\\1", /back-references/],
  ["***:(?b)\\(a*\\)*\\1", /embedded option \(\?b\)/],
  ["(?=a*b)a", /lookahead and lookbehind/],
  ["^(?:a(?=(?:a(?=a*$))*$))*$", /lookahead and lookbehind/],
  ["(?<=a*)b", /lookahead and lookbehind/],
  ["((a{1,255}){1,255}){1,255}", /optional or repeated items/],
  ["((a?){32}){32}", /optional or repeated items/],
  ["((a*){32}){32}", /optional or repeated items/],
  ["(a?){255}(a?){255}(a?){255}(a?){255}", /optional or repeated items/],
  ["(\\y|a)".repeat(16), /word constraints/],
  ["[[:<:]]a".repeat(9), /word constraints/],
];

/** Patterns fine in a plain ~ but n² (or a large constant per match) where the match's position is needed. */
const LOCATE_BOMBS: Array<[pattern: string, reason: RegExp]> = [
  ["a|a*b", /unbounded repetition/],
  ["\\s*,x", /unbounded repetition/],
  ["a[^z]*zb", /unbounded repetition/],
  ["a+$|b", /unbounded repetition/],
  ["(?:b?){255}", /optional or repeated items/],
  ["(?:b?){64}(?:c?){64}(?:d?){64}", /optional or repeated items/],
  [`${"a".repeat(300)}c|b`, /can match 301 characters/],
  ["(a|aa)+", /capture group inside a repetition/],
];

describe("regular expressions in the SQL guard", () => {
  beforeAll(() => loadParser());

  it("refuses each measured bomb as a literal, wherever a pattern is evaluated", () => {
    for (const [pattern, reason] of MATCH_BOMBS) {
      const literal = pattern.replace(/'/g, "''");
      for (const text of [
        `SELECT id FROM t WHERE name ~ '${literal}'`,
        `SELECT id FROM t WHERE name !~* '${literal}'`,
        `SELECT id FROM t WHERE name OPERATOR(pg_catalog.~) '${literal}'`,
        `SELECT id FROM t WHERE name ~ ANY (ARRAY['^a', '${literal}'])`,
        `SELECT regexp_like(name, '${literal}') FROM t`,
        `SELECT regexp_match(name, '${literal}') FROM t`,
        `SELECT regexp_replace(string => name, pattern => '${literal}', replacement => 'x') FROM t`,
        `SELECT count(*) FROM t, regexp_split_to_table(name, '${literal}') AS part`,
        `SELECT substring(name from '${literal}') FROM t`,
        `SELECT id FROM t WHERE name ~ '${literal}'::text COLLATE "C"`,
        `ALTER TABLE t ADD CONSTRAINT c CHECK (name ~ '${literal}')`,
      ]) {
        const error = refusal(text, text.startsWith("ALTER") ? { ...query, mode: "migration" } : query);
        expect(error.code, text).toBe("E_SQL_REFUSED");
        expect(error.message, text).toMatch(reason);
      }
    }
    for (const [pattern, reason] of LOCATE_BOMBS) {
      for (const text of [
        `SELECT regexp_count(name, '${pattern}') FROM t`,
        `SELECT regexp_replace(name, '${pattern}', '', 'g') FROM t`,
        `SELECT regexp_matches(name, '${pattern}', 'g') FROM t`,
        `SELECT regexp_substr(name, '${pattern}', 1, 3) FROM t`,
        `SELECT substring(name, '${pattern}') FROM t`,
      ]) {
        expect(refusal(text).message, text).toMatch(reason);
      }
      // A plain ~ only asks whether there is a match: one pass, linear (regex.ts).
      if (!/optional or repeated/.test(String(reason))) expect(checkSql(`SELECT id FROM t WHERE name ~ '${pattern}'`, query)).toHaveLength(1);
    }
  });

  it("reads the pattern as PostgreSQL does: escape strings, Unicode escapes, dollar quoting", () => {
    for (const text of [
      "SELECT id FROM t WHERE name ~ E'(a*)*\\\\1'",
      "SELECT id FROM t WHERE name ~ U&'(a*)*\\005C1'",
      "SELECT id FROM t WHERE name ~ U&'(a*)*!005C1' UESCAPE '!'",
      "SELECT id FROM t WHERE name ~ $$(a*)*\\1$$",
      "SELECT id FROM t WHERE name ~ $re$^(a+)+\\1$$re$",
      "SELECT id FROM t WHERE name ~ CAST('(a*)*\\1' AS varchar)",
    ]) {
      expect(refusal(text).message, text).toMatch(/back-references/);
    }
    // A doubled backslash is a literal backslash, not an escape: \\1 matches a backslash and a 1.
    expect(checkSql("SELECT id FROM t WHERE name ~ '\\\\1'", query)).toHaveLength(1);
  });

  it("refuses BRE and the other flavors by flags, and flags that are not literals", () => {
    expect(refusal("SELECT regexp_match(name, '\\(a*\\)*\\1', 'b') FROM t").message).toMatch(/the flag 'b' is not allowed/);
    expect(refusal("SELECT regexp_like(name, 'a', 'ix') FROM t").message).toMatch(/the flag 'x'/);
    expect(refusal("SELECT regexp_replace(name, 'a', 'b', 'ge') FROM t").message).toMatch(/the flag 'e'/);
    expect(refusal("SELECT regexp_instr(name, 'a', 1, 1, 0, 'b') FROM t").message).toMatch(/the flag 'b'/);
    expect(refusal("SELECT regexp_replace(name, 'a', 'b', $1) FROM t").message).toMatch(/flags must be a string literal.*\$4::int/);
    expect(refusal("SELECT regexp_match(name, 'a', flags) FROM t").message).toMatch(/flags must be a string literal/);
    expect(refusal("SELECT regexp_count(name, 'a', 1, $2) FROM t").message).toMatch(/flags must be a string literal/);
    expect(refusal("SELECT regexp_like(name, 'a', 'k') FROM t").message).toMatch(/unknown regular expression flag/);
    expect(refusal("SELECT id FROM t WHERE name ~ '***?x'").message).toMatch(/director/);
    // q (and ***=) make the pattern a literal string: \1 is a backslash and a 1 there.
    expect(checkSql("SELECT regexp_replace(name, '(a*)*\\1', 'x', 'gq'), name ~ '***=(a*)*\\1' FROM t", query)).toHaveLength(1);
    // A start position is an integer, never flags.
    expect(checkSql("SELECT regexp_replace(name, 'a', 'b', 2), regexp_replace(name, 'a', 'b', $1::int), regexp_replace(name, 'a', 'b', 1, 2, 'i') FROM t", query)).toHaveLength(1);
  });

  it("takes a pattern only as a literal or a parameter: never a column, an expression or a concatenation", () => {
    for (const [text, where] of [
      ["SELECT id FROM t WHERE name ~ pattern", "the pattern of ~"],
      ["SELECT id FROM t WHERE name ~* ('^' || $1)", "the pattern of ~\\*"],
      ["SELECT id FROM t WHERE name !~ lower($1)", "the pattern of !~"],
      ["SELECT id FROM t WHERE name ~ ANY (ARRAY[pattern])", "a pattern of ~ ANY"],
      ["SELECT regexp_replace(name, name, '') FROM t", "regexp_replace's pattern"],
      ["SELECT regexp_like(name, coalesce($1, '')) FROM t", "regexp_like's pattern"],
      ["SELECT regexp_match(string => name, pattern => pattern) FROM t", "regexp_match's pattern"],
      ["SELECT id FROM t WHERE name SIMILAR TO pattern", "the pattern of SIMILAR TO"],
      ["SELECT id FROM t WHERE name NOT SIMILAR TO $1 || '%'", "the pattern of NOT SIMILAR TO"],
      ["SELECT id FROM t WHERE name ~ similar_to_escape($1)", "the pattern of ~"],
      ["SELECT id FROM t WHERE name ~ $1::varchar(3)", "the pattern of ~"],
    ]) {
      const error = refusal(text!);
      expect(error.message, text).toMatch(new RegExp(`^${where}.* must be a string literal or a parameter \\(\\$1\\).*write the pattern into the statement, or pass it as a parameter`));
    }
    expect(refusal("SELECT id FROM t WHERE name ~ ANY ($1::text[])").message).toMatch(/ARRAY\['\^a', \$1\]/);
    expect(refusal("SELECT id FROM t WHERE name ~ ALL (SELECT pattern FROM p)").message).toMatch(/over a subquery/);
    expect(refusal("SELECT id FROM t WHERE name ~ ANY (SELECT pattern FROM p)").message).toMatch(/over a subquery/);
    expect(refusal("SELECT id FROM t WHERE name SIMILAR TO $1 ESCAPE $2").message).toMatch(/ESCAPE of SIMILAR TO must be a string literal/);
    // substring's second argument is a pattern or a position: which, the parse tree cannot tell unless it is visible.
    expect(refusal("SELECT substring(name from pos) FROM t").message).toMatch(/substr\(x, pos\)/);
    expect(refusal("SELECT substring(name from pos for 3) FROM t").message).toMatch(/substring\(x from pos::int for len::int\)/);
    expect(refusal("SELECT substring(name from $1 for $2) FROM t").message).toMatch(/ESCAPE must be a string literal/);
    expect(checkSql("SELECT substring(name from 2), substring(name from 2 for 3), substring(name for 3), substring(name from pos::int for length(name) - 1), substring(name, 0) FROM t", query)).toHaveLength(1);
    // Prefix ~ is bitwise NOT, not a regular expression.
    expect(checkSql("SELECT ~ n, ~ 5 FROM t", query)).toHaveLength(1);
  });

  it("refuses SIMILAR TO back-references, with the default escape and with ESCAPE", () => {
    for (const text of [
      "SELECT id FROM t WHERE name SIMILAR TO '%\\\"(a|b)*\\\"\\1\\1%'",
      "SELECT id FROM t WHERE name SIMILAR TO '%#\"(a|b)*#\"#1#1%' ESCAPE '#'",
      "SELECT id FROM t WHERE name NOT SIMILAR TO '#\"%#\"%#1' ESCAPE '#'",
      "SELECT substring(name similar '%#\"(a|b)*#\"#1#1%' escape '#') FROM t",
      "SELECT substring(name from '%#\"(a|b)*#\"#1#1%' for '#') FROM t",
    ]) {
      expect(refusal(text).message, text).toMatch(/back-references/);
    }
    // With ESCAPE '#' a backslash is an ordinary character, and with ESCAPE '' there is no escape at all.
    expect(checkSql("SELECT name SIMILAR TO '%\\1%' ESCAPE '#', name SIMILAR TO '%\\1%' ESCAPE '' FROM t", query)).toHaveLength(1);
    expect(similarToRegex('%#"(a|b)*#"#1%', "#")).toBe("^(?:.*){1,1}?((?:a|b)*){1,1}(?:\\1.*)$");
    // substring similar needs the match's parts: `%` around the #"…#" part is an unbounded repetition with more after it.
    expect(refusal("SELECT substring(name similar '%#\"a[^z]*zb#\"%' escape '#') FROM t").message).toMatch(/unbounded repetition/);
    expect(checkSql("SELECT substring(name similar '#\"[0-9]{3}#\"-[0-9]{4}' escape '#'), substring(name similar '%ab%' escape '#'), name SIMILAR TO '%(b|d)%' FROM t", query)).toHaveLength(1);
  });

  it("lets ordinary patterns through, in every place", () => {
    for (const text of [
      "SELECT id FROM t WHERE name ~ '^[a-z]+$' AND phone ~ '\\d{3}-\\d{4}' AND name ~* '(foo|bar)+' AND name !~ '^\\s*$'",
      "SELECT id FROM t WHERE name ~* $1 OR name ~ $2::text OR name ~ ANY (ARRAY[$3, 'x$'])",
      "SELECT regexp_replace(name, '\\s+', ' ', 'g'), regexp_replace(name, '[^a-z0-9]+', '-', 'gi'), regexp_replace(phone, '(\\d{3})(\\d{4})', '\\1-\\2') FROM t",
      "SELECT regexp_matches(tags, '#(\\w+)', 'g') FROM t",
      "SELECT regexp_match(email, '^([^@]{1,64})@([a-z.]{1,64})$'), regexp_match(email, '^[^@]+@.+$'), substring(phone from '\\d+') FROM t",
      "SELECT regexp_split_to_array(name, ',\\s*'), regexp_count(name, '[aeiou]'), regexp_instr(name, 'a+'), regexp_substr(name, 'id=(\\d+)', 1, 1, 'i', 1) FROM t",
      "SELECT regexp_replace(name, '(?:foo|bar)+', 'x', 'g'), regexp_replace(name, '^\\s+', ''), regexp_count(name, '\\Aa.*b') FROM t",
      "SELECT name ~ '[\\u4e00-\\u9fff]+', name ~* '(?i)caf[eé]', name ~ '\\m(cat|dog)s?\\M' FROM t",
    ]) {
      expect(checkSql(text, query), text).toHaveLength(1);
    }
  });

  it("records pattern parameters for the per-call check, and checks their values as it checks literals", () => {
    const [statement] = checkSql("SELECT regexp_replace(name, $2, $3, 'g') FROM t WHERE name ~* $1 AND name SIMILAR TO $4 ESCAPE '#'", query);
    expect(statement!.regexParams.map((param) => [param.number, param.place.where, param.place.use, param.place.flags])).toEqual([
      [2, "regexp_replace's pattern", "locate", "g"],
      [1, "the pattern of ~*", "match", "i"],
      [4, "the pattern of SIMILAR TO", "match", ""],
    ]);
    const params = statement!.regexParams;
    expect(() => checkRegexParameters(params, ["caf", "\\s+", "-", "%x%"])).not.toThrow();
    expect(() => checkRegexParameters(params, [null, null, null, null])).not.toThrow();
    expect(() => checkRegexParameters(params, ["(a*)*\\1", "x", "-", "%"])).toThrow(/^parameter \$1 \(the pattern of ~\*\): back-references/);
    expect(() => checkRegexParameters(params, ["a", "a|a*b", "-", "%"])).toThrow(/^parameter \$2 \(regexp_replace's pattern\): an unbounded repetition/);
    expect(() => checkRegexParameters(params, ["a", "a", "-", '#"(a|b)*#"#1'])).toThrow(/^parameter \$4 \(the pattern of SIMILAR TO\): back-references/);
    expect(() => checkRegexParameters(params, ["x".repeat(1001), "a", "-", "%"])).toThrow(/at most 1000 characters/);
    // A statement without patterns records none: the per-call check is skipped.
    expect(checkSql("SELECT id FROM t WHERE id = $1 AND name LIKE $2", query)[0]!.regexParams).toEqual([]);
  });

  it("bounds compile cost: repetitions expand, case-insensitive ranges count, length is capped", () => {
    expect(() => checkRegexText("(a?){255}", match)).not.toThrow();
    expect(() => checkRegexText("((a?){16}){16}", match)).not.toThrow();
    expect(textRefusal("(a?){255}(b?){2}")).toMatch(/257 optional or repeated items/);
    expect(textRefusal("(a|)".repeat(129))).toMatch(/optional or repeated items/);
    expect(() => checkRegexText("[\\u0001-\\U0010ffff]".repeat(40), match)).not.toThrow();
    expect(textRefusal("[\\u0001-\\U0010ffff]", { ...match, flags: "i" })).toMatch(/case-insensitive/);
    expect(textRefusal("(?i)[\\u0100-\\uffff][\\u0100-\\uffff][\\u0100-\\uffff][\\u0100-\\uffff]")).toMatch(/case-insensitive/);
    expect(() => checkRegexText("[\\u4e00-\\u9fff]", { ...match, flags: "i" })).not.toThrow();
    expect(textRefusal("a".repeat(1001))).toMatch(/at most 1000 characters/);
    expect(textRefusal("(?#note)a")).toMatch(/comments/);
    expect(textRefusal("\\k")).toMatch(/escape \\k/);
    expect(textRefusal("a**")).toMatch(/quantifier/);
    // Where the position is needed, fewer repeated items (each match builds its states again).
    expect(() => checkRegexText("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", locate)).not.toThrow();
    expect(textRefusal("[a-z]{2,64}", locate)).toMatch(/at most 32 are allowed where the match's position is needed/);
    expect(() => checkRegexText("^[a-z]{2,64}", locate)).not.toThrow();
  });
});

/** The same bombs through the public path: an extension's handler calling ctx.sql.query, on PGlite and PostgreSQL. */
describeBackends("regular expressions from a handler", (backend) => {
  let t: TestHost;
  let own: InstallInfo;

  const MIGRATION = `CREATE TABLE words (id integer PRIMARY KEY, name text NOT NULL, phone text NOT NULL DEFAULT '', tags text NOT NULL DEFAULT '');
INSERT INTO words (id, name, phone, tags) VALUES
  (1, 'apple', '555-1234', '#red #fruit'), (2, 'Banana', '555 9876', '#yellow'), (3, 'foobar', '123-4567', ''),
  (4, 'cherry pie', 'no phone', ''), (5, 'FOOfoo', '', '#Red'), (6, '${"a".repeat(40)}', '', '');
CREATE TABLE items (id text PRIMARY KEY, name text NOT NULL, n integer NOT NULL DEFAULT 0);
`;

  const refused = (result: SqlResult, reason?: RegExp) => {
    expect(result.ok, JSON.stringify(result)).toBe(false);
    expect(result.code).toBe("E_SQL_REFUSED");
    expect(result.rows).toBeUndefined();
    if (reason !== undefined) expect(result.message).toMatch(reason);
  };
  const ids = (result: SqlResult) => {
    expect(result.ok, JSON.stringify(result)).toBe(true);
    return result.rows!.map((row) => row["id"]);
  };

  beforeAll(async () => {
    t = await createTestHost({ database: await backend.connect(), schema: backend.freshSchema("annex_sqlregex") });
    own = await t.install(await sqlBundle({ "0001_words.sql": MIGRATION }));
  });
  afterAll(async () => {
    if ((await t.host.getInstall("test-tenant", "acme.notes")) !== null) await t.host.uninstall("test-tenant", "acme.notes", { purge: true });
    await t.close();
  });

  it("refuses each measured bomb, as a literal and as a parameter, before it runs", async () => {
    const bombs: Array<[literal: string, parameter: string, pattern: string, reason: RegExp]> = [
      ...MATCH_BOMBS.map(([pattern, reason]): [string, string, string, RegExp] => [`SELECT id FROM words WHERE name ~ '${pattern}'`, "SELECT id FROM words WHERE name ~ $1", pattern, reason]),
      ...LOCATE_BOMBS.map(([pattern, reason]): [string, string, string, RegExp] => [`SELECT regexp_count(name, '${pattern}') AS n FROM words`, "SELECT regexp_count(name, $1) AS n FROM words", pattern, reason]),
      ["SELECT id FROM words WHERE name SIMILAR TO '%#\"(a|b)*#\"#1#1%' ESCAPE '#'", "SELECT id FROM words WHERE name SIMILAR TO $1 ESCAPE '#'", '%#"(a|b)*#"#1#1%', /back-references/],
      ["SELECT id FROM words WHERE name SIMILAR TO '%\\\"(a|b)*\\\"\\1\\1%'", "SELECT id FROM words WHERE name SIMILAR TO $1", '%\\"(a|b)*\\"\\1\\1%', /back-references/],
      ["SELECT length(substring(name similar '%#\"a[^z]*zb#\"%' escape '#')) AS n FROM words", "SELECT length(substring(name similar $1 escape '#')) AS n FROM words", '%#"a[^z]*zb#"%', /unbounded repetition/],
      ["SELECT regexp_match(name, '(?b)\\(a*\\)*\\1') AS m FROM words", "SELECT regexp_match(name, $1) AS m FROM words", "(?b)\\(a*\\)*\\1", /\(\?b\)/],
    ];
    for (const [literal, parameter, pattern, reason] of bombs) {
      const started = performance.now();
      refused(await runSql(t, literal), reason);
      refused(await runSql(t, parameter, [pattern]), reason);
      // Refused before anything ran: the bombs take seconds (the loaded test machine gets slack).
      expect(performance.now() - started, literal).toBeLessThan(2_000);
    }
    // BRE through the flags argument: refused as a literal flag; a flags parameter is refused whatever it holds.
    refused(await runSql(t, "SELECT regexp_match(name, '\\(a*\\)*\\1', 'b') AS m FROM words"), /flag 'b'/);
    refused(await runSql(t, "SELECT regexp_match(name, $1, $2) AS m FROM words", ["\\(a*\\)*\\1", "b"]), /flags must be a string literal/);
  });

  it("refuses a bad parameter on every call, and the same text with a good one still runs: the verdict cache holds no value", async () => {
    const text = "SELECT id FROM words WHERE name ~* $1 ORDER BY id";
    for (let i = 0; i < 3; i++) {
      expect(ids(await runSql(t, text, ["^foo"]))).toEqual([3, 5]);
      refused(await runSql(t, text, ["(a*)*\\1"]), /^parameter \$1 \(the pattern of ~\*\): back-references/);
    }
    // A refused write wrote nothing.
    const write = "UPDATE items SET name = 'hit' WHERE name ~ $1 RETURNING id";
    await runSql(t, "INSERT INTO items (id, name) VALUES ('w1', 'aaaaaaaaaaaaaaaaaaaab')");
    refused(await runSql(t, write, ["^(a+)+\\1$"]));
    expect((await t.sql(own.id).query("SELECT name FROM items WHERE id = 'w1'")).rows).toEqual([{ name: "aaaaaaaaaaaaaaaaaaaab" }]);
    expect(await runSql(t, write, ["b$"])).toEqual({ ok: true, rows: [{ id: "w1" }], rowCount: 1 });
    // A parameter the statement never reads as a pattern is not checked.
    expect(ids(await runSql(t, "SELECT id FROM words WHERE name = $1 OR name ~ '^apple$'", ["(a*)*\\1"]))).toEqual([1]);
  });

  it("refuses a column or an expression as the pattern, and names what to write instead", async () => {
    refused(await runSql(t, "SELECT id FROM words WHERE name ~ tags"), /must be a string literal or a parameter \(\$1\)/);
    refused(await runSql(t, "SELECT id FROM words WHERE name ~* ('^' || $1)", ["a"]), /the pattern of ~\* must be a string literal or a parameter/);
    refused(await runSql(t, "SELECT regexp_replace(name, name, '') AS r FROM words"), /regexp_replace's pattern must be/);
    refused(await runSql(t, "SELECT substring(name from id) AS s FROM words"), /substr\(x, pos\)/);
  });

  it("runs ordinary patterns and returns the right rows", async () => {
    expect(ids(await runSql(t, "SELECT id FROM words WHERE name ~ '^[a-z]+$' ORDER BY id"))).toEqual([1, 3, 6]);
    expect(ids(await runSql(t, "SELECT id FROM words WHERE phone ~ '\\d{3}-\\d{4}' ORDER BY id"))).toEqual([1, 3]);
    expect(ids(await runSql(t, "SELECT id FROM words WHERE name ~ '^(foo|bar)+$' ORDER BY id"))).toEqual([3]);
    expect(ids(await runSql(t, "SELECT id FROM words WHERE name ~* '^(foo|bar)+$' ORDER BY id"))).toEqual([3, 5]);
    // Case-insensitive search with the user's own pattern, as a parameter.
    expect(ids(await runSql(t, "SELECT id FROM words WHERE name ~* $1 ORDER BY id", ["AN"]))).toEqual([2]);
    expect(ids(await runSql(t, "SELECT id FROM words WHERE name ~* $1 ORDER BY id", ["^foo"]))).toEqual([3, 5]);
    expect(ids(await runSql(t, "SELECT id FROM words WHERE regexp_like(name, $1, 'i') ORDER BY id", ["^b"]))).toEqual([2]);
    expect(ids(await runSql(t, "SELECT id FROM words WHERE name SIMILAR TO $1 ORDER BY id", ["%an%"]))).toEqual([2]);
    expect(ids(await runSql(t, "SELECT id FROM words WHERE name ~ ANY (ARRAY[$1, '^c']) ORDER BY id", ["^a"]))).toEqual([1, 4, 6]);
    const located = await runSql(
      t,
      `SELECT regexp_replace(name, '\\s+', '-', 'g') AS dashed, regexp_replace(name, $1, '', 'g') AS consonants,
        substring(phone from '-(\\d+)') AS last, regexp_split_to_array(name, '\\s+') AS parts, regexp_count(name, '[aeiou]') AS vowels,
        regexp_replace(phone, '(\\d{3})-(\\d{4})', '\\2/\\1') AS swapped
       FROM words WHERE id IN (1, 4) ORDER BY id`,
      ["[aeiou]+"],
    );
    expect(located, JSON.stringify(located)).toMatchObject({ ok: true });
    expect(located.rows).toEqual([
      { dashed: "apple", consonants: "ppl", last: "1234", parts: ["apple"], vowels: 2, swapped: "1234/555" },
      { dashed: "cherry-pie", consonants: "chrry p", last: null, parts: ["cherry", "pie"], vowels: 3, swapped: "no phone" },
    ]);
    const tags = await runSql(t, "SELECT m[1] AS tag FROM words, regexp_matches(tags, '#(\\w+)', 'g') AS m WHERE id = 1");
    expect(tags.rows).toEqual([{ tag: "red" }, { tag: "fruit" }]);
  });
});

describeBackends("the regular-expression places against the catalog", (backend) => {
  it("checks every allowlisted function and every operator whose implementation evaluates a regular expression", async () => {
    const db = await backend.connect();
    const read = async <Row,>(text: string): Promise<Row[]> => (db instanceof Kysely ? (await sql.raw<Row>(text).execute(db)).rows : (await db.query<Row>(text)).rows);
    // By implementation (textregexeq, textregexsubstr, regexp_*…), by name, and by SQL body (substring(text, text, text) calls similar_to_escape).
    const functions = await read<{ name: string }>(`SELECT DISTINCT p.proname AS name FROM pg_catalog.pg_proc p
      WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.prokind = 'f'
        AND (p.prosrc ~* '(regex|similar)' OR p.proname ~* '(regex|similar)' OR pg_catalog.pg_get_functiondef(p.oid) ~* '(regex|similar)')`);
    const checked = new Set([...REGEX_FUNCTIONS.keys(), "substring", "similar_to_escape"]);
    const allowed = functions.map((row) => row.name).filter((name) => FUNCTIONS.has(name));
    expect(allowed).toEqual(expect.arrayContaining(["regexp_replace", "substring"]));
    for (const name of allowed) expect(checked.has(name), name).toBe(true);
    const operators = await read<{ name: string }>(`SELECT DISTINCT o.oprname AS name FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_proc p ON p.oid = o.oprcode
      WHERE p.prosrc ~* '(regex|similar)'`);
    expect(operators.map((row) => row.name).sort()).toEqual([...REGEX_OPERATORS].sort());
  });
});
