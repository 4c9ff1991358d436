import { parseSync } from "libpg-query";
import { SqlStorageError } from "./errors.js";
import { checkSql } from "./guard.js";
import { ROW_BOUND_ALIAS, ROW_SIZE_ALIAS } from "./plan-bounds.js";
import type { NeedleCheck } from "./needles.js";
import type { RegexParameter } from "./regex.js";

/** What ctx.sql.query runs for one accepted text: the statement as cut by the parser, capped when it can be. */
export interface Verdict {
  /** The text sent to PostgreSQL (the statement, wrapped in `SELECT * FROM (…) LIMIT maxRows + 1` when cappable). */
  run: string;
  /** The parse node's kind, e.g. `SelectStmt`. */
  kind: string;
  /**
   * A plain SELECT that changes nothing: no data-modifying CTE, no locking
   * clause (the guard's `cappable`). Anything else may change the schema's
   * tables, so it drops the schema's remembered cost estimates (plan-costs.ts).
   */
  readOnly: boolean;
  /**
   * A read whose planner estimate is the same for every parameter value, so
   * that PGlite may remember it for the text (plan-costs.ts).
   */
  rememberCost: boolean;
  /**
   * The parameters used as regular-expression patterns: part of the verdict
   * (they depend on the text only), but their values are checked on every
   * call (regex.ts's checkRegexParameters), before the statement is sent.
   */
  regexParams: readonly RegexParameter[];
  /** The needles with parameters: their values' lengths are checked on every call likewise (needles.ts's checkNeedleParameters). */
  needleParams: readonly NeedleCheck[];
}

export interface VerdictCacheOptions {
  /** PGlite: refuse what it cannot interrupt (see GuardOptions). Fixed per cache: one cache per storage, one storage per database. */
  interruptible: boolean;
  /** Accepted texts kept; the least recently used beyond it are forgotten. Default 1024. */
  maxEntries?: number;
  /** Longer texts are checked every time and never kept, so the cache stays small (≤ maxEntries × ~2 × maxTextLength). Default 8192. */
  maxTextLength?: number;
  /** Bytes of PostgreSQL's text form past which the rows of a capped SELECT fail in the database (see boundedSelect); none when absent. */
  maxResultText?: number;
}

/**
 * The guard's verdict on a query text, remembered per install schema.
 *
 * Parsing and walking a statement is pure: its outcome depends only on the
 * text, the schema the statement may name, the row cap written into the
 * wrapped text, and two things fixed for the cache's life (the mode, always
 * `query` here, and whether the database can interrupt a statement). So the
 * key is exactly (schema, maxRows, text), the text compared code unit for
 * code unit: a text that differs in a comment, a space, a letter's case or
 * Unicode form is another key and goes through the parser again. Only
 * accepted texts are kept; a refused or unparsable one is checked (and
 * refused) again each time, so nothing a refusal leaves behind can turn
 * into an acceptance. A hit costs one Map lookup instead of two parses.
 *
 * What the cache does not cover, on purpose: the per-call work that depends
 * on more than the text — parameters (among them the values of pattern
 * parameters and needles, checked on every call: regexParams, needleParams), the session pin, and on
 * PGlite the planner's cost estimate, which depends on the data and runs on
 * every call.
 */
