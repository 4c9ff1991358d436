import { sql, type Kysely } from "kysely";
import { DEFAULT_API_TOKEN_DAYS } from "../config/api-token-lifetime.js";

/**
 * The product's own schema. A real product has its own migration tool; the
 * reference host keeps one idempotent step, run at every start in one
 * transaction, so a restart (or a second process) changes nothing.
 * `apiTokenDays`: the lifetime given to tokens made before tokens expired.
 */
export async function migrateAppSchema(root: Kysely<any>, schema: string, options: { apiTokenDays?: number | undefined } = {}): Promise<void> {
  const s = sql.id(schema);
  await root.transaction().execute(async (trx) => {
    await sql`CREATE SCHEMA IF NOT EXISTS ${s}`.execute(trx);
    await sql`CREATE TABLE IF NOT EXISTS ${s}.tenants (id text PRIMARY KEY, name text NOT NULL)`.execute(trx);
    await sql`CREATE TABLE IF NOT EXISTS ${s}.users (
      id text PRIMARY KEY,
      tenant text NOT NULL REFERENCES ${s}.tenants(id),
      email text NOT NULL UNIQUE,
      display_name text NOT NULL,
      password_hash text NOT NULL,
      role text NOT NULL CHECK (role IN ('admin', 'member'))
    )`.execute(trx);
    await sql`CREATE TABLE IF NOT EXISTS ${s}.sessions (sid text PRIMARY KEY, data text NOT NULL, expires_at timestamptz NOT NULL)`.execute(trx);
    await sql`CREATE INDEX IF NOT EXISTS sessions_expires_at ON ${s}.sessions (expires_at)`.execute(trx);
    await sql`CREATE TABLE IF NOT EXISTS ${s}.api_tokens (
      id text PRIMARY KEY,
      token_hash text NOT NULL UNIQUE,
      tenant text NOT NULL REFERENCES ${s}.tenants(id),
      user_id text NOT NULL REFERENCES ${s}.users(id),
      label text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL DEFAULT now() + make_interval(days => ${sql.lit(DEFAULT_API_TOKEN_DAYS)})
    )`.execute(trx);
    // Added later: tokens used to live for ever. Those made before get created_at + the lifetime, so that a
    // token leaked long ago stops working at the upgrade instead of living on as the one kind without an end.
    await sql`ALTER TABLE ${s}.api_tokens ADD COLUMN IF NOT EXISTS expires_at timestamptz`.execute(trx);
    const days = options.apiTokenDays ?? DEFAULT_API_TOKEN_DAYS;
    await sql`UPDATE ${s}.api_tokens SET expires_at = created_at + make_interval(days => ${days}) WHERE expires_at IS NULL`.execute(trx);
    await sql`ALTER TABLE ${s}.api_tokens ALTER COLUMN expires_at SET NOT NULL`.execute(trx);
    // A process from before expiries (a rolling upgrade) inserts no expires_at: its tokens get the default lifetime.
    await sql`ALTER TABLE ${s}.api_tokens ALTER COLUMN expires_at SET DEFAULT now() + make_interval(days => ${sql.lit(DEFAULT_API_TOKEN_DAYS)})`.execute(trx);
  });
}
