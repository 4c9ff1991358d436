/** The gallery page's script (bundled by scripts/gallery-harness.ts). */
import { applyTheme, baseCss, darkTheme, lightTheme } from "@annex/ui-kit";
import {
  defineAdmin,
  type AnnexAuditTable,
  type AnnexCapabilityDiff,
  type AnnexConfigForm,
  type AnnexConsentDialog,
  type AnnexDeadLetters,
  type AnnexJobs,
  type AnnexStorage,
  type AnnexExtensionList,
  type AnnexSecretsForm,
  type AnnexUsagePanel,
} from "../src/index.js";
import { analytics1, analytics2, audit, deadLetters, installs, jobRuns, jobs, storage, usageRecords, versions } from "./sample-data.js";

const style = document.createElement("style");
style.textContent = `${baseCss}\n.row { display: flex; gap: var(--annex-space-2); }`;
document.head.append(style);
defineAdmin();

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const show = (id: string) => (event: Event) => void (byId(id).textContent = `${event.type} ${JSON.stringify((event as CustomEvent).detail)}`);

const list = byId<AnnexExtensionList>("list");
list.versions = versions;
list.installs = installs;
list.addEventListener("annex-extension-action", show("list-out"));

const upgrade = versions.find((v) => v.version === "2.0.0")!;
const consent = byId<AnnexConsentDialog>("consent");
consent.version = upgrade;
consent.grantedBefore = installs[0]!.grants;
byId("open-consent").addEventListener("click", () => consent.show());
for (const type of ["annex-consent", "annex-consent-cancel"]) consent.addEventListener(type, show("consent-out"));

const diff = byId<AnnexCapabilityDiff>("diff");
diff.from = analytics1;
diff.to = analytics2;

const config = byId<AnnexConfigForm>("config");
config.settings = analytics1.config;
config.values = installs[0]!.config;
for (const type of ["annex-config-submit", "annex-config-invalid"]) config.addEventListener(type, show("config-out"));

const secrets = byId<AnnexSecretsForm>("secrets");
secrets.names = analytics1.secrets;
secrets.setNames = ["ACME_API_TOKEN"];
secrets.addEventListener("annex-secrets-submit", (event) => {
  // Never echo secret values, not even in a gallery: only the names.
  byId("secrets-out").textContent = `annex-secrets-submit for ${Object.keys((event as CustomEvent<{ secrets: Record<string, string> }>).detail.secrets).join(", ")}`;
});

byId<AnnexUsagePanel>("usage").records = usageRecords();

const auditTable = byId<AnnexAuditTable>("audit");
auditTable.entries = audit;
for (const type of ["annex-audit-filter", "annex-audit-more"]) auditTable.addEventListener(type, show("audit-out"));

const names = { "acme.analytics": "Acme Analytics", "acme.crm-sync": "CRM sync" };

const jobsPanel = byId<AnnexJobs>("jobs");
jobsPanel.extensionNames = names;
jobsPanel.jobs = jobs;
jobsPanel.addEventListener("annex-job-run", (event) => {
  show("jobs-out")(event);
  const { installId, name } = (event as CustomEvent<{ installId: string; name: string }>).detail;
  // The gallery's "host" answers at once.
  setTimeout(() => jobsPanel.runFinished(installId, name, { outcome: "ok", durationMs: 38, runId: "r-42" }), 300);
});
jobsPanel.addEventListener("annex-job-runs", (event) => {
  show("jobs-out")(event);
  jobsPanel.runs = jobRuns;
});

const letters = byId<AnnexDeadLetters>("dead-letters");
letters.extensionNames = names;
letters.letters = deadLetters;
for (const type of ["annex-dead-letter-action", "annex-dead-letters-more"]) letters.addEventListener(type, show("dead-letters-out"));

const storagePanel = byId<AnnexStorage>("storage");
storagePanel.extensionNames = names;
storagePanel.installs = storage;

function setTheme(mode: "light" | "dark"): void {
  applyTheme(mode === "dark" ? darkTheme : lightTheme);
  byId("theme-light").setAttribute("pressed", String(mode === "light"));
  byId("theme-dark").setAttribute("pressed", String(mode === "dark"));
}
byId("theme-light").addEventListener("click", () => setTheme("light"));
byId("theme-dark").addEventListener("click", () => setTheme("dark"));
setTheme(new URLSearchParams(location.search).get("theme") === "dark" ? "dark" : "light");
if (new URLSearchParams(location.search).has("consent")) consent.show();
document.body.dataset["ready"] = "true";
