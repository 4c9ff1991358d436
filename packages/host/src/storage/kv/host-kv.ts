import { HostCallError, type HostCallScope, type KvApi } from "@annex/runner";
import { executionOf, type HostApiParts } from "../../execution/host-apis.js";
import { installKvLimits } from "./policy.js";
import type { KvStorage } from "./storage.js";
import type { KvNamespace } from "./store.js";

/**
 * `ctx.kv` on the host side. The namespace is the install of the live
 * execution as the host resolved it, never a tenant or install the runner
 * names; and the install must hold a `storage.kv` grant its manifest requests,
 * checked here again whatever the runner checked.
 */
export function createKvApi(storage: KvStorage, parts: Pick<HostApiParts, "contextOf">): KvApi {
  const target = (scope: HostCallScope) => {
    const { install, manifest } = executionOf(parts, scope).resolved;
    const granted = install.grants.some((grant) => grant.name === "storage.kv") && manifest.capabilities.some((request) => request.name === "storage.kv");
    if (!granted) throw new HostCallError("E_CAPABILITY_DENIED", "ctx.kv needs the storage.kv capability, which this install was not granted: request storage.kv in annex.json's capabilities with storage: { \"kind\": \"kv\" }, with a reason, and have an admin grant it (at install or upgrade)");
    storage.maybeSweep();
    const ns: KvNamespace = { tenant: install.tenant, installId: install.id };
    return { ns, limits: installKvLimits(manifest, storage.policy) };
  };
  const { store } = storage;
  return {
    async get(key, scope) {
      const { ns, limits } = target(scope);
      return (await store.get(ns, key, limits))?.value ?? null;
    },
    async getEntry(key, scope) {
      const { ns, limits } = target(scope);
      const entry = await store.get(ns, key, limits);
      return entry === null ? null : { value: entry.value, version: entry.version };
    },
    async set(key, value, options, scope) {
      const { ns, limits } = target(scope);
      // ifVersion comes checked by the runner's dispatch (undefined: unconditional, 0: must not exist).
      return store.set(ns, key, value, { ttlSeconds: options.ttlSeconds, ifVersion: options.ifVersion }, limits);
    },
    async delete(key, scope) {
      const { ns, limits } = target(scope);
      return store.delete(ns, key, {}, limits);
    },
    async deleteIfVersion(key, ifVersion, scope) {
      const { ns, limits } = target(scope);
      // ifVersion comes checked by the runner's dispatch (0: must not exist); a mismatch throws E_KV_VERSION_CONFLICT.
      return store.delete(ns, key, { ifVersion }, limits);
    },
    async list(options, scope) {
      const { ns } = target(scope);
      return store.list(ns, options);
    },
  };
}
