import { Kysely, sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeBackends } from "../support/backends.js";
import { runSql, sqlBundle, type SqlResult } from "./support.js";
import { createTestHost, type TestHost } from "../../src/testing/index.js";
import { checkSql, loadParser, type GuardOptions } from "../../src/storage/sql/guard.js";
import { FUNCTIONS } from "../../src/storage/sql/allowlist.js";
import { checkNeedleParameters, CONTAINMENT_OPERATORS, LIKE_OPERATORS, MAX_CONTAINMENT_ITEMS, NEEDLE_CAPS, NEEDLE_FUNCTIONS } from "../../src/storage/sql/needles.js";
import { SqlStorageError } from "../../src/index.js";

/**
 * Built-ins whose work is the product of two inputs (needles.ts): a search
 * string, pattern, translate's `from`, trim's characters or a compared
 * operand is a literal or a parameter of bounded length (checked on every
 * call), unless the other input is. The statements below are the red team's:
 * with 20,000-character inputs they ran for seconds, past the guard and the
 * plan-cost bound.
 */

const query = { schema: "ext_acme_notes_0123456789ab", mode: "query" as const, interruptible: false };
const migration = { ...query, mode: "migration" as const };

function refusal(text: string, options: GuardOptions = query): SqlStorageError {
  try {
    checkSql(text, options);
  } catch (error) {
    expect(error).toBeInstanceOf(SqlStorageError);
    return error as SqlStorageError;
  }
  throw new Error(`not refused: ${text}`);
}

const accepted = (text: string, options: GuardOptions = query) => expect(checkSql(text, options), text).not.toHaveLength(0);

