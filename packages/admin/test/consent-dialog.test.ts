// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import type { AnnexConsentDialog, ConsentCancelDetail, ConsentDetail } from "../src/index.js";
import { $, $$, create, events, press, textOf } from "./fixtures-dom.js";
import { manifestOf, versionOf } from "./fixtures.js";

const version = versionOf(
  manifestOf({
    capabilities: [
      { name: "log", reason: "Writes request logs for debugging." },
      { name: "http.fetch", hosts: ["api.acme.example", "*.cdn.acme.example"], reason: "Fetches the charts from Acme's API." },
      { name: "secrets.read", names: ["API_TOKEN"], reason: "Signs its calls to Acme." },
      { name: "user.read", reason: "Shows who created a report." },
      { name: "host:crm.contacts.read", params: { fields: ["name"] }, reason: "Shows contact names next to orders." },
    ],
  }),
);

function dialog(props: Record<string, unknown> = {}): AnnexConsentDialog {
  return create<AnnexConsentDialog>("annex-consent-dialog", { version, hostCapabilities: { "crm.contacts.read": "Reads contacts of the CRM." }, ...props });
}

const inner = (el: AnnexConsentDialog) => $(el, "annex-dialog") as HTMLElement & { open: boolean };

describe("<annex-consent-dialog>", () => {
  it("lists every capability with what it allows, its parameters and the extension's reason", () => {
    const el = dialog();
    el.show();
    expect(inner(el).getAttribute("heading")).toBe("Install \u2068Acme Analytics\u2069 1.0.0?");
    const items = $$(el, "ul.caps > li");
    expect(items.map((li) => li.getAttribute("data-capability"))).toEqual(["log", "http.fetch", "secrets.read", "user.read", "host:crm.contacts.read"]);
    expect(textOf(items[1]!)).toBe("Call external services http.fetch Sends HTTP requests to these hosts only. Why: Fetches the charts from Acme's API. Hosts: api.acme.example, *.cdn.acme.example");
    expect(textOf(items[3]!)).toContain("Learns the signed-in user's id, name and email address.");
    expect(textOf(items[4]!)).toBe('Use crm.contacts.read host:crm.contacts.read Reads contacts of the CRM. Why: Shows contact names next to orders. Parameters: {"fields":["name"]}');
    expect(textOf(el)).toContain("acme.analytics by acme");
    expect(textOf(el)).toContain("Trust: verified");
  });

  it("shows each variant of a host capability with its own reason and parameters", () => {
    // parseManifest asks for one entry per name; a version from an admin API is not parsed again and may hold several.
    const variants = [
      { name: "host:crm.contacts.read", params: { scope: "own" }, reason: "Shows your own contacts." },
      { name: "host:crm.contacts.read", params: { scope: "all" }, reason: "Exports every contact." },
    ];
    const el = dialog({ version: versionOf({ ...manifestOf(), capabilities: variants } as never) });
    el.show();
    expect($$(el, "ul.caps > li").map((li) => textOf(li.querySelector(".cap-reason")!) + " " + textOf(li.querySelector(".cap-params")!))).toEqual([
      'Why: Shows your own contacts. Parameters: {"scope":"own"}',
      'Why: Exports every contact. Parameters: {"scope":"all"}',
    ]);
  });

  it("refuses a version it cannot show, keeping the one on screen: Approve consents to what the admin sees, never to the refused one", () => {
    const el = dialog();
    const consents = events<ConsentDetail>(el, "annex-consent");
    el.show();
    const other = versionOf(manifestOf({ id: "evil.exfil", publisher: "evil", capabilities: [{ name: "http.fetch", hosts: ["*.evil.example"], reason: "Sends your data away." }] }));
    const { provenance: _missing, ...noProvenance } = other;
    expect(() => (el.version = noProvenance as never)).toThrowError(expect.objectContaining({ code: "E_ADMIN_INVALID_DATA", details: { field: "version" } }));
    expect(() => (el.version = { ...other, manifest: { ...other.manifest, capabilities: "all" } } as never)).toThrowError(expect.objectContaining({ code: "E_ADMIN_INVALID_DATA" }));
    expect(() => (el.grantedBefore = [{}] as never)).toThrowError(expect.objectContaining({ code: "E_ADMIN_INVALID_DATA", details: { field: "grantedBefore" } }));
    expect(textOf(el)).toContain("acme.analytics by acme");
    press($(el, '[data-action="approve"]'));
    expect(consents.map((detail) => detail.extensionId)).toEqual(["acme.analytics"]);
  });

  it("shows parameters with bidirectional and invisible characters escaped, so they cannot display as something else", () => {
    // Manifests refuse these now; one published before that, or an admin API answer, may still hold them.
    const manifest = manifestOf({ capabilities: [{ name: "host:crm.contacts.read", params: { note: "x", scope: "admin" }, reason: "Reads contacts." }] });
    const hostile = { ...manifest, capabilities: [{ ...manifest.capabilities[0]!, params: { note: "\u202e", scope: "adm\u200bin" } }] };
    const el = dialog({ version: versionOf(hostile as never) });
    el.show();
    expect(textOf($(el, "ul.caps > li"))).toContain('Parameters: {"note":"\\u202e","scope":"adm\\u200bin"}');
  });

  it("opens modal with focus on the capability list, a named, focusable region", () => {
    const el = dialog();
    const opener = document.createElement("button");
    document.body.append(opener);
    opener.focus();
    el.show();
    expect(el.open).toBe(true);
    const region = $(el, "section.caps-region");
    expect(region.getAttribute("role")).toBe("region");
    expect(region.getAttribute("tabindex")).toBe("0");
    expect($(el, `#${region.getAttribute("aria-labelledby")}`).textContent).toBe("It asks to");
    expect(el.shadowRoot!.activeElement).toBe(region);
  });

  it("approving emits exactly the grants the version requests, without reasons, and closes", () => {
    const el = dialog();
    const consents = events<ConsentDetail>(el, "annex-consent");
    el.show();
    press($(el, '[data-action="approve"]'));
    expect(consents).toEqual([
      {
        extensionId: "acme.analytics",
        version: "1.0.0",
        grants: [
          { name: "log" },
          { name: "http.fetch", hosts: ["api.acme.example", "*.cdn.acme.example"] },
          { name: "secrets.read", names: ["API_TOKEN"] },
          { name: "user.read" },
          { name: "host:crm.contacts.read", params: { fields: ["name"] } },
        ],
      },
    ]);
    expect(el.open).toBe(false);
  });

  it("a listener that cancels annex-consent keeps the dialog open", () => {
    const el = dialog();
    el.addEventListener("annex-consent", (event) => event.preventDefault());
    el.show();
    press($(el, '[data-action="approve"]'));
    expect(el.open).toBe(true);
  });

  it("Escape, the close button and Cancel decline with their reason; nothing is granted", () => {
    const el = dialog();
    const consents = events<ConsentDetail>(el, "annex-consent");
    const cancels = events<ConsentCancelDetail>(el, "annex-consent-cancel");
    const leaked = events(el, "annex-close");
    el.show();
    $(el, "section.caps-region").dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true, composed: true, cancelable: true }));
    expect(el.open).toBe(false);
    el.show();
    press($(el, '[data-action="cancel"]'));
    el.show();
    (inner(el).shadowRoot!.querySelector("#close") as HTMLButtonElement).click();
    expect(cancels.map((c) => c.reason)).toEqual(["escape", "cancel-button", "close-button"]);
    expect(cancels[0]).toEqual({ extensionId: "acme.analytics", version: "1.0.0", reason: "escape" });
    expect(consents).toEqual([]);
    expect(leaked).toEqual([]);
  });

  it("for an upgrade, marks what is new or wider than the install's grants", () => {
    const el = dialog({ grantedBefore: [{ name: "log" }, { name: "http.fetch", hosts: ["api.acme.example"] }, { name: "secrets.read", names: ["API_TOKEN"] }] });
    el.show();
    expect(inner(el).getAttribute("heading")).toBe("Upgrade \u2068Acme Analytics\u2069 1.0.0?");
    const marks = Object.fromEntries($$(el, "ul.caps > li").map((li) => [li.getAttribute("data-capability"), [...li.querySelectorAll("annex-badge")].map((b) => b.textContent)]));
    expect(marks).toEqual({ log: [], "http.fetch": ["Wider"], "secrets.read": [], "user.read": ["New"], "host:crm.contacts.read": ["New"] });
    expect($(el, '[data-action="approve"]').textContent).toBe("Approve and upgrade");
  });

  it("says so when a version asks for nothing", () => {
    const el = dialog({ version: versionOf(manifestOf({ capabilities: [] })) });
    el.show();
    expect(textOf(el)).toContain("It asks for no capabilities.");
  });

  it("at install, shows who can reach it without signing in: public endpoints, webhooks and public pages", () => {
    const closed = dialog();
    closed.show();
    expect(textOf($(closed, "section.exposure-region"))).toBe("Who can reach it Only signed-in users of this application: it has no public endpoints, webhooks or public pages.");
    closed.close();

    const open = dialog({
      version: versionOf(
        manifestOf({
          endpoints: [
            { class: "api", method: "GET", path: "/stats", handler: "stats" },
            { class: "public", method: "GET", path: "/badge", handler: "badge", cors: { origins: ["*"] } },
            { class: "webhook", method: "POST", path: "/stripe", handler: "stripe", verify: "annex" },
          ],
          ui: { pages: [{ slot: "public", path: "/", entry: "ui/public.html", title: "Status" }] },
        }),
      ),
    });
    open.show();
    expect($$(open, "ul.exposure > li").map(textOf)).toEqual([
      "public endpoint GET /badge (anyone, without signing in, readable from any website)",
      "webhook endpoint POST /stripe (anyone with a valid signature, signature checked by Annex)",
      'public page / (anyone, without signing in), titled "Status"',
    ]);
  });

  it("for an upgrade that turns an api endpoint public with the same capabilities, marks the exposure change the admin consents to", () => {
    const installed = manifestOf();
    const wider = manifestOf({ version: "1.1.0", endpoints: [{ class: "public", method: "GET", path: "/stats", handler: "stats" }] });
    const el = dialog({ version: versionOf(wider, 2), grantedBefore: installed.capabilities.map(({ reason: _r, ...grant }) => grant), installedManifest: installed });
    el.show();
    expect(inner(el).getAttribute("heading")).toBe("Upgrade \u2068Acme Analytics\u2069 1.1.0?");
    // No capability is new ...
    expect($$(el, "ul.caps annex-badge")).toHaveLength(0);
    // ... but who can reach it is.
    const region = $(el, "section.exposure-region");
    expect(region.hasAttribute("data-requires-consent")).toBe(true);
    const [change] = $$(el, "ul.exposure > li");
    expect(change!.getAttribute("data-exposure-change")).toBe("class");
    expect(textOf(change!)).toBe("Wider GET /stats: api → public endpoint (anyone, without signing in)");
    expect(textOf(region)).toContain("Marked: who can reach it that could not reach the installed version.");
    el.close();

    // Back to api: narrower, nothing marked; and without the installed manifest the exposure is listed with a note.
    const narrower = dialog({ version: versionOf(installed, 3), grantedBefore: [], installedManifest: wider });
    narrower.show();
    expect($(narrower, "section.exposure-region").hasAttribute("data-requires-consent")).toBe(false);
    expect(textOf($(narrower, "section.exposure-region"))).toContain("Nothing here is new");
    narrower.close();
    const unknown = dialog({ version: versionOf(wider, 2), grantedBefore: [] });
    unknown.show();
    expect($$(unknown, "ul.exposure > li").map(textOf)).toEqual(["public endpoint GET /stats (anyone, without signing in)"]);
    expect(textOf($(unknown, "section.exposure-region"))).toContain("The installed version's exposure is not known here");
    expect(() => (unknown.installedManifest = "1.0.0" as never)).toThrowError(expect.objectContaining({ code: "E_ADMIN_INVALID_DATA", details: { field: "installedManifest" } }));
  });
});
