import { describe, expect, it } from "vitest";
import { bundle, expectIssue, expectValid, issuesOf, reason, service } from "./fixtures.js";

const api = (path: string, handler: string, method = "GET") => ({ class: "api", method, path, handler });

describe("id and publisher", () => {
  it("the id's first label is the publisher", () => {
    expectValid(service({ id: "acme.hello", publisher: "acme" }));
    expectIssue(service({ id: "evil.hello", publisher: "acme" }), "id", /must start with the publisher: "acme\.hello"/);
  });
});

describe("runtime class", () => {
  it("a service needs an entry", () => {
    expectValid(service());
    expectIssue(service({ runtime: { class: "service" } }), "runtime.entry", /needs runtime\.entry/);
  });

  it("the server entry is not under ui.root, whose files are served to browsers", () => {
    expectValid(service({ ui: { root: "web", pages: [] }, runtime: { class: "service", entry: "ui/index.js" } }));
    expectIssue(service({ runtime: { class: "service", entry: "ui/server.js" } }), "runtime.entry", /must not be under ui\.root \("ui\/"\)/);
    expectIssue(service({ ui: { root: "web", pages: [] }, runtime: { class: "service", entry: "web/api/index.js" } }), "runtime.entry", /under ui\.root \("web\/"\)/);
  });

  it("a bundle declares no entry, source or warm context", () => {
    expectValid(bundle({ runtime: { class: "bundle", warmContext: false } }));
    expectIssue(bundle({ runtime: { class: "bundle", entry: "server/index.js" } }), "runtime.entry", /bundle-class extension has no server code/);
    expectIssue(bundle({ runtime: { class: "bundle", source: "src/index.ts" } }), "runtime.source", /no server code/);
    expectIssue(bundle({ runtime: { class: "bundle", warmContext: true } }), "runtime.warmContext", /no server code/);
  });

  it("a bundle declares no handlers: no endpoints, jobs or subscriptions", () => {
    expectIssue(bundle({ endpoints: [api("/x", "x")] }), "endpoints", /no server code/);
    expectIssue(bundle({ jobs: [{ name: "sync", cron: "@daily", handler: "sync" }] }), "jobs", /no server code/);
    expectIssue(
      bundle({ events: { subscribes: [{ type: "order.created", handler: "onOrder" }] } }),
      "events.subscribes",
      /no server code/,
    );
  });

  it("a bundle requests no server-only capabilities and declares no secrets", () => {
    expectValid(bundle({ capabilities: [{ name: "ui.toast", reason }, { name: "user.read", reason }] }));
    expectIssue(bundle({ capabilities: [{ name: "http.fetch", hosts: ["api.example.com"], reason }] }), "capabilities[0].name", /http\.fetch is for server code/);
    expectIssue(bundle({ secrets: ["TOKEN"] }), "secrets", /only ever given to server code/);
  });
});

describe("handlers", () => {
  it("each handler is used once across endpoints, jobs and subscriptions", () => {
    expectValid(service({ endpoints: [api("/a", "a"), api("/b", "b")], jobs: [{ name: "j", cron: "@hourly", handler: "tick" }] }));
    expectIssue(service({ endpoints: [api("/a", "same"), api("/b", "same")] }), "endpoints[1].handler", /already used by endpoints\[0\]/);
    expectIssue(
      service({ endpoints: [api("/a", "same")], jobs: [{ name: "j", cron: "@hourly", handler: "same" }] }),
      "jobs[0].handler",
      /already used by endpoints\[0\]/,
    );
    expectIssue(
      service({
        jobs: [{ name: "j", cron: "@hourly", handler: "same" }],
        capabilities: [{ name: "events.subscribe", types: ["order.created"], reason }],
        events: { subscribes: [{ type: "order.created", handler: "same" }] },
      }),
      "events.subscribes[0].handler",
      /already used by jobs\[0\]/,
    );
  });
});

