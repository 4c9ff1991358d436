/**
 * The admin console's script: @annex/admin's components wired to the
 * reference host's admin API (/admin/api, session + CSRF token). Nothing
 * here renders a consent screen, a form or a table of its own: those are
 * the components'.
 */
import {
  defineAdmin,
  type AdminAuditEntry,
  type AdminAuditFilter,
  type AdminDeadLetter,
  type AdminInstall,
  type AdminInstallStorage,
  type AdminJob,
  type AdminJobRun,
  type AdminJobRunResult,
  type AdminVersion,
  type AnnexAuditTable,
  type AnnexCapabilityDiff,
  type AnnexConfigForm,
  type AnnexConsentDialog,
  type AnnexDeadLetters,
  type AnnexExtensionList,
  type AnnexJobs,
  type AnnexSecretsForm,
  type AnnexStorage,
  type AnnexUsagePanel,
  type AuditFilterDetail,
  type AuditMoreDetail,
  type ConfigSubmitDetail,
  type ConsentDetail,
  type DeadLetterActionDetail,
  type ExtensionActionDetail,
  type JobRunDetail,
  type JobRunsDetail,
  type SecretsSubmitDetail,
  type UsageSummary,
} from "@annex/admin";
import { applyTheme, type Theme } from "@annex/ui-kit";
import type { CapabilityDiff, Manifest } from "@annex/manifest";
import { logLineText, type LogLine } from "./log-lines.js";

interface PageData {
  theme: Theme;
  tenant: string;
}

interface ApiProblem {
  code: string;
  message: string;
  issues?: { path: string; message: string }[];
}

class ApiError extends Error {
  constructor(readonly status: number, readonly problem: ApiProblem) {
    super(`${problem.code}: ${problem.message}`);
  }
}

defineAdmin();
const data = JSON.parse(document.getElementById("page-data")!.textContent!) as PageData;
applyTheme(data.theme);
const csrf = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')!.content;

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`/admin/api${path}`, {
    method,
    credentials: "same-origin",
    headers: { accept: "application/json", ...(body === undefined ? {} : { "content-type": "application/json" }), "x-csrf-token": csrf },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = (await response.json().catch(() => ({ code: "E_BAD_RESPONSE", message: `HTTP ${response.status}` }))) as unknown;
  if (!response.ok) throw new ApiError(response.status, answer as ApiProblem);
  return answer as T;
}

const $ = <T extends Element>(id: string) => document.getElementById(id) as unknown as T;
const catalogue = $<AnnexExtensionList>("catalogue");
const consent = $<AnnexConsentDialog>("consent");
const detail = $<HTMLElement>("detail");
const configForm = $<AnnexConfigForm>("config");
const secretsForm = $<AnnexSecretsForm>("secrets");
const usagePanel = $<AnnexUsagePanel>("usage");
const upgradeDiff = $<AnnexCapabilityDiff>("upgrade-diff");
const uninstallDialog = $<HTMLElement & { show(): void; close(): void }>("uninstall-dialog");
const auditTable = $<AnnexAuditTable>("audit");
const deadLetters = $<AnnexDeadLetters>("dead-letters");
const jobsPanel = $<AnnexJobs>("jobs");
const storagePanel = $<AnnexStorage>("storage");
const status = $<HTMLElement>("status");

let versions: AdminVersion[] = [];
let installs: AdminInstall[] = [];
let selected: string | null = null;
let pending: { kind: "install" | "upgrade"; extensionId: string } | null = null;
let auditFilter: AdminAuditFilter = {};

function say(message: string, kind: "info" | "error" = "info"): void {
  status.textContent = message;
  status.dataset["kind"] = kind;
}

function failed(error: unknown): void {
  say(error instanceof ApiError ? `${error.problem.message} (${error.problem.code})` : String(error), "error");
}

const versionOf = (extensionId: string, version: string) => versions.find((v) => v.extensionId === extensionId && v.version === version);

