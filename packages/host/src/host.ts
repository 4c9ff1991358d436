import { parseTrustStore } from "@annex/manifest";
import { createAuditLog, writeAudit, type AuditLog } from "./audit/audit-log.js";
import type { BlobStore } from "./blobs/blob-store.js";
import { createDatabaseBlobStore } from "./blobs/database-blob-store.js";
import { createDatabaseWebhookSecrets, type DatabaseWebhookSecrets } from "./gateway/database-webhook-secrets.js";
import { createGateway } from "./gateway/gateway.js";
import type { Gateway, GatewayOptions, RequestInfo } from "./gateway/types.js";
import { createFilesystemBlobStore } from "./blobs/filesystem-blob-store.js";
import { HostCapabilities, type HostCapability } from "./capabilities/host-capabilities.js";
import { migrate } from "./database/migrate.js";
import { openDatabase, type AnnexDatabase, type DatabaseOption } from "./database/open.js";
import { createInstallManager, type InstallManager } from "./installs/manager.js";
import type { InstallDataHook } from "./installs/types.js";
import { createRegistry, type ActorOptions, type Registry, type RegistryDeps, type TrustOptions } from "./registry/registry.js";
import { errorSummary } from "./errors.js";
import { SecretsError } from "./secrets/errors.js";
import { SecretsKeyring, type SecretsKey, type SecretsKeyringOptions } from "./secrets/keyring.js";
import { createSecretsVault } from "./secrets/vault.js";

export interface HostOptions {
  /** A Kysely instance, a postgres:// URL, a PGlite instance, `{ dataDir }`, or nothing for in-memory PGlite. */
  database?: DatabaseOption;
  /** PostgreSQL schema for Annex's tables (created when missing). Default: the connection's search_path. */
  schema?: string | undefined;
  /** Trust store, mode and trust-class policy. Default: an empty trust store in strict mode, which accepts nothing. */
  trust?: TrustOptions | undefined;
  /** The embedding app's own APIs offered to extensions as `host:<name>`. */
  capabilities?: readonly HostCapability[] | undefined;
  /** Keys that encrypt install secrets at rest. Without one, installs cannot be given secrets. */
  secrets?: SecretsKeyringOptions | undefined;
  /** Where bundle archives live. Default: the database; `{ directory }` for files. */
  blobs?: BlobStore | { directory: string } | undefined;
  /** Verified bundles kept in memory. Default 64. */
  bundleCacheSize?: number | undefined;
  bundleLimits?: RegistryDeps["bundleLimits"];
  /** Export and purge hooks for extension data kept outside the install (kv, owned schemas …). */
  dataHooks?: readonly InstallDataHook[] | undefined;
  /** Run Annex's migrations at start. Default true; turn off only when a deploy step runs `migrate` itself. */
  migrate?: boolean | undefined;
  /**
   * Serve extension routes through `host.handle`: the runner that executes
   * handlers and the embedding app's `authenticate` hook (see docs/gateway.md).
   * Without it, `host.handle` answers 503 E_GATEWAY_NOT_CONFIGURED.
   */
  gateway?: Omit<GatewayOptions, "host"> | undefined;
}

export interface RotateSecretsKeyResult {
  /** The key every secret is now sealed with. */
  keyId: string;
  /** Secrets re-sealed by this call: install secrets and webhook secrets together. */
  resealed: number;
  /** Of which install secrets (`install(…, { secrets })`, `setSecrets`). */
  installSecrets: number;
  /** Of which webhook secrets (`host.webhookSecrets`). */
  webhookSecrets: number;
}

/** An embedded Annex: registry, per-tenant installs and their lifecycle, audit. */
export interface Host extends InstallManager {
  /** Verifies a bundle (per the trust options) and records its version; see Registry.publish. */
  publish: Registry["publish"];
  registry: Registry;
  audit: AuditLog;
  capabilities: HostCapabilities;
  database: AnnexDatabase;
  /**
   * Re-seals every install secret under the current key, or under `newKey`
   * after adding it to the keyring and making it current. Keep old keys in
   * the host's configuration until this has run everywhere.
   */
  rotateSecretsKey(newKey?: SecretsKey, options?: ActorOptions): Promise<RotateSecretsKeyResult>;
  /**
   * Answers a request of the extension path families (`/api/ext/…`,
   * `/ext/…/public/…`, `/ext/…/hooks/…`, `/ext-ui/…`) on web-standard
   * Request/Response; adapters: `@annex/host/express`, `@annex/host/node`.
   */
  handle(request: Request, info?: RequestInfo): Promise<Response>;
  /**
   * Per-install secrets of `verify: "annex"` webhooks, in the database, sealed
   * with the host's secrets keys; set and rotate are audited. The gateway uses
   * them unless `createHost({ gateway: { webhookSecrets } })` names another store.
   */
  webhookSecrets: DatabaseWebhookSecrets;
  /** Whether a pathname is under one of the gateway's prefixes (false without a gateway): adapters pass the rest on. */
  owns(pathname: string): boolean;
  /** The gateway behind `handle`, when `createHost({ gateway })` configured one. */
  gateway: Gateway | null;
  /** Closes the database connection if the host opened it. */
  close(): Promise<void>;
}

