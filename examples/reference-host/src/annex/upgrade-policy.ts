import { RegistryError, type Host, type InstallInfo } from "@annex/host";
import { diffCapabilities, type CapabilityDiff } from "@annex/manifest";
import semver from "semver";

/**
 * The reference host's upgrade policy: a newer version that widens nothing
 * (adds no capability, widens no parameter) is applied to every install at
 * once, without an admin; one that widens anything waits for an admin's
 * consent in the console. Rollbacks and pre-releases are never automatic.
 */
export interface UpgradePlan {
  from: string;
  to: string;
  diff: CapabilityDiff;
  /** "consent": an admin must approve the widened capabilities; "automatic": the policy applies it alone. */
  policy: "consent" | "automatic";
}

export async function planUpgrade(annex: Host, install: InstallInfo, version: string): Promise<UpgradePlan> {
  const target = await annex.registry.getVersion(install.extensionId, version);
  if (target === null) {
    throw new RegistryError("E_VERSION_NOT_FOUND", `${install.extensionId}@${version} is not published on this host`, { extensionId: install.extensionId, version });
  }
  const diff = diffCapabilities(install.grants, target.manifest);
  return { from: install.version, to: version, diff, policy: diff.requiresConsent ? "consent" : "automatic" };
}

/**
 * After a publish: moves every tenant's install of `extensionId` that the
 * new latest release may reach without consent. Returns what it did, per
 * tenant; failures are left to the console (the install keeps serving its
 * version, with lastError set by the host).
 */
export async function applyAutomaticUpgrades(annex: Host, tenants: readonly string[], extensionId: string): Promise<{ tenant: string; from: string; to: string; ok: boolean }[]> {
  const latest = await annex.registry.latestVersion(extensionId);
  if (latest === null || semver.prerelease(latest.version) !== null) return [];
  const done = [];
  for (const tenant of tenants) {
    const install = await annex.getInstall(tenant, extensionId);
    if (install === null || (install.state !== "active" && install.state !== "disabled")) continue;
    if (!semver.gt(latest.version, install.version)) continue;
    if (diffCapabilities(install.grants, latest.manifest).requiresConsent) continue;
    try {
      await annex.upgrade(tenant, extensionId, { version: latest.version, actor: "system:upgrade-policy", ifRevision: install.revision });
      done.push({ tenant, from: install.version, to: latest.version, ok: true });
    } catch {
      done.push({ tenant, from: install.version, to: latest.version, ok: false });
    }
  }
  return done;
}