async function refresh(): Promise<void> {
  const answer = await api<{ versions: AdminVersion[]; installs: AdminInstall[] }>("GET", "/catalogue");
  versions = answer.versions;
  installs = answer.installs;
  catalogue.versions = versions;
  catalogue.installs = installs;
  if (selected !== null) await showDetail(selected);
  const names = Object.fromEntries(versions.map((v) => [v.extensionId, v.manifest.name]));
  deadLetters.extensionNames = names;
  await loadDeadLetters();
  jobsPanel.extensionNames = names;
  await loadJobs();
  storagePanel.extensionNames = names;
  // Read-only: what each install keeps (kv usage against its quotas, its owned schema's migrations).
  storagePanel.installs = await api<AdminInstallStorage[]>("GET", "/storage");
  await loadAudit();
}

async function showDetail(extensionId: string): Promise<void> {
  const install = installs.find((i) => i.extensionId === extensionId && i.state !== "uninstalled");
  if (install === undefined) {
    selected = null;
    detail.hidden = true;
    return;
  }
  selected = extensionId;
  const version = versionOf(extensionId, install.version);
  const manifest = version?.manifest;
  $<HTMLElement>("detail-title").textContent = `${manifest?.name ?? extensionId} ${install.version} (${install.state})`;
  const info = await api<{ secretNames: string[]; manifest: Manifest }>("GET", `/installs/${extensionId}`);
  configForm.settings = info.manifest.config;
  configForm.values = install.config;
  configForm.errors = [];
  $<HTMLElement>("config-empty").hidden = Object.keys(info.manifest.config).length > 0;
  configForm.hidden = Object.keys(info.manifest.config).length === 0;
  secretsForm.names = info.manifest.secrets;
  secretsForm.setNames = info.secretNames;
  secretsForm.hidden = info.manifest.secrets.length === 0;
  $<HTMLElement>("secrets-empty").hidden = info.manifest.secrets.length > 0;
  usagePanel.summary = await api<UsageSummary>("GET", `/installs/${extensionId}/usage`);
  const lines = await api<LogLine[]>("GET", `/installs/${extensionId}/logs?limit=50`);
  // One element per entry, its controls written out: an extension's message cannot pass for a line of its own.
  const entries = lines.map((line) => {
    const entry = document.createElement("div");
    entry.className = "log-line";
    entry.textContent = logLineText(line);
    return entry;
  });
  $<HTMLElement>("logs").replaceChildren(...(entries.length === 0 ? ["No log lines yet."] : entries));
  detail.hidden = false;
}

catalogue.addEventListener("annex-extension-action", (event) => {
  const { action, extensionId, version, install } = (event as CustomEvent<ExtensionActionDetail>).detail;
  void (async () => {
    try {
      if (action === "install") {
        pending = { kind: "install", extensionId };
        consent.version = versionOf(extensionId, version)!;
        consent.grantedBefore = null;
        consent.installedManifest = null;
        consent.show();
      } else if (action === "upgrade") {
        const plan = await api<{ policy: "consent" | "automatic"; diff: CapabilityDiff; from: string; to: string }>("GET", `/installs/${extensionId}/upgrade?version=${encodeURIComponent(version)}`);
        const target = versionOf(extensionId, version)!;
        selected = extensionId;
        await showDetail(extensionId);
        // The installed version's manifest too: what the new version newly exposes is marked against it.
        const installed = versionOf(extensionId, install!.version)?.manifest ?? null;
        upgradeDiff.from = install!.grants;
        upgradeDiff.installedManifest = installed;
        upgradeDiff.to = target.manifest;
        $<HTMLElement>("upgrade").hidden = false;
        if (plan.policy === "automatic") {
          // The host's policy: a version that widens nothing needs no new consent.
          await api("POST", `/installs/${extensionId}/upgrade`, { version });
          say(`Upgraded ${extensionId} to ${version}: it asks for nothing new, so no consent was needed.`);
          await refresh();
        } else {
          pending = { kind: "upgrade", extensionId };
          consent.version = target;
          consent.grantedBefore = install!.grants;
          consent.installedManifest = installed;
          consent.show();
        }
      } else if (action === "open") {
        // Its page in the product's layout: the first "app" page, else the first "admin" page (in the console).
        const pages = versionOf(extensionId, install!.version)?.manifest.ui.pages ?? [];
        const page = pages.find((p) => p.slot === "app") ?? pages.find((p) => p.slot === "admin");
        if (page === undefined) say(`${extensionId} has no page to open: it works through its endpoints and events.`);
        else location.assign(`${page.slot === "app" ? "/apps" : "/admin/apps"}/${extensionId}${page.path === "/" ? "" : page.path}`);
      } else if (action === "configure") {
        await showDetail(extensionId);
        detail.scrollIntoView();
      } else if (action === "uninstall") {
        selected = extensionId;
        $<HTMLElement>("uninstall-name").textContent = versionOf(extensionId, install!.version)?.manifest.name ?? extensionId;
        $<HTMLInputElement>("purge").checked = false;
        uninstallDialog.show();
      } else {
        await api("POST", `/installs/${extensionId}/${action}`);
        say(`${extensionId}: ${action === "enable" ? "enabled" : "disabled"}.`);
        await refresh();
      }
    } catch (error) {
      failed(error);
    }
  })();
});

