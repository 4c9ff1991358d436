import { UiKitError } from "../errors.js";
import { AnnexElement, defineElement } from "../internal/element.js";
import { compareValues, sortRows } from "../internal/sort.js";
import { focusRing, sharedStyles } from "../internal/styles.js";
import { v } from "../theme/vars.js";

export type SortDirection = "ascending" | "descending";
export type TableRow = Readonly<Record<string, unknown>>;

export interface TableColumn {
  /** The row property this column shows; unique within the table. */
  key: string;
  /** Header text. */
  label: string;
  /** Adds a sort button to the header. */
  sortable?: boolean;
  align?: "start" | "center" | "end";
  /** Text for a cell; defaults to String(value), dates in the page's locale, "" for null/undefined. */
  format?: (value: unknown, row: TableRow) => string;
  /** Ordering for this column; defaults to numbers, dates, then natural text order. */
  compare?: (a: unknown, b: unknown) => number;
}

export interface SortDetail {
  key: string;
  direction: SortDirection;
}

const styles = `${sharedStyles}
:host { display: block; }
.scroll { overflow-x: auto; border: 1px solid ${v("color-border")}; border-radius: ${v("radius-md")}; background: ${v("color-surface")}; }
.scroll:focus-visible { ${focusRing} }
table { width: 100%; border-collapse: collapse; font-size: ${v("font-size-sm")}; line-height: ${v("line-height")}; color: ${v("color-text")}; }
caption { padding: ${v("space-3")} ${v("space-3")} ${v("space-2")}; text-align: start; font-size: ${v("font-size-md")}; font-weight: ${v("font-weight-bold")}; color: ${v("color-text")}; background: ${v("color-surface")}; }
caption:empty { display: none; }
th, td { padding: ${v("space-2")} ${v("space-3")}; text-align: start; border-bottom: 1px solid ${v("color-border")}; }
th { font-weight: ${v("font-weight-bold")}; color: ${v("color-text")}; background: ${v("color-surface-muted")}; white-space: nowrap; }
tbody tr:last-child td { border-bottom: 0; }
tbody tr:hover td { background: ${v("color-surface-muted")}; }
.align-center { text-align: center; }
.align-end { text-align: end; font-variant-numeric: tabular-nums; }
.sort {
  display: inline-flex; align-items: center; gap: ${v("space-1")}; margin: -0.25rem -0.375rem; padding: 0.25rem 0.375rem;
  font: inherit; color: inherit; background: transparent; border: 0; border-radius: ${v("radius-sm")}; cursor: pointer;
}
.sort:hover { text-decoration: underline; }
.sort:focus-visible { ${focusRing} }
.align-end .sort { flex-direction: row-reverse; }
.icon { width: 0.75rem; height: 0.75rem; fill: currentColor; opacity: 0.4; }
th[aria-sort] .icon { opacity: 1; }
.empty { padding: ${v("space-5")}; text-align: center; color: ${v("color-text-muted")}; }
`;

const ICON_NONE = '<path d="M6 1 10 5H2zM6 11 2 7h8z"/>';
const ICON_ASC = '<path d="M6 2 11 9H1z"/>';
const ICON_DESC = '<path d="M6 10 1 3h10z"/>';

function invalid(message: string, details?: Record<string, unknown>): UiKitError {
  return new UiKitError("E_UI_INVALID_TABLE_DATA", message, details);
}

function checkColumns(columns: unknown): TableColumn[] {
  if (!Array.isArray(columns)) throw invalid("columns must be an array of { key, label }");
  const seen = new Set<string>();
  columns.forEach((column: unknown, i) => {
    if (typeof column !== "object" || column === null) throw invalid(`columns[${i}] must be an object { key, label }`, { index: i });
    const { key, label, format, compare } = column as Partial<TableColumn>;
    if (typeof key !== "string" || key === "") throw invalid(`columns[${i}].key must be a non-empty string`, { index: i });
    if (seen.has(key)) throw invalid(`columns[${i}].key "${key}" repeats an earlier column; keys must be unique`, { index: i, key });
    seen.add(key);
    if (typeof label !== "string") throw invalid(`columns[${i}].label must be a string (the header text)`, { index: i });
    if (format !== undefined && typeof format !== "function") throw invalid(`columns[${i}].format must be a function`, { index: i });
    if (compare !== undefined && typeof compare !== "function") throw invalid(`columns[${i}].compare must be a function`, { index: i });
  });
  return columns as TableColumn[];
}

