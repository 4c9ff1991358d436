import type { Manifest } from "@annex/manifest";
import type { Theme } from "@annex/ui-kit";
import type { SignedInUser } from "../auth/principal.js";
import { html } from "./html.js";
import { layout, type MenuEntry } from "./layout.js";

export function loginPage(options: { nonce: string; csrfToken: string; next: string; error?: string | undefined; email?: string | undefined }): string {
  return layout({
    title: "Sign in",
    nonce: options.nonce,
    csrfToken: options.csrfToken,
    body: html`<section class="card narrow">
<h1>Sign in</h1>
${options.error ? html`<p class="error" role="alert">${options.error}</p>` : ""}
<form method="post" action="/login">
  <input type="hidden" name="_csrf" value="${options.csrfToken}">
  <input type="hidden" name="next" value="${options.next}">
  <label>Email <input name="email" type="email" autocomplete="username" required value="${options.email ?? ""}"></label>
  <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
  <button type="submit">Sign in</button>
</form>
</section>`,
  });
}

export interface DashboardExtension {
  extensionId: string;
  name: string;
  version: string;
  state: string;
}

/** A "dashboard.widget" page of a serving install, as src/client/dashboard.ts mounts it. */
export interface DashboardWidget {
  install: unknown;
  manifest: Manifest;
  page: { slot: "dashboard.widget"; path: string };
  title: string;
}

export function dashboardPage(options: {
  user: SignedInUser;
  tenantName: string;
  csrfToken: string;
  menu: MenuEntry[];
  extensions: DashboardExtension[];
  widgets: DashboardWidget[];
  theme: Theme;
  /** Handed to a widget over the bridge only when its install was granted user.read. */
  frameUser: { id: string; displayName?: string; email?: string };
  nonce: string;
  /** web-analytics' collect URL, when the tenant has it active: the host's page-view script sends there. */
  pageViews?: string | undefined;
}): string {
  const { user } = options;
  return layout({
    title: "Dashboard",
    user,
    tenantName: options.tenantName,
    csrfToken: options.csrfToken,
    menu: options.menu,
    nonce: options.nonce,
    pageViews: options.pageViews,
    scripts: options.widgets.length === 0 ? [] : ["/assets/dashboard.js"],
    data: options.widgets.length === 0 ? undefined : { theme: options.theme, widgets: options.widgets, user: options.frameUser },
    body: html`<h1>Dashboard</h1>
<p>Welcome, ${user.displayName}. You are signed in to <strong>${options.tenantName}</strong> as ${user.role === "admin" ? "an administrator" : "a member"}.</p>
${options.widgets.length === 0
  ? ""
  : html`<p id="toast" role="status" aria-live="polite"></p>
<section class="widgets" aria-label="Widgets">${options.widgets.map(
      (widget, index) => html`<article class="card widget" data-widget="${widget.manifest.id}${widget.page.path}" aria-labelledby="widget-${index}-title"><h3 id="widget-${index}-title">${widget.title}</h3><div class="widget-frame" id="widget-${index}"></div></article>`,
    )}</section>`}
<section class="card">
<h2>Extensions of ${options.tenantName}</h2>
${options.extensions.length === 0
  ? html`<p data-testid="no-extensions">No extension is installed for this tenant yet.${user.role === "admin" ? html` Install one from the <a href="/admin">admin console</a>.` : ""}</p>`
  : html`<ul data-testid="installed">${options.extensions.map((e) => html`<li><strong>${e.name}</strong> <code>${e.extensionId}</code> ${e.version} · ${e.state}</li>`)}</ul>`}
</section>`,
  });
}
