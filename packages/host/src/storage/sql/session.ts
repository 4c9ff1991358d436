import { CompiledQuery, type Kysely } from "kysely";
import { quoteIdent } from "./schema-name.js";

export interface SessionSettings {
  schema: string;
  /** PostgreSQL: the install's role; null on PGlite. */
  role: string | null;
  timeoutMs: number;
  /**
   * Whether to set statement_timeout and lock_timeout. False on PGlite only:
   * it ignores statement_timeout (measured on 0.5: a 50 ms timeout lets a
   * 1.8 s statement run to its end) and is a single session, so no statement
   * ever waits for another's lock; setting them there stops nothing and
   * costs ~70 µs per exchange. PGlite's bound is the planner cost check.
   */
  timeouts?: boolean | undefined;
}

/**
 * The one statement that pins a transaction to the install: its schema first
 * on search_path (then pg_catalog and pg_temp, named so that neither is
 * searched before it), the timeouts, standard strings (the parser that
 * checked the text assumes them), and on PostgreSQL the install's role. All
 * LOCAL: they end with the transaction (an explicit one, or the implicit one
 * of a PGlite pipeline up to its Sync), so a pooled connection goes back clean.
 */
export function pinStatement(settings: SessionSettings): CompiledQuery {
  const path = `"${settings.schema}", pg_catalog, pg_temp`;
  const timeout = `${Math.max(1, Math.floor(settings.timeoutMs))}ms`;
  const params: unknown[] = [path];
  let text = "SELECT set_config('search_path', $1, true), set_config('standard_conforming_strings', 'on', true)";
  if (settings.timeouts !== false) {
    params.push(timeout);
    text += `, set_config('statement_timeout', $${params.length}, true), set_config('lock_timeout', $${params.length}, true)`;
  }
  if (settings.role !== null) {
    params.push(settings.role);
    text += `, set_config('role', $${params.length}, true)`;
  }
  return CompiledQuery.raw(text, params);
}

/**
 * PostgreSQL through Annex's own pool: `BEGIN` and the same settings as
 * pinStatement, as one simple-protocol message (several statements, one
 * round trip, parsed without the extended protocol's per-statement
 * Parse/Bind/Describe). Values are inlined: the schema and role are
 * plain identifiers Annex made itself (checked again by quoteIdent), the
 * timeout an integer. Nothing here comes from the extension.
 */
export function pinScript(settings: SessionSettings): string {
  const timeout = `'${Math.max(1, Math.floor(settings.timeoutMs))}ms'`;
  const parts = ["BEGIN", `SET LOCAL search_path TO ${quoteIdent(settings.schema)}, pg_catalog, pg_temp`, "SET LOCAL standard_conforming_strings TO on"];
  if (settings.timeouts !== false) parts.push(`SET LOCAL statement_timeout TO ${timeout}`, `SET LOCAL lock_timeout TO ${timeout}`);
  if (settings.role !== null) parts.push(`SET LOCAL ROLE ${quoteIdent(settings.role)}`);
  return parts.join("; ");
}

/** Pins an open transaction (see pinStatement). */
export async function pinSession(trx: Kysely<any>, settings: SessionSettings): Promise<void> {
  await trx.executeQuery(pinStatement(settings));
}
