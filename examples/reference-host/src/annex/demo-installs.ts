import type { Host, Logger } from "@annex/host";
import type { CapabilityGrant } from "@annex/manifest";

/**
 * What a new demo database starts with besides the seeded users: Hello
 * 1.0.0 installed for Acme with the grants it asks for. Hello 1.1.0 is
 * published beside it and asks for one more capability (ui.toast), so the
 * host's upgrade policy leaves it waiting, and the console shows the upgrade
 * with its capability diff and asks for consent again.
 */
export const DEMO_INSTALLS = [{ tenant: "acme", extensionId: "acme.hello", version: "1.0.0" }] as const;

export async function seedDemoInstalls(annex: Host, logger: Logger): Promise<string[]> {
  const done: string[] = [];
  for (const wanted of DEMO_INSTALLS) {
    const version = await annex.registry.getVersion(wanted.extensionId, wanted.version);
    if (version === null || (await annex.getInstall(wanted.tenant, wanted.extensionId)) !== null) continue;
    // Exactly what the version asks for: the consent an admin would give on the consent screen.
    const grants = version.manifest.capabilities.map(({ reason: _reason, ...grant }) => grant as CapabilityGrant);
    try {
      await annex.install(wanted.tenant, wanted.extensionId, { version: wanted.version, grants, actor: "system:demo-seed" });
      done.push(`${wanted.tenant}/${wanted.extensionId}@${wanted.version}`);
    } catch (error) {
      logger.warn({ extensionId: wanted.extensionId }, `reference host: could not install the demo's ${wanted.extensionId}@${wanted.version}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return done;
}
