import type { Kysely } from "kysely";
import type { AnnexTables } from "../../database/tables.js";
import { findInstallById, installNotFound } from "../../installs/install-by-id.js";
import { installKvLimits, type KvLimits } from "./policy.js";
import type { KvStorage } from "./storage.js";
import type { KvDeleteOptions, KvEntry, KvExportEntry, KvListOptions, KvNamespace, KvPage, KvSetOptions, KvUsage } from "./store.js";

/**
 * One install's kv as the embedding app (an admin tool, a test) sees it: the
 * same store, namespace and quotas as the extension's `ctx.kv`, without the
 * capability check (the app is not a guest).
 */
export interface InstallKv {
  get(key: string): Promise<unknown>;
  getEntry(key: string): Promise<KvEntry | null>;
  set(key: string, value: unknown, options?: KvSetOptions): Promise<{ version: number }>;
  delete(key: string, options?: KvDeleteOptions): Promise<boolean>;
  list(options?: KvListOptions): Promise<KvPage>;
  /** Every live entry, sorted by key, as the export has them. */
  entries(): Promise<KvExportEntry[]>;
  /** Keys and bytes counted against the quotas (expired keys count until swept). */
  usage(): Promise<KvUsage>;
  /** The install's quotas: its manifest's `storage.limits` capped by the host's policy. */
  limits(): Promise<KvLimits>;
}

/** The host's kv as `host.kv` offers it. */
export interface HostKv {
  /** The host's policy: per-install quotas and the caps on what manifests ask. */
  readonly policy: Readonly<KvLimits>;
  /**
   * An install's kv by install id (`host.getInstall(tenant, id).id`); unknown
   * ids fail with E_INSTALL_NOT_FOUND, at every call (a handle kept across a
   * purge fails from then on; one kept across an upgrade has the new quotas). Acting for one tenant (an
   * admin API), pass it: another tenant's install then fails the same way, as
   * if it did not exist, and nothing of it is read or written.
   */
  install(installId: string, options?: { tenant?: string | undefined }): InstallKv;
  /** Deletes expired keys now (kv calls also start a sweep now and then); returns how many went. */
  sweepExpired(): Promise<number>;
}

export function createHostKv(storage: KvStorage, db: Kysely<AnnexTables>): HostKv {
  const { store } = storage;
  return {
    policy: storage.policy,
    sweepExpired: () => store.sweepExpired(),
    install(installId, options = {}) {
      const { tenant } = options;
      // Read at every call, not once per handle: a handle kept across a purge wrote into a namespace that was gone
      // (a raw foreign-key error) and read it as empty, and one kept across an upgrade kept the old version's quotas.
      const target = async (): Promise<{ ns: KvNamespace; limits: KvLimits }> => {
        const found = await findInstallById(db, installId, tenant);
        if (found === null) throw installNotFound(installId);
        return { ns: { tenant: found.tenant, installId }, limits: installKvLimits(found.version!.manifest, storage.policy) };
      };
      return {
        async get(key) {
          const { ns, limits } = await target();
          return (await store.get(ns, key, limits))?.value ?? null;
        },
        async getEntry(key) {
          const { ns, limits } = await target();
          return store.get(ns, key, limits);
        },
        async set(key, value, options = {}) {
          const { ns, limits } = await target();
          return store.set(ns, key, value, options, limits);
        },
        async delete(key, options = {}) {
          const { ns, limits } = await target();
          return store.delete(ns, key, options, limits);
        },
        async list(options = {}) {
          const { ns } = await target();
          return store.list(ns, options);
        },
        async entries() {
          return store.entries((await target()).ns);
        },
        async usage() {
          return store.usage((await target()).ns);
        },
        async limits() {
          return { ...(await target()).limits };
        },
      };
    },
  };
}
