import type { Bundle, CapabilityGrant, Manifest, VerifiedBundle } from "@annex/manifest";
import type { Kysely } from "kysely";
import type { AnnexTables } from "../database/tables.js";
import type { ErrorSummary } from "../errors.js";
import type { InstallState } from "../lifecycle/states.js";
import type { SqlSchemaStatus } from "../storage/sql/sql-storage.js";

/** One extension installed for one tenant. Carries no secret values. */
export interface InstallInfo {
  id: string;
  tenant: string;
  extensionId: string;
  /** The version serving (while upgrading: the old one, until the upgrade completes). */
  version: string;
  contentHash: string;
  state: InstallState;
  /** While upgrading: where to. */
  targetVersion: string | null;
  grants: CapabilityGrant[];
  config: Record<string, unknown>;
  /** Bumped by every change; pass it back as `ifRevision` to refuse acting on a stale view. */
  revision: number;
  /** Why the last install or upgrade failed, if it did. */
  lastError: ErrorSummary | null;
  createdAt: Date;
  updatedAt: Date;
  /** The install's owned schema (storage.sql): its schema version and migration status. Absent without one. */
  sql?: SqlSchemaStatus | undefined;
}

/** What the gateway needs to serve a request: an install that serves, with its verified bundle. */
export interface ResolvedInstall {
  install: InstallInfo;
  manifest: Manifest;
  bundle: VerifiedBundle;
}

export interface LifecycleOptions {
  /** Who is acting, for the audit log. Default "system". */
  actor?: string | undefined;
  /** Refuse with E_INSTALL_CONFLICT unless the install is still at this revision. */
  ifRevision?: number | undefined;
}

export interface InstallOptions extends LifecycleOptions {
  /** Default: the latest published release. */
  version?: string | undefined;
  /** The admin's consent: must cover every capability the manifest requests. */
  grants: CapabilityGrant[];
  /** Values for the manifest's config settings; defaults are applied. On reinstall, default: the kept config. */
  config?: Record<string, unknown> | undefined;
  /** Values for the manifest's declared secrets, stored encrypted. */
  secrets?: Record<string, string> | undefined;
  /** Install disabled (default: enabled). */
  enabled?: boolean | undefined;
}

export interface UpgradeOptions extends LifecycleOptions {
  version: string;
  /** New consent. Required when the new version widens what the install was granted. Default: the current grants. */
  grants?: CapabilityGrant[] | undefined;
  /** Config changes, merged over the current config (settings the new version dropped are removed). */
  config?: Record<string, unknown> | undefined;
  secrets?: Record<string, string> | undefined;
}

export interface UninstallOptions extends LifecycleOptions {
  /** Also drop the install's config, secrets and data (the export is returned first). Default false: kept for a reinstall. */
  purge?: boolean | undefined;
}

export interface InstallExport {
  install: InstallInfo;
  config: Record<string, unknown>;
  /** Names only: secret values are never exported. */
  secretNames: string[];
  /** Each data hook's export, by hook name (e.g. `kv`). */
  data: Record<string, unknown>;
  exportedAt: Date;
}

export interface UninstallResult {
  install: InstallInfo;
  purged: boolean;
  /** When purged: everything that was dropped, exported just before. */
  export?: InstallExport | undefined;
}

/**
 * Extension data that lives outside the install row (kv, owned schemas …).
 * Each kind registers a hook so that export and purge cover it without the
 * lifecycle knowing the details.
 */
export interface InstallDataHook {
  /** Key of this hook's part in `InstallExport.data`. */
  name: string;
  export(db: Kysely<AnnexTables>, install: InstallInfo): Promise<unknown>;
  /** Runs inside the uninstall transaction. */
  purge(trx: Kysely<AnnexTables>, install: InstallInfo): Promise<void>;
  /**
   * Readies the data for a version at install and upgrade (e.g. runs an owned
   * schema's migrations), after its bundle verified and before it serves. A
   * throw fails the install, or ends the upgrade with the old version serving.
   */
  prepare?(context: { install: InstallInfo; manifest: Manifest; bundle: Bundle }): Promise<void>;
  /** Adds this hook's status to installs as getInstall and listInstalls return them. */
  annotate?(db: Kysely<AnnexTables>, installs: InstallInfo[]): Promise<void>;
}
