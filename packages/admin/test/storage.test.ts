// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { AdminError, type AdminInstallStorage, type AdminSqlSchema, type AnnexStorage } from "../src/index.js";
import { $, $$, create, textOf } from "./fixtures-dom.js";

function schemaOf(overrides: Partial<AdminSqlSchema> = {}): AdminSqlSchema {
  return {
    schema: "annex_ext_3f9a",
    version: "0002",
    status: "ready",
    migrations: [
      { version: "0001", name: "0001_page_views.sql", checksum: "sha256:a3f1c2d4e5b6978812345678deadbeef", appliedAt: "2026-01-01T12:00:00.000Z", durationMs: 42 },
      { version: "0002", name: "0002_hourly.sql", checksum: "sha256:b4e2d3c4f5a6070912345678cafebabe", appliedAt: "2026-01-02T12:00:00.000Z", durationMs: 1500 },
    ],
    lastError: null,
    ...overrides,
  };
}

const analytics = (overrides: Partial<AdminInstallStorage> = {}): AdminInstallStorage => ({ installId: "i-1", extensionId: "acme.web-analytics", version: "1.0.0", state: "active", sql: schemaOf(), ...overrides });
const notes = (overrides: Partial<AdminInstallStorage> = {}): AdminInstallStorage => ({
  installId: "i-2",
  extensionId: "acme.notes",
  version: "2.1.0",
  state: "active",
  kv: { usage: { keys: 12, bytes: 1536 }, limits: { keys: 100, totalBytes: 64 * 1024 * 1024, keyBytes: 512, valueBytes: 262144 } },
  ...overrides,
});

const section = (el: Element, installId: string) => $(el, `section[data-install="${installId}"]`);
const bar = (el: Element, installId: string, key: string) => section(el, installId).querySelector(`[data-meter="${key}"] [role="meter"]`) as HTMLElement;

