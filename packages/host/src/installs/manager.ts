import {
  BUILTIN_CAPABILITY_NAMES,
  describeCapabilityVocabulary,
  diffUpgrade,
  HOST_CAPABILITY_PATTERN,
  isAnnexError,
  isBuiltinCapabilityName,
  missingGrants,
  type CapabilityGrant,
  type Manifest,
  type UpgradeDiff,
  type VerifiedBundle,
} from "@annex/manifest";
import type { Kysely } from "kysely";
import { writeAudit, type AuditDecision } from "../audit/audit-log.js";
import type { AnnexTables, InstallRow } from "../database/tables.js";
import { errorSummary, type ErrorSummary } from "../errors.js";
import { assertTransition, LifecycleError, recoverHint, type InstallState } from "../lifecycle/states.js";
import { RegistryError } from "../registry/errors.js";
import { readVersion, type PublishedVersion, type Registry } from "../registry/registry.js";
import { SecretsError } from "../secrets/errors.js";
import type { SecretsKeyring } from "../secrets/keyring.js";
import type { SecretsVault } from "../secrets/vault.js";
import { editDistance } from "../host-options.js";
import { validateConfig } from "./config.js";
import { InstallError } from "./errors.js";
import type {
  InstallDataHook,
  InstallExport,
  InstallInfo,
  InstallOptions,
  LifecycleOptions,
  ResolvedInstall,
  UninstallOptions,
  UninstallResult,
  UpgradeOptions,
} from "./types.js";

export interface InstallManager {
  install(tenant: string, extensionId: string, options: InstallOptions): Promise<InstallInfo>;
  enable(tenant: string, extensionId: string, options?: LifecycleOptions): Promise<InstallInfo>;
  disable(tenant: string, extensionId: string, options?: LifecycleOptions): Promise<InstallInfo>;
  upgrade(tenant: string, extensionId: string, options: UpgradeOptions): Promise<InstallInfo>;
  uninstall(tenant: string, extensionId: string, options?: UninstallOptions): Promise<UninstallResult>;
  exportData(tenant: string, extensionId: string, options?: LifecycleOptions): Promise<InstallExport>;
  /** Sets (or replaces) secret values of an install; names must be declared by its manifest. */
  setSecrets(tenant: string, extensionId: string, secrets: Record<string, string>, options?: LifecycleOptions): Promise<InstallInfo>;
  /**
   * Replaces the install's settings: `config` is checked against the
   * installed version's `config` schema with its defaults applied, as at
   * install (E_CONFIG_INVALID lists every problem; nothing changes then).
   * The next execution sees the new values.
   */
  configure(tenant: string, extensionId: string, config: Record<string, unknown>, options?: LifecycleOptions): Promise<InstallInfo>;
  getInstall(tenant: string, extensionId: string): Promise<InstallInfo | null>;
  listInstalls(tenant: string): Promise<InstallInfo[]>;
  /** Names of the install's secrets, sorted. Values are never listed. */
  listSecretNames(tenant: string, extensionId: string): Promise<string[]>;
  /**
   * The plaintext of one secret, for the gateway (webhook signatures) and the
   * runner bridge (`secrets.read`, after checking the grant). Nothing else
   * should call it.
   */
  revealSecret(tenant: string, extensionId: string, name: string): Promise<string | undefined>;
  /**
   * Finishes a lifecycle call that was cut off (the process died while the
   * install was `installing` or `upgrading`): an install becomes `failed`, an
   * upgrade returns to the state it started from, on the old version. A call
   * still running when this happens fails with E_INSTALL_CONFLICT instead of
   * overwriting the result.
   */
  recover(tenant: string, extensionId: string, options?: LifecycleOptions): Promise<InstallInfo>;
  /** The install that serves requests for (tenant, extension), with its verified bundle; null when none does. */
  resolve(tenant: string, extensionId: string): Promise<ResolvedInstall | null>;
}

/** Every method of InstallManager, for wrapping them all (the host refuses them after close()). */
export const INSTALL_MANAGER_METHODS = [
  "install",
  "enable",
  "disable",
  "upgrade",
  "uninstall",
  "exportData",
  "setSecrets",
  "configure",
  "getInstall",
  "listInstalls",
  "listSecretNames",
  "revealSecret",
  "recover",
  "resolve",
] as const satisfies readonly (keyof InstallManager)[];
// A method added to InstallManager and not to the list fails to compile here.
const listsEveryMethod: [Exclude<keyof InstallManager, (typeof INSTALL_MANAGER_METHODS)[number]>] extends [never] ? true : false = true;
void listsEveryMethod;

