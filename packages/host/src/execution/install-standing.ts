import { HostCallError } from "@annex/runner";
import type { Kysely } from "kysely";
import type { AnnexTables } from "../database/tables.js";
import type { ResolvedInstall } from "../installs/types.js";

/** What an install is now, as far as an execution's authority goes: one indexed read of its row. */
export interface InstallStandingRow {
  state: string;
  resumeState: string | null;
  version: string;
  contentHash: string;
  grants: unknown;
}

/** Reads the standing of an install by id; null when its row is gone (purged). */
export async function readInstallStanding(db: Kysely<AnnexTables>, installId: string): Promise<InstallStandingRow | null> {
  const row = await db
    .selectFrom("annex_installs")
    .select(["state", "resume_state", "version", "content_hash", "grants"])
    .where("id", "=", installId)
    .executeTakeFirst();
  if (row === undefined) return null;
  return { state: row.state, resumeState: row.resume_state, version: row.version, contentHash: row.content_hash, grants: row.grants };
}

/**
 * Whether an execution may still act for its install: the install serves (as
 * the install manager's `resolve` decides: active, or upgrading from active,
 * which serves the old version until the upgrade completes), on the version,
 * bundle and grants the execution was authorised with. Config and secrets are
 * not part of it: configure and setSecrets leave executions running as they
 * were. Returns the refusal, or undefined when the execution may go on.
 */
export function installChangedError(resolved: ResolvedInstall, now: InstallStandingRow | null): HostCallError | undefined {
  const started = resolved.install;
  if (
    now !== null &&
    (now.state === "active" || (now.state === "upgrading" && now.resumeState === "active")) &&
    now.version === started.version &&
    now.contentHash === started.contentHash &&
    canonical(now.grants) === canonical(started.grants)
  ) {
    return undefined;
  }
  const state = now === null ? "removed" : now.state;
  const version = now?.version ?? null;
  return new HostCallError(
    "E_INSTALL_CHANGED",
    `the install was disabled, uninstalled or upgraded while this execution ran; its host calls are refused (${started.extensionId} is now ${state}${
      version === null ? "" : `, version ${version}`
    }; this execution runs ${started.version})`,
    { state, version },
  );
}

/** JSON with object keys sorted: grants read back from jsonb may list keys in another order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner !== null && typeof inner === "object" && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner,
  );
}

/**
 * The refusal of an execution whose install a lifecycle call on this host
 * changed (disable, uninstall, upgrade): decided without a read, so no later
 * change back (enable, a reinstall, a rollback to the same version) gives the
 * execution its authority back.
 */
export function installRevokedError(resolved: ResolvedInstall, how: "disable" | "uninstall" | "upgrade"): HostCallError {
  const done = { disable: "disabled", uninstall: "uninstalled", upgrade: "upgraded" }[how];
  return new HostCallError(
    "E_INSTALL_CHANGED",
    `the install was disabled, uninstalled or upgraded while this execution ran; its host calls are refused (${resolved.install.extensionId} was ${done}; this execution runs ${resolved.install.version})`,
    { change: how, version: resolved.install.version },
  );
}
