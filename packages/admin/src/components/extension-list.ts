import { AdminError } from "../errors.js";
import { AdminElement, defineElement } from "../internal/element.js";
import { h, uid } from "../internal/dom.js";
import { baseStyles, v } from "../internal/styles.js";
import { trustBadge } from "../internal/trust.js";
import { compareVersions, isPrerelease } from "../internal/versions.js";
import type { AdminInstall, AdminInstallState, AdminVersion } from "../types.js";
import { isAdminVersion } from "../internal/check-version.js";

export type ExtensionAction = "install" | "upgrade" | "open" | "configure" | "enable" | "disable" | "uninstall";

/**
 * `annex-extension-action`: an admin asked for something to be done to an
 * extension. `version` is the version the action is about: the one to
 * install or upgrade to, else the installed one.
 */
export interface ExtensionActionDetail {
  action: ExtensionAction;
  extensionId: string;
  version: string;
  install: AdminInstall | null;
}

/** One row of the catalogue, as the list computes it from `versions` and `installs`. */
export interface CatalogueEntry {
  extensionId: string;
  /** Newest first. */
  versions: AdminVersion[];
  /** The newest release (the newest pre-release when there is no release). */
  latest: AdminVersion;
  install: AdminInstall | null;
  /** A release newer than the installed version, when there is one. */
  upgradeTo: AdminVersion | null;
}

const STATE_BADGE: Record<AdminInstallState, { text: string; variant: string }> = {
  active: { text: "Active", variant: "success" },
  disabled: { text: "Disabled", variant: "neutral" },
  installing: { text: "Installing", variant: "info" },
  upgrading: { text: "Upgrading", variant: "info" },
  failed: { text: "Failed", variant: "danger" },
  uninstalled: { text: "Uninstalled, data kept", variant: "neutral" },
};

const styles = `${baseStyles}
.toolbar { margin-bottom: ${v("space-3")}; max-width: 24rem; }
.scroll { overflow-x: auto; }
.name { font-weight: ${v("font-weight-bold")}; }
.description { margin: ${v("space-1")} 0 0; color: ${v("color-text-muted")}; }
td .row { gap: ${v("space-1")} ${v("space-2")}; }
.error { margin: ${v("space-1")} 0 0; color: ${v("color-danger-text")}; }
`;

function checkList<T>(value: unknown, field: string, check: (item: T) => boolean): T[] {
  if (!Array.isArray(value)) throw new AdminError("E_ADMIN_INVALID_DATA", `${field} must be an array`, { field });
  value.forEach((item, index) => {
    if (typeof item !== "object" || item === null || !check(item as T)) {
      throw new AdminError("E_ADMIN_INVALID_DATA", `${field}[${index}] is not a ${field === "versions" ? "published version { extensionId, version, publisher, manifest, provenance }" : "install { id, extensionId, version, state }"}`, {
        field: `${field}[${index}]`,
      });
    }
  });
  return [...value] as T[];
}

/** Groups published versions and a tenant's installs into catalogue rows, sorted by name. */
export function catalogueOf(versions: readonly AdminVersion[], installs: readonly AdminInstall[]): CatalogueEntry[] {
  const byId = new Map<string, AdminVersion[]>();
  for (const version of versions) byId.set(version.extensionId, [...(byId.get(version.extensionId) ?? []), version]);
  const entries: CatalogueEntry[] = [];
  for (const [extensionId, list] of byId) {
    const sorted = [...list].sort((a, b) => compareVersions(b.version, a.version));
    const latest = sorted.find((candidate) => !isPrerelease(candidate.version)) ?? sorted[0]!;
    const install = installs.find((candidate) => candidate.extensionId === extensionId) ?? null;
    const serving = install !== null && install.state !== "uninstalled";
    const upgradeTo = serving && compareVersions(latest.version, install.version) > 0 ? latest : null;
    entries.push({ extensionId, versions: sorted, latest, install, upgradeTo });
  }
  return entries.sort((a, b) => a.latest.manifest.name.localeCompare(b.latest.manifest.name) || a.extensionId.localeCompare(b.extensionId));
}

/**
 * `<annex-extension-list>`: the catalogue of published extensions for one
 * tenant: name, id and description, publisher, trust class, versions, and
 * the tenant's install (state, version, an available upgrade), with the
 * actions that state allows. It changes nothing itself: each button emits
 * `annex-extension-action` and the host calls its admin API.
 *
 * Properties: `versions` (AdminVersion[]: every published version, e.g. the
 * concatenated `listVersions()` of @annex/host), `installs` (AdminInstall[]:
 * the tenant's installs); read-only `entries` (CatalogueEntry[]).
 * Attributes: `caption` (default "Extensions"), `empty-text`.
 * Events: `annex-extension-action` (ExtensionActionDetail).
 */
export class AnnexExtensionList extends AdminElement {
  static readonly tagName = "annex-extension-list";
  static readonly observedAttributes = ["caption", "empty-text"];

  static define(): boolean {
    return defineElement(AnnexExtensionList.tagName, AnnexExtensionList);
  }

  #versions: AdminVersion[] = [];
  #installs: AdminInstall[] = [];
  #entries: CatalogueEntry[] = [];
  #filter = "";

  constructor() {
    super(styles);
  }

