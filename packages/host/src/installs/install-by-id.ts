import type { Kysely } from "kysely";
import type { AnnexTables } from "../database/tables.js";
import { readVersion, type PublishedVersion } from "../registry/registry.js";
import { InstallError } from "./errors.js";

/** An install found by its id, with the version it runs. */
export interface InstallById {
  tenant: string;
  extensionId: string;
  /** null only if the published version row is gone (it never is while an install points at it). */
  version: PublishedVersion | null;
}

/**
 * The install with this id, for the app's calls that take one (`host.kv.install`,
 * `host.sql.query`). Acting for a tenant (`tenant` given), another tenant's
 * install is not found either: the caller learns nothing of installs it does
 * not own. Null when there is none; `installNotFound` is the error to throw.
 */
export async function findInstallById(db: Kysely<AnnexTables>, installId: unknown, tenant?: string): Promise<InstallById | null> {
  const row = await installRow(db, installId, tenant);
  return row === null ? null : { tenant: row.tenant, extensionId: row.extension_id, version: await readVersion(db, row.extension_id, row.version) };
}

/** Whether the install exists (for `tenant`, when given), without reading its version. */
export async function installExists(db: Kysely<AnnexTables>, installId: unknown, tenant?: string): Promise<boolean> {
  return (await installRow(db, installId, tenant)) !== null;
}

async function installRow(db: Kysely<AnnexTables>, installId: unknown, tenant: string | undefined) {
  if (typeof installId !== "string") return null;
  const row = await db.selectFrom("annex_installs").select(["tenant", "extension_id", "version"]).where("id", "=", installId).executeTakeFirst();
  return row === undefined || (tenant !== undefined && row.tenant !== tenant) ? null : row;
}

/** The same message for an id that does not exist and for another tenant's. */
export function installNotFound(installId: unknown): InstallError {
  return new InstallError("E_INSTALL_NOT_FOUND", `no install has the id ${JSON.stringify(String(installId).slice(0, 80))}; pass host.getInstall(tenant, extensionId).id`, { installId });
}
