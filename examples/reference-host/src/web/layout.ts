import type { SignedInUser } from "../auth/principal.js";
import { html, raw, type Raw } from "./html.js";
import { PAGE_VIEW_SCRIPT_PATH } from "./page-view.js";

export interface MenuEntry {
  href: string;
  label: string;
  current?: boolean;
  /** Shown indented under the entry before it (an extension's admin page under "Admin console"). */
  sub?: boolean;
}

export interface LayoutOptions {
  title: string;
  user?: SignedInUser | null | undefined;
  tenantName?: string | undefined;
  csrfToken?: string | undefined;
  /** Extension pages (from ui.pages slots) and the host's own entries. */
  menu?: readonly MenuEntry[] | undefined;
  scripts?: readonly string[] | undefined;
  /**
   * The response's CSP nonce (res.locals.cspNonce, see cspNonce in app.ts): every script this page runs
   * carries it, and the CSP's script-src allows nothing else.
   */
  nonce: string;
  /**
   * Where the host's own page-view script (/assets/page-view.js, src/web/page-view.ts) sends this page's
   * view: web-analytics' collect endpoint, `/ext/acme.web-analytics/public/collect?tenant=…`. Set only
   * when the tenant has the extension installed and active. The script is the host's, not the
   * extension's: no code an extension serves ever runs on the host's pages.
   */
  pageViews?: string | undefined;
  /** JSON for the page's script, in a non-executed <script type="application/json" id="page-data">. */
  data?: unknown;
  body: Raw;
}

/** The product's page frame: header with tenant and user, the menu, the content. */
export function layout(options: LayoutOptions): string {
  const { user } = options;
  const data = options.data === undefined ? "" : JSON.stringify(options.data).replace(/</g, "\\u003c");
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${options.csrfToken === undefined ? "" : html`<meta name="csrf-token" content="${options.csrfToken}">`}
<title>${options.title} · Annex reference host</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/app.css">
</head>
<body>
<header class="topbar">
  <a class="brand" href="/">Annex reference host</a>
  ${user
    ? html`<span class="who"><span data-testid="tenant">${options.tenantName ?? user.tenant}</span> · <span data-testid="user">${user.displayName}</span> (${user.role})</span>
  <form method="post" action="/logout" class="logout"><input type="hidden" name="_csrf" value="${options.csrfToken ?? ""}"><button type="submit">Sign out</button></form>`
    : ""}
</header>
<div class="shell">
${options.menu && options.menu.length > 0
    ? html`<nav class="menu" aria-label="Main"><ul>${options.menu.map((entry) => html`<li${entry.sub ? html` class="sub"` : ""}><a href="${entry.href}"${entry.current ? html` aria-current="page"` : ""}>${entry.label}</a></li>`)}</ul></nav>`
    : ""}
<main id="main">
${options.body}
</main>
</div>
${data === "" ? "" : html`<script type="application/json" id="page-data">${raw(data)}</script>`}
${(options.scripts ?? []).map((src) => html`<script type="module" src="${src}" nonce="${options.nonce}"></script>`)}
${options.pageViews === undefined ? "" : html`<script src="${PAGE_VIEW_SCRIPT_PATH}" data-collect="${options.pageViews}" nonce="${options.nonce}" defer></script>`}
</body>
</html>`.text;
}
