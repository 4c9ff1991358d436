import type { Kysely } from "kysely";
import type { AnnexTables } from "../../database/tables.js";
import type { InstallDataHook } from "../../installs/types.js";
import type { Logger } from "../../observability/logger.js";
import { resolveKvPolicy, type KvLimits } from "./policy.js";
import { createKvStore, type KvStore } from "./store.js";

/** `createHost({ kv })`: the host's kv policy. */
export interface KvOptions {
  /** Quotas per install; each is also the most a manifest's `storage.limits` may ask for. Default DEFAULT_KV_LIMITS. */
  limits?: Partial<KvLimits> | undefined;
  /**
   * Expired keys are invisible at once and deleted by a sweep that kv calls
   * start at most this often (ms). Default 60 000; 0 leaves sweeping to
   * `host.kv.sweepExpired()` and to writes that would otherwise pass a quota.
   */
  sweepIntervalMs?: number | undefined;
}

/** The host's kv: the store, its policy, the data hook that exports and purges it, and the background sweep. */
export interface KvStorage {
  store: KvStore;
  policy: Readonly<KvLimits>;
  dataHook: InstallDataHook;
  /** Starts a sweep of expired keys when the last one is older than the interval. */
  maybeSweep(): void;
  /** Waits for a sweep in flight (before the database closes). */
  close(): Promise<void>;
}

export function createKvStorage(deps: {
  db: Kysely<AnnexTables>;
  /** See KvStoreOptions. */
  schema?: string | undefined;
  singleSession?: boolean | undefined;
  options?: KvOptions | undefined;
  now?: (() => number) | undefined;
  logger: Logger;
}): KvStorage {
  const policy = resolveKvPolicy(deps.options?.limits);
  const interval = deps.options?.sweepIntervalMs ?? 60_000;
  const clock = deps.now ?? Date.now;
  const store = createKvStore({ db: deps.db, schema: deps.schema, singleSession: deps.singleSession, now: deps.now });
  let lastSweep = clock();
  let sweeping: Promise<void> | undefined;
  let closed = false;

  return {
    store,
    policy,
    dataHook: {
      name: "kv",
      export: async (db, install) => ({ entries: await store.entries({ tenant: install.tenant, installId: install.id }, db) }),
      purge: (trx, install) => store.purge({ tenant: install.tenant, installId: install.id }, trx),
    },
    maybeSweep() {
      if (interval <= 0 || closed || sweeping !== undefined || clock() - lastSweep < interval) return;
      lastSweep = clock();
      sweeping = store
        .sweepExpired()
        .then(
          (swept) => {
            if (swept > 0) deps.logger.debug({ swept }, "kv.sweep");
          },
          (error: unknown) => deps.logger.warn({ err: error }, "kv.sweep failed"),
        )
        .finally(() => {
          sweeping = undefined;
        });
    },
    async close() {
      closed = true;
      await sweeping;
    },
  };
}