export async function createHost(options: HostOptions = {}): Promise<Host> {
  const capabilities = new HostCapabilities(options.capabilities ?? []);
  const keyring = new SecretsKeyring(options.secrets);
  const trust: TrustOptions = {
    ...options.trust,
    store: parseTrustStore(options.trust?.store ?? { trustStoreVersion: 1, keys: [] }),
  };

  const database = await openDatabase(options.database, { schema: options.schema });
  try {
    if (options.migrate !== false) await migrate(database.root, { schema: database.schema });
  } catch (error) {
    await database.close();
    throw error;
  }
  const { db } = database;

  const blobs: BlobStore =
    options.blobs === undefined
      ? createDatabaseBlobStore(db)
      : "directory" in options.blobs && typeof options.blobs.directory === "string"
        ? createFilesystemBlobStore({ directory: options.blobs.directory })
        : (options.blobs as BlobStore);

  const registry = createRegistry({
    db,
    blobs,
    trust,
    capabilities,
    bundleCacheSize: options.bundleCacheSize,
    bundleLimits: options.bundleLimits,
  });
  const vault = createSecretsVault(keyring);
  const webhookSecrets = createDatabaseWebhookSecrets({ db, keyring });
  const installs = createInstallManager({ db, registry, vault, keyring, dataHooks: options.dataHooks });
  const audit = createAuditLog(db);

  const host: Host = {
    ...installs,
    ...invalidatingLifecycle(installs, () => gateway),
    publish: registry.publish,
    registry,
    audit,
    capabilities,
    database,
    gateway: null,
    webhookSecrets,
    owns: (pathname) => gateway?.owns(pathname) ?? false,
    handle: async (request, info) => (gateway === null ? gatewayNotConfigured() : gateway.handle(request, info)),
    async rotateSecretsKey(newKey, rotateOptions) {
      const actor = rotateOptions?.actor ?? "system";
      const named = typeof newKey?.id === "string" ? newKey.id : undefined;
      try {
        if (newKey !== undefined) keyring.add(newKey);
        if (keyring.currentKeyId === undefined) {
          throw new SecretsError("E_SECRETS_KEY_MISSING", "rotateSecretsKey needs a secrets key: pass one, or configure createHost({ secrets: { keys } })");
        }
      } catch (error) {
        // A refused rotation changes nothing, and says so in the audit log (never with key material).
        await writeAudit(db, {
          actor,
          tenant: null,
          action: "secrets.rotate",
          target: "secrets",
          decision: "deny",
          details: { keyId: named ?? keyring.currentKeyId ?? null, error: errorSummary(error) },
        }).catch(() => {});
        throw error;
      }
      const keyId = named ?? keyring.currentKeyId!;
      await writeAudit(db, { actor, tenant: null, action: "secrets.rotate", target: "secrets", decision: "allow", details: { keyId } });
      keyring.use(keyId);
      const installSecrets = await vault.reseal(db);
      const resealedWebhooks = await webhookSecrets.reseal();
      return { keyId, resealed: installSecrets + resealedWebhooks, installSecrets, webhookSecrets: resealedWebhooks };
    },
    close: async () => {
      await gateway?.drain();
      await database.close();
    },
  };
  const gateway: Gateway | null = options.gateway === undefined ? null : createGateway({ webhookSecrets: host.webhookSecrets, ...options.gateway, host });
  host.gateway = gateway;
  return host;
}

/**
 * The gateway caches serving installs briefly; a lifecycle call made through
 * this host must apply to the very next request, so each one forgets the
 * cached install when it settles, whether it succeeded or not.
 */
function invalidatingLifecycle(installs: InstallManager, gateway: () => Gateway | null): Partial<InstallManager> {
  const wrap =
    <A extends [string, string, ...unknown[]], R>(call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        return await call(...args);
      } finally {
        gateway()?.invalidate(args[0], args[1]);
      }
    };
  return {
    install: wrap(installs.install),
    enable: wrap(installs.enable),
    disable: wrap(installs.disable),
    upgrade: wrap(installs.upgrade),
    uninstall: wrap(installs.uninstall),
    recover: wrap(installs.recover),
  };
}

function gatewayNotConfigured(): Response {
  return new Response(
    JSON.stringify({
      type: "about:blank",
      title: "Extension gateway not configured",
      status: 503,
      code: "E_GATEWAY_NOT_CONFIGURED",
      detail: "Pass createHost({ gateway: { runner, authenticate } }) to serve extension routes.",
    }),
    { status: 503, headers: { "content-type": "application/problem+json" } },
  );
}