export interface InstallManagerDeps {
  db: Kysely<AnnexTables>;
  registry: Registry;
  vault: SecretsVault;
  keyring: SecretsKeyring;
  dataHooks?: readonly InstallDataHook[] | undefined;
  /**
   * Loads a version's server code in the runner (its top level runs, its
   * handlers are found) after its bundle verified and before anything else
   * readies it: a throw fails the install, or ends the upgrade with the old
   * version serving, before any migration of the version runs.
   */
  loadCode?: ((bundle: VerifiedBundle) => Promise<void>) | undefined;
}

const TENANT = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
const EXTENSION_ID = /^[a-z][a-z0-9-]{0,63}\.[a-z][a-z0-9-]{0,63}$/;
const MAX_GRANTS = 128;

interface AuditContext {
  action: string;
  tenant: string;
  target: string;
  actor: string;
}

export function createInstallManager(deps: InstallManagerDeps): InstallManager {
  const { db, registry, vault, keyring } = deps;
  const hooks = deps.dataHooks ?? [];
  /** Errors whose failure was already written to the audit log where it happened. */
  const audited = new WeakSet<object>();

  /**
   * Runs one lifecycle call. A refusal (typed error) is audited as `deny`,
   * anything unexpected as `error`; effects are audited inside their own
   * transactions before they are written.
   */
  async function withAudit<T>(context: AuditContext, body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (error) {
      if (typeof error === "object" && error !== null && audited.has(error)) throw error;
      const decision: AuditDecision = isAnnexError(error) ? "deny" : "error";
      try {
        await writeAudit(db, { ...context, decision, details: { error: errorSummary(error) } });
      } catch {
        // The database is failing too; the caller still gets the original error.
      }
      throw error;
    }
  }

  function context(action: string, tenant: string, extensionId: string, options?: LifecycleOptions): AuditContext {
    return { action, tenant: String(tenant), target: String(extensionId), actor: options?.actor ?? "system" };
  }

  async function requireVersion(extensionId: string, version: string | undefined): Promise<PublishedVersion> {
    const latest = await registry.latestVersion(extensionId);
    const published = version === undefined || latest?.version === version ? latest : await registry.getVersion(extensionId, version);
    if (published !== null) return published;
    if (latest === null) {
      throw new RegistryError("E_EXTENSION_NOT_FOUND", `extension ${extensionId} is not published on this host; publish it first`, { extensionId });
    }
    throw new RegistryError(
      "E_VERSION_NOT_FOUND",
      `${extensionId}@${version} is not published on this host; publish it or pick a published version (registry.listVersions)`,
      { extensionId, version },
    );
  }

  /**
   * Inside a lifecycle transaction: the install row, locked until commit.
   * FOR NO KEY UPDATE, not FOR UPDATE: lifecycle calls still run one after
   * another on one install, but the foreign-key checks of rows that point at
   * it (a job run, a kv key, a delivery) do not wait for them. They did, and
   * a job claim holding its job row while its run's check waited for a
   * disable whose trigger waited for that job row was a deadlock, which
   * PostgreSQL broke by failing the admin's disable. A purge's final DELETE
   * takes the stronger lock then, after its trigger has the install's job rows.
   */
  async function lock(trx: Kysely<AnnexTables>, tenant: string, extensionId: string): Promise<InstallRow | undefined> {
    return trx
      .selectFrom("annex_installs")
      .selectAll()
      .where("tenant", "=", tenant)
      .where("extension_id", "=", extensionId)
      .forNoKeyUpdate()
      .executeTakeFirst();
  }

  async function lockExisting(trx: Kysely<AnnexTables>, tenant: string, extensionId: string, options?: LifecycleOptions): Promise<InstallRow> {
    const row = await lock(trx, tenant, extensionId);
    if (row === undefined) throw notInstalled(tenant, extensionId);
    checkRevision(row, options);
    return row;
  }

  async function update(trx: Kysely<AnnexTables>, row: InstallRow, changes: Partial<Omit<InstallRow, "id" | "revision">>): Promise<InstallRow> {
    const { created_at: _created, ...rest } = changes;
    return trx
      .updateTable("annex_installs")
      .set({
        ...rest,
        grants: changes.grants === undefined ? undefined : JSON.stringify(changes.grants),
        config: changes.config === undefined ? undefined : JSON.stringify(changes.config),
        last_error: changes.last_error === undefined ? undefined : changes.last_error === null ? null : JSON.stringify(changes.last_error),
        revision: row.revision + 1,
        updated_at: new Date(),
      })
      .where("id", "=", row.id)
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  /** Runs after a failure that happened once effects were committed: records it and moves the install on. */
  async function recordFailure(
    audit: AuditContext,
    claimed: InstallRow,
    error: unknown,
    next: (row: InstallRow) => Partial<InstallRow>,
  ): Promise<void> {
    const summary = errorSummary(error);
    await db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom("annex_installs").selectAll().where("id", "=", claimed.id).forNoKeyUpdate().executeTakeFirst();
      await writeAudit(trx, { ...audit, decision: "error", details: { installId: claimed.id, error: summary } });
      // Only the call that moved the install into its transient state may move it out.
      if (row !== undefined && row.revision === claimed.revision) {
        await update(trx, row, { ...next(row), last_error: summary as unknown as InstallRow["last_error"] });
      }
    });
    if (typeof error === "object" && error !== null) audited.add(error);
  }

  async function buildExport(reader: Kysely<AnnexTables>, row: InstallRow): Promise<InstallExport> {
    const install = toInfo(row);
    const data: Record<string, unknown> = {};
    for (const hook of hooks) data[hook.name] = await hook.export(reader, install);
    return { install, config: install.config, secretNames: await vault.names(reader, row.id), data, exportedAt: new Date() };
  }

  /**
   * A lifecycle call on an existing install: audited (refusals too), the
   * target checked, then one transaction holding the install's row lock, so
   * concurrent calls on one install run one after another.
   */
  function onLockedInstall<T>(
    action: string,
    tenant: string,
    extensionId: string,
    options: LifecycleOptions | undefined,
    body: (trx: Kysely<AnnexTables>, row: InstallRow, audit: AuditContext) => Promise<T>,
  ): Promise<T> {
    const audit = context(action, tenant, extensionId, options);
    return withAudit(audit, async () => {
      checkTarget(tenant, extensionId);
      return db.transaction().execute(async (trx) => body(trx, await lockExisting(trx, tenant, extensionId, options), audit));
    });
  }

  async function setState(
    action: "enable" | "disable",
    to: InstallState,
    tenant: string,
    extensionId: string,
    options?: LifecycleOptions,
  ): Promise<InstallInfo> {
    return onLockedInstall(`install.${action}`, tenant, extensionId, options, async (trx, row, audit) => {
      const target = `${tenant}/${extensionId}`;
      // installing → active and upgrading → disabled are the owning call's own completions: an admin's enable or
      // disable there would end that call's work for it (an install whose migration then failed stayed active).
      if (row.state === "installing" || row.state === "upgrading") {
        throw new LifecycleError(`${action} ${target}: the install is ${row.state}; another lifecycle call is in progress on this install; retry when it finishes${recoverHint(target)}`, {
          from: row.state,
          to,
          action,
          target,
        });
      }
      assertTransition(row.state as InstallState, to, { action, target });
      await writeAudit(trx, { ...audit, decision: "allow", details: { installId: row.id, from: row.state, to } });
      return toInfo(await update(trx, row, { state: to }));
    });
  }

  /** The install row alone, without the data hooks' status: for the hot paths (secrets) that need only its id. */
  async function findInstall(tenant: string, extensionId: string): Promise<InstallInfo | null> {
    checkTarget(tenant, extensionId);
    const row = await db.selectFrom("annex_installs").selectAll().where("tenant", "=", tenant).where("extension_id", "=", extensionId).executeTakeFirst();
    return row === undefined ? null : toInfo(row);
  }

  async function annotate(installs: InstallInfo[]): Promise<InstallInfo[]> {
    for (const hook of hooks) await hook.annotate?.(db, installs);
    return installs;
  }

  const manager: InstallManager = {
    async install(tenant, extensionId, options) {
      const audit = context("install.install", tenant, extensionId, options);
      return withAudit(audit, async () => {
        checkTarget(tenant, extensionId);
        if (typeof options !== "object" || options === null) {
          throw new InstallError("E_INVALID_ARGUMENT", "install: options with grants are required, e.g. { grants: [{ name: \"log\" }] }");
        }
        const grants = checkGrants(options.grants, "grants");
        // An install that stands is the answer before anything about the version to install: checked against the
        // latest release's grants first, a repeated install would send the admin after grants it does not need.
        // (Checked again under the row's lock below, for an install made meanwhile.)
        const standing = await db.selectFrom("annex_installs").selectAll().where("tenant", "=", tenant).where("extension_id", "=", extensionId).executeTakeFirst();
        if (standing !== undefined) {
          checkRevision(standing, options);
          assertInstallable(standing, tenant, extensionId);
        }
        const published = await requireVersion(extensionId, options.version);
        const manifest = published.manifest;
        requireGrants(manifest, grants, `${extensionId}@${published.version}`);
        checkSecrets(manifest, options.secrets, keyring);

        const claimed = await db.transaction().execute(async (trx) => {
          const existing = await lock(trx, tenant, extensionId);
          if (existing !== undefined) {
            checkRevision(existing, options);
            assertInstallable(existing, tenant, extensionId);
          }
          const installId = existing?.id ?? crypto.randomUUID();
          const kept = (existing?.config ?? {}) as Record<string, unknown>;
          const config = validateConfig(
            `${extensionId}@${published.version}`,
            manifest.config,
            options.config ?? pick(kept, Object.keys(manifest.config)),
          );
          await writeAudit(trx, {
            ...audit,
            decision: "allow",
            details: {
              installId,
              version: published.version,
              contentHash: published.contentHash,
              grants: grantNames(grants),
              configKeys: Object.keys(config),
              secretNames: Object.keys(options.secrets ?? {}),
              reinstall: existing !== undefined,
            },
          });
          const fields = {
            version: published.version,
            content_hash: published.contentHash,
            state: "installing",
            resume_state: null,
            target_version: null,
            grants: JSON.stringify(grants),
            config: JSON.stringify(config),
            last_error: null,
          };
          let installing: InstallRow;
          if (existing === undefined) {
            const inserted = await trx
              .insertInto("annex_installs")
              .values({ id: installId, tenant, extension_id: extensionId, ...fields })
              .onConflict((conflict) => conflict.columns(["tenant", "extension_id"]).doNothing())
              .returningAll()
              .executeTakeFirst();
            if (inserted === undefined) {
              throw new InstallError(
                "E_INSTALL_CONFLICT",
                `another install of ${extensionId} for tenant ${tenant} started at the same time; check getInstall and retry if it failed`,
                { tenant, extensionId },
              );
            }
            installing = inserted;
          } else {
            installing = await update(trx, existing, { ...fields, grants: grants as unknown, config: config as unknown });
            const stale = (await vault.names(trx, installId)).filter((name) => !manifest.secrets.includes(name));
            await vault.remove(trx, installId, stale);
          }
          await vault.put(trx, installId, options.secrets ?? {});
          return installing;
        });

        try {
          // Verification at install: the stored blob, against today's trust store.
          const bundle = await registry.loadBundle(claimed.content_hash);
          await deps.loadCode?.(bundle);
          for (const hook of hooks) await hook.prepare?.({ install: toInfo(claimed), manifest, bundle });
        } catch (error) {
          await recordFailure({ ...audit, action: "install.failed" }, claimed, error, () => ({ state: "failed" }));
          throw error;
        }

        const installed = await db.transaction().execute(async (trx) => {
          const row = await lockExisting(trx, tenant, extensionId, { ifRevision: claimed.revision });
          const to: InstallState = options.enabled === false ? "disabled" : "active";
          assertTransition(row.state as InstallState, to, { action: "install", target: `${tenant}/${extensionId}` });
          await writeAudit(trx, { ...audit, action: "install.complete", decision: "allow", details: { installId: row.id, state: to } });
          return toInfo(await update(trx, row, { state: to }));
        });
        return (await annotate([installed]))[0]!;
      });
    },

    enable(tenant, extensionId, options) {
      return setState("enable", "active", tenant, extensionId, options);
    },

    disable(tenant, extensionId, options) {
      return setState("disable", "disabled", tenant, extensionId, options);
    },

    async upgrade(tenant, extensionId, options) {
      const audit = context("install.upgrade", tenant, extensionId, options);
      return withAudit(audit, async () => {
        checkTarget(tenant, extensionId);
        if (typeof options?.version !== "string") {
          throw new InstallError("E_INVALID_ARGUMENT", "upgrade: options.version is required (the published version to move to)");
        }
        const offered = options.grants === undefined ? undefined : checkGrants(options.grants, "grants");
        const target = await requireVersion(extensionId, options.version);
        checkSecrets(target.manifest, options.secrets, keyring);

        const started = await db.transaction().execute(async (trx) => {
          const row = await lockExisting(trx, tenant, extensionId, options);
          if (row.version === target.version) {
            throw new InstallError("E_UPGRADE_SAME_VERSION", `${tenant}/${extensionId} already runs ${target.version}; pick another version`, {
              version: target.version,
            });
          }
          assertTransition(row.state as InstallState, "upgrading", { action: "upgrade", target: `${tenant}/${extensionId}` });
          const current = await readVersion(trx, extensionId, row.version);
          // Capabilities and exposure (who can reach the install: public and webhook endpoints, public pages) both need consent.
          const diff = diffUpgrade(current!.manifest, target.manifest);
          const currentGrants = row.grants as CapabilityGrant[];
          if (offered === undefined && diff.requiresConsent) {
            throw new InstallError(
              "E_CONSENT_REQUIRED",
              `${extensionId}@${target.version} asks for more than ${row.version} was granted (${describeDiff(diff)}); an admin must consent: ${consentStep(diff)}`,
              { from: row.version, to: target.version, added: diff.added, widened: diff.widened, exposed: diff.exposure.widened },
            );
          }
          const grants = offered ?? currentGrants;
          requireGrants(target.manifest, grants, `${extensionId}@${target.version}`);
          const config = validateConfig(`${extensionId}@${target.version}`, target.manifest.config, {
            ...pick(row.config as Record<string, unknown>, Object.keys(target.manifest.config)),
            ...options.config,
          });
          await writeAudit(trx, {
            ...audit,
            decision: "allow",
            details: {
              installId: row.id,
              from: row.version,
              to: target.version,
              added: diff.added.map((grant: { name: string }) => grant.name),
              widened: diff.widened.map((grant: { name: string }) => grant.name),
              exposed: diff.exposure.widened.map((change) => change.text),
              grants: grantNames(grants),
              secretNames: Object.keys(options.secrets ?? {}),
            },
          });
          const upgrading = await update(trx, row, { state: "upgrading", resume_state: row.state, target_version: target.version });
          return { row: upgrading, grants, config };
        });

        try {
          const bundle = await registry.loadBundle(target.contentHash);
          await deps.loadCode?.(bundle);
          for (const hook of hooks) await hook.prepare?.({ install: toInfo(started.row), manifest: target.manifest, bundle });
          const upgraded = await db.transaction().execute(async (trx) => {
            const row = await lockExisting(trx, tenant, extensionId, { ifRevision: started.row.revision });
            const resume = (row.resume_state ?? "active") as InstallState;
            assertTransition(row.state as InstallState, resume, { action: "upgrade", target: `${tenant}/${extensionId}` });
            await writeAudit(trx, {
              ...audit,
              action: "install.upgrade.complete",
              decision: "allow",
              details: { installId: row.id, from: row.version, to: target.version },
            });
            const upgraded = await update(trx, row, {
              version: target.version,
              content_hash: target.contentHash,
              state: resume,
              resume_state: null,
              target_version: null,
              grants: started.grants as unknown as InstallRow["grants"],
              config: started.config as unknown as InstallRow["config"],
              last_error: null,
            });
            await vault.remove(trx, row.id, (await vault.names(trx, row.id)).filter((name) => !target.manifest.secrets.includes(name)));
            await vault.put(trx, row.id, options.secrets ?? {});
            return toInfo(upgraded);
          });
          return (await annotate([upgraded]))[0]!;
        } catch (error) {
          // The old version keeps serving: back to the state the install was in, on the old version.
          await recordFailure({ ...audit, action: "install.upgrade.failed" }, started.row, error, (row) => ({
            state: (row.resume_state ?? "active") as string,
            resume_state: null,
            target_version: null,
          }));
          throw error;
        }
      });
    },

    async uninstall(tenant, extensionId, options) {
      return onLockedInstall("install.uninstall", tenant, extensionId, options, async (trx, row, audit) => {
        const purge = options?.purge === true;
        const purgeOnly = purge && row.state === "uninstalled";
        if (!purgeOnly) assertTransition(row.state as InstallState, "uninstalled", { action: "uninstall", target: `${tenant}/${extensionId}` });
        await writeAudit(trx, {
          ...audit,
          action: purgeOnly ? "install.purge" : audit.action,
          decision: "allow",
          details: { installId: row.id, from: row.state, purge },
      });
      if (!purge) return { install: toInfo(await update(trx, row, { state: "uninstalled" })), purged: false };
      const exported = await buildExport(trx, row);
      const info = toInfo(await update(trx, row, { state: "uninstalled" }));
      for (const hook of hooks) await hook.purge(trx, info);
      await vault.remove(trx, row.id);
      await trx.deleteFrom("annex_installs").where("id", "=", row.id).execute();
      return { install: info, purged: true, export: exported };
      });
    },

    async exportData(tenant, extensionId, options) {
      return onLockedInstall("install.export", tenant, extensionId, options, async (trx, row, audit) => {
        await writeAudit(trx, { ...audit, decision: "allow", details: { installId: row.id, hooks: hooks.map((hook) => hook.name) } });
        return buildExport(trx, row);
      });
    },

    async setSecrets(tenant, extensionId, secrets, options) {
      return onLockedInstall("install.secrets.set", tenant, extensionId, options, async (trx, row, audit) => {
        if (row.state === "uninstalled" || row.state === "installing" || row.state === "upgrading") {
          throw new InstallError(
            "E_INSTALL_CONFLICT",
            `${tenant}/${extensionId} is ${row.state}; set secrets on an installed extension that no lifecycle call is changing`,
            { state: row.state },
          );
        }
        const version = await readVersion(trx, extensionId, row.version);
        checkSecrets(version!.manifest, secrets, keyring);
        await writeAudit(trx, { ...audit, decision: "allow", details: { installId: row.id, secretNames: Object.keys(secrets ?? {}) } });
        await vault.put(trx, row.id, secrets ?? {});
        return toInfo(await update(trx, row, {}));
      });
    },

    async configure(tenant, extensionId, config, options) {
      return onLockedInstall("install.configure", tenant, extensionId, options, async (trx, row, audit) => {
        if (row.state === "uninstalled" || row.state === "installing" || row.state === "upgrading") {
          throw new InstallError(
            "E_INSTALL_CONFLICT",
            `${tenant}/${extensionId} is ${row.state}; change settings of an installed extension that no lifecycle call is changing`,
            { state: row.state },
          );
        }
        if (typeof config !== "object" || config === null || Array.isArray(config)) {
          throw new InstallError("E_INVALID_ARGUMENT", "configure: config must be an object of settings, e.g. { greeting: \"Hi\" }");
        }
        const version = await readVersion(trx, extensionId, row.version);
        const checked = validateConfig(`${extensionId}@${row.version}`, version!.manifest.config, config);
        await writeAudit(trx, { ...audit, decision: "allow", details: { installId: row.id, configKeys: Object.keys(checked).sort() } });
        return toInfo(await update(trx, row, { config: checked as unknown }));
      });
    },

    async recover(tenant, extensionId, options) {
      return onLockedInstall("install.recover", tenant, extensionId, options, async (trx, row, audit) => {
        const target = `${tenant}/${extensionId}`;
        if (row.state !== "installing" && row.state !== "upgrading") {
          throw new InstallError("E_INSTALL_CONFLICT", `${target} is ${row.state}: no lifecycle call to recover from; recover only installs left installing or upgrading`, {
            state: row.state,
          });
        }
        const to: InstallState = row.state === "installing" ? "failed" : ((row.resume_state ?? "active") as InstallState);
        assertTransition(row.state as InstallState, to, { action: "recover", target });
        const interrupted: ErrorSummary = { code: "E_INTERRUPTED", message: `the ${row.state === "installing" ? "install" : "upgrade"} did not finish; recovered by ${audit.actor}` };
        await writeAudit(trx, { ...audit, decision: "allow", details: { installId: row.id, from: row.state, to, targetVersion: row.target_version } });
        return toInfo(
          await update(trx, row, { state: to, resume_state: null, target_version: null, last_error: interrupted as unknown as InstallRow["last_error"] }),
        );
      });
    },

    async getInstall(tenant, extensionId) {
      checkTarget(tenant, extensionId);
      const row = await db
        .selectFrom("annex_installs")
        .selectAll()
        .where("tenant", "=", tenant)
        .where("extension_id", "=", extensionId)
        .executeTakeFirst();
      return row === undefined ? null : (await annotate([toInfo(row)]))[0]!;
    },

    async listInstalls(tenant) {
      checkTenant(tenant);
      const rows = await db.selectFrom("annex_installs").selectAll().where("tenant", "=", tenant).orderBy("extension_id").execute();
      return annotate(rows.map(toInfo));
    },

    async listSecretNames(tenant, extensionId) {
      const install = await findInstall(tenant, extensionId);
      if (install === null) throw notInstalled(tenant, extensionId);
      return vault.names(db, install.id);
    },

    async revealSecret(tenant, extensionId, name) {
      const install = await findInstall(tenant, extensionId);
      if (install === null) throw notInstalled(tenant, extensionId);
      return vault.reveal(db, install.id, name);
    },

    async resolve(tenant, extensionId) {
      if (typeof tenant !== "string" || typeof extensionId !== "string" || !TENANT.test(tenant) || !EXTENSION_ID.test(extensionId)) return null;
      const row = await db
        .selectFrom("annex_installs")
        .selectAll()
        .where("tenant", "=", tenant)
        .where("extension_id", "=", extensionId)
        .executeTakeFirst();
      if (row === undefined || !serves(row)) return null;
      const bundle = await registry.loadBundle(row.content_hash);
      return { install: toInfo(row), manifest: bundle.manifest, bundle };
    },
  };
  return manager;
}

