import type { EnvelopePrincipal, ExecuteEnvelope, ExecutionLimits, HostCallArgBytes, Invocation, Principal } from "@annex/runner";
import type { ResolvedInstall } from "../installs/types.js";

/**
 * The execute envelope of one execution. Identity, grants and config come
 * from the registry's install (never from a request or an event); from the
 * trigger only the invocation (the filtered HTTP request, the job, the event)
 * and, for `api` endpoints, the authenticated principal, reduced to what the
 * install may see.
 */
export function buildEnvelope(options: {
  requestId: string;
  resolved: ResolvedInstall;
  invocation: Invocation;
  principal: Principal | undefined;
  limits: Partial<ExecutionLimits> | undefined;
  warm: boolean;
  /** The host's bounds on each host call's arguments (see hostCallArgBytes). */
  hostCallArgBytes?: HostCallArgBytes | undefined;
}): ExecuteEnvelope {
  const { install, manifest } = options.resolved;
  return {
    requestId: options.requestId,
    extension: { id: manifest.id, version: manifest.version, contentHash: options.resolved.bundle.contentHash },
    install: { id: install.id, tenant: install.tenant, config: install.config },
    grants: install.grants,
    invocation: options.invocation,
    ...(options.principal === undefined ? {} : { principal: envelopePrincipal(options.principal, options.resolved) }),
    ...(options.limits === undefined ? {} : { limits: options.limits }),
    ...(options.hostCallArgBytes === undefined ? {} : { hostCallArgBytes: options.hostCallArgBytes }),
    context: options.warm && manifest.runtime.warmContext ? "warm" : "fresh",
  };
}

/**
 * The principal an execution receives. Tenant and roles always; the user's
 * identity (id, display name, email) only when the install was granted
 * `user.read` and its manifest asks for it. The gateway keeps the whole
 * principal for itself (authorize, the audit line's actor).
 */
export function envelopePrincipal(principal: Principal, resolved: Pick<ResolvedInstall, "install" | "manifest">): EnvelopePrincipal {
  const granted = resolved.install.grants.some((grant) => grant.name === "user.read");
  const requested = resolved.manifest.capabilities.some((request) => request.name === "user.read");
  if (!granted || !requested) return { tenant: principal.tenant, roles: principal.roles };
  return { tenant: principal.tenant, user: principal.user, roles: principal.roles };
}
