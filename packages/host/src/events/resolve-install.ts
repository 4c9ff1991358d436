import type { Kysely } from "kysely";
import type { AnnexTables, InstallRow } from "../database/tables.js";
import { toInfo } from "../installs/manager.js";
import type { ResolvedInstall } from "../installs/types.js";
import type { Registry } from "../registry/registry.js";

/** Where an install stands for a delivery or a job run. */
export type InstallStanding =
  | { kind: "serving"; resolved: ResolvedInstall }
  /** Disabled, or busy with a lifecycle change: its work waits. */
  | { kind: "waiting"; state: string }
  /** Uninstalled, failed or purged: its work is dropped. */
  | { kind: "gone" };

/** Reads an install by id and, when it serves, its verified bundle (from the registry's cache). */
export async function installStanding(db: Kysely<AnnexTables>, registry: Registry, installId: string): Promise<InstallStanding> {
  const row: InstallRow | undefined = await db.selectFrom("annex_installs").selectAll().where("id", "=", installId).executeTakeFirst();
  if (row === undefined) return { kind: "gone" };
  if (row.state === "active" || (row.state === "upgrading" && row.resume_state === "active")) {
    const bundle = await registry.loadBundle(row.content_hash);
    return { kind: "serving", resolved: { install: toInfo(row), manifest: bundle.manifest, bundle } };
  }
  if (row.state === "disabled" || row.state === "upgrading" || row.state === "installing") return { kind: "waiting", state: row.state };
  return { kind: "gone" };
}