function checkRows(rows: unknown): TableRow[] {
  if (!Array.isArray(rows)) throw invalid("rows must be an array of objects keyed by column key");
  rows.forEach((row: unknown, i) => {
    if (typeof row !== "object" || row === null || Array.isArray(row)) throw invalid(`rows[${i}] must be an object keyed by column key`, { index: i });
  });
  return rows as TableRow[];
}

function defaultFormat(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (value instanceof Date) return value.toLocaleString();
  return String(value);
}

/**
 * `<annex-table>`: a data table from `columns` and `rows` properties. Sortable
 * columns have a real button in their header (Tab, then Enter or Space), the
 * sorted column carries aria-sort, and sorting is stable with empty cells
 * last. Cells are written as text, never HTML.
 *
 * Attributes: caption (the table's accessible name), empty-text, sort-key,
 * sort-direction (ascending | descending), manual-sort (announce the sort but
 * keep `rows` in the order given, for server-side sorting).
 * Events: annex-sort ({ key, direction }, cancelable: cancel to keep the current sort).
 */
export class AnnexTable extends AnnexElement {
  static readonly tagName = "annex-table";
  static readonly observedAttributes = ["caption", "empty-text", "sort-key", "sort-direction", "manual-sort"];

  static define(): boolean {
    return defineElement(AnnexTable.tagName, AnnexTable);
  }

  #columns: TableColumn[] = [];
  #rows: TableRow[] = [];
  #resize: ResizeObserver | undefined;

  constructor() {
    super(styles, `<div id="scroll" class="scroll" part="scroll"><table part="table"><caption id="caption"></caption><thead><tr id="head"></tr></thead><tbody id="body"></tbody></table></div>`);
    this.byId("head").addEventListener("click", (event) => {
      const button = (event.target as Element).closest<HTMLButtonElement>("button[data-key]");
      const key = button?.dataset.key;
      if (key !== undefined) this.toggleSort(key);
    });
  }

  get columns(): TableColumn[] {
    return this.#columns.slice();
  }
  set columns(columns: TableColumn[]) {
    this.#columns = checkColumns(columns).map((column) => ({ ...column }));
    this.#renderHead();
    this.#renderBody();
  }

  /** The rows as given (not sorted). */
  get rows(): TableRow[] {
    return this.#rows.slice();
  }
  set rows(rows: TableRow[]) {
    this.#rows = checkRows(rows).slice();
    this.#renderBody();
  }