describe("endpoint collisions", () => {
  it.each([
    ["/a/:x", "/a/:y/"],
    ["/Items", "/items"],
    ["/items/", "/items"],
    ["/a/:id/b", "/A/:other/B/"],
  ])("%s and %s collide", (first, second) => {
    expectIssue(service({ endpoints: [api(first, "one"), api(second, "two")] }), "endpoints[1].path", /collides with endpoints\[0\]/);
  });

  it.each([
    ["same path, different method", [api("/a", "one", "GET"), api("/a", "two", "POST")]],
    ["same path, different class", [api("/a", "one"), { class: "public", method: "GET", path: "/a", handler: "two" }]],
    ["parameter versus literal segment", [api("/a/:x", "one"), api("/a/b", "two")]],
    ["different depth", [api("/a", "one"), api("/a/:x", "two")]],
  ])("%s does not collide", (_label, endpoints) => {
    expectValid(service({ endpoints }));
  });

  it("a parameter name appears once per path", () => {
    expectIssue(service({ endpoints: [api("/a/:id/b/:id", "x")] }), "endpoints[0].path", /":id" appears twice/);
  });
});

describe("webhooks", () => {
  const webhook = (extra: Record<string, unknown>) => ({ class: "webhook", method: "POST", path: "/stripe", handler: "stripe", ...extra });
  const readable = { secrets: ["STRIPE_SECRET"], capabilities: [{ name: "secrets.read", names: ["STRIPE_SECRET"], reason }] };

  it('verify "extension" names a declared, readable secret and the provider headers', () => {
    expectValid(service({ ...readable, endpoints: [webhook({ verify: "extension", secret: "STRIPE_SECRET", headers: ["stripe-signature"] })] }));
    expectIssue(service({ ...readable, endpoints: [webhook({ verify: "extension", headers: ["stripe-signature"] })] }), "endpoints[0].secret", /name the secret/);
    expectIssue(service({ ...readable, endpoints: [webhook({ verify: "extension", secret: "STRIPE_SECRET" })] }), "endpoints[0].headers", /signature headers/);
    expectIssue(
      service({ secrets: [], endpoints: [webhook({ verify: "extension", secret: "OTHER", headers: ["x-sig"] })] }),
      "endpoints[0].secret",
      /not declared in secrets\[\]/,
    );
    expectIssue(
      service({ secrets: ["STRIPE_SECRET"], endpoints: [webhook({ verify: "extension", secret: "STRIPE_SECRET", headers: ["x-sig"] })] }),
      "endpoints[0].secret",
      /cannot read secret "STRIPE_SECRET"/,
    );
  });

  it('verify "annex" takes no secret or headers (the core checks)', () => {
    expectValid(service({ endpoints: [webhook({ verify: "annex" })] }));
    expectIssue(service({ ...readable, endpoints: [webhook({ verify: "annex", secret: "STRIPE_SECRET" })] }), "endpoints[0].secret", /core checks/);
    expectIssue(service({ endpoints: [webhook({ verify: "annex", headers: ["x-sig"] })] }), "endpoints[0].headers", /core checks/);
  });
});

describe("storage and its capabilities", () => {
  it("storage.sql if and only if owned-schema", () => {
    expectValid(service({ storage: { kind: "owned-schema", migrations: "migrations" }, capabilities: [{ name: "storage.sql", reason }] }));
    expectIssue(service({ storage: { kind: "owned-schema", migrations: "migrations" } }), "capabilities", /needs the storage\.sql capability/);
    expectIssue(service({ capabilities: [{ name: "storage.sql", reason }] }), "capabilities[0].name", /storage\.sql is the capability of storage\.kind "owned-schema"/);
  });

  it("owned-schema only with class service", () => {
    expectIssue(
      bundle({ storage: { kind: "owned-schema", migrations: "migrations" }, capabilities: [{ name: "storage.sql", reason }] }),
      "storage.kind",
      /needs server code/,
    );
  });

  it("storage.kv if and only if kind kv", () => {
    expectValid(service({ storage: { kind: "kv" }, capabilities: [{ name: "storage.kv", reason }] }));
    expectValid(bundle({ storage: { kind: "kv" }, capabilities: [{ name: "storage.kv", reason }] }));
    expectIssue(service({ capabilities: [{ name: "storage.kv", reason }] }), "capabilities[0].name", /storage\.kv is the capability of storage\.kind "kv"/);
    expectIssue(service({ storage: { kind: "kv" }, capabilities: [] }), "capabilities", /needs the storage\.kv capability/);
  });
});

