import { HostCallError, type EgressOptions, type EventsApi, type HostApis, type HostCallScope, type HostCapability as RunnerHostCapability, type KvApi, type SqlApi } from "@annex/runner";
import type { HostCapabilities } from "../capabilities/host-capabilities.js";
import type { ExecutionContext } from "./executor.js";

export interface HostApiParts {
  /** The install's secrets, read after the runner checked `secrets.read`. */
  revealSecret(tenant: string, extensionId: string, name: string): Promise<string | null | undefined>;
  capabilities: HostCapabilities;
  /** The execution a host call belongs to (its install, as the host resolved it). */
  contextOf(scope: HostCallScope): ExecutionContext | undefined;
  /** Egress policy of `ctx.http.fetch`; `false` turns egress off. */
  egress?: EgressOptions | false | undefined;
  kv?: KvApi | undefined;
  sql?: SqlApi | undefined;
  events?: EventsApi | undefined;
  /** Hears a host-side failure the guest is told only that it happened (its message describes the host's setup). */
  hostFault?: ((error: unknown, what: string, install: { id: string; tenant: string; extensionId: string }) => void) | undefined;
}

/**
 * Everything the host implements behind `ctx`, in the runner's `HostApis`
 * shape. `createHost` turns it into the dispatch it hands the runner with
 * every execution; nothing else wires host APIs, so a test host and a
 * production host reach the same implementations.
 */
export function createHostApis(parts: HostApiParts): HostApis {
  const hostCapabilities: Record<string, RunnerHostCapability<unknown, unknown>> = {};
  for (const name of parts.capabilities.names()) {
    const definition = parts.capabilities.get(name)!;
    hostCapabilities[name] = {
      args: definition.args,
      result: definition.result,
      async handler(args, scope) {
        const { install } = executionOf(parts, scope).resolved;
        return definition.handler(args, {
          install: { id: install.id, tenant: install.tenant, extensionId: install.extensionId, version: install.version, config: install.config },
          principal: scope.principal,
          params: scope.params,
        });
      },
    };
  }
  return {
    secrets: {
      get: async (name, scope) => {
        // The install the host resolved, as kv and sql use: not the extension id the runner's scope names.
        const { install } = executionOf(parts, scope).resolved;
        try {
          return await parts.revealSecret(install.tenant, install.extensionId, name);
        } catch (error) {
          // A secret the host cannot open (a keyring without its key, a tampered row) is the host's setup, not the
          // extension's: its message names the host's options and keys, and reached the extension and its callers.
          parts.hostFault?.(error, "ctx.secrets.get", install);
          throw new HostCallError("E_HOST_CALL_FAILED", "ctx.secrets.get failed on the host");
        }
      },
    },
    hostCapabilities,
    fetch: parts.egress,
    ...(parts.kv === undefined ? {} : { kv: parts.kv }),
    ...(parts.sql === undefined ? {} : { sql: parts.sql }),
    ...(parts.events === undefined ? {} : { events: parts.events }),
  };
}

/** The live execution behind a host call; a call that outlived its execution reaches nothing. */
export function executionOf(parts: Pick<HostApiParts, "contextOf">, scope: HostCallScope): ExecutionContext {
  const context = parts.contextOf(scope);
  if (context === undefined) throw new HostCallError("E_HOST_CALL_FAILED", "the execution this call belongs to has ended");
  return context;
}
