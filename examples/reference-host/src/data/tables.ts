import type { Generated } from "kysely";

export type Role = "admin" | "member";

export interface TenantRow {
  id: string;
  name: string;
}

export interface UserRow {
  id: string;
  tenant: string;
  email: string;
  display_name: string;
  password_hash: string;
  role: Role;
}

export interface SessionRow {
  sid: string;
  data: string;
  expires_at: Date;
}

export interface ApiTokenRow {
  id: string;
  token_hash: string;
  tenant: string;
  user_id: string;
  label: string;
  created_at: Generated<Date>;
  /** After it the token authenticates nobody (see findApiTokenUser). */
  expires_at: Date;
}

/** The product's own tables, in its own schema (never Annex's). */
export interface AppTables {
  tenants: TenantRow;
  users: UserRow;
  sessions: SessionRow;
  api_tokens: ApiTokenRow;
}