/** Active installs serve; so does an upgrade in flight, on its old version, when it was active before. */
function serves(row: InstallRow): boolean {
  return row.state === "active" || (row.state === "upgrading" && row.resume_state === "active");
}

function assertInstallable(row: InstallRow, tenant: string, extensionId: string): void {
  if (row.state === "active" || row.state === "disabled" || row.state === "upgrading") {
    throw new InstallError(
      "E_INSTALL_EXISTS",
      `${extensionId} is already installed for tenant ${tenant} (${row.state}, version ${row.version}); use upgrade to change version, or uninstall first`,
      { installId: row.id, state: row.state, version: row.version },
    );
  }
  assertTransition(row.state as InstallState, "installing", { action: "install", target: `${tenant}/${extensionId}` });
}

function checkRevision(row: InstallRow, options?: LifecycleOptions): void {
  if (options?.ifRevision !== undefined && options.ifRevision !== row.revision) {
    throw new InstallError(
      "E_INSTALL_CONFLICT",
      `${row.tenant}/${row.extension_id} changed since revision ${options.ifRevision} (now ${row.revision}, ${row.state}); reload it and decide again`,
      { expected: options.ifRevision, actual: row.revision, state: row.state },
    );
  }
}

function checkTenant(tenant: string): void {
  if (typeof tenant !== "string" || !TENANT.test(tenant)) {
    throw new InstallError(
      "E_INVALID_ARGUMENT",
      "tenant must be 1 to 128 characters: letters, digits and . _ : @ -, starting with a letter or digit",
      { tenant: typeof tenant === "string" ? tenant.slice(0, 140) : typeof tenant },
    );
  }
}

