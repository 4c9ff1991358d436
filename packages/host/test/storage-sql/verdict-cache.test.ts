import { sql, type Kysely } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadParser } from "../../src/storage/sql/guard.js";
import { createVerdictCache } from "../../src/storage/sql/verdicts.js";
import { importPGlite } from "../../src/database/pglite-module.js";
import { describeBackends } from "../support/backends.js";
import { runSql, sqlBundle, sqlTestHost } from "./support.js";
import type { TestHost } from "../../src/testing/index.js";
import type { InstallInfo } from "../../src/index.js";

const A = "ext_acme_notes_aaaaaaaaaaaa";
const B = "ext_acme_notes_bbbbbbbbbbbb";

function code(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

/**
 * The guard's verdicts are remembered per (schema, row cap, exact text). These
 * show the cache cannot be poisoned: an accepted text never lends its verdict
 * to another schema, or to a text that differs from it in any way a
 * normalisation would erase, and a refused text is refused every time.
 */
describe("SQL verdict cache", () => {
  beforeAll(() => loadParser());

  it("keys by the install's schema: a text accepted for one schema is checked again, and refused, for another", () => {
    const cache = createVerdictCache({ interruptible: false });
    const text = `SELECT * FROM ${A}.items`;
    expect(cache.verdict(A, text, 10).kind).toBe("SelectStmt");
    expect(cache.verdict(A, text, 10).kind).toBe("SelectStmt");
    expect(code(() => cache.verdict(B, text, 10))).toBe("E_SQL_REFUSED");
    expect(code(() => cache.verdict(B, text, 10))).toBe("E_SQL_REFUSED");
    expect(cache.size).toBe(1);
  });

  it("keeps a refused text refused, before and after its accepted neighbours are cached", () => {
    const cache = createVerdictCache({ interruptible: false });
    const hostile = "SELECT * FROM items; SELECT * FROM pg_authid";
    expect(code(() => cache.verdict(A, hostile, 10))).toBe("E_SQL_REFUSED");
    cache.verdict(A, "SELECT * FROM items", 10);
    expect(code(() => cache.verdict(A, hostile, 10))).toBe("E_SQL_REFUSED");
    expect(code(() => cache.verdict(A, "SELECT * FROM items WHERE", 10))).toBe("E_SQL_SYNTAX");
    expect(code(() => cache.verdict(A, "SELECT * FROM items WHERE", 10))).toBe("E_SQL_SYNTAX");
    expect(cache.size).toBe(1);
  });

  // Each pair is equal under a normalisation a careless key might apply; one is accepted, the other refused.
  const pairs: Array<[string, string, string]> = [
    ["a newline that ends a comment (whitespace collapsed)", "SELECT * FROM items -- , pg_authid", "SELECT * FROM items --\n, pg_authid"],
    ["a block comment's end (comments stripped)", "SELECT 1 /* */ FROM items", "SELECT 1 /* */ FROM items, pg_authid /* */"],
    ["quoted case (case folded)", 'SELECT * FROM "Pg_authid"', 'SELECT * FROM "pg_authid"'],
    ["a full-width letter (NFKC)", 'SELECT * FROM "ｐg_authid"', 'SELECT * FROM "pg_authid"'],
    ["a trailing second statement (trimmed)", "SELECT * FROM items", "SELECT * FROM items;\nSET ROLE postgres"],
    ["a Unicode escape (escapes decoded)", 'SELECT * FROM U&"\\0071g_authid"', 'SELECT * FROM U&"\\0070g_authid"'],
  ];
  for (const [what, accepted, refusedText] of pairs) {
    it(`checks a text again when it differs only by ${what}, in either order`, () => {
      const first = createVerdictCache({ interruptible: false });
      first.verdict(A, accepted, 10);
      expect(code(() => first.verdict(A, refusedText, 10))).toBe("E_SQL_REFUSED");
      const second = createVerdictCache({ interruptible: false });
      expect(code(() => second.verdict(A, refusedText, 10))).toBe("E_SQL_REFUSED");
      expect(second.verdict(A, accepted, 10).kind).toBe("SelectStmt");
      expect(code(() => second.verdict(A, refusedText, 10))).toBe("E_SQL_REFUSED");
    });
  }

  it("writes the row cap it was asked for into the text it runs", () => {
    const cache = createVerdictCache({ interruptible: false });
    expect(cache.verdict(A, "SELECT * FROM items", 10).run).toMatch(/LIMIT 11$/);
    expect(cache.verdict(A, "SELECT * FROM items", 20).run).toMatch(/LIMIT 21$/);
    expect(cache.verdict(A, "SELECT * FROM items", 10).run).toMatch(/LIMIT 11$/);
  });

  it("stays bounded: the least recently used text goes, and long texts are never kept (but still checked)", () => {
    const cache = createVerdictCache({ interruptible: false, maxEntries: 2, maxTextLength: 100 });
    cache.verdict(A, "SELECT 1", 10);
    cache.verdict(A, "SELECT 2", 10);
    cache.verdict(A, "SELECT 1", 10);
    cache.verdict(A, "SELECT 3", 10);
    expect(cache.size).toBe(2);
    const long = `SELECT 1 ${" ".repeat(200)}`;
    cache.verdict(A, long, 10);
    expect(cache.size).toBe(2);
    expect(code(() => cache.verdict(A, `${long}; SELECT * FROM pg_authid`, 10))).toBe("E_SQL_REFUSED");
  });

  it("hands out verdicts no caller can change", () => {
    const cache = createVerdictCache({ interruptible: false });
    const verdict = cache.verdict(A, "SELECT * FROM items", 10);
    expect(() => Object.assign(verdict, { run: "SELECT * FROM pg_authid" })).toThrow(TypeError);
    expect(cache.verdict(A, "SELECT * FROM items", 10).run).not.toMatch(/pg_authid/);
  });
});

/** The cache as ctx.sql.query uses it, through the gateway, and what a PGlite exchange leaves behind. */
describeBackends("SQL verdict cache in ctx.sql.query", (backend) => {
  let t: TestHost & { purgeAll(): Promise<void> };
  let own: InstallInfo;
  let other: InstallInfo;

  beforeAll(async () => {
    t = await sqlTestHost(backend);
    own = await t.install(await sqlBundle());
    other = await t.install(await sqlBundle(), { tenant: "tenant-b" });
  });
  afterAll(async () => {
    await t.purgeAll();
    await t.close();
  });

  it("does not let one install's accepted text through for another install", async () => {
    const ownSchema = own.sql!.schema;
    const text = `SELECT name FROM ${ownSchema}.items WHERE id = $1`;
    expect(await runSql(t, text, ["a"])).toEqual({ ok: true, rows: [{ name: "apple" }], rowCount: 1 });
    expect(await runSql(t, text, ["a"])).toEqual({ ok: true, rows: [{ name: "apple" }], rowCount: 1 });
    // The same text, word for word, from tenant b's install of the same extension: refused, not served from the cache.
    expect(await runSql(t, text, ["a"], "tenant-b")).toMatchObject({ ok: false, code: "E_SQL_REFUSED" });
    expect(other.sql!.schema).not.toBe(ownSchema);
  });

  it("leaves the session as it found it: the host's next statement sees neither the install's search_path nor its timeouts", async () => {
    expect((await runSql(t, "SELECT n FROM items WHERE id = $1", ["b"])).rows).toEqual([{ n: 2 }]);
    const root = t.host.database.root as Kysely<any>;
    const after = await sql<{ path: string; timeout: string }>`SELECT current_setting('search_path') AS path, current_setting('statement_timeout') AS timeout`.execute(root);
    expect(after.rows[0]!.path).not.toContain(own.sql!.schema);
    expect(after.rows[0]!.timeout).not.toBe("5s");
    // A failing statement too (its exchange is rolled back up to its Sync).
    expect(await runSql(t, "INSERT INTO items (id, name) VALUES ('a', 'dup')")).toMatchObject({ ok: false, code: "E_SQL_FAILED" });
    const failed = await sql<{ path: string }>`SELECT current_setting('search_path') AS path`.execute(root);
    expect(failed.rows[0]!.path).not.toContain(own.sql!.schema);
  });
});

/**
 * Why the PGlite pin leaves statement_timeout and lock_timeout out (session.ts): PGlite ignores
 * statement_timeout, and has one session, so no lock wait. A canary: if a PGlite upgrade starts
 * honouring the timeout, this fails — then pin the timeouts on PGlite again (timeouts: true).
 */
describe("PGlite and statement_timeout", () => {
  it("lets a statement run to its end past a statement_timeout (so the pin does not set one there)", async () => {
    const { PGlite } = await importPGlite();
    const pglite = await PGlite.create();
    try {
      await pglite.exec("SET statement_timeout = '1ms'");
      const result = await pglite.query<{ n: number }>("SELECT count(*)::int AS n FROM generate_series(1, 300000)");
      expect(result.rows).toEqual([{ n: 300000 }]);
    } finally {
      await pglite.close();
    }
  });
});
