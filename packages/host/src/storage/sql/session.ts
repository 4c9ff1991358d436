import { sql, type Kysely } from "kysely";

export interface SessionSettings {
  schema: string;
  /** PostgreSQL: the install's role; null on PGlite. */
  role: string | null;
  timeoutMs: number;
}

/**
 * Pins the transaction to the install: its schema first on search_path (then
 * pg_catalog and pg_temp, named so that neither is searched before it), the
 * timeouts, standard strings (the parser that checked the text assumes them),
 * and on PostgreSQL the install's role. All LOCAL: they end with the
 * transaction, so a pooled connection goes back clean.
 */
export async function pinSession(trx: Kysely<any>, settings: SessionSettings): Promise<void> {
  const path = `"${settings.schema}", pg_catalog, pg_temp`;
  const timeout = `${Math.max(1, Math.floor(settings.timeoutMs))}ms`;
  const role = settings.role === null ? sql`` : sql`, set_config('role', ${settings.role}, true)`;
  await sql`SELECT set_config('search_path', ${path}, true), set_config('statement_timeout', ${timeout}, true),
    set_config('lock_timeout', ${timeout}, true), set_config('standard_conforming_strings', 'on', true)${role}`.execute(trx);
}
