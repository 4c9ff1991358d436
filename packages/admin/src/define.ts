import { defineAll as defineUiKit } from "@annex/ui-kit";
import { AdminError } from "./errors.js";
import { AnnexAuditTable } from "./components/audit-table.js";
import { AnnexCapabilityDiff } from "./components/capability-diff.js";
import { AnnexConfigForm } from "./components/config-form.js";
import { AnnexConsentDialog } from "./components/consent-dialog.js";
import { AnnexDeadLetters } from "./components/dead-letters.js";
import { AnnexJobs } from "./components/jobs.js";
import { AnnexStorage } from "./components/storage.js";
import { AnnexExtensionList } from "./components/extension-list.js";
import { AnnexSecretsForm } from "./components/secrets-form.js";
import { AnnexUsagePanel } from "./components/usage-panel.js";

/** Every admin component class, by tag name. */
export const adminComponents = {
  "annex-extension-list": AnnexExtensionList,
  "annex-consent-dialog": AnnexConsentDialog,
  "annex-capability-diff": AnnexCapabilityDiff,
  "annex-config-form": AnnexConfigForm,
  "annex-secrets-form": AnnexSecretsForm,
  "annex-audit-table": AnnexAuditTable,
  "annex-usage-panel": AnnexUsagePanel,
  "annex-dead-letters": AnnexDeadLetters,
  "annex-jobs": AnnexJobs,
  "annex-storage": AnnexStorage,
} as const;

export type AdminComponentTag = keyof typeof adminComponents;

/**
 * Registers the ui-kit's components (the admin components are built from
 * them) and every admin component not registered yet; returns the admin tags
 * this call registered. Throws E_ADMIN_NO_DOM outside a browser.
 */
export function defineAdmin(): AdminComponentTag[] {
  if (globalThis.customElements === undefined) {
    throw new AdminError("E_ADMIN_NO_DOM", "defineAdmin() registers custom elements: call it in a browser page");
  }
  defineUiKit();
  return (Object.keys(adminComponents) as AdminComponentTag[]).filter((tag) => adminComponents[tag].define());
}
