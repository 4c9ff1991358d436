// @vitest-environment happy-dom
/**
 * What an admin API can hand the components after a trip through JSON, or
 * get wrong: dates as strings, missing fields, keys that name Object's own
 * members. Each setter either takes it or refuses it with
 * E_ADMIN_INVALID_DATA naming the field, and keeps rendering what it had;
 * none throws a raw TypeError half-way or stays stuck afterwards.
 */
import { describe, expect, it } from "vitest";
import type { AdminAuditEntry, AdminJob, AnnexAuditTable, AnnexConfigForm, AnnexDeadLetters, AnnexExtensionList, AnnexJobs, AnnexUsagePanel } from "../src/index.js";
import { $, $$, create, textOf } from "./fixtures-dom.js";
import { manifestOf, versionOf } from "./fixtures.js";

const invalid = (field: string) => expect.objectContaining({ code: "E_ADMIN_INVALID_DATA", details: expect.objectContaining({ field }) });

const entry = (n: number, at: string): AdminAuditEntry => ({ id: String(n), at, actor: "user:ada", tenant: "acme", action: "install.create", target: "acme.analytics", decision: "allow", details: {} });

describe("hostile data from an admin API", () => {
  it("audit table: takes filter dates as ISO strings (as JSON delivers them), refuses one that is no date", () => {
    const el = create<AnnexAuditTable>("annex-audit-table", { entries: [entry(1, "2026-01-01T10:00:00.000Z"), entry(2, "2026-01-03T10:00:00.000Z")] });
    el.filter = { since: "2026-01-02T00:00:00.000Z" };
    expect(el.shownEntries.map((e) => e.id)).toEqual(["2"]);
    expect(() => (el.filter = { until: "next tuesday" })).toThrowError(invalid("filter.until"));
    el.entries = [entry(3, "2026-01-04T10:00:00.000Z")];
    expect(el.shownEntries.map((e) => e.id)).toEqual(["3"]);
  });

  it("dead letters: refuses a letter without its lastError (null or { code, message })", () => {
    const letter = { deliveryId: "d-1", eventId: "e-1", tenant: "acme", type: "order.created", installId: "i-1", extensionId: "acme.analytics", attempts: 3, payload: {}, occurredAt: "2026-01-01T12:00:00.000Z", failedAt: "2026-01-01T12:05:00.000Z" };
    const el = create<AnnexDeadLetters>("annex-dead-letters", { letters: [{ ...letter, lastError: null }] });
    expect(() => (el.letters = [letter as never])).toThrowError(invalid("letters[0]"));
    expect($$(el, "tbody tr[data-delivery]")).toHaveLength(1);
  });

  it("usage panel and config form: refuse a summary or errors of the wrong shape, and go on rendering", () => {
    const panel = create<AnnexUsagePanel>("annex-usage-panel", {});
    expect(() => (panel.summary = {} as never)).toThrowError(invalid("summary"));
    expect(() => (panel.summary = "fast" as never)).toThrowError(invalid("summary"));
    panel.records = [];
    const form = create<AnnexConfigForm>("annex-config-form", { settings: { greeting: { type: "string", required: false } }, values: {} });
    expect(() => (form.errors = [{}] as never)).toThrowError(invalid("errors"));
    form.values = { greeting: "hi" };
    expect(textOf(form)).toContain("Greeting");
  });

  it("jobs: refuses a running that is not true or false (the string \"false\" is truthy), and keeps showing the job as it was", () => {
    const job: AdminJob = { installId: "i-1", tenant: "acme", extensionId: "acme.analytics", name: "rollup", cron: "5 * * * *", timezone: "UTC", nextRunAt: "2026-01-01T13:05:00.000Z", running: false };
    const el = create<AnnexJobs>("annex-jobs", { jobs: [job] });
    for (const running of ["false", "true", 0, null, undefined]) {
      expect(() => (el.jobs = [{ ...job, running } as never])).toThrowError(invalid("jobs[0].running"));
    }
    const { running: _running, ...without } = job;
    expect(() => (el.jobs = [without as never])).toThrowError(invalid("jobs[0].running"));
    expect(textOf($(el, 'tr[data-job="i-1/rollup"]'))).not.toContain("running");
    expect($(el, 'annex-button[data-action="run"]').hasAttribute("disabled")).toBe(false);
  });

  it("extension list: refuses a manifest without a name; shows an install state named like Object's members as plain text", () => {
    const version = versionOf(manifestOf());
    const { name: _name, ...nameless } = version.manifest;
    const el = create<AnnexExtensionList>("annex-extension-list", { versions: [version] });
    expect(() => (el.versions = [{ ...version, manifest: nameless } as never])).toThrowError(invalid("versions[0]"));
    el.installs = [{ id: "i-1", tenant: "acme", extensionId: "acme.analytics", version: "1.0.0", state: "constructor" as never, grants: [], config: {}, lastError: null } as never];
    expect(textOf(el)).toContain("constructor");
    expect(textOf(el)).not.toContain("function");
  });
});
