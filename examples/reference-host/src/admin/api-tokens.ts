import { createHash, randomBytes } from "node:crypto";
import type { Kysely } from "kysely";
import { apiTokenExpiry, isApiTokenDays, MAX_API_TOKEN_DAYS } from "../config/api-token-lifetime.js";
import type { SignedInUser } from "../auth/principal.js";
import type { AppTables } from "../data/tables.js";
import { AdminApiError } from "./errors.js";

/** sha256 of an API token: only the hash is stored. */
export const tokenHash = (token: string): string => createHash("sha256").update(token).digest("hex");

/**
 * Live (unexpired) API tokens one user may hold at once. Each is a credential that works until it expires or is
 * revoked, kept wherever it was pasted: a cap keeps the set an admin has to review and revoke short, and bounds
 * what a script run in a signed-in console could leave behind. Generous for a person with a few machines and CI jobs.
 */
export const MAX_LIVE_API_TOKENS = 20;

/** A new API token for an admin (shown once): `annex_<43 base64url chars>`, working for `days`. Refused past MAX_LIVE_API_TOKENS. */
export async function createApiToken(
  app: Kysely<AppTables>,
  user: { id: string; tenant: string; email?: string },
  label: string,
  days: number,
): Promise<{ id: string; token: string; expiresAt: Date }> {
  const token = `annex_${randomBytes(32).toString("base64url")}`;
  const id = `tok_${randomBytes(8).toString("hex")}`;
  const now = new Date();
  const expiresAt = apiTokenExpiry(days, now);
  await app.transaction().execute(async (trx) => {
    // The user's row locked: two tokens made at once for one user are counted one after the other, never both under the cap.
    await trx.selectFrom("users").select("id").where("id", "=", user.id).forUpdate().executeTakeFirst();
    const { live } = await trx
      .selectFrom("api_tokens")
      .select((eb) => eb.fn.countAll<string>().as("live"))
      .where("user_id", "=", user.id)
      .where("expires_at", ">", now)
      .executeTakeFirstOrThrow();
    if (Number(live) >= MAX_LIVE_API_TOKENS) {
      throw new AdminApiError(
        409,
        "E_TOKEN_LIMIT",
        `${user.email ?? user.id} already holds ${MAX_LIVE_API_TOKENS} live API tokens, the most one user may; revoke one no longer used (GET /admin/api/tokens lists them, DELETE /admin/api/tokens/:id revokes one) and try again`,
        { limit: MAX_LIVE_API_TOKENS },
      );
    }
    await trx.insertInto("api_tokens").values({ id, token_hash: tokenHash(token), tenant: user.tenant, user_id: user.id, label, expires_at: expiresAt }).execute();
  });
  return { id, token, expiresAt };
}

/**
 * The user a bearer token acts as, or undefined for an unknown or expired token. The expiry is part of the
 * lookup itself, so that no caller can be handed the user of an expired token and forget to check it.
 */
export async function findApiTokenUser(app: Kysely<AppTables>, token: string, now: Date = new Date()): Promise<SignedInUser | undefined> {
  const row = await app
    .selectFrom("api_tokens")
    .innerJoin("users", "users.id", "api_tokens.user_id")
    .select(["users.id", "users.tenant", "users.email", "users.display_name", "users.role"])
    .where("api_tokens.token_hash", "=", tokenHash(token))
    .where("api_tokens.expires_at", ">", now)
    .executeTakeFirst();
  return row === undefined ? undefined : { id: row.id, tenant: row.tenant, email: row.email, displayName: row.display_name, role: row.role };
}

/** A token as `GET /admin/api/tokens` lists it: never the token or its hash. */
export interface ApiTokenInfo {
  id: string;
  label: string;
  /** The email of the admin it acts as. */
  user: string;
  createdAt: Date;
  expiresAt: Date;
  expired: boolean;
}

/** The tokens of `tenant`, newest first, expired ones included (marked) so that admins see what stopped working. */
export async function listApiTokens(app: Kysely<AppTables>, tenant: string, now: Date = new Date(), id?: string): Promise<ApiTokenInfo[]> {
  let query = app
    .selectFrom("api_tokens")
    .innerJoin("users", "users.id", "api_tokens.user_id")
    .select(["api_tokens.id", "api_tokens.label", "users.email", "api_tokens.created_at", "api_tokens.expires_at"])
    .where("api_tokens.tenant", "=", tenant);
  if (id !== undefined) query = query.where("api_tokens.id", "=", id);
  const rows = await query
    .orderBy("api_tokens.created_at", "desc")
    .orderBy("api_tokens.id")
    .execute();
  return rows.map((row) => {
    const expiresAt = new Date(row.expires_at);
    return { id: row.id, label: row.label, user: row.email, createdAt: new Date(row.created_at), expiresAt, expired: expiresAt.getTime() <= now.getTime() };
  });
}

/** How token ids look (`tok_` and 16 hex digits): anything else names no token. */
const TOKEN_ID = /^tok_[0-9a-f]{16}$/;

/** The tenant's token `id` as the listing shows it, or undefined: another tenant's token is not there. */
export async function findApiToken(app: Kysely<AppTables>, tenant: string, id: string, now: Date = new Date()): Promise<ApiTokenInfo | undefined> {
  if (!TOKEN_ID.test(id)) return undefined;
  return (await listApiTokens(app, tenant, now, id))[0];
}

/** Deletes the tenant's token `id`: from the next request on it authenticates nobody. False when there was none. */
export async function revokeApiToken(app: Kysely<AppTables>, tenant: string, id: string): Promise<boolean> {
  if (!TOKEN_ID.test(id)) return false;
  const deleted = await app.deleteFrom("api_tokens").where("id", "=", id).where("tenant", "=", tenant).executeTakeFirst();
  return deleted.numDeletedRows > 0n;
}

/** `expiresInDays` of a `POST /tokens` body: absent means the host's default; anything else must be 1 to 365 whole days. */
export function expiresInDaysOf(value: unknown, defaultDays: number): number {
  if (value === undefined) return defaultDays;
  if (!isApiTokenDays(value)) {
    throw new AdminApiError(400, "E_BAD_REQUEST", `expiresInDays must be a whole number of days from 1 to ${MAX_API_TOKEN_DAYS}`, { field: "expiresInDays" });
  }
  return value;
}