describe("secrets", () => {
  it("secrets.read names are declared in secrets[]", () => {
    expectValid(service({ secrets: ["API_KEY", "OTHER"], capabilities: [{ name: "secrets.read", names: ["API_KEY"], reason }] }));
    expectIssue(service({ secrets: ["API_KEY"], capabilities: [{ name: "secrets.read", names: ["API_KEY", "ROOT_PASSWORD"], reason }] }), "capabilities[0].names[1]", /"ROOT_PASSWORD" is not declared/);
  });

  it("secrets are declared once", () => {
    expectIssue(service({ secrets: ["A", "A"] }), "secrets[1]", /duplicate secret "A"/);
  });
});

describe("events", () => {
  const publish = (types: string[]) => ({ name: "events.publish", types, reason });
  const subscribe = (types: string[]) => ({ name: "events.subscribe", types, reason });

  it("every published event is covered by events.publish", () => {
    expectValid(service({ capabilities: [publish(["greeting.*"])], events: { publishes: [{ type: "greeting.sent" }, { type: "greeting.read" }] } }));
    expectIssue(service({ capabilities: [publish(["greeting.sent"])], events: { publishes: [{ type: "greeting.sent" }, { type: "other" }] } }), "events.publishes[1].type", /no events\.publish capability covers it/);
    expectIssue(service({ events: { publishes: [{ type: "greeting.sent" }] } }), "events.publishes[0].type", /no events\.publish capability covers it/);
  });

  it("every events.publish type matches a declared event", () => {
    expectIssue(service({ capabilities: [publish(["greeting.sent", "secret.leaked"])], events: { publishes: [{ type: "greeting.sent" }] } }), "capabilities[0].types[1]", /"secret\.leaked" matches nothing in events\.publishes/);
  });

  it("published types are local; the core adds the ext.<id> namespace", () => {
    expectIssue(service({ capabilities: [publish(["ext.acme.hello.greeted"])], events: { publishes: [{ type: "ext.acme.hello.greeted" }] } }), "events.publishes[0].type", /published types are local.*drop the "ext\." prefix/);
  });

  it("published events are declared once", () => {
    expectIssue(service({ capabilities: [publish(["a"])], events: { publishes: [{ type: "a" }, { type: "a" }] } }), "events.publishes[1].type", /declared twice/);
  });

  it("subscriptions are covered by events.subscribe", () => {
    expectValid(service({ capabilities: [subscribe(["order.*"])], events: { subscribes: [{ type: "order.line.added", handler: "onLine" }, { type: "order.line.*", handler: "onAny" }] } }));
    expectIssue(service({ capabilities: [subscribe(["order.created"])], events: { subscribes: [{ type: "invoice.paid", handler: "onPaid" }] } }), "events.subscribes[0].type", /no events\.subscribe capability covers "invoice\.paid"/);
    expectIssue(service({ capabilities: [subscribe(["order.created"])], events: { subscribes: [{ type: "order.*", handler: "onAny" }] } }), "events.subscribes[0].type", /covers "order\.\*"/);
    expectIssue(service({ events: { subscribes: [{ type: "order.created", handler: "on" }] } }), "events.subscribes[0].type", /no events\.subscribe capability/);
  });

  it("an extension hears its own event by its published name, not its short one (which is never delivered)", () => {
    const events = (type: string) => ({ publishes: [{ type: "counted" }], subscribes: [{ type, handler: "onCounted" }] });
    expectValid(service({ capabilities: [publish(["counted"]), subscribe(["ext.acme.hello.counted"])], events: events("ext.acme.hello.counted") }));
    expectIssue(
      service({ capabilities: [publish(["counted"]), subscribe(["counted"])], events: events("counted") }),
      "events.subscribes[0].type",
      /^"counted" is this extension's own event, which the core publishes as "ext\.acme\.hello\.counted": subscribe to that type/,
    );
  });
});

