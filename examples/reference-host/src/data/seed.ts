import type { Kysely } from "kysely";
import { hashPassword } from "../auth/passwords.js";
import type { AppTables, Role } from "./tables.js";

export interface SeedUser {
  id: string;
  tenant: string;
  email: string;
  displayName: string;
  role: Role;
}

export const SEED_TENANTS = [
  { id: "acme", name: "Acme Corp" },
  { id: "globex", name: "Globex" },
] as const;

export const SEED_USERS: readonly SeedUser[] = [
  { id: "u-ada", tenant: "acme", email: "ada@acme.test", displayName: "Ada Lovelace", role: "admin" },
  { id: "u-max", tenant: "acme", email: "max@acme.test", displayName: "Max Member", role: "member" },
  { id: "u-gus", tenant: "globex", email: "gus@globex.test", displayName: "Gus Admin", role: "admin" },
];

/**
 * Two tenants and their users, on an empty database only: a restart keeps
 * whatever the admins changed since. Every seeded user gets `password`.
 */
export async function seedProduct(app: Kysely<AppTables>, password: string): Promise<boolean> {
  const existing = await app.selectFrom("tenants").select("id").limit(1).executeTakeFirst();
  if (existing !== undefined) return false;
  const passwordHash = await hashPassword(password);
  await app.transaction().execute(async (trx) => {
    await trx.insertInto("tenants").values([...SEED_TENANTS]).onConflict((c) => c.doNothing()).execute();
    await trx
      .insertInto("users")
      .values(SEED_USERS.map((u) => ({ id: u.id, tenant: u.tenant, email: u.email, display_name: u.displayName, password_hash: passwordHash, role: u.role })))
      .onConflict((c) => c.doNothing())
      .execute();
  });
  return true;
}
