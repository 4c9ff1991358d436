/**
 * PGlite only: the planner's cost estimate of read-only statements,
 * remembered per install schema so that a repeated read needs one exchange
 * with the database instead of two.
 *
 * Why this is the same check as running the estimate each time, within
 * stated bounds:
 * - Only reads whose estimate no parameter value can move are remembered
 *   (valueFreeEstimate below), and their estimate is a generic plan's
 *   (`EXPLAIN (GENERIC_PLAN)`), so it belongs to the text alone. Every other
 *   statement is estimated with its values on every call.
 * - What it does depend on is the size of the schema's tables. Only
 *   statements in that schema change them: a write, a failed write (rolled
 *   back rows still take pages), a migration, a purge. Each of them drops
 *   the schema's entries, before it runs and again after.
 * - Anything else that could change them (the app writing into an
 *   extension's schema behind Annex's back) is bounded by `maxAgeMs`: no
 *   estimate is older than that.
 * Writes are never cached: their estimate is made each time, with their
 * parameters.
 */
export interface PlanCostCache {
  /** A read's remembered estimate, or undefined when there is none or it is too old. */
  get(schema: string, text: string): number | undefined;
  set(schema: string, text: string, cost: number): void;
  /** Forgets every estimate of a schema: its tables may have changed. */
  invalidate(schema: string): void;
  readonly size: number;
}

export interface PlanCostCacheOptions {
  /** Estimates kept across all schemas; the least recently used beyond it are forgotten. Default 1024. */
  maxEntries?: number | undefined;
  /** How long an estimate stays usable without a write, ms. Default 1000. */
  maxAgeMs?: number | undefined;
  now?: (() => number) | undefined;
}

interface Entry {
  cost: number;
  at: number;
}

export function createPlanCostCache(options: PlanCostCacheOptions = {}): PlanCostCache {
  const maxEntries = options.maxEntries ?? 1024;
  const maxAgeMs = options.maxAgeMs ?? 1000;
  const now = options.now ?? (() => performance.now());
  // One map for the LRU order across schemas, and the keys of each schema so that invalidating one is proportional to it.
  const entries = new Map<string, Entry>();
  const bySchema = new Map<string, Set<string>>();

  // Schema names are [a-z0-9_]: the NUL cannot be forged from either side.
  const keyOf = (schema: string, text: string): string => `${schema}\u0000${text}`;

  function forget(key: string): void {
    entries.delete(key);
    const schema = key.slice(0, key.indexOf("\u0000"));
    const keys = bySchema.get(schema);
    keys?.delete(key);
    if (keys?.size === 0) bySchema.delete(schema);
  }

  return {
    get(schema, text) {
      const key = keyOf(schema, text);
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      if (now() - entry.at > maxAgeMs) {
        forget(key);
        return undefined;
      }
      entries.delete(key);
      entries.set(key, entry);
      return entry.cost;
    },
    set(schema, text, cost) {
      const key = keyOf(schema, text);
      entries.delete(key);
      entries.set(key, { cost, at: now() });
      let keys = bySchema.get(schema);
      if (keys === undefined) bySchema.set(schema, (keys = new Set()));
      keys.add(key);
      if (entries.size > maxEntries) forget(entries.keys().next().value!);
    },
    invalidate(schema) {
      const keys = bySchema.get(schema);
      if (keys === undefined) return;
      for (const key of keys) entries.delete(key);
      bySchema.delete(schema);
    },
    get size() {
      return entries.size;
    },
  };
}

const COMPARISONS = new Set(["=", "<>", "!=", "<", "<=", ">", ">="]);

/**
 * Whether a statement's estimate cannot depend on its parameter values, so
 * that a generic plan's estimate is the one each call would get: every
 * parameter is a direct operand (through casts) of a plain comparison
 * (`=`, `<>`, `<`, `<=`, `>`, `>=`). Without statistics — an extension
 * cannot ANALYZE and PGlite has no autovacuum — PostgreSQL estimates those
 * with fixed selectivities, whatever the value. Everywhere else a value
 * moves the estimate: LIMIT and OFFSET, `= ANY($1)` and IN (the array's
 * length), LIKE and regular expressions (the pattern), set-returning and
 * other functions with planner support (`unnest($1)` counts its array);
 * such statements are estimated with their values on every call.
 * `node` is a parse node (libpg_query JSON).
 */
export function valueFreeEstimate(node: unknown): boolean {
  if (Array.isArray(node)) return node.every(valueFreeEstimate);
  if (typeof node !== "object" || node === null) return true;
  const record = node as Record<string, unknown>;
  if ("ParamRef" in record) return false;
  const expression = record["A_Expr"] as Record<string, unknown> | undefined;
  if (expression !== undefined && expression["kind"] === "AEXPR_OP" && isComparison(expression["name"])) {
    return [expression["lexpr"], expression["rexpr"]].every((operand) => isParameter(operand) || valueFreeEstimate(operand));
  }
  return Object.values(record).every(valueFreeEstimate);
}

function isComparison(name: unknown): boolean {
  if (!Array.isArray(name) || name.length !== 1) return false;
  const operator = (name[0] as { String?: { sval?: unknown } }).String?.sval;
  return typeof operator === "string" && COMPARISONS.has(operator);
}

function isParameter(operand: unknown): boolean {
  let node = operand as Record<string, unknown> | undefined;
  while (node !== undefined && typeof node === "object" && node !== null && "TypeCast" in node) {
    node = (node["TypeCast"] as Record<string, unknown>)["arg"] as Record<string, unknown> | undefined;
  }
  return node !== undefined && node !== null && typeof node === "object" && "ParamRef" in node;
}