export function createVerdictCache(options: VerdictCacheOptions): {
  /** The text's verdict; `spend` is called with the text's length first when the text has to be checked (not in the cache), and may throw. */
  verdict(schema: string, text: string, maxRows: number, spend?: (characters: number) => void): Verdict;
  readonly size: number;
} {
  const maxEntries = options.maxEntries ?? 1024;
  const maxTextLength = options.maxTextLength ?? 8192;
  const entries = new Map<string, Verdict>();

  function check(schema: string, text: string, maxRows: number): Verdict {
    const guard = { schema, mode: "query", interruptible: options.interruptible } as const;
    const [statement] = checkSql(text, guard);
    let run = statement!.text;
    if (statement!.cappable) {
      // Fetch one row past the limit, never the whole result; the wrapped text is checked again as it will run.
      const { maxResultText } = options;
      if (maxResultText === undefined) {
        run = `SELECT * FROM (\n${run}\n) AS annex_capped LIMIT ${maxRows + 1}`;
        checkSql(run, guard);
      } else {
        const wrap = (inner: string) => boundedSelect("", `(SELECT * FROM (\n${inner}\n) AS annex_inner OFFSET 0) AS ${ROW_BOUND_ALIAS}`, ROW_BOUND_ALIAS, maxResultText, maxRows + 1);
        run = wrap(run);
        assertWraps(run, statement!.text, wrap);
      }
    }
    return Object.freeze({
      run,
      kind: statement!.kind,
      readOnly: statement!.cappable,
      rememberCost: statement!.cappable && statement!.valueFreeEstimate,
      regexParams: Object.freeze(statement!.regexParams),
      needleParams: Object.freeze(statement!.needleParams),
    });
  }

  return {
    verdict(schema, text, maxRows, spend) {
      if (text.length > maxTextLength) {
        spend?.(text.length);
        return check(schema, text, maxRows);
      }
      // Schema names are [a-z0-9_] and maxRows an integer: the NUL separators cannot be forged from either side.
      const key = `${schema}\u0000${maxRows}\u0000${text}`;
      const hit = entries.get(key);
      if (hit !== undefined) {
        entries.delete(key);
        entries.set(key, hit);
        return hit;
      }
      spend?.(text.length);
      const fresh = check(schema, text, maxRows);
      entries.set(key, fresh);
      if (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
      return fresh;
    },
    get size() {
      return entries.size;
    },
  };
}

/** Marks the cast that fails a result past boundedSelect's bytes: its error is read back as E_SQL_RESULT_TOO_LARGE. */
export const RESULT_TOO_LARGE_MARK = "annex_result_too_large:";

/**
 * A SELECT of the rows of `from` (named `alias`; after `prefix`, a WITH) that
 * fails in the database at the first row where the rows so far take more
 * than `maxText` bytes as text (`CAST(alias.* AS text)`: a qualified star, so
 * that a column of the same name cannot stand in for the row), so that row
 * and those after it are neither sent nor computed; at most `cap` rows.
 *
 * The host counts a result's bytes as JSON only as rows reach it, and a
 * driver holds a whole row, or a whole batch of rows, before that: one row
 * can be far larger than the limit (300 columns each repeating a 1 MB
 * parameter, a value grown by `||`, or one stored that way), and rows that
 * start narrow can turn wide in the batch sized by them. A row's text takes
 * at most twice its JSON plus two bytes (the record's quotes double those
 * inside it), so twice the host's limit refuses nothing it would accept.
 *
 * The running sum is a window over the rows in the order they come (which
 * reads them one by one, so `cap` still stops the statement early), and the
 * row leaves it whole (`CAST(alias.* AS record)`, its columns with their
 * names and types again through `(r).*`). A subquery in `from` sits behind
 * `OFFSET 0`: PostgreSQL would otherwise fold the user's query into this one
 * and evaluate its output expressions twice, once for the sum.
 *
 * Every type the host's text names is pg_catalog's: it runs on the install's
 * search_path, where the install's schema comes first, and a migration may
 * create a type (an enum, a table's row type) named `text` or `record`.
 */
export function boundedSelect(prefix: string, from: string, alias: string, maxText: number, cap: number): string {
  const fail = (bytes: string) => `CASE WHEN ${bytes} <= ${maxText} THEN true ELSE CAST('${RESULT_TOO_LARGE_MARK}' || ${bytes} AS integer) IS NULL END`;
  return (
    `${prefix}SELECT (annex_w.r).* FROM (SELECT ${ROW_SIZE_ALIAS}.r, pg_catalog.sum(${ROW_SIZE_ALIAS}.annex_size) OVER (ROWS UNBOUNDED PRECEDING) AS annex_total ` +
    `FROM (SELECT CAST(${alias}.* AS pg_catalog.record) AS r, pg_catalog.octet_length(CAST(${alias}.* AS pg_catalog.text)) AS annex_size FROM ${from} OFFSET 0) AS ${ROW_SIZE_ALIAS} ` +
    `WHERE ${fail(`${ROW_SIZE_ALIAS}.annex_size`)}) AS annex_w WHERE ${fail("annex_total")} LIMIT ${cap}`
  );
}

/**
 * Checks that `wrapped` is `wrap(inner)` as PostgreSQL parses it: one
 * statement, the checked `inner` in it unchanged, everything around it the
 * host's own text. Stands in for checking the wrapped text again with the
 * guard, whose growth rule would refuse the whole-row references the host's
 * own level makes beside any `||` or json builder of the statement's.
 */
export function assertWraps(wrapped: string, inner: string, wrap: (inner: string) => string): void {
  const tree = (text: string) => JSON.stringify((parseSync(text) as { stmts: unknown[] }).stmts, (key, value) => (key === "location" || key === "stmt_len" || key === "stmt_location" ? undefined : value));
  const statement = (text: string) => JSON.stringify((parseSync(text) as { stmts: Array<{ stmt: unknown }> }).stmts[0]!.stmt, (key, value) => (key === "location" ? undefined : value));
  const placeholder = "SELECT 1";
  const parts = tree(wrapped).split(statement(inner));
  if (parts.length !== 2 || parts.join(statement(placeholder)) !== tree(wrap(placeholder))) {
    throw new SqlStorageError("E_SQL_REFUSED", "the statement cannot be wrapped in the host's row and byte limits: write it as one plain statement", {});
  }
}
