import { describe, expect, it } from "vitest";
import { describeExposure, diffCapabilities, diffExposure, diffUpgrade, missingGrants, parseManifest, type CapabilityGrant } from "../../src/index.js";
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

describe("exposure", () => {
  const API = { class: "api", method: "GET", path: "/greet/:name", handler: "greet" };
  const HEALTH = { class: "health", method: "GET", path: "/status", handler: "status" };
  const HOOK = { class: "webhook", method: "POST", path: "/hooks/stripe", handler: "stripe", verify: "annex" };
  const PUBLIC = { class: "public", method: "GET", path: "/motto", handler: "motto" };
  const page = (slot: string, path: string, entry = `ui/${slot}.html`) => ({ slot, path, entry, title: `${slot} ${path}` });
  const v = (endpoints: unknown[], pages: unknown[] = [], extra: Record<string, unknown> = {}) => parseManifest(service({ endpoints, ui: { pages }, ...extra }));
  const changes = (from: ReturnType<typeof v>, to: ReturnType<typeof v>) => diffExposure(from, to).widened.map((c) => [c.kind, c.change, c.path, c.from ?? null, c.to ?? null]);

  it("describes public endpoints, webhooks and public pages; api endpoints, health and member pages are not anonymous", () => {
    const exposure = describeExposure(v([API, HEALTH, HOOK, { ...PUBLIC, cors: { origins: ["https://shop.example.com"] } }], [page("app", "/"), page("public", "/")]));
    expect(exposure.public).toEqual([{ class: "public", method: "GET", path: "/motto", audience: "anyone", corsOrigins: ["https://shop.example.com"] }]);
    expect(exposure.webhooks).toEqual([{ class: "webhook", method: "POST", path: "/hooks/stripe", audience: "signed", verify: "annex" }]);
    expect(exposure.publicPages).toEqual([{ slot: "public", path: "/", entry: "ui/public.html", title: "public /", audience: "anyone" }]);
    expect(exposure.anonymous).toBe(true);
    expect(describeExposure(v([API, HEALTH], [page("app", "/"), page("admin", "/")])).anonymous).toBe(false);
    // A partial manifest (an admin API's answer) has no exposure rather than a failure.
    expect(describeExposure({} as never)).toEqual({ public: [], webhooks: [], publicPages: [], anonymous: false });
  });

  it("an api endpoint turned public widens, though the capabilities are the same", () => {
    const from = v([API, PUBLIC]);
    const to = v([{ ...API, class: "public" }, PUBLIC]);
    expect(diffCapabilities(from, to).requiresConsent).toBe(false);
    const diff = diffExposure(from, to);
    expect(diff.requiresConsent).toBe(true);
    expect(diff.widened).toEqual([
      expect.objectContaining({ kind: "endpoint", change: "class", method: "GET", path: "/greet/:name", class: "public", from: "api", to: "public", audience: "anyone", text: "GET /greet/:name: api → public endpoint (anyone, without signing in)" }),
    ]);
    // The other way is narrower: no consent, reported as narrowed.
    const back = diffExposure(to, from);
    expect(back.requiresConsent).toBe(false);
    expect(back.narrowed).toEqual([expect.objectContaining({ change: "class", from: "public", to: "api", text: "GET /greet/:name: public → api endpoint (was anyone, without signing in)" })]);
  });

  it("new public and webhook endpoints widen; a new api endpoint does not", () => {
    expect(changes(v([API]), v([API, PUBLIC, HOOK, { ...API, path: "/other", handler: "other" }]))).toEqual([
      ["endpoint", "added", "/motto", null, null],
      ["endpoint", "added", "/hooks/stripe", null, null],
    ]);
    // The same route is the same method and normalised path: case, trailing slash and parameter names aside.
    expect(diffExposure(v([PUBLIC]), v([{ ...PUBLIC, path: "/Motto/", handler: "renamed" }])).requiresConsent).toBe(false);
    expect(changes(v([PUBLIC]), v([{ ...PUBLIC, method: "POST" }]))).toEqual([["endpoint", "added", "/motto", null, null]]);
  });

  it("moves to a wider class widen (health → api, api → webhook, webhook → public); to a narrower class never", () => {
    expect(changes(v([HEALTH]), v([{ ...HEALTH, class: "api" }]))).toEqual([["endpoint", "class", "/status", "health", "api"]]);
    const { verify: _v, ...asPublic } = HOOK;
    expect(changes(v([{ ...asPublic, class: "api" }]), v([HOOK]))).toEqual([["endpoint", "class", "/hooks/stripe", "api", "webhook"]]);
    expect(changes(v([HOOK]), v([{ ...asPublic, class: "public" }]))).toEqual([["endpoint", "class", "/hooks/stripe", "webhook", "public"]]);
    expect(diffExposure(v([{ ...asPublic, class: "public" }]), v([HOOK])).requiresConsent).toBe(false);
    expect(diffExposure(v([{ ...API, class: "public" }]), v([API])).requiresConsent).toBe(false);
    expect(diffExposure(v([API]), v([{ ...API, class: "health" }])).requiresConsent).toBe(false);
    // A route that was public and api both stays covered when only the api endpoint goes.
    expect(diffExposure(v([API, { ...API, class: "public", handler: "open" }]), v([{ ...API, class: "public", handler: "open" }])).requiresConsent).toBe(false);
  });

  it("a webhook whose signature the extension checks instead of Annex widens; the reverse narrows", () => {
    const own = { ...HOOK, verify: "extension", secret: "STRIPE", headers: ["stripe-signature"] };
    const extra = { secrets: ["STRIPE"], capabilities: [{ name: "log", reason }, { name: "secrets.read", names: ["STRIPE"], reason }] };
    const annexChecks = v([HOOK], [], extra);
    const extensionChecks = v([own], [], extra);
    expect(diffExposure(annexChecks, extensionChecks).widened).toEqual([expect.objectContaining({ change: "verify", from: "annex", to: "extension" })]);
    const back = diffExposure(extensionChecks, annexChecks);
    expect(back.requiresConsent).toBe(false);
    expect(back.narrowed).toEqual([expect.objectContaining({ change: "verify", from: "extension", to: "annex" })]);
  });

  it("more CORS origins on a public endpoint widen; fewer do not", () => {
    const cors = (...origins: string[]) => v([{ ...PUBLIC, cors: { origins } }]);
    expect(diffExposure(v([PUBLIC]), cors("https://a.example.com")).widened).toEqual([expect.objectContaining({ change: "cors", origins: ["https://a.example.com"] })]);
    expect(diffExposure(cors("https://a.example.com"), cors("*")).widened).toEqual([expect.objectContaining({ change: "cors", origins: ["*"] })]);
    expect(diffExposure(cors("*"), cors("https://a.example.com")).requiresConsent).toBe(false);
    expect(diffExposure(cors("https://a.example.com", "https://b.example.com"), cors("https://b.example.com")).narrowed).toEqual([expect.objectContaining({ change: "cors", origins: ["https://a.example.com"] })]);
  });

  it("a new public page widens, as does a page moved to the public slot or from the admins' slots to members'; new member pages do not", () => {
    expect(changes(v([API], [page("app", "/")]), v([API], [page("app", "/"), page("public", "/")]))).toEqual([["page", "added", "/", null, null]]);
    expect(changes(v([API], [page("app", "/", "ui/index.html")]), v([API], [page("public", "/", "ui/index.html")]))).toEqual([["page", "slot", "/", "app", "public"]]);
    expect(changes(v([API], [page("admin", "/reports", "ui/reports.html")]), v([API], [page("app", "/reports", "ui/reports.html")]))).toEqual([["page", "slot", "/reports", "admin", "app"]]);
    expect(diffExposure(v([API], [page("app", "/")]), v([API], [page("app", "/"), page("dashboard.widget", "/w"), page("admin", "/a")])).requiresConsent).toBe(false);
    // The same public path with another file is the same page; moving it out of public, or removing it, narrows.
    expect(diffExposure(v([API], [page("public", "/", "ui/a.html")]), v([API], [page("public", "/", "ui/b.html")])).requiresConsent).toBe(false);
    const gone = diffExposure(v([API], [page("public", "/")]), v([API], []));
    expect(gone).toMatchObject({ requiresConsent: false, narrowed: [expect.objectContaining({ kind: "page", change: "removed", slot: "public" })] });
    expect(diffExposure(v([API], [page("public", "/", "ui/x.html")]), v([API], [page("app", "/", "ui/x.html")])).narrowed).toEqual([expect.objectContaining({ change: "slot", from: "public", to: "app" })]);
  });

  it("a page widens when its entry file or its path was shown only to a narrower audience, whatever else was renamed", () => {
    const admin = page("admin", "/admin", "ui/admin.html");
    // E1: the admin page's file served at an existing app page's path (same slot and path as before).
    expect(changes(v([API], [page("app", "/", "ui/app.html"), admin]), v([API], [page("app", "/", "ui/admin.html")]))).toEqual([["page", "slot", "/", "admin", "app"]]);
    expect(changes(v([API], [page("dashboard.widget", "/w", "ui/w.html"), admin]), v([API], [page("dashboard.widget", "/w", "ui/admin.html"), admin]))).toEqual([["page", "slot", "/w", "admin", "dashboard.widget"]]);
    // E2: a page moved from admin to app at the same path, its entry renamed.
    expect(changes(v([API], [page("admin", "/reports", "ui/reports.html")]), v([API], [page("app", "/Reports/", "ui/reports-v2.html")]))).toEqual([["page", "slot", "/Reports/", "admin", "app"]]);
    expect(changes(v([API], [page("settings", "/prefs", "ui/prefs.html")]), v([API], [page("dashboard.widget", "/prefs", "ui/widget.html")]))).toEqual([["page", "slot", "/prefs", "settings", "dashboard.widget"]]);
    // The same file at an admins-only path (one entry serving several paths): the path decides.
    expect(changes(v([API], [page("app", "/", "ui/index.html"), page("admin", "/admin", "ui/index.html")]), v([API], [page("app", "/admin", "ui/index.html")]))).toEqual([["page", "slot", "/admin", "admin", "app"]]);
    // E3: an existing public path now serving a file shown only to admins, or only to signed-in users.
    expect(changes(v([API], [page("public", "/", "ui/public.html"), admin]), v([API], [page("public", "/", "ui/admin.html")]))).toEqual([["page", "slot", "/", "admin", "public"]]);
    expect(changes(v([API], [page("public", "/", "ui/public.html"), page("app", "/x", "ui/x.html")]), v([API], [page("public", "/", "ui/x.html")]))).toEqual([["page", "slot", "/", "app", "public"]]);
    // A new public page at a path that was a members' page, with a new file: moved, or beside it.
    expect(changes(v([API], [page("app", "/", "ui/app.html")]), v([API], [page("public", "/", "ui/landing.html")]))).toEqual([["page", "slot", "/", "app", "public"]]);
    expect(changes(v([API], [page("admin", "/reports", "ui/reports.html")]), v([API], [page("admin", "/reports", "ui/reports.html"), page("app", "/reports", "ui/new.html")]))).toEqual([["page", "added", "/reports", null, null]]);
  });

  it("a page whose file and path were already shown to its audience or wider, or a new member page, does not widen", () => {
    const admin = page("admin", "/admin", "ui/admin.html");
    const none = (from: ReturnType<typeof v>, to: ReturnType<typeof v>) => expect(diffExposure(from, to)).toMatchObject({ widened: [], requiresConsent: false });
    // A new app page (new path, new file), with and without admin pages installed.
    none(v([API], [page("app", "/", "ui/app.html")]), v([API], [page("app", "/", "ui/app.html"), page("app", "/stats", "ui/stats.html")]));
    none(v([API], []), v([API], [page("app", "/stats", "ui/stats.html")]));
    none(v([API], [page("app", "/", "ui/app.html"), admin]), v([API], [page("app", "/", "ui/app.html"), page("app", "/stats", "ui/stats.html"), admin]));
    // A new file at an existing members' or public path; an admin page's file changed.
    none(v([API], [page("app", "/", "ui/app.html"), admin]), v([API], [page("app", "/", "ui/app-v2.html"), admin]));
    none(v([API], [page("public", "/", "ui/a.html"), admin]), v([API], [page("public", "/", "ui/b.html"), admin]));
    none(v([API], [page("admin", "/reports", "ui/reports.html")]), v([API], [page("admin", "/reports", "ui/reports-v2.html")]));
    // A members' file at another members' path or slot; a public file at another public path.
    none(v([API], [page("app", "/x", "ui/x.html")]), v([API], [page("dashboard.widget", "/x", "ui/x.html"), page("app", "/y", "ui/x.html")]));
    none(v([API], [page("public", "/", "ui/p.html")]), v([API], [page("public", "/home", "ui/p.html")]));
    // A public file now also shown to members; any move to admins only.
    none(v([API], [page("public", "/", "ui/p.html")]), v([API], [page("public", "/", "ui/p.html"), page("app", "/p", "ui/p.html")]));
    none(v([API], [page("app", "/", "ui/app.html"), page("public", "/p", "ui/p.html")]), v([API], [page("admin", "/", "ui/p.html"), page("settings", "/p", "ui/app.html")]));
    // The reverse of each widening above narrows without consent.
    none(v([API], [page("app", "/", "ui/admin.html")]), v([API], [page("app", "/", "ui/app.html"), admin]));
    none(v([API], [page("app", "/reports", "ui/reports-v2.html")]), v([API], [page("admin", "/reports", "ui/reports.html")]));
  });

  it("removing anonymous endpoints only narrows", () => {
    const diff = diffExposure(v([API, PUBLIC, HOOK]), v([API]));
    expect(diff.requiresConsent).toBe(false);
    expect(diff.widened).toEqual([]);
    expect(diff.narrowed.map((c) => [c.change, c.path])).toEqual([["removed", "/motto"], ["removed", "/hooks/stripe"]]);
  });
});

describe("diffUpgrade", () => {
  const from = parseManifest(service({ endpoints: [{ class: "api", method: "GET", path: "/hello/:name", handler: "hello" }] }));

  it("requires consent when the exposure widens, with the capabilities unchanged", () => {
    const to = parseManifest(service({ version: "1.0.1", endpoints: [{ class: "public", method: "GET", path: "/hello/:name", handler: "hello" }] }));
    const diff = diffUpgrade(from, to);
    expect(diff).toMatchObject({ added: [], widened: [], requiresConsent: true, exposure: { requiresConsent: true, widened: [expect.objectContaining({ change: "class" })] } });
    expect(diffUpgrade(to, from).requiresConsent).toBe(false);
  });

  it("compares capabilities with the grants when given, and still counts exposure", () => {
    const to = parseManifest(service({ version: "1.1.0", capabilities: [{ name: "log", reason }, { name: "user.read", reason }] }));
    expect(diffUpgrade(from, to).added.map((c) => c.name)).toEqual(["user.read"]);
    const granted = diffUpgrade(from, to, [{ name: "log" }, { name: "user.read" }]);
    expect(granted).toMatchObject({ added: [], requiresConsent: false, exposure: { widened: [], requiresConsent: false } });
  });
});
