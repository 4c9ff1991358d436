// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { AdminError, catalogueOf, type AnnexExtensionList, type ExtensionActionDetail } from "../src/index.js";
import { $, $$, create, events, press, textOf } from "./fixtures-dom.js";
import { installOf, manifestOf, versionOf } from "./fixtures.js";

const v1 = versionOf(manifestOf(), 1);
const v2 = versionOf(manifestOf({ version: "1.1.0" }), 2);
const v3pre = versionOf(manifestOf({ version: "2.0.0-beta.1" }), 3);
const crm = versionOf(manifestOf({ id: "beta.crm", publisher: "beta", name: "Beta CRM", capabilities: [], secrets: [], config: {} }), 4, { trustClass: "community" });
const unsigned = versionOf(manifestOf({ id: "dev.tool", publisher: "dev", name: "Dev tool" }), 5, { signed: false, mode: "dev", keyId: null, trustClass: null });

function list(installs = [installOf(v1)]): AnnexExtensionList {
  return create<AnnexExtensionList>("annex-extension-list", { versions: [v1, v3pre, crm, v2, unsigned], installs });
}

describe("<annex-extension-list>", () => {
  it("groups versions per extension, newest release first, and finds the upgrade a tenant's install can take", () => {
    const entries = catalogueOf([v1, v3pre, crm, v2], [installOf(v1)]);
    expect(entries.map((e) => e.extensionId)).toEqual(["acme.analytics", "beta.crm"]);
    expect(entries[0]!.versions.map((v) => v.version)).toEqual(["2.0.0-beta.1", "1.1.0", "1.0.0"]);
    expect(entries[0]!.latest.version).toBe("1.1.0"); // a pre-release is not offered over a release
    expect(entries[0]!.upgradeTo?.version).toBe("1.1.0");
    expect(entries[1]!.install).toBeNull();
  });

  it("shows publisher, trust class, versions and installed state in a captioned table", () => {
    const el = list();
    expect($(el, "caption").textContent).toBe("Extensions");
    expect($$(el, "thead th").map((th) => th.textContent)).toEqual(["Extension", "Publisher", "Trust", "Versions", "Installed", "Actions"]);
    const acme = $(el, 'tr[data-extension="acme.analytics"]');
    expect(textOf(acme)).toContain("Acme Analytics acme.analytics Charts of your usage.");
    expect(textOf(acme)).toContain("Trust: verified");
    expect(textOf(acme)).toContain("Latest 1.1.0 3 versions");
    expect(textOf(acme)).toContain("Active 1.0.0 Update available: 1.1.0");
    expect($(el, 'tr[data-extension="beta.crm"] [data-trust]').getAttribute("data-trust")).toBe("community");
    expect(textOf($(el, 'tr[data-extension="beta.crm"]'))).toContain("Not installed");
    expect(textOf($(el, 'tr[data-extension="dev.tool"] [data-trust]'))).toBe("Unsigned (development)");
  });

  it("offers the actions the install's state allows and emits them with the target version; it changes nothing itself", () => {
    const el = list();
    const actions = events<ExtensionActionDetail>(el, "annex-extension-action");
    const acme = $(el, 'tr[data-extension="acme.analytics"]');
    expect([...acme.querySelectorAll("annex-button")].map((b) => b.getAttribute("data-action"))).toEqual(["open", "configure", "upgrade", "disable", "uninstall"]);
    expect(acme.querySelector('[data-action="upgrade"]')!.getAttribute("label")).toBe("Upgrade to 1.1.0 Acme Analytics");
    press(acme.querySelector('[data-action="upgrade"]')!);
    press($(el, 'tr[data-extension="beta.crm"] [data-action="install"]'));
    expect(actions).toEqual([
      { action: "upgrade", extensionId: "acme.analytics", version: "1.1.0", install: el.installs[0] },
      { action: "install", extensionId: "beta.crm", version: "1.0.0", install: null },
    ]);
    expect(el.installs[0]!.version).toBe("1.0.0");
  });

  it("disabled installs offer Enable, failed ones a retry with the last error, uninstalled ones Install again", () => {
    const el = list([installOf(v2, { state: "disabled" })]);
    expect([...$(el, 'tr[data-extension="acme.analytics"]').querySelectorAll("annex-button")].map((b) => b.getAttribute("data-action"))).toEqual(["configure", "enable", "uninstall"]);
    el.installs = [installOf(v1, { state: "failed", lastError: { code: "E_BUNDLE", message: "the stored bundle failed verification" } })];
    const row = $(el, 'tr[data-extension="acme.analytics"]');
    expect(textOf(row)).toContain("the stored bundle failed verification");
    expect([...row.querySelectorAll("annex-button")].map((b) => b.textContent)).toEqual(["Retry install", "Uninstall"]);
    el.installs = [installOf(v1, { state: "uninstalled" })];
    expect([...$(el, 'tr[data-extension="acme.analytics"]').querySelectorAll("annex-button")].map((b) => b.getAttribute("data-action"))).toEqual(["install"]);
  });

  it("filters rows by name, id, publisher or description as the admin types", () => {
    const el = list();
    const input = $(el, "annex-input") as HTMLElement & { value: string };
    input.value = "crm";
    input.shadowRoot!.querySelector("input")!.dispatchEvent(new Event("input", { bubbles: true, composed: true }));
    expect($$(el, "tbody tr").map((tr) => tr.getAttribute("data-extension"))).toEqual(["beta.crm"]);
  });

  it("renders names as text, never as HTML", () => {
    const evil = versionOf(manifestOf({ id: "evil.x", publisher: "evil", name: "<img src=x onerror=alert(1)>" }), 9);
    const el = create<AnnexExtensionList>("annex-extension-list", { versions: [evil], installs: [] });
    expect(el.shadowRoot!.querySelector("img")).toBeNull();
    expect(textOf(el)).toContain("<img src=x onerror=alert(1)>");
  });

  it("refuses malformed data with E_ADMIN_INVALID_DATA and keeps what it showed", () => {
    const el = list();
    expect(() => (el.versions = [{ version: "1.0.0" } as never])).toThrow(AdminError);
    expect(() => (el.installs = "nope" as never)).toThrow(/installs must be an array/);
    expect(el.entries).toHaveLength(3);
  });

  it("says so when nothing is published", () => {
    const el = create<AnnexExtensionList>("annex-extension-list", {}, { "empty-text": "Nothing to install" });
    expect($(el, "annex-empty-state").getAttribute("heading")).toBe("Nothing to install");
  });
});