consent.addEventListener("annex-consent", (event) => {
  const { extensionId, version, grants } = (event as CustomEvent<ConsentDetail>).detail;
  const kind = pending?.kind ?? "install";
  pending = null;
  void (async () => {
    try {
      if (kind === "upgrade") {
        await api("POST", `/installs/${extensionId}/upgrade`, { version, grants });
        say(`Upgraded ${extensionId} to ${version} with your consent.`);
        $<HTMLElement>("upgrade").hidden = true;
      } else {
        await api("POST", "/installs", { extensionId, version, grants });
        say(`Installed ${extensionId} ${version}.`);
        selected = extensionId;
      }
      await refresh();
    } catch (error) {
      failed(error);
    }
  })();
});
consent.addEventListener("annex-consent-cancel", () => {
  pending = null;
  say("Nothing was changed.");
});

configForm.addEventListener("annex-config-submit", (event) => {
  const { values } = (event as CustomEvent<ConfigSubmitDetail>).detail;
  void (async () => {
    try {
      await api("PUT", `/installs/${selected}/config`, { config: values });
      // Said once the page shows the saved state: refresh() re-renders the detail (the secrets form among it,
      // emptying its fields), so an admin (or a test) who goes on typing after the message loses nothing.
      await refresh();
      say("Settings saved.");
    } catch (error) {
      if (error instanceof ApiError && error.problem.issues) configForm.errors = error.problem.issues;
      failed(error);
    }
  })();
});

secretsForm.addEventListener("annex-secrets-submit", (event) => {
  const { secrets } = (event as CustomEvent<SecretsSubmitDetail>).detail;
  void (async () => {
    try {
      const answer = await api<{ secretNames: string[] }>("PUT", `/installs/${selected}/secrets`, { secrets });
      secretsForm.setNames = answer.secretNames;
      say(`Secrets saved: ${Object.keys(secrets).join(", ")}.`);
    } catch (error) {
      failed(error);
    }
  })();
});

$<HTMLElement>("uninstall-confirm").addEventListener("click", () => {
  const extensionId = selected!;
  const purge = $<HTMLInputElement>("purge").checked;
  uninstallDialog.close();
  void (async () => {
    try {
      const result = await api<{ export?: unknown }>("POST", `/installs/${extensionId}/uninstall`, { purge });
      const exported = $<HTMLElement>("export-section");
      if (purge && result.export !== undefined) {
        $<HTMLElement>("export").textContent = JSON.stringify(result.export, null, 2);
        exported.hidden = false;
        say(`Uninstalled ${extensionId} and purged its data; its export is below.`);
      } else {
        exported.hidden = true;
        say(`Uninstalled ${extensionId}; its settings and secrets are kept for a reinstall.`);
      }
      selected = null;
      detail.hidden = true;
      await refresh();
    } catch (error) {
      failed(error);
    }
  })();
});
$<HTMLElement>("uninstall-cancel").addEventListener("click", () => uninstallDialog.close());