function checkTarget(tenant: string, extensionId: string): void {
  checkTenant(tenant);
  if (typeof extensionId !== "string" || !EXTENSION_ID.test(extensionId)) {
    throw new InstallError("E_INVALID_ARGUMENT", 'extensionId must be "<publisher>.<name>" in lowercase, e.g. acme.hello', {
      extensionId: typeof extensionId === "string" ? extensionId.slice(0, 140) : typeof extensionId,
    });
  }
}

function checkGrants(grants: unknown, field: string): CapabilityGrant[] {
  if (!Array.isArray(grants) || grants.length > MAX_GRANTS) {
    throw new InstallError("E_INVALID_ARGUMENT", `${field} must be an array of at most ${MAX_GRANTS} capability grants, e.g. [{ name: "log" }]`);
  }
  return grants.map((grant, index) => {
    if (typeof grant !== "object" || grant === null || typeof (grant as { name?: unknown }).name !== "string") {
      throw new InstallError("E_INVALID_ARGUMENT", `${field}[${index}] must be an object with a capability "name"`, { index });
    }
    checkGrantName((grant as { name: string }).name, `${field}[${index}].name`, index);
    // The reason belongs to the manifest's request, not to the admin's grant.
    const { reason: _reason, ...rest } = grant as CapabilityGrant & { reason?: unknown };
    return rest as CapabilityGrant;
  });
}

