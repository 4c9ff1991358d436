import { AdminError } from "../errors.js";
import { formatDateTime } from "../internal/dates.js";
import { defineElement } from "../internal/element.js";
import { checkedList, ExtensionNamesElement } from "../internal/named-element.js";
import { h } from "../internal/dom.js";
import { baseStyles, v } from "../internal/styles.js";
import type { AdminInstallStorage, AdminKvStorage, AdminSqlSchema } from "../types.js";

const styles = `${baseStyles}
:host { display: block; }
.installs { display: flex; flex-direction: column; gap: ${v("space-4")}; }
section.install { padding: ${v("space-3")}; border: 1px solid ${v("color-border")}; border-radius: ${v("radius-md")}; background: ${v("color-surface")}; }
section.install > header { display: flex; flex-wrap: wrap; align-items: baseline; gap: ${v("space-2")}; margin-bottom: ${v("space-3")}; }
h5 { font-size: ${v("font-size-sm")}; font-weight: ${v("font-weight-bold")}; margin: ${v("space-3")} 0 ${v("space-2")}; }
.meters { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 16rem), 1fr)); gap: ${v("space-3")}; }
.meter-label { display: flex; justify-content: space-between; gap: ${v("space-2")}; font-size: ${v("font-size-sm")}; font-variant-numeric: tabular-nums; }
.bar { height: 0.5rem; margin-top: ${v("space-1")}; border-radius: ${v("radius-sm")}; background: ${v("color-surface-muted")}; border: 1px solid ${v("color-border")}; overflow: hidden; }
.fill { height: 100%; background: ${v("color-success-text")}; }
.bar[data-level="high"] .fill { background: ${v("color-warning-text")}; }
.bar[data-level="full"] .fill { background: ${v("color-danger-text")}; }
dl.schema { display: grid; grid-template-columns: max-content 1fr; gap: ${v("space-1")} ${v("space-3")}; margin: 0; font-size: ${v("font-size-sm")}; }
dl.schema dt { color: ${v("color-text-muted")}; }
dl.schema dd { margin: 0; }
.error { margin: ${v("space-2")} 0 0; padding: ${v("space-2")} ${v("space-3")}; border: 1px solid ${v("color-warning-border")}; border-radius: ${v("radius-sm")}; background: ${v("color-warning-bg")}; color: ${v("color-warning-text")}; overflow-wrap: anywhere; }
.error[data-error="failed"] { border-color: ${v("color-danger-border")}; background: ${v("color-danger-bg")}; color: ${v("color-danger-text")}; }
.code { font-family: ${v("font-family-mono")}; font-size: ${v("font-size-xs")}; font-weight: ${v("font-weight-bold")}; }
.scroll { overflow-x: auto; }
td.when { white-space: nowrap; }
`;

const STATUS_BADGE = { ready: "success", pending: "warning", failed: "danger" } as const;

/** Digits of a checksum shown; the whole one is in the cell's title. */
const CHECKSUM_DIGITS = 12;

/** "sha256:aec98fcfa114df0d…" → "aec98fcfa114": the host writes the algorithm first; the digits tell migrations apart. */
const shortChecksum = (checksum: string) => checksum.replace(/^sha256:/, "").slice(0, CHECKSUM_DIGITS);

const number = (value: number) => value.toLocaleString("en-US", { maximumFractionDigits: 0 });