describe("capabilities", () => {
  it("each capability is requested once", () => {
    expectIssue(service({ capabilities: [{ name: "log", reason }, { name: "log", reason }] }), "capabilities[1].name", /already requested by capabilities\[0\]; merge/);
    expectIssue(
      service({ capabilities: [{ name: "host:crm.contacts.read", reason }, { name: "host:crm.contacts.read", reason, params: { all: true } }] }),
      "capabilities[1].name",
      /already requested/,
    );
  });
});

describe("ui pages", () => {
  const page = (extra: Record<string, unknown>) => ({ slot: "app", path: "/", entry: "ui/index.html", title: "T", ...extra });

  it("page entries live under ui.root", () => {
    expectValid(bundle({ ui: { root: "web", pages: [page({ entry: "web/index.html" })] } }));
    expectIssue(bundle({ ui: { pages: [page({ entry: "server/index.html" })] } }), "ui.pages[0].entry", /under ui\.root \("ui\/"\)/);
    expectIssue(bundle({ ui: { root: "web", pages: [page({ entry: "ui/index.html" })] } }), "ui.pages[0].entry", /under ui\.root \("web\/"\)/);
  });

  it("one page per slot and path", () => {
    expectValid(bundle({ ui: { pages: [page({}), page({ slot: "admin" }), page({ path: "/other", entry: "ui/other.html" })] } }));
    expectIssue(bundle({ ui: { pages: [page({}), page({ path: "/", entry: "ui/two.html" })] } }), "ui.pages[1].path", /already has a page/);
  });
});

describe("jobs and limits", () => {
  it("job names are unique", () => {
    expectIssue(service({ jobs: [{ name: "sync", cron: "@daily", handler: "a" }, { name: "sync", cron: "@hourly", handler: "b" }] }), "jobs[1].name", /already declared by jobs\[0\]/);
  });

  it("cpuMs does not exceed wallMs", () => {
    expectValid(service({ limits: { cpuMs: 100, wallMs: 100 } }));
    expectIssue(service({ limits: { cpuMs: 200, wallMs: 100 } }), "limits.cpuMs", /cannot exceed wallMs/);
  });
});

describe("all issues at once", () => {
  it("reports shape errors and cross-field rules together, each at its own path", () => {
    const issues = issuesOf(
      service({
        id: "evil.hello",
        version: "latest",
        surprise: true,
        runtime: { class: "service" },
        capabilities: [{ name: "log", reason }, { name: "fs.read", reason }, { name: "log", reason }],
        endpoints: [api("/a/:x", "one"), api("/a/:y/", "two"), { class: "api", method: "GET", path: "nope", handler: "three" }],
        jobs: [{ name: "tick", cron: "not cron", handler: "one" }],
        config: { n: { type: "integer", default: 10, max: 5 } },
      }),
    );
    const paths = issues.map((issue) => issue.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        "id",
        "version",
        "surprise",
        "runtime.entry",
        "capabilities[1]",
        "capabilities[2].name",
        "endpoints[1].path",
        "endpoints[2].path",
        "jobs[0].cron",
        "jobs[0].handler",
        "config.n.default",
      ]),
    );
    // Every issue is reported once.
    expect(new Set(issues.map((i) => `${i.path} ${i.message}`)).size).toBe(issues.length);
  });

  it("still checks the rules when a field fails an aborting check", () => {
    // A bad time zone and a bad host capability name both abort their own checks; the rules must still run.
    const paths = issuesOf(
      service({
        capabilities: [{ name: "host:bad", reason }, { name: "log", reason }, { name: "log", reason }],
        jobs: [{ name: "a", cron: "@daily", handler: "a", timezone: "Nowhere/Land" }],
      }),
    ).map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(["capabilities[0]", "jobs[0].timezone", "capabilities[2].name"]));
  });
});