  /** The rows in the order they are displayed. */
  get displayedRows(): TableRow[] {
    const key = this.sortKey;
    const column = this.#columns.find((c) => c.key === key);
    if (key === null || column === undefined || this.hasAttribute("manual-sort")) return this.#rows.slice();
    return sortRows(this.#rows, (row) => row[key], this.sortDirection, column.compare ?? compareValues);
  }

  get sortKey(): string | null {
    return this.getAttribute("sort-key");
  }
  set sortKey(key: string | null) {
    this.setOrRemove(this, "sort-key", key);
  }

  get sortDirection(): SortDirection {
    return this.getAttribute("sort-direction") === "descending" ? "descending" : "ascending";
  }
  set sortDirection(direction: SortDirection) {
    this.setAttribute("sort-direction", direction);
  }

  /**
   * Sorts by `key`: ascending first, then flips on each call. Fires a
   * cancelable `annex-sort`; returns false when a listener cancelled it or
   * the column is not sortable.
   */
  toggleSort(key: string): boolean {
    const column = this.#columns.find((c) => c.key === key);
    if (!column?.sortable) return false;
    const direction: SortDirection = this.sortKey === key && this.sortDirection === "ascending" ? "descending" : "ascending";
    if (!this.emit<SortDetail>("annex-sort", { key, direction }, true)) return false;
    this.setAttribute("sort-direction", direction);
    this.setAttribute("sort-key", key);
    return true;
  }

  connectedCallback(): void {
    this.#renderHead();
    this.#renderBody();
    if (typeof ResizeObserver === "function" && this.#resize === undefined) {
      this.#resize = new ResizeObserver(() => this.#markScrollable());
      this.#resize.observe(this.byId("scroll"));
    }
  }

  disconnectedCallback(): void {
    this.#resize?.disconnect();
    this.#resize = undefined;
  }

  attributeChangedCallback(name: string): void {
    if (name === "caption") {
      this.byId("caption").textContent = this.getAttribute("caption") ?? "";
      this.#markScrollable();
      return;
    }
    this.#updateSortState();
    this.#renderBody();
  }

  #renderHead(): void {
    const head = this.byId("head");
    const cells = this.#columns.map((column) => {
      const th = document.createElement("th");
      th.setAttribute("scope", "col");
      th.dataset.key = column.key;
      if (column.align && column.align !== "start") th.className = `align-${column.align}`;
      if (column.sortable) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "sort";
        button.dataset.key = column.key;
        button.setAttribute("part", "sort-button");
        const label = document.createElement("span");
        label.textContent = column.label;
        const icon = document.createElementNS("http://www.w3.org/2000/svg", "svg");
        icon.setAttribute("class", "icon");
        icon.setAttribute("viewBox", "0 0 12 12");
        icon.setAttribute("aria-hidden", "true");
        button.append(label, icon);
        th.append(button);
      } else {
        th.textContent = column.label;
      }
      return th;
    });
    head.replaceChildren(...cells);
    this.#updateSortState();
  }

  // Updates headers in place, so the focused sort button keeps focus across a sort.
  #updateSortState(): void {
    const key = this.sortKey;
    const direction = this.sortDirection;
    for (const th of Array.from(this.byId("head").children) as HTMLTableCellElement[]) {
      const active = th.dataset.key === key;
      this.setOrRemove(th, "aria-sort", active ? direction : null);
      const icon = th.querySelector("svg");
      if (icon) icon.innerHTML = active ? (direction === "ascending" ? ICON_ASC : ICON_DESC) : ICON_NONE;
    }
  }

  #renderBody(): void {
    const body = this.byId("body");
    const columns = this.#columns;
    const rows = this.displayedRows;
    if (rows.length === 0) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = Math.max(columns.length, 1);
      td.className = "empty";
      td.textContent = this.getAttribute("empty-text") ?? "No data";
      tr.append(td);
      body.replaceChildren(tr);
      return;
    }
    body.replaceChildren(
      ...rows.map((row) => {
        const tr = document.createElement("tr");
        for (const column of columns) {
          const td = document.createElement("td");
          if (column.align && column.align !== "start") td.className = `align-${column.align}`;
          const value = row[column.key];
          td.textContent = column.format ? column.format(value, row) : defaultFormat(value);
          tr.append(td);
        }
        return tr;
      }),
    );
    this.#markScrollable();
  }

  // A table wider than its box becomes a focusable, named region so keyboard users can scroll it.
  #markScrollable(): void {
    const scroll = this.byId("scroll");
    const overflowing = scroll.scrollWidth > scroll.clientWidth;
    this.setOrRemove(scroll, "tabindex", overflowing ? "0" : null);
    this.setOrRemove(scroll, "role", overflowing ? "region" : null);
    this.setOrRemove(scroll, "aria-label", overflowing ? this.getAttribute("caption") || "Table" : null);
  }
}