/**
 * A grant must name a capability that exists: one of another name (a typo,
 * "storge.kv") grants nothing, yet would be stored and shown as consent.
 * Known capabilities the manifest does not request are kept: a grant list
 * carried over a rollback holds them, and they take effect only once a
 * version requests them.
 */
function checkGrantName(name: string, field: string, index: number): void {
  if (isBuiltinCapabilityName(name) || (name.length <= 128 && HOST_CAPABILITY_PATTERN.test(name))) return;
  const shown = JSON.stringify(name.slice(0, 128));
  let suggestion: string | undefined;
  let best = 3;
  for (const candidate of BUILTIN_CAPABILITY_NAMES) {
    const distance = editDistance(name.slice(0, 64).toLowerCase(), candidate, best);
    if (distance < best) [suggestion, best] = [candidate, distance];
  }
  const hint = name.startsWith("host:")
    ? "host capabilities are named host:<namespace>.<name>, e.g. host:crm.contacts.read"
    : suggestion !== undefined
      ? `did you mean "${suggestion}"? Capabilities are ${describeCapabilityVocabulary()}`
      : `capabilities are ${describeCapabilityVocabulary()}`;
  throw new InstallError("E_INVALID_ARGUMENT", `${field}: ${shown} is not a capability; ${hint}`, {
    field,
    index,
    name: name.slice(0, 128),
    ...(suggestion === undefined ? {} : { suggestion }),
  });
}

