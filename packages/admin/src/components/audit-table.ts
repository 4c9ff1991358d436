import { AdminError } from "../errors.js";
import { formatDateTime, toDate } from "../internal/dates.js";
import { AdminElement, defineElement } from "../internal/element.js";
import { h } from "../internal/dom.js";
import { baseStyles, v } from "../internal/styles.js";
import type { AdminAuditEntry, AdminAuditFilter } from "../types.js";
import { shownJson } from "../internal/shown-json.js";

/** `annex-audit-filter`: the admin applied (or cleared) filters; a host that pages on the server re-queries with them. */
export interface AuditFilterDetail {
  filter: AdminAuditFilter;
}

/** `annex-audit-more`: the admin asked for more lines; `lastId` is the id of the last line shown. */
export interface AuditMoreDetail {
  lastId: string | null;
  filter: AdminAuditFilter;
}

const DECISION_BADGE = { allow: "success", deny: "warning", error: "danger" } as const;

const styles = `${baseStyles}
form { display: grid; grid-template-columns: repeat(auto-fit, minmax(12rem, 1fr)); gap: ${v("space-3")}; align-items: end; margin-bottom: ${v("space-4")}; }
.scroll { overflow-x: auto; }
td.when { white-space: nowrap; }
details summary { cursor: pointer; color: ${v("color-primary")}; }
pre { margin: ${v("space-1")} 0 0; white-space: pre-wrap; word-break: break-word; font-family: ${v("font-family-mono")}; font-size: ${v("font-size-xs")}; }
.more { margin-top: ${v("space-3")}; }
`;

/** Whether an entry passes a filter, with @annex/host's AuditFilter semantics (an action ending in "." is a prefix). */
export function matchesAuditFilter(entry: AdminAuditEntry, filter: AdminAuditFilter): boolean {
  if (filter.actor && entry.actor !== filter.actor) return false;
  if (filter.action && (filter.action.endsWith(".") ? !entry.action.startsWith(filter.action) : entry.action !== filter.action)) return false;
  if (filter.target && entry.target !== filter.target) return false;
  if (filter.decision && entry.decision !== filter.decision) return false;
  const at = toDate(entry.at);
  const since = toDate(filter.since);
  const until = toDate(filter.until);
  if (since && (at === null || at < since)) return false;
  if (until && (at === null || at > until)) return false;
  return true;
}

type Input = HTMLElement & { value: string };

/**
 * `<annex-audit-table>`: audit lines with filters (actor, action or action
 * prefix, target, decision, time range). Filters apply to the lines given at
 * once and are also emitted, so a host that pages on the server can
 * re-query; details expand per line.
 *
 * Properties: `entries` (AdminAuditEntry[]: `AuditEntry` of @annex/host),
 * `filter` (AdminAuditFilter, shown in the fields); read-only `shownEntries`.
 * Attributes: `caption` (default "Audit log"), `has-more` (shows "Load more").
 * Events: `annex-audit-filter` (AuditFilterDetail), `annex-audit-more` (AuditMoreDetail).
 */
export class AnnexAuditTable extends AdminElement {
  static readonly tagName = "annex-audit-table";
  static readonly observedAttributes = ["caption", "has-more"];

  static define(): boolean {
    return defineElement(AnnexAuditTable.tagName, AnnexAuditTable);
  }

  #entries: AdminAuditEntry[] = [];
  #filter: AdminAuditFilter = {};
  #shown: AdminAuditEntry[] = [];

  constructor() {
    super(styles);
  }

  get entries(): AdminAuditEntry[] {
    return this.#entries;
  }
  set entries(value: AdminAuditEntry[]) {
    if (!Array.isArray(value)) throw new AdminError("E_ADMIN_INVALID_DATA", "entries must be an array of audit entries", { field: "entries" });
    value.forEach((entry, index) => {
      if (typeof entry !== "object" || entry === null || typeof entry.action !== "string" || typeof entry.actor !== "string" || typeof entry.target !== "string") {
        throw new AdminError("E_ADMIN_INVALID_DATA", `entries[${index}] is not an audit entry { id, at, actor, action, target, decision, details }`, { field: `entries[${index}]` });
      }
    });
    this.#entries = [...value];
    this.render();
  }

