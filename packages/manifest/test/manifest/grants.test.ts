import { describe, expect, it } from "vitest";
import { diffCapabilities, missingGrants, parseManifest, type CapabilityGrant } from "../../src/index.js";
import { reason, service } from "./fixtures.js";

const fetch = (...hosts: string[]): CapabilityGrant => ({ name: "http.fetch", hosts });

describe("diffCapabilities", () => {
  it("reports nothing for identical sets, in any order", () => {
    const grants: CapabilityGrant[] = [{ name: "log" }, fetch("a.example.com", "b.example.com")];
    const diff = diffCapabilities(grants, [fetch("b.example.com", "a.example.com"), { name: "log" }]);
    expect(diff).toEqual({ added: [], removed: [], widened: [], narrowed: [], requiresConsent: false });
  });

  it("added capabilities require consent; removed ones do not", () => {
    const added = diffCapabilities([{ name: "log" }], [{ name: "log" }, { name: "user.read" }]);
    expect(added.added).toEqual([{ name: "user.read" }]);
    expect(added.requiresConsent).toBe(true);
    const removed = diffCapabilities([{ name: "log" }, { name: "user.read" }], [{ name: "log" }]);
    expect(removed.removed).toEqual([{ name: "user.read" }]);
    expect(removed.requiresConsent).toBe(false);
  });

  it("a new egress host widens http.fetch", () => {
    const diff = diffCapabilities([fetch("api.example.com")], [fetch("api.example.com", "evil.example.net")]);
    expect(diff.widened).toEqual([{ name: "http.fetch", added: { hosts: ["evil.example.net"] } }]);
    expect(diff.requiresConsent).toBe(true);
  });

  it("a wildcard that now covers more widens; a host the old wildcard covered does not", () => {
    const wider = diffCapabilities([fetch("api.example.com")], [fetch("*.example.com")]);
    expect(wider.widened).toEqual([{ name: "http.fetch", added: { hosts: ["*.example.com"] } }]);
    expect(wider.narrowed).toEqual([]); // the wildcard still covers api.example.com
    const covered = diffCapabilities([fetch("*.example.com")], [fetch("api.example.com", "*.eu.example.com")]);
    expect(covered.widened).toEqual([]);
    expect(covered.narrowed).toEqual([{ name: "http.fetch", removed: { hosts: ["*.example.com"] } }]);
    expect(covered.requiresConsent).toBe(false);
  });

  it("a wildcard never covers its own base name or another port", () => {
    expect(diffCapabilities([fetch("*.example.com")], [fetch("example.com")]).widened).toHaveLength(1);
    expect(diffCapabilities([fetch("*.example.com")], [fetch("api.example.com:8443")]).widened).toHaveLength(1);
    expect(diffCapabilities([fetch("*.example.com:8443")], [fetch("api.example.com:8443")]).widened).toHaveLength(0);
  });

  it("new secret names and event types widen", () => {
    const diff = diffCapabilities(
      [
        { name: "secrets.read", names: ["A"] },
        { name: "events.subscribe", types: ["order.created"] },
        { name: "events.publish", types: ["greeting.*"] },
      ],
      [
        { name: "secrets.read", names: ["A", "B"] },
        { name: "events.subscribe", types: ["order.*"] },
        { name: "events.publish", types: ["greeting.sent"] },
      ],
    );
    expect(diff.widened).toEqual([
      { name: "secrets.read", added: { names: ["B"] } },
      { name: "events.subscribe", added: { types: ["order.*"] } },
    ]);
    // order.* still covers order.created, so only the publish pattern narrowed.
    expect(diff.narrowed).toEqual([{ name: "events.publish", removed: { types: ["greeting.*"] } }]);
  });

  it("any change of a host capability's params widens it, whatever the key order", () => {
    const from: CapabilityGrant[] = [{ name: "host:crm.contacts.read", params: { fields: ["email"], limit: 10 } }];
    expect(diffCapabilities(from, [{ name: "host:crm.contacts.read", params: { limit: 10, fields: ["email"] } }]).requiresConsent).toBe(false);
    const changed = diffCapabilities(from, [{ name: "host:crm.contacts.read", params: { fields: ["email"], limit: 5 } }]);
    expect(changed.widened).toEqual([{ name: "host:crm.contacts.read", added: { params: { fields: ["email"], limit: 5 } } }]);
    expect(changed.requiresConsent).toBe(true);
    expect(diffCapabilities([{ name: "host:a.b" }], [{ name: "host:a.b", params: {} }]).requiresConsent).toBe(true);
  });

  it("takes manifests, keeping reasons for the consent screen", () => {
    const v1 = parseManifest(service());
    const v2 = parseManifest(
      service({ version: "1.1.0", capabilities: [{ name: "log", reason }, { name: "http.fetch", hosts: ["api.example.com"], reason: "Calls the API." }] }),
    );
    const diff = diffCapabilities(v1, v2);
    expect(diff.added).toEqual([{ name: "http.fetch", hosts: ["api.example.com"], reason: "Calls the API." }]);
    expect(diff.requiresConsent).toBe(true);
    expect(diffCapabilities(v2, v1).removed.map((c) => c.name)).toEqual(["http.fetch"]);
  });

  it("merges repeated entries of a grant list rather than reading only the first", () => {
    const diff = diffCapabilities([fetch("a.example.com"), fetch("b.example.com")], [fetch("a.example.com", "b.example.com")]);
    expect(diff.requiresConsent).toBe(false);
    expect(diff.narrowed).toEqual([]);
  });
});

describe("missingGrants", () => {
  const manifest = parseManifest(
    service({
      secrets: ["API_KEY", "OTHER"],
      capabilities: [
        { name: "log", reason },
        { name: "http.fetch", hosts: ["api.example.com", "cdn.example.net"], reason: "Calls the API and CDN." },
        { name: "secrets.read", names: ["API_KEY", "OTHER"], reason },
        { name: "host:crm.contacts.read", params: { fields: ["email"] }, reason },
      ],
    }),
  );

  it("is everything when nothing is granted (deny by default)", () => {
    expect(missingGrants(manifest, [])).toEqual(manifest.capabilities);
  });

  it("is empty when the grants cover the request", () => {
    const grants: CapabilityGrant[] = [
      { name: "log" },
      fetch("*.example.com", "cdn.example.net"),
      { name: "secrets.read", names: ["OTHER", "API_KEY"] },
      { name: "host:crm.contacts.read", params: { fields: ["email"] } },
    ];
    expect(missingGrants(manifest, grants)).toEqual([]);
  });

  it("cuts list parameters down to what is not covered, keeping the reason", () => {
    const missing = missingGrants(manifest, [{ name: "log" }, fetch("api.example.com"), { name: "secrets.read", names: ["API_KEY"] }]);
    expect(missing).toEqual([
      { name: "http.fetch", hosts: ["cdn.example.net"], reason: "Calls the API and CDN." },
      { name: "secrets.read", names: ["OTHER"], reason },
      { name: "host:crm.contacts.read", params: { fields: ["email"] }, reason },
    ]);
  });

  it("a host capability granted with other params is still missing", () => {
    const missing = missingGrants(manifest.capabilities.filter((c) => c.name.startsWith("host:")), [
      { name: "host:crm.contacts.read", params: { fields: ["email", "phone"] } },
    ]);
    expect(missing.map((c) => c.name)).toEqual(["host:crm.contacts.read"]);
  });
});
