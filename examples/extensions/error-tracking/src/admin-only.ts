import type { Ctx, GuestResponse } from "@annex/runner/guest";

/** The host role this extension's data is for: the role its admin-slot page is shown to. */
export const ADMIN_ROLE = "admin";

/**
 * The 403 for a caller who is not one of the tenant's admins, else null. The host showing the admin page
 * only to admins protects nothing: the gateway opens `api` endpoints to every signed-in user of the tenant,
 * so a member could call them directly. `roles` are the host's role names as its `authenticate` gives them.
 */
export function refuseNonAdmin(ctx: Pick<Ctx, "principal">): GuestResponse | null {
  if (ctx.principal?.roles.includes(ADMIN_ROLE) === true) return null;
  return { status: 403, body: { error: { code: "E_FORBIDDEN", message: `this endpoint is for the tenant's admins (role "${ADMIN_ROLE}")` } } };
}