describe("<annex-storage>", () => {
  it("shows an owned schema: name, version, status and the applied migrations with the checksum shortened", () => {
    const el = create<AnnexStorage>("annex-storage", { installs: [analytics()], extensionNames: { "acme.web-analytics": "Web analytics" } });
    const s = section(el, "i-1");
    expect(textOf(s.querySelector("header")!)).toBe("Web analytics 1.0.0");
    expect(textOf(s.querySelector("dl.schema")!)).toBe("Schema annex_ext_3f9a Version 0002 Status ready");
    expect(s.querySelector('annex-badge[data-status="ready"]')!.getAttribute("variant")).toBe("success");
    expect($$(el, "thead th").map((th) => th.textContent)).toEqual(["Version", "Name", "Applied at", "Duration", "Checksum"]);
    expect($$(el, "tr[data-migration]").map((tr) => tr.getAttribute("data-migration"))).toEqual(["0001", "0002"]);
    const second = $(el, 'tr[data-migration="0002"]');
    expect(textOf(second)).toMatch(/^0002 0002_hourly\.sql .+ 1\.5 s b4e2d3c4f5a6$/);
    expect(textOf($(el, 'tr[data-migration="0001"]'))).toMatch(/ 42 ms a3f1c2d4e5b6$/);
    // The whole checksum is still there, for comparing with the bundle's.
    expect(second.lastElementChild!.getAttribute("title")).toBe("sha256:b4e2d3c4f5a6070912345678cafebabe");
    expect(s.querySelector("[data-error]")).toBeNull();
    expect(s.querySelector('[data-part="kv"]')).toBeNull();
  });

  it("shows a failed migration's code and message, and a pending schema with none applied", () => {
    const el = create<AnnexStorage>("annex-storage", {
      installs: [
        analytics({ sql: schemaOf({ status: "failed", version: "0001", migrations: schemaOf().migrations.slice(0, 1), lastError: { code: "E_SQL_MIGRATION_FAILED", message: "0002_hourly.sql: relation \"page_views\" already exists" } }) }),
        analytics({ installId: "i-3", extensionId: "acme.error-tracking", sql: schemaOf({ status: "pending", version: null, migrations: [] }) }),
      ],
    });
    const failed = section(el, "i-1");
    expect(failed.querySelector('annex-badge[data-status="failed"]')!.getAttribute("variant")).toBe("danger");
    expect(textOf(failed.querySelector("[data-error]")!)).toBe('Last error: E_SQL_MIGRATION_FAILED 0002_hourly.sql: relation "page_views" already exists');
    expect(failed.querySelector("[data-error]")!.getAttribute("data-error")).toBe("failed");
    expect(failed.querySelectorAll("tr[data-migration]")).toHaveLength(1);
    const pending = section(el, "i-3");
    expect(textOf(pending.querySelector("dl.schema")!)).toBe("Schema annex_ext_3f9a Version no migration applied Status pending");
    expect(pending.querySelector("annex-badge[data-status]")!.getAttribute("variant")).toBe("warning");
    expect(textOf(pending.querySelector("tbody")!)).toBe("No migration applied yet.");
  });

  it("shows kv keys and bytes against the install's limits, as meters with their figures", () => {
    const el = create<AnnexStorage>("annex-storage", { installs: [notes()] });
    expect(textOf(section(el, "i-2").querySelector('[data-part="kv"]')!)).toBe("Key-value store Keys of acme.notes 12 keys of 100 keys (12 %) Bytes of acme.notes 1.5 KiB of 64 MiB (<1 %)");
    const keys = bar(el, "i-2", "keys");
    expect([keys.getAttribute("aria-valuenow"), keys.getAttribute("aria-valuemax"), keys.getAttribute("aria-valuetext"), keys.getAttribute("data-level")]).toEqual(["12", "100", "12 keys of 100 keys (12 %)", "ok"]);
    expect(bar(el, "i-2", "bytes").getAttribute("data-level")).toBe("ok");
    expect(section(el, "i-2").querySelector('[data-part="sql"]')).toBeNull();
  });

  it("marks a kv near its quota and one at it (or over it, after the host lowered its policy)", () => {
    const el = create<AnnexStorage>("annex-storage", {
      installs: [notes({ kv: { usage: { keys: 85, bytes: 2048 }, limits: { keys: 100, totalBytes: 1024 } } })],
    });
    expect(bar(el, "i-2", "keys").getAttribute("data-level")).toBe("high");
    const bytes = bar(el, "i-2", "bytes");
    expect(bytes.getAttribute("data-level")).toBe("full");
    // The bar stops at full; the text says the truth.
    expect(bytes.getAttribute("aria-valuenow")).toBe("1024");
    expect(bytes.getAttribute("aria-valuetext")).toBe("2 KiB of 1 KiB (200 %)");
    expect((bytes.firstElementChild as HTMLElement).getAttribute("style")).toBe("width: 100.0%");
  });

  it("shows both parts for an install with both, leaves out installs without storage, and says when none has any", () => {
    const el = create<AnnexStorage>("annex-storage", {
      installs: [analytics({ kv: notes().kv, state: "disabled" }), { installId: "i-9", extensionId: "acme.hello", version: "1.0.0", kv: null, sql: null }],
    });
    expect($$(el, "section[data-install]").map((s) => s.getAttribute("data-install"))).toEqual(["i-1"]);
    expect(section(el, "i-1").querySelectorAll("[data-part]")).toHaveLength(2);
    expect(textOf(section(el, "i-1").querySelector("header")!)).toBe("acme.web-analytics 1.0.0 disabled");
    el.installs = [];
    expect(textOf($(el, "[data-empty]"))).toBe("No storage: no installed extension keeps a key-value store or an owned schema.");
    el.setAttribute("empty-text", "Nothing stored.");
    el.setAttribute("caption", "Data");
    expect(textOf(el)).toBe("Data Nothing stored.");
  });

  it("shows an owned schema's disk against its quota when the host measured it, and warns near it", () => {
    const el = create<AnnexStorage>("annex-storage", {
      installs: [analytics({ sql: schemaOf({ bytes: 230 * 1024 * 1024, maxBytes: 256 * 1024 * 1024 }) }), analytics({ installId: "i-3", sql: schemaOf() })],
      extensionNames: { "acme.web-analytics": "Web analytics" },
    });
    const disk = bar(el, "i-1", "disk");
    expect([disk.getAttribute("aria-label"), disk.getAttribute("aria-valuetext"), disk.getAttribute("data-level")]).toEqual(["Disk of Web analytics's tables", "230 MiB of 256 MiB (90 %)", "high"]);
    // No measurement (an older host, or one that could not measure): no meter.
    expect(section(el, "i-3").querySelector('[data-meter="disk"]')).toBeNull();
    expect(() => (el.installs = [analytics({ sql: schemaOf({ bytes: -1, maxBytes: 1 }) })])).toThrow(/\.sql\.bytes/);
  });

  it("refuses data that is not install storage, naming the install, and keeps what it showed", () => {
    const el = create<AnnexStorage>("annex-storage", { installs: [analytics()] });
    expect(() => (el.installs = "nope" as unknown as AdminInstallStorage[])).toThrow(expect.objectContaining({ code: "E_ADMIN_INVALID_DATA", details: { field: "installs" } }));
    expect(() => (el.installs = [analytics(), notes({ kv: { usage: { keys: -1, bytes: 0 }, limits: { keys: 1, totalBytes: 1 } } })])).toThrow(
      expect.objectContaining({ code: "E_ADMIN_INVALID_DATA", details: { field: "installs[1]" } }),
    );
    expect(() => (el.installs = [analytics({ sql: schemaOf({ status: "done" as never }) })])).toThrow(AdminError);
    expect(() => (el.installs = [analytics({ sql: schemaOf({ migrations: [{ version: "0001" } as never] }) })])).toThrow(/migrations\[0\]/);
    expect(() => (el.installs = [{ installId: "i-1" } as unknown as AdminInstallStorage])).toThrow(AdminError);
    expect($$(el, "tr[data-migration]")).toHaveLength(2);
  });

  it("writes what extensions provide as text, never as HTML", () => {
    const hostile = "<img src=x onerror=alert(1)>";
    const el = create<AnnexStorage>("annex-storage", {
      installs: [
        analytics({
          version: "<b>1</b>",
          state: "<i>x</i>" as never,
          kv: notes().kv,
          sql: schemaOf({
            schema: "<u>schema</u>",
            version: "<s>0002</s>",
            status: "failed",
            migrations: [{ version: "<em>0001</em>", name: hostile, checksum: "<a href=x>sum</a>", appliedAt: "2026-01-01T12:00:00Z", durationMs: 3 }],
            lastError: { code: "<code>E</code>", message: "<script>alert(1)</script>" },
          }),
        }),
      ],
      extensionNames: { "acme.web-analytics": "<svg onload=alert(1)>" },
    });
    expect($$(el, "img, b, i, u, s, em, a, script, svg")).toEqual([]);
    const text = textOf(el);
    for (const literal of [hostile, "<b>1</b>", "<i>x</i>", "<u>schema</u>", "<s>0002</s>", "<em>0001</em>", "<a href=x>su", "<code>E</code> <script>alert(1)</script>", "Keys of <svg onload=alert(1)>"]) {
      expect(text).toContain(literal);
    }
    // An install id never becomes markup either: it is only an attribute value.
    el.installs = [analytics({ installId: '"><img src=x>' })];
    expect($$(el, "img")).toEqual([]);
    expect($(el, "section[data-install]").getAttribute("data-install")).toBe('"><img src=x>');
  });
});
