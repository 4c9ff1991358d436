// @vitest-environment happy-dom
import { describe, expect, it, vi } from "vitest";
import { AnnexTable, isUiKitError, type TableColumn } from "../src/index.js";
import { mount, shadow } from "./dom.js";

const columns: TableColumn[] = [
  { key: "name", label: "Extension", sortable: true },
  { key: "calls", label: "Calls", sortable: true, align: "end", format: (v) => (v == null ? "—" : Number(v).toLocaleString("en")) },
  { key: "status", label: "Status" },
];
const rows = [
  { name: "billing 10", calls: 1200, status: "active" },
  { name: "Audit", calls: null, status: "paused" },
  { name: "billing 2", calls: 87, status: "active" },
  { name: "crm", calls: 87, status: "failed" },
];

function setup(attrs = ""): AnnexTable {
  const el = mount<AnnexTable>(`<annex-table caption="Extensions" ${attrs}></annex-table>`);
  el.columns = columns;
  el.rows = rows;
  return el;
}

const column = (el: AnnexTable, i: number) =>
  Array.from(el.shadowRoot?.querySelectorAll("tbody tr") ?? []).map((tr) => tr.children[i]?.textContent);
const header = (el: AnnexTable, key: string) => shadow<HTMLTableCellElement>(el, `th[data-key="${key}"]`);

describe("<annex-table>", () => {
  it("renders a captioned table with column headers and text cells", () => {
    const el = setup();
    expect(shadow(el, "caption").textContent).toBe("Extensions");
    const ths = Array.from(el.shadowRoot?.querySelectorAll("th") ?? []);
    expect(ths.map((th) => th.getAttribute("scope"))).toEqual(["col", "col", "col"]);
    expect(ths.map((th) => th.textContent)).toEqual(["Extension", "Calls", "Status"]);
    expect(column(el, 0)).toEqual(["billing 10", "Audit", "billing 2", "crm"]);
    expect(column(el, 1)).toEqual(["1,200", "—", "87", "87"]);
    // Only sortable columns get a button; no column is sorted yet.
    expect(header(el, "name").querySelector("button")).not.toBeNull();
    expect(header(el, "status").querySelector("button")).toBeNull();
    expect(ths.some((th) => th.hasAttribute("aria-sort"))).toBe(false);
  });

  it("sorts on header activation, naturally and stably, flipping direction and moving aria-sort", () => {
    const el = setup();
    const onSort = vi.fn();
    el.addEventListener("annex-sort", onSort);
    const nameButton = header(el, "name").querySelector("button") as HTMLButtonElement;
    nameButton.click();
    expect(header(el, "name").getAttribute("aria-sort")).toBe("ascending");
    expect(column(el, 0)).toEqual(["Audit", "billing 2", "billing 10", "crm"]);
    expect(onSort.mock.calls[0]?.[0].detail).toEqual({ key: "name", direction: "ascending" });

    nameButton.click();
    expect(header(el, "name").getAttribute("aria-sort")).toBe("descending");
    expect(column(el, 0)).toEqual(["crm", "billing 10", "billing 2", "Audit"]);

    (header(el, "calls").querySelector("button") as HTMLButtonElement).click();
    expect(header(el, "name").hasAttribute("aria-sort")).toBe(false);
    expect(header(el, "calls").getAttribute("aria-sort")).toBe("ascending");
    // Ties keep their original order; the empty cell goes last.
    expect(column(el, 0)).toEqual(["billing 2", "crm", "billing 10", "Audit"]);
    el.toggleSort("calls");
    expect(column(el, 0)).toEqual(["billing 10", "billing 2", "crm", "Audit"]);
    // The rows property is never reordered, only the display.
    expect(el.rows.map((r) => r.name)).toEqual(rows.map((r) => r.name));
  });

  it("keeps focus on the header button across a sort (keyboard users keep their place)", () => {
    const el = setup();
    const button = header(el, "name").querySelector("button") as HTMLButtonElement;
    button.focus();
    button.click();
    button.click();
    expect(el.shadowRoot?.activeElement).toBe(button);
    expect(header(el, "name").querySelector("button")).toBe(button);
  });

  it("ignores unsortable columns and lets a listener cancel a sort", () => {
    const el = setup();
    expect(el.toggleSort("status")).toBe(false);
    expect(el.toggleSort("nope")).toBe(false);
    el.addEventListener("annex-sort", (event) => event.preventDefault(), { once: true });
    expect(el.toggleSort("name")).toBe(false);
    expect(el.sortKey).toBeNull();
    expect(column(el, 0)).toEqual(rows.map((r) => r.name));
  });

  it("takes the sort from attributes, and manual-sort keeps the given order", () => {
    const el = setup(`sort-key="calls" sort-direction="descending"`);
    expect(header(el, "calls").getAttribute("aria-sort")).toBe("descending");
    expect(column(el, 0)[0]).toBe("billing 10");
    el.setAttribute("manual-sort", "");
    expect(column(el, 0)).toEqual(rows.map((r) => r.name));
    expect(header(el, "calls").getAttribute("aria-sort")).toBe("descending");
  });

  it("shows the empty text when there are no rows", () => {
    const el = setup(`empty-text="No extensions installed"`);
    el.rows = [];
    const cells = el.shadowRoot?.querySelectorAll("tbody td") ?? [];
    expect(cells).toHaveLength(1);
    expect(cells[0]?.textContent).toBe("No extensions installed");
    expect((cells[0] as HTMLTableCellElement).colSpan).toBe(3);
  });

  it("writes cell values as text, never HTML", () => {
    const el = setup();
    el.rows = [{ name: `<img src=x onerror="globalThis.pwned=1">`, calls: 1, status: "<b>x</b>" }];
    expect(el.shadowRoot?.querySelector("tbody img, tbody b")).toBeNull();
    expect(column(el, 0)).toEqual([`<img src=x onerror="globalThis.pwned=1">`]);
  });

  it("rejects malformed columns and rows with the path in the message", () => {
    const el = setup();
    const cases: [() => void, string][] = [
      [() => (el.columns = "x" as never), "columns must be an array"],
      [() => (el.columns = [{ key: "", label: "A" }]), "columns[0].key"],
      [() => (el.columns = [{ key: "a", label: "A" }, { key: "a", label: "B" }]), 'columns[1].key "a" repeats'],
      [() => (el.columns = [{ key: "a" } as never]), "columns[0].label"],
      [() => (el.columns = [{ key: "a", label: "A", format: "x" } as never]), "columns[0].format"],
      [() => (el.rows = {} as never), "rows must be an array"],
      [() => (el.rows = [{ a: 1 }, null] as never), "rows[1]"],
    ];
    for (const [action, message] of cases) {
      try {
        action();
        expect.unreachable(message);
      } catch (error) {
        expect(isUiKitError(error, "E_UI_INVALID_TABLE_DATA"), String(error)).toBe(true);
        expect((error as Error).message).toContain(message);
      }
    }
    // A rejected assignment leaves the table as it was.
    expect(el.columns).toHaveLength(3);
    expect(column(el, 0)).toEqual(rows.map((r) => r.name));
  });
});
