import { beforeAll, describe, expect, it } from "vitest";
import { checkSql, loadParser, type GuardOptions } from "../../src/storage/sql/guard.js";
import { SqlStorageError } from "../../src/index.js";

const query = { schema: "ext_acme_notes_0123456789ab", mode: "query" as const, interruptible: true };
const migration = { ...query, mode: "migration" as const };

function refusal(text: string, options: GuardOptions = query): SqlStorageError {
  try {
    checkSql(text, options);
  } catch (error) {
    return error as SqlStorageError;
  }
  throw new Error(`not refused: ${text}`);
}

/** The guard alone (no database): the statement kinds, splitting and the rules the database tests rely on. */
describe("SQL guard", () => {
  beforeAll(() => loadParser());

  it("splits a migration into its statements by the parser's offsets, multi-byte text included", () => {
    const text = "-- é first\nCREATE TABLE t (a text DEFAULT 'ü;');\n\nINSERT INTO t VALUES ($$x;y$$);";
    const statements = checkSql(text, migration);
    expect(statements.map((statement) => [statement.kind, statement.text])).toEqual([
      ["CreateStmt", "-- é first\nCREATE TABLE t (a text DEFAULT 'ü;')"],
      ["InsertStmt", "INSERT INTO t VALUES ($$x;y$$)"],
    ]);
  });

  it("caps plain SELECTs only: never one that modifies through a CTE or locks rows", () => {
    expect(checkSql("SELECT * FROM t", query)[0]!.cappable).toBe(true);
    expect(checkSql("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", query)[0]!.cappable).toBe(false);
    expect(checkSql("SELECT * FROM t FOR UPDATE", query)[0]!.cappable).toBe(false);
    expect(checkSql("INSERT INTO t VALUES (1) RETURNING *", query)[0]!.cappable).toBe(false);
  });

  it("accepts the install's own schema by name, and nothing else", () => {
    expect(checkSql(`SELECT * FROM ${query.schema}.t`, query)).toHaveLength(1);
    expect(refusal("SELECT * FROM ext_acme_notes_ffffffffffff.t").code).toBe("E_SQL_REFUSED");
    expect(refusal(`SELECT * FROM test.${query.schema}.t`).code).toBe("E_SQL_REFUSED");
  });

  it("allows DDL in migrations only", () => {
    expect(refusal("CREATE TABLE t (a int)").message).toMatch(/not allowed in ctx\.sql\.query/);
    expect(checkSql("CREATE TABLE t (a int)", migration)).toHaveLength(1);
    expect(refusal("CREATE TABLE t (a int) TABLESPACE pg_default", migration).code).toBe("E_SQL_REFUSED");
    expect(refusal("CREATE TABLE t (a int REFERENCES public.users (id))", migration).code).toBe("E_SQL_REFUSED");
    expect(refusal("CREATE TABLE t (LIKE public.users)", migration).code).toBe("E_SQL_REFUSED");
    expect(refusal("CREATE VIEW v AS SELECT * FROM pg_authid", migration).code).toBe("E_SQL_REFUSED");
    expect(refusal("ALTER TABLE t ENABLE ROW LEVEL SECURITY", migration).code).toBe("E_SQL_REFUSED");
    expect(refusal("DROP SCHEMA public CASCADE", migration).code).toBe("E_SQL_REFUSED");
    expect(refusal("DROP TABLE public.users", migration).code).toBe("E_SQL_REFUSED");
    expect(refusal("CREATE TRIGGER x BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()", migration).code).toBe("E_SQL_REFUSED");
    expect(refusal("CREATE RULE r AS ON INSERT TO t DO INSTEAD NOTHING", migration).code).toBe("E_SQL_REFUSED");
    expect(refusal("CREATE SEQUENCE s OWNED BY public.users.id", migration).code).toBe("E_SQL_REFUSED");
  });

  it("refuses a migration's changes to catalog objects, and names an identity column's sequence only in the own schema", () => {
    for (const text of [
      "DROP VIEW pg_roles CASCADE",
      "COMMENT ON VIEW pg_roles IS 'x'",
      "COMMENT ON COLUMN pg_roles.rolname IS 'x'",
      "COMMENT ON TYPE pg_catalog.int4 IS 'x'",
      "DROP TYPE pg_catalog.int4",
      "ALTER TYPE pg_catalog.int4 RENAME TO x",
      "ALTER TYPE pg_catalog.anyenum ADD VALUE 'x'",
      "CREATE TABLE t (id int GENERATED ALWAYS AS IDENTITY (SEQUENCE NAME annex_x.annex_evil))",
      "CREATE TABLE t (id int GENERATED ALWAYS AS IDENTITY (SEQUENCE NAME pg_evil))",
      "ALTER TABLE items ALTER COLUMN n ADD GENERATED ALWAYS AS IDENTITY (SEQUENCE NAME ext_acme_notes_ffffffffffff.s)",
    ]) {
      expect(refusal(text, migration).code, text).toBe("E_SQL_REFUSED");
    }
    // An unqualified type may be the install's own or PostgreSQL's: the syntax cannot tell, so it is looked up at run time.
    expect(checkSql("ALTER TYPE int4 RENAME TO gone; COMMENT ON TYPE mood IS 'x'; DROP TYPE mood, int8", migration).map((statement) => statement.typeTargets)).toEqual([
      ["int4"],
      ["mood"],
      ["mood", "int8"],
    ]);
    expect(checkSql(`CREATE TABLE t (id int GENERATED ALWAYS AS IDENTITY (SEQUENCE NAME ${query.schema}.t_seq))`, migration)[0]!.typeTargets).toEqual([]);
  });

  it("checks the text that runs: trailing Unicode spaces, which PostgreSQL reads as part of a name, are kept", () => {
    // JS trim() would strip U+FEFF after the guard saw the type "regrole\ufeff" (not refused), and run "::regrole".
    for (const space of ["\ufeff", "\u00a0", "\u3000"]) {
      const [statement] = checkSql(`DELETE FROM items WHERE false RETURNING name::regrole${space}`, query);
      expect(statement!.text.endsWith(space)).toBe(true);
    }
    expect(checkSql("  SELECT 1 \n\t", query)[0]!.text).toBe("SELECT 1");
  });

  it("refuses what PGlite could not stop, and allows it where the server can", () => {
    const pglite = { ...query, interruptible: false };
    expect(checkSql("SELECT * FROM generate_series(1, 10)", query)).toHaveLength(1);
    expect(refusal("SELECT * FROM generate_series(1, 10)", pglite).message).toMatch(/PGlite/);
    expect(refusal("WITH RECURSIVE r(n) AS (SELECT 1) SELECT * FROM r", pglite).message).toMatch(/PGlite/);
  });

  it("answers a syntax error with its position", () => {
    const error = refusal("SELECT FROM WHERE");
    expect(error.code).toBe("E_SQL_SYNTAX");
    expect(error.details).toHaveProperty("position");
  });

  it("refuses an empty text", () => {
    expect(refusal("  -- nothing\n").code).toBe("E_SQL_REFUSED");
  });
});
