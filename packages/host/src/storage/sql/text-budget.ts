import { SqlStorageError } from "./errors.js";

/**
 * How much new statement text one install may have checked, per second.
 *
 * The guard parses and walks every text it has no verdict for on the host's
 * main thread (libpg-query: ~1.5 ms per KB, twice for a capped SELECT), on
 * PostgreSQL as on PGlite, before a statement waits for a lane. A text it
 * has seen is one Map lookup (verdicts.ts), but a handler that makes each
 * text new (values written into it, a counter in a comment) had it parse
 * without bound: 990 different 8 KB texts in one request held the main
 * thread 23–30 s, every tenant's requests with it. So each install has a
 * bucket of characters: a text the cache does not hold spends its length
 * (refused and unparsable ones too: they were parsed all the same), the
 * bucket refills at `perSecond` up to `burst`, and a text it cannot pay for
 * is refused with E_SQL_BUSY before it is parsed. Statements written once
 * with parameters ($1 …) are checked once and cost nothing after.
 */
export interface TextBudget {
  /** Spends `characters` of `key`'s bucket, or throws E_SQL_BUSY (spending nothing). */
  spend(key: string, characters: number): void;
}

/** Buckets kept; past it the least recently used goes (it comes back full, as a new install's would). */
const MAX_BUCKETS = 10_000;

export function createTextBudget(perSecond: number, burst: number, now: () => number = () => performance.now()): TextBudget {
  const buckets = new Map<string, { tokens: number; at: number }>();
  return {
    spend(key, characters) {
      const at = now();
      let bucket = buckets.get(key);
      if (bucket === undefined) bucket = { tokens: burst, at };
      else buckets.delete(key);
      bucket.tokens = Math.min(burst, bucket.tokens + ((at - bucket.at) / 1000) * perSecond);
      bucket.at = at;
      buckets.set(key, bucket);
      if (buckets.size > MAX_BUCKETS) buckets.delete(buckets.keys().next().value!);
      if (characters > bucket.tokens) {
        const waitMs = Math.ceil(((characters - bucket.tokens) / perSecond) * 1000);
        throw new SqlStorageError(
          "E_SQL_BUSY",
          `this install sends more new statement text than the host checks (${perSecond} characters a second, ${burst} at once): write each statement once, with parameters ($1, $2 …) for its values, so that it is checked once and remembered; or retry in ${waitMs} ms`,
          { perSecond, burst, characters, retryAfterMs: waitMs },
        );
      }
      bucket.tokens -= characters;
    },
  };
}