  get versions(): AdminVersion[] {
    return this.#versions;
  }
  set versions(value: AdminVersion[]) {
    this.#versions = checkList<AdminVersion>(value, "versions", isAdminVersion);
    this.render();
  }

  get installs(): AdminInstall[] {
    return this.#installs;
  }
  set installs(value: AdminInstall[]) {
    this.#installs = checkList<AdminInstall>(value, "installs", (i) => typeof i.id === "string" && typeof i.extensionId === "string" && typeof i.version === "string" && typeof i.state === "string");
    this.render();
  }

  get entries(): CatalogueEntry[] {
    return this.#entries;
  }

  attributeChangedCallback(): void {
    this.render();
  }

  protected render(): void {
    this.#entries = catalogueOf(this.#versions, this.#installs);
    if (!this.isConnected) return;
    if (this.#entries.length === 0) {
      this.replaceContent(h("annex-empty-state", { heading: this.getAttribute("empty-text") || "No extensions published yet", description: "Published extensions appear here." }));
      return;
    }
    const filter = h("annex-input", { type: "search", label: "Filter extensions", value: this.#filter, autocomplete: "off", class: "toolbar" }) as HTMLElement & { value: string };
    const tbody = h("tbody");
    const fill = () => {
      const needle = this.#filter.trim().toLowerCase();
      const shown = this.#entries.filter((entry) => {
        const m = entry.latest.manifest;
        return needle === "" || [m.name, entry.extensionId, entry.latest.publisher, m.description].some((text) => text.toLowerCase().includes(needle));
      });
      tbody.replaceChildren(...shown.map((entry) => this.#row(entry)));
      if (shown.length === 0) tbody.append(h("tr", {}, h("td", { colspan: 6, class: "muted" }, `No extension matches "${this.#filter.trim()}".`)));
    };
    filter.addEventListener("input", () => {
      this.#filter = filter.value;
      fill();
    });
    fill();
    this.replaceContent(
      filter,
      h(
        "div",
        { class: "scroll" },
        h(
          "table",
          {},
          h("caption", {}, this.getAttribute("caption") || "Extensions"),
          h("thead", {}, h("tr", {}, ...["Extension", "Publisher", "Trust", "Versions", "Installed", "Actions"].map((label) => h("th", { scope: "col" }, label)))),
          tbody,
        ),
      ),
    );
  }

  #row(entry: CatalogueEntry): HTMLTableRowElement {
    const { latest, install, upgradeTo } = entry;
    const manifest = latest.manifest;
    const nameId = uid("ext");
    const serving = install !== null && install.state !== "uninstalled";
    const state = install === null ? null : (Object.hasOwn(STATE_BADGE, install.state) ? STATE_BADGE[install.state] : undefined) ?? { text: install.state, variant: "neutral" };
    return h(
      "tr",
      { "data-extension": entry.extensionId },
      h(
        "th",
        { scope: "row" },
        h("div", { class: "name", id: nameId }, manifest.name),
        h("code", {}, entry.extensionId),
        h("p", { class: "description" }, manifest.description),
      ),
      h("td", {}, latest.publisher),
      h("td", {}, trustBadge(latest.provenance)),
      h("td", {}, h("div", {}, `Latest ${latest.version}`), h("div", { class: "muted" }, entry.versions.length === 1 ? "1 version" : `${entry.versions.length} versions`)),
      h(
        "td",
        { "data-state": install?.state ?? "none" },
        state === null ? h("span", { class: "muted" }, "Not installed") : h("div", { class: "row" }, h("annex-badge", { variant: state.variant }, state.text), serving ? h("span", {}, install!.version) : null),
        upgradeTo === null ? null : h("div", { class: "muted" }, `Update available: ${upgradeTo.version}`),
        install?.lastError && install.state === "failed" ? h("p", { class: "error" }, install.lastError.message) : null,
      ),
      h("td", {}, h("div", { class: "row" }, ...this.#actions(entry, manifest.name))),
    );
  }

  #actions(entry: CatalogueEntry, name: string): HTMLElement[] {
    const { install, upgradeTo, latest } = entry;
    const button = (action: ExtensionAction, text: string, version: string, variant = "secondary") => {
      const element = h("annex-button", { size: "sm", variant, label: `${text} ${name}`, "data-action": action }, text);
      element.addEventListener("click", () => this.emit<ExtensionActionDetail>("annex-extension-action", { action, extensionId: entry.extensionId, version, install }));
      return element;
    };
    if (install === null || install.state === "uninstalled") return [button("install", "Install", latest.version, "primary")];
    const current = install.version;
    switch (install.state) {
      case "failed":
        return [button("install", "Retry install", latest.version, "primary"), button("uninstall", "Uninstall", current, "danger")];
      case "installing":
      case "upgrading":
        return [];
      default: {
        const buttons = [];
        if (install.state === "active") buttons.push(button("open", "Open", current, "primary"));
        buttons.push(button("configure", "Settings", current));
        if (upgradeTo !== null) buttons.push(button("upgrade", `Upgrade to ${upgradeTo.version}`, upgradeTo.version));
        buttons.push(install.state === "active" ? button("disable", "Disable", current) : button("enable", "Enable", current));
        buttons.push(button("uninstall", "Uninstall", current, "danger"));
        return buttons;
      }
    }
  }
}
