import type { AuditLog } from "@annex/host";
import type { SignedInUser } from "./principal.js";

/**
 * Sign-ins in Annex's audit log (`annex_audit`, append-only in the database itself), beside the
 * lifecycle lines the console's audit table already shows: action `auth.sign-in`, decision `allow` for a
 * sign-in that succeeded (in the user's tenant, so that its admins see it), `deny` for one that did not.
 *
 * A refused sign-in gets the same line whether the email names an account or not: no tenant (nobody
 * signed in, and naming the account's tenant would make the log say which emails have accounts, which
 * the sign-in page's answer and timing are careful not to), reason `credentials`. The password is never
 * part of a line. What the client typed as its email is kept, bounded here; `audit.write` makes it
 * storable (PostgreSQL refuses NUL) and harmless to show (no controls or bidi overrides that forge lines),
 * as it does Annex's own lines.
 */
export interface SignInAudit {
  succeeded(user: SignedInUser, client: string): Promise<void>;
  /** A wrong password, or an email no account has. */
  failed(email: string, client: string): Promise<void>;
  /** An attempt refused before anything was checked, by the address's budget or the account's (`budget`). */
  throttled(email: string, client: string, retryAfter: number, budget: "address" | "account"): Promise<void>;
}

export const SIGN_IN_ACTION = "auth.sign-in";
/** The longest email an address may have (RFC 5321's path limit): a longer submission is cut there. */
const MAX_EMAIL_CHARS = 254;

function bounded(email: string): string {
  return email.length > MAX_EMAIL_CHARS ? `${email.slice(0, MAX_EMAIL_CHARS - 1)}…` : email;
}

export function signInAudit(audit: Pick<AuditLog, "write">): SignInAudit {
  const write = (line: { actor: string; tenant: string | null; email: string; decision: "allow" | "deny"; details: { client: string } & Record<string, unknown> }) =>
    audit.write({ actor: line.actor, tenant: line.tenant, action: SIGN_IN_ACTION, target: `user:${bounded(line.email)}`, decision: line.decision, details: line.details });
  return {
    succeeded: (user, client) => write({ actor: `user:${bounded(user.email)}`, tenant: user.tenant, email: user.email, decision: "allow", details: { client } }),
    failed: (email, client) => write({ actor: "anonymous", tenant: null, email, decision: "deny", details: { client, reason: "credentials" } }),
    throttled: (email, client, retryAfter, budget) => write({ actor: "anonymous", tenant: null, email, decision: "deny", details: { client, reason: "throttled", budget, retryAfter } }),
  };
}