describe("needles in the SQL guard", () => {
  beforeAll(() => loadParser());

  it("refuses each product with two unbounded sides, naming the function, the argument, the cap and what to write", () => {
    for (const [text, where, cap] of [
      ["SELECT translate(a, b, 'x') FROM t", "translate's from", 64],
      ["SELECT strpos(a, b) FROM t", "strpos's search string", 256],
      ["SELECT position(b in a) FROM t", "position's search string", 256],
      ["SELECT split_part(a, b, 2) FROM t", "split_part's delimiter", 256],
      ["SELECT replace(a, b, 'x') FROM t", "replace's search string", 256],
      ["SELECT string_to_array(a, b) FROM t", "string_to_array's delimiter", 256],
      ["SELECT btrim(a, b), 1 FROM t", "btrim's characters", 64],
      ["SELECT trim(both b from a) FROM t", "btrim's characters", 64],
      ["SELECT rtrim(a, lower(b)) FROM t", "rtrim's characters", 64],
      ["SELECT id FROM t WHERE a LIKE b", "the pattern of LIKE", 128],
      ["SELECT id FROM t WHERE a NOT ILIKE b || '%'", "the pattern of NOT ILIKE", 128],
      ["SELECT id FROM t WHERE a ~~* b", "the pattern of ILIKE", 128],
      ["SELECT id FROM t WHERE a OPERATOR(pg_catalog.~~) lower($1)", "the pattern of LIKE", 128],
      ["SELECT id FROM t WHERE a LIKE b ESCAPE '#'", "the pattern of LIKE", 128],
      ["SELECT id FROM t WHERE xs && ys", "the right operand of &&", 256],
      ["SELECT id FROM t WHERE xs @> array_cat(ys, ys)", "the right operand of @>", 256],
      ["SELECT id FROM t WHERE doc <@ other", "the right operand of <@", 256],
      ["SELECT id FROM t WHERE doc ?& keys", "the right operand of ?&", 256],
      ["SELECT id FROM t WHERE doc ?| (SELECT array_agg(k) FROM keys)", "the right operand of ?|", 256],
    ] as const) {
      const error = refusal(text);
      expect(error.code, text).toBe("E_SQL_REFUSED");
      expect(error.message, text).toContain(`${where}`);
      expect(error.message, text).toContain(`at most ${cap} characters`);
      expect(error.message, text).toMatch(/a column or another expression could be as long as the data/);
      expect(error.message, text).toMatch(/pass (it|one side) as a parameter/);
      expect(error.details, text).toMatchObject({ cap });
    }
  });

  it("refuses them in a migration too: indexes, views, checks and backfills", () => {
    for (const text of [
      "CREATE INDEX big_tr ON big ((length(translate(a, b, 'x'))))",
      "CREATE VIEW v AS SELECT id FROM big WHERE a LIKE b",
      "ALTER TABLE big ADD CONSTRAINT c CHECK (strpos(a, b) = 0)",
      "CREATE TABLE g (a text, b text, n int GENERATED ALWAYS AS (strpos(a, b)) STORED)",
      "UPDATE big SET n = length(replace(a, b, ''))",
      "CREATE INDEX big_x ON big (id) WHERE xs && ys",
    ]) {
      expect(refusal(text, migration).message, text).toMatch(/must be a string literal, a parameter/);
    }
    accepted("CREATE INDEX big_tr ON big ((length(translate(a, 'áéíóú', 'aeiou'))))", migration);
  });

  it("measures literals when the statement is checked: the cap passes, one more character does not", () => {
    const text = (n: number) => "b".repeat(n);
    for (const [fn, cap] of [
      ["strpos(a, '%s')", 256],
      ["position('%s' in a)", 256],
      ["split_part(a, '%s', 1)", 256],
      ["replace(a, '%s', '')", 256],
      ["string_to_array(a, '%s')", 256],
      ["translate(a, '%s', 'x')", 64],
      ["ltrim(a, '%s')", 64],
      ["a ILIKE '%s'", 128],
    ] as const) {
      accepted(`SELECT ${fn.replace("%s", text(cap))} FROM t`);
      const error = refusal(`SELECT ${fn.replace("%s", text(cap + 1))} FROM t`);
      expect(error.message, fn).toMatch(new RegExp(`: at most ${cap} characters are allowed \\(this one has ${cap + 1}\\): .*product of the two lengths.*nothing stops the call midway`));
    }
    // A concatenation counts its literals; a pattern with ESCAPE counts twice (like_escape may double its backslashes).
    refusal(`SELECT id FROM t WHERE a LIKE '%' || '${text(127)}' || '%'`);
    accepted(`SELECT id FROM t WHERE a LIKE '%' || '${text(126)}' || '%'`);
    accepted(`SELECT id FROM t WHERE a LIKE '${text(64)}' ESCAPE '#'`);
    expect(refusal(`SELECT id FROM t WHERE a LIKE '${text(65)}' ESCAPE '#'`).message).toMatch(/this one has 130/);
  });

  it("bounds containment operands in characters and items", () => {
    const ints = (n: number) => Array.from({ length: n }, (_, i) => i % 10).join(",");
    accepted(`SELECT id FROM t WHERE xs @> '{${ints(MAX_CONTAINMENT_ITEMS - 1)}}'::int[]`);
    expect(refusal(`SELECT id FROM t WHERE xs @> '{${ints(MAX_CONTAINMENT_ITEMS)}}'::int[]`).message).toMatch(/at most 32 items are allowed \(this one has up to 33/);
    accepted(`SELECT id FROM t WHERE xs && ARRAY[${ints(MAX_CONTAINMENT_ITEMS)}]`);
    refusal(`SELECT id FROM t WHERE xs && ARRAY[${ints(MAX_CONTAINMENT_ITEMS + 1)}]`);
    expect(refusal(`SELECT id FROM t WHERE doc @> '${JSON.stringify({ k: "x".repeat(260) })}'`).message).toMatch(/at most 256 characters/);
    // Nested containers count as items: each is compared with every container of the other side.
    refusal(`SELECT id FROM t WHERE doc @> '${"[".repeat(33)}${"]".repeat(33)}'`);
    // Either operand may be the bounded one.
    accepted("SELECT id FROM t WHERE '{1,2}'::int[] <@ xs AND $1::jsonb <@ doc AND tags && ARRAY[$2, 'urgent']");
  });

  it("takes the other input as the bound when it is the short one, and a literal before a parameter", () => {
    const [statement] = checkSql("SELECT id FROM t WHERE $1 LIKE pattern AND strpos($2, word) > 0 AND translate($3, chars, '') = '' AND strpos('abc', $4) > 0", query);
    expect(statement!.needleParams.map((check) => [check.where, check.params.map((param) => param.number)])).toEqual([
      ["the text LIKE reads", [1]],
      ["the text strpos reads", [2]],
      ["the text translate reads", [3]],
    ]);
  });

  it("records the parameters of each needle and checks their values on every call", () => {
    const [statement] = checkSql(
      "SELECT strpos(a, $1), translate(a, $2, 'x') FROM t WHERE a ILIKE '%' || $3 || '%' AND xs @> ARRAY[$4::int, 7] AND a LIKE $5 ESCAPE '!'",
      query,
    );
    const checks = statement!.needleParams;
    expect(checks.map((check) => [check.where, check.family, check.fixed, check.params])).toEqual([
      ["strpos's search string", "search", 0, [{ number: 1, factor: 1 }]],
      ["translate's from", "characters", 0, [{ number: 2, factor: 1 }]],
      ["the pattern of ILIKE", "like", 2, [{ number: 3, factor: 1 }]],
      ["the right operand of @>", "containment", 1, [{ number: 4, factor: 1 }]],
      ["the pattern of LIKE", "like", 0, [{ number: 5, factor: 2 }]],
    ]);
    const ok = ["a".repeat(256), "a".repeat(64), "a".repeat(126), 5, "a".repeat(64)];
    expect(() => checkNeedleParameters(checks, ok)).not.toThrow();
    expect(() => checkNeedleParameters(checks, [null, null, null, null, null])).not.toThrow();
    const over = (index: number, value: unknown) => ok.map((v, i) => (i === index ? value : v));
    expect(() => checkNeedleParameters(checks, over(0, "a".repeat(257)))).toThrow(/^parameter \$1 \(strpos's search string\): at most 256 characters are allowed \(this one has 257\): strpos compares it/);
    expect(() => checkNeedleParameters(checks, over(1, "a".repeat(65)))).toThrow(/^parameter \$2 \(translate's from\): at most 64 characters/);
    expect(() => checkNeedleParameters(checks, over(2, "a".repeat(127)))).toThrow(/^parameter \$3 \(the pattern of ILIKE\): at most 128 characters are allowed \(this one has 129\)/);
    expect(() => checkNeedleParameters(checks, over(4, "a".repeat(65)))).toThrow(/^parameter \$5 \(the pattern of LIKE\): at most 128 characters are allowed \(this one has 130\)/);
    // An array parameter: its items are counted too.
    const [contains] = checkSql("SELECT id FROM t WHERE tags && $1::text[]", query);
    expect(() => checkNeedleParameters(contains!.needleParams, [`{${"a,".repeat(30)}a}`])).not.toThrow();
    expect(() => checkNeedleParameters(contains!.needleParams, [`{${"a,".repeat(31)}a}`])).toThrow(/^parameter \$1 \(the right operand of &&\): at most 32 items are allowed \(this one has up to 33/);
    let error: unknown;
    try {
      checkNeedleParameters(checks, over(0, "a".repeat(300)));
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SqlStorageError);
    expect(error).toMatchObject({ code: "E_SQL_REFUSED", details: { function: "strpos", characters: 300, cap: 256 } });
    // A statement without needles records none: the per-call check is skipped.
    expect(checkSql("SELECT id FROM t WHERE id = $1 AND a ~ $2 AND starts_with(a, $3)", query)[0]!.needleParams).toEqual([]);
  });

  it("reads ANY / ALL: the left operand, or all the array's elements together; a subquery only with a bounded left operand", () => {
    accepted("SELECT id FROM t WHERE a LIKE ANY (ARRAY['a%', $1, $2]) AND a ILIKE ALL ($3::text[]) AND $4 LIKE ANY (patterns)");
    const [statement] = checkSql("SELECT id FROM t WHERE a LIKE ANY (ARRAY['ab%', $1, $2])", query);
    expect(statement!.needleParams).toMatchObject([{ where: "the array of LIKE ANY (…)", fixed: 3, params: [{ number: 1 }, { number: 2 }] }]);
    expect(() => checkNeedleParameters(statement!.needleParams, ["a".repeat(100), "a".repeat(25)])).not.toThrow();
    expect(() => checkNeedleParameters(statement!.needleParams, ["a".repeat(100), "a".repeat(26)])).toThrow(/^parameters \$1, \$2 \(the array of LIKE ANY \(…\)\): at most 128 characters/);
    expect(refusal("SELECT id FROM t WHERE a LIKE ANY (patterns)").message).toMatch(/^the left operand of LIKE ANY \(or else the array of LIKE ANY/);
    expect(refusal("SELECT id FROM t WHERE a LIKE ANY (SELECT p FROM ps)").message).toMatch(/^the left operand of LIKE ANY \/ ALL \(SELECT …\) must be/);
    expect(refusal("SELECT id FROM t WHERE xs @> ALL (SELECT ys FROM u)").message).toMatch(/^the left operand of @> ANY \/ ALL/);
    accepted("SELECT id FROM t WHERE $1::int[] <@ ANY (SELECT ys FROM u) AND xs && ANY (ARRAY[$2::int[], '{1}'])");
    // A numeric literal or cast would make a short needle long as text (9e131071 is 131,072 digits); a type modifier pads.
    refusal("SELECT id FROM t WHERE a LIKE '%' || 9e131071 || '%'");
    refusal("SELECT id FROM t WHERE a LIKE ANY (ARRAY[9e131071::text])");
    refusal("SELECT strpos(a, $1::numeric::text) FROM t");
    refusal("SELECT strpos(a, ''::char(100000)) FROM t");
    refusal("SELECT id FROM t WHERE xs @> $1::bpchar(1000000)[]");
  });

  it("lets the usual idioms through", () => {
    for (const text of [
      "SELECT id FROM t WHERE name ILIKE '%' || $1 || '%' OR name LIKE $2 OR name NOT LIKE 'tmp-%' OR name LIKE concat($3::text, '%')",
      "SELECT id FROM t WHERE name LIKE $1 ESCAPE '\\' OR name LIKE 'a\\_b%'",
      "SELECT split_part(email, '@', 2), strpos(name, ' '), position('-' in code), replace(name, ' ', '_'), string_to_array(tags, ','), string_to_array(tags, NULL) FROM t",
      "SELECT translate(name, 'áàâäéèêëíìîïóòôöúùûüç', 'aaaaeeeeiiiioooouuuuc'), btrim(name), trim(both ' ' from name), ltrim(code, '0') FROM t",
      "SELECT id FROM t WHERE tags @> ARRAY['urgent'] AND tags && $1::text[] AND doc @> '{\"status\": \"open\"}' AND doc @> jsonb_build_object('owner', $2::text)",
      "SELECT id FROM t WHERE doc ?| ARRAY['a', 'b'] AND doc ?& $1 AND during @> now() AND during @> current_date AND during && $2::tstzrange AND during @> now() - interval '1 day'",
      "SELECT id FROM t WHERE doc ? 'k' AND starts_with(name, $1) AND name ^@ 'ab' AND xs = $2::int[] AND 3 = ANY (xs)",
    ]) {
      accepted(text);
    }
  });
});

/** Through the public path: an extension's handler calling ctx.sql.query, on PGlite and PostgreSQL. */
describeBackends("needles from a handler", (backend) => {
  let t: TestHost;
  const N = 20_000;
  const a = (n: number) => "a".repeat(n);
  const MIGRATION = `CREATE TABLE words (id integer PRIMARY KEY, name text NOT NULL, tags text[] NOT NULL DEFAULT '{}', doc jsonb NOT NULL DEFAULT '{}');
INSERT INTO words (id, name, tags, doc) VALUES
  (1, 'apple pie', '{fruit,sweet}', '{"kind": "fruit", "n": [1, 2]}'), (2, 'banana_split', '{fruit}', '{"kind": "fruit"}'),
  (3, 'cherry', '{sour}', '{"kind": "berry"}'), (4, 'ÁÉÍ', '{}', '{}');
`;

  const refused = (result: SqlResult, reason?: RegExp) => {
    expect(result.ok, JSON.stringify(result).slice(0, 300)).toBe(false);
    expect(result.code).toBe("E_SQL_REFUSED");
    if (reason !== undefined) expect(result.message).toMatch(reason);
  };
  const rows = (result: SqlResult) => {
    expect(result.ok, JSON.stringify(result).slice(0, 300)).toBe(true);
    return result.rows!;
  };

  beforeAll(async () => {
    t = await createTestHost({ database: await backend.connect(), schema: backend.freshSchema("annex_sqlneedles") });
    await t.install(await sqlBundle({ "0001_words.sql": MIGRATION }));
  });
  afterAll(async () => {
    if ((await t.host.getInstall("test-tenant", "acme.notes")) !== null) await t.host.uninstall("test-tenant", "acme.notes", { purge: true });
    await t.close();
  });

  it("refuses the red team's statements before they run, on every call", async () => {
    const ints = (n: number, f: (i: number) => number) => `{${Array.from({ length: n }, (_, i) => f(i)).join(",")}}`;
    const cases: Array<[text: string, params: unknown[], reason: RegExp]> = [
      ["SELECT length(translate($1, $2, 'x')) AS n", [a(N), "b".repeat(N - 1) + "c"], /^parameter \$2 \(translate's from\): at most 64 characters/],
      ["SELECT strpos($1, $2) AS n", [a(N), "b" + a(N / 2)], /^parameter \$2 \(strpos's search string\): at most 256/],
      ["SELECT position($2 in $1) AS n", [a(N), "b" + a(N / 2)], /^parameter \$2 \(position's search string\)/],
      ["SELECT length(split_part($1, $2, 2)) AS n", [a(N), "b" + a(N / 2)], /^parameter \$2 \(split_part's delimiter\)/],
      ["SELECT length(replace($1, $2, 'x')) AS n", [a(N), "b" + a(N / 2)], /^parameter \$2 \(replace's search string\)/],
      ["SELECT $1 LIKE $2 AS m", [a(N), `%${a(N / 2)}b%`], /^parameter \$2 \(the pattern of LIKE\): at most 128/],
      ["SELECT $1 ILIKE '%' || $2 || '%' AS m", [a(N), `${a(N / 2)}b`], /^parameter \$2 \(the pattern of ILIKE\)/],
      ["SELECT length(btrim($1, $2)) AS n", [a(N), "b".repeat(N / 2) + "a"], /^parameter \$2 \(btrim's characters\)/],
      ["SELECT $1::int[] && $2::int[] AS m", [ints(N, (i) => i), ints(N / 4, (i) => -1 - i)], /^parameter \$2 \(the right operand of &&\): at most 256 characters/],
      ["SELECT $1::jsonb @> $2::jsonb AS m", [JSON.stringify(Array.from({ length: N }, (_, i) => i)), Array.from({ length: 100 }, () => N - 1)], /^parameter \$2 \(the right operand of @>\)/],
      ["SELECT $1::jsonb ?& $2::text[] AS m", [JSON.stringify(Array.from({ length: N }, (_, i) => `s${i}`)), ints(40, () => 1)], /at most 32 items/],
    ];
    for (const [text, params, reason] of cases) {
      for (let call = 0; call < 2; call++) refused(await runSql(t, text, params), reason);
    }
    // The same texts with short values run: the verdict cache holds no value.
    expect(rows(await runSql(t, "SELECT strpos($1, $2) AS n", ["haystack", "st"]))).toEqual([{ n: 4 }]);
    expect(rows(await runSql(t, "SELECT $1 ILIKE '%' || $2 || '%' AS m", ["Haystack", "STA"]))).toEqual([{ m: true }]);
    expect(rows(await runSql(t, "SELECT $1::int[] && $2::int[] AS m", ["{1,2,3}", "{3,4}"]))).toEqual([{ m: true }]);
  });

  it("refuses both sides from stored rows, and a migration's index over them, and names what to write instead", async () => {
    refused(await runSql(t, "SELECT sum(length(translate(name, name, 'x'))) AS n FROM words"), /translate's from .* must be a string literal, a parameter/);
    refused(await runSql(t, "SELECT count(*) AS n FROM words x, words y WHERE x.name LIKE y.name"), /the pattern of LIKE/);
    refused(await runSql(t, "SELECT count(*) AS n FROM words x, words y WHERE x.tags && y.tags"), /unnest one array and join/);
    let error: unknown;
    try {
      await t.upgrade(await sqlBundle({ "0001_words.sql": MIGRATION, "0002_index.sql": "CREATE INDEX words_tr ON words ((length(translate(name, name, 'x'))));" }, { version: "1.1.0" }));
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ code: "E_SQL_MIGRATION_INVALID" });
    expect((error as Error).message).toMatch(/translate's from/);
  });

  it("runs the usual idioms and returns the right rows", async () => {
    const ids = (result: SqlResult) => rows(result).map((row) => row["id"]);
    expect(ids(await runSql(t, "SELECT id FROM words WHERE name ILIKE '%' || $1 || '%' ORDER BY id", ["PIE"]))).toEqual([1]);
    expect(ids(await runSql(t, "SELECT id FROM words WHERE name LIKE $1 ESCAPE '!' ORDER BY id", ["%!_%"]))).toEqual([2]);
    expect(ids(await runSql(t, "SELECT id FROM words WHERE name LIKE ANY (ARRAY[$1, 'c%']) ORDER BY id", ["a%"]))).toEqual([1, 3]);
    expect(ids(await runSql(t, "SELECT id FROM words WHERE tags && $1::text[] ORDER BY id", ["{sour,sweet}"]))).toEqual([1, 3]);
    expect(ids(await runSql(t, "SELECT id FROM words WHERE doc @> jsonb_build_object('kind', $1::text) ORDER BY id", ["fruit"]))).toEqual([1, 2]);
    expect(ids(await runSql(t, "SELECT id FROM words WHERE doc @> $1::jsonb ORDER BY id", [{ n: [2] }]))).toEqual([1]);
    expect(ids(await runSql(t, "SELECT id FROM words WHERE $1 LIKE name || '%' ORDER BY id", ["cherry tart"]))).toEqual([3]);
    expect(
      rows(
        await runSql(
          t,
          "SELECT split_part(name, ' ', 1) AS first, strpos(name, $1) AS at, replace(name, '_', ' ') AS spaced, translate(name, 'ÁÉÍ', 'aei') AS plain, btrim(name, 'ae') AS trimmed FROM words WHERE id IN (1, 4) ORDER BY id",
          ["pie"],
        ),
      ),
    ).toEqual([
      { first: "apple", at: 7, spaced: "apple pie", plain: "apple pie", trimmed: "pple pi" },
      { first: "ÁÉÍ", at: 0, spaced: "ÁÉÍ", plain: "aei", trimmed: "ÁÉÍ" },
    ]);
  });
});

describeBackends("the needle places against the catalog", (backend) => {
  it("checks every allowlisted function and every operator implemented by a loop over both inputs", async () => {
    const db = await backend.connect();
    const read = async <Row,>(text: string): Promise<Row[]> => (db instanceof Kysely ? (await sql.raw<Row>(text).execute(db)).rows : (await db.query<Row>(text)).rows);
    // The C functions measured to loop over one input for each element of the other (needles.ts).
    const products = "('textpos', 'split_part', 'replace_text', 'text_to_array', 'text_to_array_null', 'translate', 'btrim', 'ltrim', 'rtrim', 'byteatrim', 'bytealtrim', 'byteartrim', 'textlike', 'textnlike', 'texticlike', 'texticnlike', 'bpcharlike', 'bpcharnlike', 'bpchariclike', 'bpcharicnlike', 'namelike', 'namenlike', 'nameiclike', 'nameicnlike', 'bytealike', 'byteanlike', 'byteapos', 'arraycontains', 'arraycontained', 'arrayoverlap', 'jsonb_contains', 'jsonb_contained', 'jsonb_exists_any', 'jsonb_exists_all', 'poly_contain', 'poly_contained', 'poly_overlap')";
    const functions = await read<{ name: string }>(`SELECT DISTINCT p.proname AS name FROM pg_catalog.pg_proc p
      WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.pronargs >= 2 AND p.prosrc IN ${products}`);
    const allowed = functions.map((row) => row.name).filter((name) => FUNCTIONS.has(name));
    expect(allowed).toEqual(expect.arrayContaining(["strpos", "translate", "replace"]));
    for (const name of allowed) expect(NEEDLE_FUNCTIONS.has(name), name).toBe(true);
    const operators = await read<{ name: string }>(`SELECT DISTINCT o.oprname AS name FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_proc p ON p.oid = o.oprcode
      WHERE o.oprleft <> 0 AND p.prosrc IN ${products}`);
    const checked = new Set([...LIKE_OPERATORS.keys(), ...CONTAINMENT_OPERATORS]);
    expect(operators.length).toBeGreaterThan(0);
    for (const { name } of operators) expect(checked.has(name), name).toBe(true);
    expect(NEEDLE_CAPS.like).toBeLessThan(NEEDLE_CAPS.search);
  });
});
