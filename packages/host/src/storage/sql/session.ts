import { CompiledQuery, type Kysely } from "kysely";

export interface SessionSettings {
  schema: string;
  /** PostgreSQL: the install's role; null on PGlite. */
  role: string | null;
  timeoutMs: number;
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
  const text =
    "SELECT set_config('search_path', $1, true), set_config('statement_timeout', $2, true), set_config('lock_timeout', $2, true), " +
    "set_config('standard_conforming_strings', 'on', true)" +
    (settings.role === null ? "" : ", set_config('role', $3, true)");
  return CompiledQuery.raw(text, settings.role === null ? [path, timeout] : [path, timeout, settings.role]);
}

/** Pins an open transaction (see pinStatement). */
export async function pinSession(trx: Kysely<any>, settings: SessionSettings): Promise<void> {
  await trx.executeQuery(pinStatement(settings));
}