/** "512 B", "1.5 KiB", "64 MiB". */
function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${number(bytes)} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value >= 10 || Number.isInteger(value) ? 0 : 1)} ${units[unit]}`;
}

/** "850 ms", "2.4 s". */
function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "—";
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

const count = (value: unknown) => typeof value === "number" && Number.isFinite(value) && value >= 0;

function invalid(index: number, what: string): never {
  throw new AdminError("E_ADMIN_INVALID_DATA", `installs[${index}]${what}`, { field: `installs[${index}]` });
}

function checkKv(kv: AdminKvStorage, index: number): void {
  if (typeof kv !== "object" || !count(kv.usage?.keys) || !count(kv.usage?.bytes) || !count(kv.limits?.keys) || !count(kv.limits?.totalBytes)) {
    invalid(index, ".kv is not { usage: { keys, bytes }, limits: { keys, totalBytes } } of non-negative numbers");
  }
}

function checkSql(sql: AdminSqlSchema, index: number): void {
  if (typeof sql !== "object" || typeof sql.schema !== "string" || !(typeof sql.status === "string" && Object.hasOwn(STATUS_BADGE, sql.status)) || !Array.isArray(sql.migrations) || (sql.version !== null && typeof sql.version !== "string")) {
    invalid(index, ".sql is not an owned schema { schema, version, status: pending | ready | failed, migrations, lastError }");
  }
  for (const field of ["bytes", "maxBytes"] as const) {
    if (sql[field] !== undefined && !count(sql[field])) invalid(index, `.sql.${field} must be a number of bytes (0 or more) when given`);
  }
  sql.migrations.forEach((m, i) => {
    if (typeof m !== "object" || m === null || typeof m.version !== "string" || typeof m.name !== "string" || typeof m.checksum !== "string" || !count(m.durationMs)) {
      invalid(index, `.sql.migrations[${i}] is not a migration { version, name, checksum, appliedAt, durationMs }`);
    }
  });
}

function checkInstall(install: unknown, index: number): void {
  const s = install as Partial<AdminInstallStorage> | null;
  if (typeof s !== "object" || s === null || typeof s.installId !== "string" || typeof s.extensionId !== "string" || typeof s.version !== "string") {
    invalid(index, " is not an install's storage { installId, extensionId, version, kv?, sql? }");
  }
  if (s.kv !== undefined && s.kv !== null) checkKv(s.kv, index);
  if (s.sql !== undefined && s.sql !== null) checkSql(s.sql, index);
}

/**
 * A bar with its figures as text beside it ("12 of 10,000 keys"). The bar is
 * a `role="meter"` whose value text says the same, so a screen reader hears
 * the figures, not only a percentage.
 */
function meter(key: string, label: string, used: number, limit: number, format: (n: number) => string): HTMLElement {
  const ratio = limit > 0 ? Math.min(1, used / limit) : 1;
  const percent = limit > 0 ? (used / limit) * 100 : 100;
  // Writes start failing at the limit (E_KV_QUOTA_EXCEEDED); warn before, from 80 %.
  const level = ratio >= 1 ? "full" : ratio >= 0.8 ? "high" : "ok";
  const text = `${format(used)} of ${format(limit)} (${percent < 1 && used > 0 ? "<1" : Math.round(percent)} %)`;
  return h(
    "div",
    { class: "meter", "data-meter": key },
    h("div", { class: "meter-label" }, h("span", {}, label), h("span", { class: "figures" }, text)),
    h(
      "div",
      { class: "bar", role: "meter", "aria-label": label, "aria-valuemin": 0, "aria-valuemax": limit, "aria-valuenow": Math.min(used, limit), "aria-valuetext": text, "data-level": level },
      h("div", { class: "fill", style: `width: ${(ratio * 100).toFixed(1)}%` }),
    ),
  );
}

/**
 * `<annex-storage>`: what the tenant's installs keep: per install with
 * storage, its kv (`storage.kv`: keys and bytes used against the install's
 * quotas, as meters with their figures) and its owned schema (`storage.sql`:
 * schema name, version, status — ready, pending, or failed with the error's
 * code and message — and the applied migrations: version, name, when,
 * duration, checksum shortened). Read-only: it emits no events.
 *
 * Properties: `installs` (AdminInstallStorage[]), `extensionNames` (display
 * names by extension id). Attributes: `caption` (default "Storage"),
 * `empty-text`.
 */
export class AnnexStorage extends ExtensionNamesElement {
  static readonly tagName = "annex-storage";
  static readonly observedAttributes = ["caption", "empty-text"];

  static define(): boolean {
    return defineElement(AnnexStorage.tagName, AnnexStorage);
  }

  #installs: AdminInstallStorage[] = [];

  constructor() {
    super(styles);
  }

  get installs(): AdminInstallStorage[] {
    return this.#installs;
  }
  set installs(value: AdminInstallStorage[]) {
    this.#installs = checkedList(value, "installs", "install storage", checkInstall);
    this.render();
  }

  attributeChangedCallback(): void {
    this.render();
  }

  protected render(): void {
    if (!this.isConnected) return;
    const caption = this.getAttribute("caption") || "Storage";
    // Installs without storage have nothing to show (a host may pass every install).
    const shown = this.#installs.filter((install) => (install.kv ?? null) !== null || (install.sql ?? null) !== null);
    if (shown.length === 0) {
      this.replaceContent(h("h3", {}, caption), h("p", { class: "muted", "data-empty": "" }, this.getAttribute("empty-text") || "No storage: no installed extension keeps a key-value store or an owned schema."));
      return;
    }
    this.replaceContent(h("h3", {}, caption), h("div", { class: "installs" }, ...shown.map((install) => this.#section(install))));
  }

  #section(install: AdminInstallStorage): HTMLElement {
    const name = this.nameOf(install.extensionId);
    const headingId = `storage-${install.installId}`;
    return h(
      "section",
      { class: "install", "data-install": install.installId, "aria-labelledby": headingId },
      h(
        "header",
        {},
        h("h4", { id: headingId }, name),
        h("span", { class: "muted" }, install.version),
        install.state !== undefined && install.state !== "active" ? h("annex-badge", { variant: "neutral" }, install.state) : null,
      ),
      install.kv ? this.#kv(install.kv, name) : null,
      install.sql ? this.#sql(install.sql, name) : null,
    );
  }

  #kv(kv: AdminKvStorage, name: string): HTMLElement {
    return h(
      "div",
      { class: "kv", "data-part": "kv" },
      h("h5", {}, "Key-value store"),
      h(
        "div",
        { class: "meters" },
        meter("keys", `Keys of ${name}`, kv.usage.keys, kv.limits.keys, (n) => `${number(n)} ${n === 1 ? "key" : "keys"}`),
        meter("bytes", `Bytes of ${name}`, kv.usage.bytes, kv.limits.totalBytes, formatBytes),
      ),
    );
  }

  #sql(sql: AdminSqlSchema, name: string): HTMLElement {
    const error = sql.lastError;
    const rows = sql.migrations.map((m) =>
      h(
        "tr",
        { "data-migration": m.version },
        h("td", {}, h("code", {}, m.version)),
        h("td", {}, m.name),
        h("td", { class: "when" }, formatDateTime(m.appliedAt)),
        h("td", { class: "num" }, formatDuration(m.durationMs)),
        h("td", { title: m.checksum }, h("code", {}, shortChecksum(m.checksum))),
      ),
    );
    return h(
      "div",
      { class: "sql", "data-part": "sql" },
      h("h5", {}, "Owned schema"),
      h(
        "dl",
        { class: "schema" },
        h("dt", {}, "Schema"),
        h("dd", {}, h("code", { "data-field": "schema" }, sql.schema)),
        h("dt", {}, "Version"),
        h("dd", { "data-field": "version" }, sql.version === null ? h("span", { class: "muted" }, "no migration applied") : h("code", {}, sql.version)),
        h("dt", {}, "Status"),
        h("dd", {}, h("annex-badge", { variant: STATUS_BADGE[sql.status], "data-status": sql.status }, sql.status)),
      ),
      // The disk quota (maxSchemaBytes), when the host measured it: at it, writes that can grow the schema are refused.
      typeof sql.bytes === "number" && typeof sql.maxBytes === "number" && sql.maxBytes > 0
        ? h("div", { class: "meters" }, meter("disk", `Disk of ${name}'s tables`, sql.bytes, sql.maxBytes, formatBytes))
        : null,
      // The error of a failed migration; a pending or ready schema may still carry the last one (shown too: it is why).
      error === null || error === undefined
        ? null
        : // Not an annex-alert: its role=alert would be announced again at every refresh of the panel.
          h("p", { class: "error", "data-error": sql.status }, "Last error: ", h("span", { class: "code" }, error.code), ` ${error.message}`),
      h(
        "div",
        { class: "scroll" },
        h(
          "table",
          {},
          h("caption", { class: "visually-hidden" }, `Applied migrations of ${name}`),
          h(
            "thead",
            {},
            h("tr", {}, ...["Version", "Name", "Applied at", "Duration", "Checksum"].map((label) => h("th", { scope: "col", class: label === "Duration" ? "num" : null }, label))),
          ),
          h("tbody", {}, ...(rows.length === 0 ? [h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No migration applied yet."))] : rows)),
        ),
      ),
    );
  }
}
