// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import type { Manifest } from "@annex/manifest";
import type { AnnexCapabilityDiff } from "../src/index.js";
import { $, $$, create, textOf } from "./fixtures-dom.js";
import { manifestOf } from "./fixtures.js";

const next = manifestOf({
  version: "2.0.0",
  capabilities: [
    { name: "http.fetch", hosts: ["api.acme.example", "files.acme.example"], reason: "Fetches charts and exports." },
    { name: "secrets.read", names: ["API_TOKEN"], reason: "Signs its calls." },
    { name: "ui.toast", reason: "Says when an export is ready." },
  ],
});
const granted = [{ name: "log" }, { name: "http.fetch", hosts: ["api.acme.example"] }, { name: "secrets.read", names: ["API_TOKEN", "OLD_TOKEN"] }] as const;

describe("<annex-capability-diff>", () => {
  it("lists added, widened, removed and narrowed capabilities, with exactly what changed, and says consent is needed", () => {
    const el = create<AnnexCapabilityDiff>("annex-capability-diff", { from: [...granted], to: next });
    expect(el.diff?.requiresConsent).toBe(true);
    expect(textOf($(el, ".verdict"))).toBe("Needs consent The new version asks for more than was granted.");
    const section = (key: string) => $(el, `section[data-change="${key}"]`);
    expect(textOf(section("added"))).toBe("Added (1) Show notifications ui.toast New Shows short notifications in this application. Why: Says when an export is ready.");
    expect(textOf(section("widened"))).toContain("Adds hosts: files.acme.example");
    expect(textOf(section("widened"))).toContain("Why: Fetches charts and exports.");
    expect(textOf(section("removed"))).toContain("Write logs log Removed");
    expect(textOf(section("narrowed"))).toContain("Drops secrets: OLD_TOKEN");
    expect($$(el, "section h3").map((h) => h.textContent)).toEqual(["Added (1)", "Widened (1)", "Removed (1)", "Narrowed (1)"]);
  });

  it("shows each widened variant of a host capability with its own parameters", () => {
    const from = [{ name: "host:crm.contacts.read", params: { scope: "own" } }];
    const to = [...from, { name: "host:crm.contacts.read", params: { scope: "team" } }, { name: "host:crm.contacts.read", params: { scope: "everything-including-deleted" } }];
    const el = create<AnnexCapabilityDiff>("annex-capability-diff", { from, to });
    const widened = $$(el, 'section[data-change="widened"] ul.caps > li').map(textOf);
    expect(widened).toHaveLength(2);
    expect(widened[0]).toContain('Adds parameters: {"scope":"team"}');
    expect(widened[1]).toContain('Adds parameters: {"scope":"everything-including-deleted"}');
  });

  it("shows each variant of a host capability with its own reason, added or widened", () => {
    const variants = [
      { name: "host:crm.contacts.read", params: { scope: "own" }, reason: "Shows your own contacts." },
      { name: "host:crm.contacts.read", params: { scope: "team" }, reason: "Shows your team's contacts." },
      { name: "host:crm.contacts.read", params: { scope: "all" }, reason: "Exports every contact." },
    ];
    // parseManifest asks for one entry per name; a manifest from an admin API is not parsed again and may hold several.
    const to = { ...manifestOf({ version: "2.0.0" }), capabilities: variants } as Manifest;
    const reasons = (el: Element, key: string) => $$(el, `section[data-change="${key}"] ul.caps > li .cap-reason`).map(textOf);
    const added = create<AnnexCapabilityDiff>("annex-capability-diff", { from: [], to });
    expect(reasons(added, "added")).toEqual(["Why: Shows your own contacts.", "Why: Shows your team's contacts.", "Why: Exports every contact."]);
    const widened = create<AnnexCapabilityDiff>("annex-capability-diff", { from: [{ name: "host:crm.contacts.read", params: { scope: "own" } }], to });
    expect(reasons(widened, "widened")).toEqual(["Why: Shows your team's contacts.", "Why: Exports every contact."]);
  });

  it("an upgrade that widens nothing needs no consent", () => {
    const el = create<AnnexCapabilityDiff>("annex-capability-diff", { from: next, to: next }, { "heading-level": "4" });
    expect(el.diff?.requiresConsent).toBe(false);
    expect(textOf(el)).toBe("No new consent The capabilities do not change.");
    el.to = manifestOf({ version: "2.0.1", capabilities: [{ name: "http.fetch", hosts: ["api.acme.example"], reason: "Fetches charts." }] });
    expect(el.diff?.requiresConsent).toBe(false);
    expect($$(el, "section h4").map((h) => h.textContent)).toEqual(["Removed (2)", "Narrowed (1)"]);
  });

  it("waits for both sides", () => {
    const el = create<AnnexCapabilityDiff>("annex-capability-diff", { to: next });
    expect(el.diff).toBeNull();
    expect(textOf(el)).toBe("Choose two versions to compare.");
  });

  it("with the installed manifest, lists what is newly exposed and needs consent for it, though the capabilities are the same", () => {
    const installed = manifestOf();
    const wider = manifestOf({ version: "1.1.0", endpoints: [{ class: "public", method: "GET", path: "/stats", handler: "stats" }] });
    const grants = installed.capabilities.map(({ reason: _r, ...grant }) => grant);
    const el = create<AnnexCapabilityDiff>("annex-capability-diff", { from: grants, to: wider, installedManifest: installed });
    expect(el.diff?.requiresConsent).toBe(false);
    expect(el.exposure?.requiresConsent).toBe(true);
    expect(el.requiresConsent).toBe(true);
    expect(textOf($(el, ".verdict"))).toBe("Needs consent The new version lets more callers reach it.");
    expect(textOf($(el, 'section[data-change="exposed"]'))).toBe("Newly exposed (1) Wider GET /stats: api → public endpoint (anyone, without signing in)");
    // Manifests on both sides compare exposure without installedManifest; the way back only narrows.
    const back = create<AnnexCapabilityDiff>("annex-capability-diff", { from: wider, to: installed });
    expect(back.requiresConsent).toBe(false);
    expect(textOf($(back, 'section[data-change="less-exposed"]'))).toBe("Less exposed (1) Narrower GET /stats: public → api endpoint (was anyone, without signing in)");
    // Grants alone say nothing of exposure.
    expect(create<AnnexCapabilityDiff>("annex-capability-diff", { from: grants, to: wider }).exposure).toBeNull();
  });
});
