import { RegistryError, type Host, type InstallInfo } from "@annex/host";
import { diffUpgrade, type CapabilityDiff, type ExposureDiff, type Manifest } from "@annex/manifest";
import semver from "semver";

/**
 * The reference host's upgrade policy: a newer version that widens nothing
 * (adds no capability, widens no parameter, and exposes the install to no
 * more callers: no new public or webhook endpoint, no endpoint moved to a
 * wider class, no new public page) is applied to every install at once,
 * without an admin; one that widens anything waits for an admin's consent in
 * the console. Rollbacks and pre-releases are never automatic.
 */
export interface UpgradePlan {
  from: string;
  to: string;
  /** The capabilities: the install's grants against the target's requests. */
  diff: CapabilityDiff;
  /** Who can reach the install: the installed version's manifest against the target's (see @annex/manifest's diffExposure). */
  exposure: ExposureDiff;
  /** "consent": an admin must approve the widened capabilities or exposure; "automatic": the policy applies it alone. */
  policy: "consent" | "automatic";
}

/** The manifest of the version an install runs; null when the registry no longer has it (then nothing is automatic). */
async function installedManifest(annex: Host, install: InstallInfo): Promise<Manifest | null> {
  return (await annex.registry.getVersion(install.extensionId, install.version))?.manifest ?? null;
}

/**
 * Capabilities (against the grants the admin gave) and exposure (against the
 * installed version), as the host's upgrade checks them. Without the
 * installed manifest every public endpoint, webhook and public page of the
 * target counts as new.
 */
function diffFor(installed: Manifest | null, install: InstallInfo, target: Manifest): { diff: CapabilityDiff; exposure: ExposureDiff; requiresConsent: boolean } {
  const empty = { ...target, endpoints: [], ui: { ...target.ui, pages: [] } } as Manifest;
  const { exposure, ...diff } = diffUpgrade(installed ?? empty, target, install.grants);
  return { diff: { ...diff, requiresConsent: diff.added.length > 0 || diff.widened.length > 0 }, exposure, requiresConsent: diff.requiresConsent };
}

export async function planUpgrade(annex: Host, install: InstallInfo, version: string): Promise<UpgradePlan> {
  const target = await annex.registry.getVersion(install.extensionId, version);
  if (target === null) {
    throw new RegistryError("E_VERSION_NOT_FOUND", `${install.extensionId}@${version} is not published on this host`, { extensionId: install.extensionId, version });
  }
  const { diff, exposure, requiresConsent } = diffFor(await installedManifest(annex, install), install, target.manifest);
  return { from: install.version, to: version, diff, exposure, policy: requiresConsent ? "consent" : "automatic" };
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
    const installed = await installedManifest(annex, install);
    if (installed === null || diffFor(installed, install, latest.manifest).requiresConsent) continue;
    try {
      await annex.upgrade(tenant, extensionId, { version: latest.version, actor: "system:upgrade-policy", ifRevision: install.revision });
      done.push({ tenant, from: install.version, to: latest.version, ok: true });
    } catch {
      done.push({ tenant, from: install.version, to: latest.version, ok: false });
    }
  }
  return done;
}
