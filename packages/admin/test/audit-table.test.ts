// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { AdminError, matchesAuditFilter, type AnnexAuditTable, type AuditFilterDetail, type AuditMoreDetail } from "../src/index.js";
import { $, $$, create, events, press, textOf, tick } from "./fixtures-dom.js";
import { auditOf } from "./fixtures.js";

type Input = HTMLElement & { value: string };

const entries = [
  auditOf(1),
  auditOf(2, { action: "install.upgrade", actor: "user:bob", details: { from: "1.0.0", to: "1.1.0" } }),
  auditOf(3, { action: "gateway.request", actor: "user:ada", decision: "deny", target: "acme.analytics", details: { code: "E_RATE_LIMITED" } }),
  auditOf(4, { action: "registry.publish", actor: "system", tenant: null, decision: "error", target: "acme.analytics@1.1.0" }),
];

const ids = (el: Element) => $$(el, "tbody tr[data-id]").map((tr) => tr.getAttribute("data-id"));

describe("<annex-audit-table>", () => {
  it("shows each line with time, actor, action, target, decision and expandable details", () => {
    const el = create<AnnexAuditTable>("annex-audit-table", { entries });
    expect($$(el, "thead th").map((th) => th.textContent)).toEqual(["Time", "Actor", "Action", "Target", "Decision", "Details"]);
    expect(ids(el)).toEqual(["1", "2", "3", "4"]);
    const row = $(el, 'tr[data-id="3"]');
    expect(textOf(row)).toContain("user:ada gateway.request acme.analytics deny");
    expect(row.querySelector("pre")!.textContent).toBe('{\n  "code": "E_RATE_LIMITED"\n}');
    expect(textOf($(el, "caption"))).toBe("Audit log , 4 of 4 lines shown");
  });

  it("filters by action prefix, actor, decision and time, and emits the filter for server-side paging", async () => {
    const el = create<AnnexAuditTable>("annex-audit-table", { entries });
    const filters = events<AuditFilterDetail>(el, "annex-audit-filter");
    const input = (name: string) => $(el, `[name="${name}"]`) as Input;
    input("action").value = "install.";
    press($(el, 'annex-button[type="submit"]'));
    await tick();
    expect(ids(el)).toEqual(["1", "2"]);
    expect(filters.at(-1)).toEqual({ filter: { action: "install." } });
    input("actor").value = "user:bob";
    press($(el, 'annex-button[type="submit"]'));
    await tick();
    expect(ids(el)).toEqual(["2"]);
    expect(filters.at(-1)).toEqual({ filter: { action: "install.", actor: "user:bob" } });
    press([...el.shadowRoot!.querySelectorAll("annex-button")].find((b) => b.textContent === "Clear")!);
    expect(ids(el)).toEqual(["1", "2", "3", "4"]);
    expect(filters.at(-1)).toEqual({ filter: {} });
    el.filter = { decision: "error" };
    expect(ids(el)).toEqual(["4"]);
    el.filter = { since: new Date(Date.UTC(2026, 0, 1, 12, 2)), until: new Date(Date.UTC(2026, 0, 1, 12, 3)) };
    expect(ids(el)).toEqual(["2", "3"]);
    el.filter = { action: "gateway" };
    expect(textOf($(el, "tbody"))).toBe("No audit lines match.");
  });

  it("matches actions exactly unless the filter ends in a dot", () => {
    expect(matchesAuditFilter(auditOf(1, { action: "install.create" }), { action: "install" })).toBe(false);
    expect(matchesAuditFilter(auditOf(1, { action: "install.create" }), { action: "install." })).toBe(true);
    expect(matchesAuditFilter(auditOf(1, { action: "installer.x" }), { action: "install." })).toBe(false);
  });

  it("asks for more lines after the last one when the host says there are more", () => {
    const el = create<AnnexAuditTable>("annex-audit-table", { entries }, { "has-more": "" });
    const more = events<AuditMoreDetail>(el, "annex-audit-more");
    press($(el, "annex-button.more"));
    expect(more).toEqual([{ lastId: "4", filter: {} }]);
  });

  it("renders a page of lines at a time, says how many of how many it shows, and shows the next page on request", () => {
    const many = Array.from({ length: 20_000 }, (_, i) => auditOf(i + 1));
    const el = create<AnnexAuditTable>("annex-audit-table", { entries: many }, { "has-more": "" });
    expect(ids(el)).toHaveLength(200);
    expect(el.pageSize).toBe(200);
    expect(textOf($(el, ".paging"))).toBe("Showing 200 of 20000 lines.");
    expect(textOf($(el, "caption"))).toBe("Audit log , 200 of 20000 lines shown");
    // The host's next page comes after the last line given: Load more waits until every line given is shown.
    expect($$(el, "annex-button.more")).toEqual([]);
    press($(el, "annex-button.show-more"));
    expect(ids(el)).toHaveLength(400);
    expect(ids(el).slice(199, 201)).toEqual(["200", "201"]);
    expect(textOf($(el, ".paging"))).toBe("Showing 400 of 20000 lines.");
    expect(el.shownEntries).toHaveLength(20_000);
    // New filters start again from the first page.
    el.filter = { actor: "user:ada" };
    expect(ids(el)).toHaveLength(200);
  });

  it("takes another page size from page-size or pageSize, refusing one that is not a whole number from 1 to 5000", () => {
    const el = create<AnnexAuditTable>("annex-audit-table", { entries: Array.from({ length: 250 }, (_, i) => auditOf(i + 1)) }, { "page-size": "100", "has-more": "" });
    expect(ids(el)).toHaveLength(100);
    press($(el, "annex-button.show-more"));
    press($(el, "annex-button.show-more"));
    expect(ids(el)).toHaveLength(250);
    expect($$(el, "annex-button.show-more")).toEqual([]);
    const more = events<AuditMoreDetail>(el, "annex-audit-more");
    press($(el, "annex-button.more"));
    expect(more).toEqual([{ lastId: "250", filter: {} }]);
    // The host's next page, appended, is rendered at once rather than behind another Show more.
    el.entries = [...el.entries, ...Array.from({ length: 100 }, (_, i) => auditOf(251 + i))];
    expect(ids(el)).toHaveLength(350);
    el.pageSize = 50;
    expect(el.getAttribute("page-size")).toBe("50");
    expect(ids(el)).toHaveLength(50);
    for (const bad of [0, 2.5, 5001, Number.NaN, "10"]) {
      expect(() => (el.pageSize = bad as never)).toThrowError(expect.objectContaining({ code: "E_ADMIN_INVALID_DATA", details: { field: "pageSize" } }));
    }
    expect(ids(el)).toHaveLength(50);
    // An attribute cannot throw: one that is no page size means the default.
    el.setAttribute("page-size", "lots");
    expect(el.pageSize).toBe(200);
    expect(ids(el)).toHaveLength(200);
  });

  it("refuses entries that are not audit lines", () => {
    const el = create<AnnexAuditTable>("annex-audit-table", { entries });
    expect(() => (el.entries = [{ id: "1" } as never])).toThrow(AdminError);
    expect(ids(el)).toHaveLength(4);
  });
});
