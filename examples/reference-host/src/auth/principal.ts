import type { Role } from "../data/tables.js";

/** Who is signed in, as the session keeps it (set at sign-in, never from the request). */
export interface SignedInUser {
  id: string;
  tenant: string;
  email: string;
  displayName: string;
  role: Role;
}

declare module "express-session" {
  interface SessionData {
    user?: SignedInUser;
  }
}

/** The gateway's principal for a signed-in user: the tenant, the user (reaching extensions only with user.read) and the role. */
export function principalOf(user: SignedInUser): { tenant: string; user: { id: string; displayName: string; email: string }; roles: string[] } {
  return { tenant: user.tenant, user: { id: user.id, displayName: user.displayName, email: user.email }, roles: [user.role] };
}