  get filter(): AdminAuditFilter {
    return { ...this.#filter };
  }
  set filter(value: AdminAuditFilter) {
    if (typeof value !== "object" || value === null) throw new AdminError("E_ADMIN_INVALID_DATA", "filter must be an object { actor?, action?, target?, decision?, since?, until? }", { field: "filter" });
    const next: AdminAuditFilter = { ...value };
    for (const key of ["since", "until"] as const) {
      if (next[key] === undefined) continue;
      const date = toDate(next[key]);
      if (date === null) throw new AdminError("E_ADMIN_INVALID_DATA", `filter.${key} must be a date (a Date, an ISO string or epoch milliseconds)`, { field: `filter.${key}` });
      next[key] = date;
    }
    this.#filter = next;
    this.render();
  }

  get shownEntries(): AdminAuditEntry[] {
    return [...this.#shown];
  }

  attributeChangedCallback(): void {
    this.render();
  }

  protected render(): void {
    this.#shown = this.#entries.filter((entry) => matchesAuditFilter(entry, this.#filter));
    if (!this.isConnected) return;
    const f = this.#filter;
    const local = (value: AdminAuditFilter["since"]) => {
      const date = toDate(value);
      return date === null ? null : new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
    };
    const actor = h("annex-input", { label: "Actor", name: "actor", value: f.actor ?? null, placeholder: "user:ada" }) as Input;
    const action = h("annex-input", { label: "Action", name: "action", value: f.action ?? null, hint: 'Exact, or a prefix ending in "."', placeholder: "install." }) as Input;
    const target = h("annex-input", { label: "Target", name: "target", value: f.target ?? null }) as Input;
    const decision = h(
      "annex-select",
      { label: "Decision", name: "decision" },
      h("option", { value: "", selected: f.decision === undefined }, "Any"),
      ...(["allow", "deny", "error"] as const).map((d) => h("option", { value: d, selected: f.decision === d }, d)),
    ) as Input;
    const since = h("annex-input", { label: "From", name: "since", type: "datetime-local", value: local(f.since) }) as Input;
    const until = h("annex-input", { label: "To", name: "until", type: "datetime-local", value: local(f.until) }) as Input;
    const apply = h("annex-button", { type: "submit", variant: "primary" }, "Apply filters");
    const clear = h("annex-button", { type: "button" }, "Clear");
    const form = h("form", { role: "search", "aria-label": "Filter the audit log" }, actor, action, target, decision, since, until, h("div", { class: "row" }, apply, clear));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const date = (input: Input) => (input.value ? new Date(input.value) : undefined);
      const next: AdminAuditFilter = {};
      if (actor.value.trim()) next.actor = actor.value.trim();
      if (action.value.trim()) next.action = action.value.trim();
      if (target.value.trim()) next.target = target.value.trim();
      if (decision.value) next.decision = decision.value as AdminAuditFilter["decision"];
      const from = date(since);
      const to = date(until);
      if (from && !Number.isNaN(from.getTime())) next.since = from;
      if (to && !Number.isNaN(to.getTime())) next.until = to;
      this.#apply(next);
    });
    clear.addEventListener("click", () => this.#apply({}));

    const rows = this.#shown.map((entry) =>
      h(
        "tr",
        { "data-id": entry.id },
        h("td", { class: "when" }, formatDateTime(entry.at)),
        h("td", {}, entry.actor),
        h("td", {}, h("code", {}, entry.action)),
        h("td", {}, entry.target),
        h("td", {}, h("annex-badge", { variant: DECISION_BADGE[entry.decision] ?? "neutral" }, entry.decision)),
        h("td", {}, Object.keys(entry.details ?? {}).length === 0 ? h("span", { class: "muted" }, "—") : h("details", {}, h("summary", {}, "Details"), h("pre", {}, shownJson(entry.details, 2)))),
      ),
    );
    const table = h(
      "table",
      {},
      h("caption", {}, this.getAttribute("caption") || "Audit log", h("span", { class: "visually-hidden" }, `, ${this.#shown.length} of ${this.#entries.length} lines shown`)),
      h("thead", {}, h("tr", {}, ...["Time", "Actor", "Action", "Target", "Decision", "Details"].map((label) => h("th", { scope: "col" }, label)))),
      h("tbody", {}, ...(rows.length > 0 ? rows : [h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No audit lines match."))])),
    );
    const more = this.hasAttribute("has-more") ? h("annex-button", { class: "more" }, "Load more") : null;
    more?.addEventListener("click", () => this.emit<AuditMoreDetail>("annex-audit-more", { lastId: this.#entries.at(-1)?.id ?? null, filter: this.filter }));
    this.replaceContent(form, h("div", { class: "scroll" }, table), ...(more ? [more] : []));
  }

  #apply(filter: AdminAuditFilter): void {
    this.#filter = filter;
    this.render();
    this.emit<AuditFilterDetail>("annex-audit-filter", { filter: this.filter });
  }
}