function requireGrants(manifest: Manifest, grants: CapabilityGrant[], target: string): void {
  const missing = missingGrants(manifest, grants);
  if (missing.length === 0) return;
  throw new InstallError(
    "E_GRANTS_MISSING",
    `the grants do not cover what ${target} requests: ${missing
      .map((grant) => describeGrant(grant))
      .join("; ")}; an admin must grant these (or not install this version)`,
    { missing },
  );
}

function checkSecrets(manifest: Manifest, secrets: Record<string, string> | undefined, keyring: SecretsKeyring): void {
  if (secrets === undefined) return;
  if (typeof secrets !== "object" || secrets === null || Array.isArray(secrets)) {
    throw new InstallError("E_INVALID_ARGUMENT", "secrets must be an object of secret name to string value");
  }
  const names = Object.keys(secrets);
  const undeclared = names.filter((name) => !manifest.secrets.includes(name));
  if (undeclared.length > 0) {
    throw new SecretsError(
      "E_SECRET_UNDECLARED",
      `${manifest.id}@${manifest.version} declares no secret named ${undeclared.join(", ")}${
        manifest.secrets.length === 0 ? " (it declares none)" : `; it declares ${manifest.secrets.join(", ")}`
      }`,
      { undeclared, declared: manifest.secrets },
    );
  }
  for (const name of names) {
    if (typeof secrets[name] !== "string") {
      throw new SecretsError("E_SECRET_INVALID", `secrets.${name} must be a string`, { secret: name });
    }
  }
  if (names.length > 0 && keyring.currentKeyId === undefined) {
    throw new SecretsError(
      "E_SECRETS_KEY_MISSING",
      "this host has no secrets key, so it cannot store secrets: pass createHost({ secrets: { keys: [{ id, key }] } }) (generateSecretsKey() makes a key)",
    );
  }
}

