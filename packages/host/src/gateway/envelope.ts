import type { ExecuteEnvelope, ExecutionLimits, Principal, SandboxRequest } from "@annex/runner";
import type { ResolvedInstall } from "../installs/types.js";
import type { RoutableEndpoint } from "./routes.js";

/**
 * The execute envelope of one request. Identity, grants and config come from
 * the registry's install (never from the request); from the request only the
 * filtered HTTP part and, for api endpoints, the authenticated principal.
 */
export function buildEnvelope(options: {
  requestId: string;
  resolved: ResolvedInstall;
  endpoint: RoutableEndpoint;
  request: SandboxRequest;
  principal: Principal | undefined;
  limits: Partial<ExecutionLimits> | undefined;
  warm: boolean;
}): ExecuteEnvelope {
  const { install, manifest } = options.resolved;
  return {
    requestId: options.requestId,
    extension: { id: manifest.id, version: manifest.version, contentHash: options.resolved.bundle.contentHash },
    install: { id: install.id, tenant: install.tenant, config: install.config },
    grants: install.grants,
    invocation: { kind: "endpoint", handler: options.endpoint.handler, request: options.request },
    ...(options.endpoint.class === "api" && options.principal !== undefined ? { principal: options.principal } : {}),
    ...(options.limits === undefined ? {} : { limits: options.limits }),
    context: options.warm && manifest.runtime.warmContext ? "warm" : "fresh",
  };
}
