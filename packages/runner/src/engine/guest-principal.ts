import type { EnvelopePrincipal } from "../envelope.js";

/**
 * `ctx.principal` as the guest sees it. Rebuilt field by field, so nothing a
 * caller added to the envelope's principal reaches the sandbox, and the
 * user's identity only when the effective grants include `user.read`: the
 * gateway strips it already, but the runner does not trust its caller with
 * capabilities (a forged or older envelope that still carries the user gets
 * tenant and roles only).
 */
export function guestPrincipal(principal: EnvelopePrincipal | null | undefined, userRead: boolean): EnvelopePrincipal | null {
  if (principal === null || principal === undefined) return null;
  const visible: EnvelopePrincipal = { tenant: principal.tenant, roles: [...principal.roles] };
  const user = principal.user;
  if (userRead && user !== undefined && user !== null) {
    visible.user = {
      id: user.id,
      ...(typeof user.displayName === "string" ? { displayName: user.displayName } : {}),
      ...(typeof user.email === "string" ? { email: user.email } : {}),
    };
  }
  return visible;
}