function notInstalled(tenant: string, extensionId: string): InstallError {
  return new InstallError("E_INSTALL_NOT_FOUND", `${extensionId} is not installed for tenant ${tenant}; install it first`, { tenant, extensionId });
}

function describeGrant(grant: { name: string } & Record<string, unknown>): string {
  const { name, ...params } = grant;
  const shown = Object.entries(params).filter(([key]) => key !== "reason");
  return shown.length === 0 ? name : `${name} ${JSON.stringify(Object.fromEntries(shown))}`;
}

function describeDiff(diff: UpgradeDiff): string {
  const parts = [
    ...diff.added.map((grant) => `new ${grant.name}`),
    ...diff.widened.map((grant) => `wider ${grant.name}`),
    ...diff.exposure.widened.map((change) => `exposed: ${change.text}`),
  ];
  return parts.length === 0 ? "changed grants" : parts.join(", ");
}

/** How an admin consents: passing grants is the consent, to new capabilities and to wider exposure alike. */
function consentStep(diff: UpgradeDiff): string {
  const capabilities = diff.added.length + diff.widened.length > 0;
  if (!capabilities) return "upgrade again passing grants (the current ones will do: giving grants is consenting to the wider exposure)";
  if (diff.exposure.widened.length > 0) return "upgrade again with grants covering the new capabilities (giving them also consents to the wider exposure)";
  return "upgrade again with grants covering it";
}

function grantNames(grants: readonly CapabilityGrant[]): string[] {
  return grants.map((grant) => grant.name);
}

function pick(values: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((key) => Object.hasOwn(values, key)).map((key) => [key, values[key]]));
}

export function toInfo(row: InstallRow): InstallInfo {
  return {
    id: row.id,
    tenant: row.tenant,
    extensionId: row.extension_id,
    version: row.version,
    contentHash: row.content_hash,
    state: row.state as InstallState,
    targetVersion: row.target_version,
    grants: row.grants as CapabilityGrant[],
    config: row.config as Record<string, unknown>,
    revision: row.revision,
    lastError: (row.last_error ?? null) as ErrorSummary | null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
