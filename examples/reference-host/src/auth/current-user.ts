import type { Kysely } from "kysely";
import type { AppTables } from "../data/tables.js";
import type { SignedInUser } from "./principal.js";

/**
 * The signed-in user as the users table has them now. A session records who
 * signed in, never what they may do: read from the session alone, a user
 * demoted to member (or deleted) kept an admin's rights for as long as the
 * session lived. Every page, the admin API and the gateway's `authenticate`
 * look the user up again by id; null when they no longer exist.
 */
export async function currentUser(app: Kysely<AppTables>, id: string): Promise<SignedInUser | null> {
  const row = await app.selectFrom("users").select(["id", "tenant", "email", "display_name", "role"]).where("id", "=", id).executeTakeFirst();
  return row === undefined ? null : { id: row.id, tenant: row.tenant, email: row.email, displayName: row.display_name, role: row.role };
}
