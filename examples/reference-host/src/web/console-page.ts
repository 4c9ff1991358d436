import type { SignedInUser } from "../auth/principal.js";
import { html } from "./html.js";
import { layout, type MenuEntry } from "./layout.js";
import type { Theme } from "@annex/ui-kit";
import type { UiSlot } from "@annex/manifest";

/**
 * The admin console: @annex/admin's elements in the product's layout;
 * src/client/console.ts feeds them from the admin API. Every screen of the
 * console is one of the package's components: catalogue, consent dialog,
 * capability diff, settings and secrets forms, usage panel, dead letters,
 * jobs, storage, audit table.
 */
export function consolePage(options: { user: SignedInUser; tenantName: string; csrfToken: string; menu: MenuEntry[]; theme: Theme; nonce: string }): string {
  return layout({
    title: "Admin console",
    nonce: options.nonce,
    user: options.user,
    tenantName: options.tenantName,
    csrfToken: options.csrfToken,
    menu: options.menu,
    scripts: ["/assets/console.js"],
    data: { theme: options.theme, tenant: options.user.tenant },
    body: html`<h1>Admin console</h1>
<p id="status" role="status" aria-live="polite"></p>
<annex-extension-list id="catalogue" caption="Extensions for ${options.tenantName}"></annex-extension-list>
<annex-consent-dialog id="consent" approve-label="Approve and continue"></annex-consent-dialog>

<section id="detail" class="card" hidden aria-labelledby="detail-title">
  <h2 id="detail-title"></h2>
  <section id="upgrade" hidden aria-label="Upgrade">
    <h3>What the upgrade changes</h3>
    <annex-capability-diff id="upgrade-diff" heading-level="4"></annex-capability-diff>
  </section>
  <h3>Settings</h3>
  <p id="config-empty" hidden>This extension has no settings.</p>
  <annex-config-form id="config"></annex-config-form>
  <h3>Secrets</h3>
  <p id="secrets-empty" hidden>This extension declares no secrets.</p>
  <annex-secrets-form id="secrets"></annex-secrets-form>
  <annex-usage-panel id="usage" heading="Usage and errors" bucket-ms="60000"></annex-usage-panel>
  <h3>Recent log lines</h3>
  <pre id="logs" class="log-lines" tabindex="0" aria-label="Recent log lines"></pre>
</section>

<section id="export-section" class="card" hidden aria-labelledby="export-title">
  <h2 id="export-title">Export of the purged install</h2>
  <pre id="export" class="log-lines" tabindex="0"></pre>
</section>

<annex-dialog id="uninstall-dialog" heading="Uninstall">
  <p>Uninstall <strong id="uninstall-name"></strong>? Its pages and endpoints stop at once.</p>
  <label><input type="checkbox" id="purge"> Also delete its settings, secrets and data (you get an export first)</label>
  <div slot="footer">
    <annex-button id="uninstall-cancel" variant="secondary">Cancel</annex-button>
    <annex-button id="uninstall-confirm" variant="danger">Uninstall</annex-button>
  </div>
</annex-dialog>

<section id="dead-letters-section" class="card" aria-labelledby="dead-letters-title">
  <h2 id="dead-letters-title">Dead letters</h2>
  <p>Events an extension failed to handle after every retry wait here until you replay them (after fixing the cause: its settings, or an upgrade) or discard them.</p>
  <annex-dead-letters id="dead-letters" caption="Dead letters of ${options.tenantName}"></annex-dead-letters>
</section>

<section id="jobs-section" class="card" aria-labelledby="jobs-title">
  <h2 id="jobs-title">Jobs</h2>
  <p>Background jobs of your extensions run on their schedules. Run now runs one at once, whatever its schedule, and shows how it went; Recent runs shows its history.</p>
  <annex-jobs id="jobs" caption="Jobs of ${options.tenantName}"></annex-jobs>
</section>

<section id="storage-section" class="card" aria-labelledby="storage-title">
  <h2 id="storage-title">Storage</h2>
  <p>What your extensions keep: a key-value store's keys and bytes against its quotas, an owned database schema's version and the migrations applied to it.</p>
  <annex-storage id="storage" caption="Storage of ${options.tenantName}"></annex-storage>
</section>

<annex-audit-table id="audit" caption="Audit log of ${options.tenantName}"></annex-audit-table>`,
  });
}

/** An extension's page in the product's layout: the frame is mounted by src/client/extension-page.ts through the bridge. */
export function extensionPage(options: {
  user: SignedInUser | null;
  tenantName: string;
  csrfToken?: string | undefined;
  menu: MenuEntry[];
  title: string;
  theme: Theme;
  mount: { install: unknown; manifest: unknown; page: { slot: UiSlot; path: string }; user: unknown; publicTenant: string | null };
  nonce: string;
  /** web-analytics' collect URL, when the tenant has it active: the host's page-view script sends there. */
  pageViews?: string | undefined;
}): string {
  return layout({
    title: options.title,
    user: options.user,
    tenantName: options.tenantName,
    csrfToken: options.csrfToken,
    menu: options.menu,
    scripts: ["/assets/extension-page.js"],
    nonce: options.nonce,
    pageViews: options.pageViews,
    data: { theme: options.theme, ...options.mount },
    body: html`<h1>${options.title}</h1>
<p id="toast" role="status" aria-live="polite"></p>
<section id="extension-frame" class="extension-frame" aria-label="${options.title}"></section>`,
  });
}