let deadLetterCursor: string | null = null;
async function loadDeadLetters(more = false): Promise<void> {
  const query = more && deadLetterCursor !== null ? `?cursor=${encodeURIComponent(deadLetterCursor)}` : "";
  const answer = await api<{ items: AdminDeadLetter[]; cursor: string | null }>("GET", `/dead-letters${query}`);
  deadLetters.letters = more ? [...deadLetters.letters, ...answer.items] : answer.items;
  deadLetterCursor = answer.cursor;
  deadLetters.toggleAttribute("has-more", answer.cursor !== null);
}
deadLetters.addEventListener("annex-dead-letter-action", (event) => {
  const { action, deliveryId, letter } = (event as CustomEvent<DeadLetterActionDetail>).detail;
  deadLetters.toggleAttribute("busy", true);
  void (async () => {
    try {
      await api("POST", `/dead-letters/${encodeURIComponent(deliveryId)}/${action}`);
      say(action === "replay" ? `Replayed ${letter.type} to ${letter.extensionId}: it is delivered again now.` : `Discarded ${letter.type} for ${letter.extensionId ?? letter.installId}.`);
      await refresh();
    } catch (error) {
      failed(error);
    } finally {
      deadLetters.toggleAttribute("busy", false);
    }
  })();
});
// The component's "Load more": the next page after the host's cursor.
deadLetters.addEventListener("annex-dead-letters-more", () => void loadDeadLetters(true).catch(failed));

const jobPath = (installId: string, name: string) => `/jobs/${encodeURIComponent(installId)}/${encodeURIComponent(name)}`;
async function loadJobs(): Promise<void> {
  jobsPanel.jobs = await api<AdminJob[]>("GET", "/jobs");
  // The open job's history follows (a run just finished, or the schedule ran it).
  const open = jobsPanel.expanded;
  if (open !== null) await loadRuns(open.installId, open.name);
}
async function loadRuns(installId: string, name: string): Promise<void> {
  const { items } = await api<{ items: AdminJobRun[] }>("GET", `${jobPath(installId, name)}/runs?limit=20`);
  const open = jobsPanel.expanded;
  // An answer for a job the admin closed meanwhile is dropped.
  if (open !== null && open.installId === installId && open.name === name) jobsPanel.runs = items;
}
jobsPanel.addEventListener("annex-job-run", (event) => {
  const { installId, name } = (event as CustomEvent<JobRunDetail>).detail;
  void (async () => {
    let result: AdminJobRunResult;
    try {
      result = await api<AdminJobRunResult>("POST", `${jobPath(installId, name)}/run`);
    } catch (error) {
      // A refusal (already running, install disabled, gone) is shown beside the button like a failed run.
      result = { outcome: "error", error: error instanceof ApiError ? { code: error.problem.code, message: error.problem.message } : { code: "E_NETWORK", message: String(error) } };
    }
    jobsPanel.runFinished(installId, name, result);
    await loadJobs();
    await loadAudit();
  })().catch(failed);
});
jobsPanel.addEventListener("annex-job-runs", (event) => {
  const { installId, name } = (event as CustomEvent<JobRunsDetail>).detail;
  void loadRuns(installId, name).catch(failed);
});

function auditQuery(filter: AdminAuditFilter, afterId?: string): string {
  const params = new URLSearchParams();
  for (const key of ["actor", "action", "target", "decision"] as const) if (filter[key]) params.set(key, filter[key]!);
  if (filter.since) params.set("since", new Date(filter.since).toISOString());
  if (filter.until) params.set("until", new Date(filter.until).toISOString());
  if (afterId) params.set("afterId", afterId);
  params.set("limit", "50");
  return params.toString();
}

async function loadAudit(afterId?: string): Promise<void> {
  const answer = await api<{ entries: AdminAuditEntry[]; hasMore: boolean }>("GET", `/audit?${auditQuery(auditFilter, afterId)}`);
  auditTable.entries = afterId === undefined ? answer.entries : [...auditTable.entries, ...answer.entries];
  auditTable.toggleAttribute("has-more", answer.hasMore);
}
auditTable.addEventListener("annex-audit-filter", (event) => {
  auditFilter = (event as CustomEvent<AuditFilterDetail>).detail.filter;
  void loadAudit().catch(failed);
});
auditTable.addEventListener("annex-audit-more", (event) => {
  void loadAudit((event as CustomEvent<AuditMoreDetail>).detail.lastId ?? undefined).catch(failed);
});

await refresh().catch(failed);
document.body.dataset["ready"] = "true";
