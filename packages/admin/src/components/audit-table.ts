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
.footer { margin-top: ${v("space-3")}; }
.paging { margin: 0; }
.footer > :empty { display: none; }
`;

/** Rows rendered at once unless `page-size` says otherwise: every row costs layout, and 20 000 at once took seconds. */
const AUDIT_PAGE_SIZE = 200;
/** The largest page: past a few thousand rows a page stalls the browser as a whole list did. */
const AUDIT_MAX_PAGE_SIZE = 5000;

function isPageSize(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= AUDIT_MAX_PAGE_SIZE;
}

function rowOf(entry: AdminAuditEntry): HTMLTableRowElement {
  return h(
    "tr",
    { "data-id": entry.id },
    h("td", { class: "when" }, formatDateTime(entry.at)),
    h("td", {}, entry.actor),
    h("td", {}, h("code", {}, entry.action)),
    h("td", {}, entry.target),
    h("td", {}, h("annex-badge", { variant: DECISION_BADGE[entry.decision] ?? "neutral" }, entry.decision)),
    h("td", {}, Object.keys(entry.details ?? {}).length === 0 ? h("span", { class: "muted" }, "—") : h("details", {}, h("summary", {}, "Details"), h("pre", {}, shownJson(entry.details, 2)))),
  );
}

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
 * re-query; details expand per line. Lines are rendered a page at a time
 * ("Showing 200 of 20000 lines.", and a button for the next page).
 *
 * Properties: `entries` (AdminAuditEntry[]: `AuditEntry` of @annex/host),
 * `filter` (AdminAuditFilter, shown in the fields), `pageSize` (reflects
 * `page-size`); read-only `shownEntries` (every line that passes the filter,
 * rendered or not).
 * Attributes: `caption` (default "Audit log"), `has-more` (shows "Load more"
 * once every line given is rendered), `page-size` (lines rendered at once, 1
 * to 5000, default 200).
 * Events: `annex-audit-filter` (AuditFilterDetail), `annex-audit-more` (AuditMoreDetail).
 */
export class AnnexAuditTable extends AdminElement {
  static readonly tagName = "annex-audit-table";
  static readonly observedAttributes = ["caption", "has-more", "page-size"];

  static define(): boolean {
    return defineElement(AnnexAuditTable.tagName, AnnexAuditTable);
  }

  #entries: AdminAuditEntry[] = [];
  #filter: AdminAuditFilter = {};
  #shown: AdminAuditEntry[] = [];
  /** How many of the shown lines are rendered; null for one page. New filters or a new page size start again from one page. */
  #limit: number | null = null;

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
    this.#limit = null;
    this.render();
  }

  get shownEntries(): AdminAuditEntry[] {
    return [...this.#shown];
  }

  /** Lines rendered at once: the `page-size` attribute, or the default when it is absent or no page size. */
  get pageSize(): number {
    const attribute = this.getAttribute("page-size");
    const size = attribute === null || attribute.trim() === "" ? Number.NaN : Number(attribute);
    return isPageSize(size) ? size : AUDIT_PAGE_SIZE;
  }
  set pageSize(value: number) {
    if (!isPageSize(value)) throw new AdminError("E_ADMIN_INVALID_DATA", `pageSize must be a whole number from 1 to ${AUDIT_MAX_PAGE_SIZE}`, { field: "pageSize" });
    this.setAttribute("page-size", String(value));
  }

  attributeChangedCallback(name: string): void {
    if (name === "page-size") this.#limit = null;
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

    const shown = this.#shown;
    const pageSize = this.pageSize;
    const count = h("span", { class: "visually-hidden" });
    const tbody = h("tbody", {}, ...(shown.length > 0 ? [] : [h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No audit lines match."))]));
    const table = h(
      "table",
      {},
      h("caption", {}, this.getAttribute("caption") || "Audit log", count),
      h("thead", {}, h("tr", {}, ...["Time", "Actor", "Action", "Target", "Decision", "Details"].map((label) => h("th", { scope: "col" }, label)))),
      tbody,
    );
    // Announced as a page is added, so a screen reader hears what Show more did.
    const status = h("p", { class: "paging", role: "status" });
    const showMore = h("annex-button", { class: "show-more" });
    const loadMore = this.hasAttribute("has-more") ? h("annex-button", { class: "more" }, "Load more") : null;
    const actions = h("div", { class: "row" });
    let rendered = 0;
    // Pages are appended to the rows already there, so Show more keeps its focus and the filter fields what was typed.
    const paint = () => {
      const limit = Math.min(this.#limit ?? pageSize, shown.length);
      tbody.append(...shown.slice(rendered, limit).map(rowOf));
      rendered = limit;
      const left = shown.length - rendered;
      count.textContent = `, ${rendered} of ${this.#entries.length} lines shown`;
      status.textContent = shown.length > pageSize ? `Showing ${rendered} of ${shown.length} lines${shown.length < this.#entries.length ? " that match" : ""}.` : "";
      showMore.textContent = `Show ${Math.min(pageSize, left)} more`;
      // The host's next page comes after the last line given, so Load more waits until every line given is rendered.
      const focused = this.root.activeElement === showMore;
      actions.replaceChildren(...(left > 0 ? [showMore] : loadMore !== null ? [loadMore] : []));
      if (focused && left === 0) loadMore?.focus();
    };
    showMore.addEventListener("click", () => {
      this.#limit = rendered + pageSize;
      paint();
    });
    loadMore?.addEventListener("click", () => {
      // The lines the host adds next are rendered at once, not behind another Show more.
      this.#limit = rendered + pageSize;
      this.emit<AuditMoreDetail>("annex-audit-more", { lastId: this.#entries.at(-1)?.id ?? null, filter: this.filter });
    });
    paint();
    this.replaceContent(form, h("div", { class: "scroll" }, table), h("div", { class: "footer stack" }, status, actions));
  }

  #apply(filter: AdminAuditFilter): void {
    this.#filter = filter;
    this.#limit = null;
    this.render();
    this.emit<AuditFilterDetail>("annex-audit-filter", { filter: this.filter });
  }
}
