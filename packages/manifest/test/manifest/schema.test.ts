import { describe, expect, it } from "vitest";
import { BUILTIN_CAPABILITY_NAMES, isHttpUrl, NEVER_FORWARDED_REQUEST_HEADERS, parseManifest } from "../../src/index.js";
import { BUNDLE_EXAMPLE, SERVICE_EXAMPLE, bundle, expectIssue, expectValid, reason, service } from "./fixtures.js";

describe("canonical examples", () => {
  it("parses the service example and fills in defaults", () => {
    const manifest = expectValid(SERVICE_EXAMPLE);
    expect(manifest.runtime).toEqual({ class: "service", entry: "server/index.js", warmContext: false });
    expect(manifest.ui).toEqual({ root: "ui", pages: [] });
    expect(manifest.storage).toEqual({ kind: "none" });
    expect(manifest.events).toEqual({ publishes: [], subscribes: [] });
    expect(manifest.jobs).toEqual([]);
    expect(manifest.config).toEqual({});
    expect(manifest.secrets).toEqual([]);
    expect(manifest.limits).toEqual({});
  });

  it("parses the bundle example", () => {
    const manifest = expectValid(BUNDLE_EXAMPLE);
    expect(manifest.capabilities).toEqual([]);
    expect(manifest.endpoints).toEqual([]);
    expect(manifest.ui.pages[0]?.slot).toBe("app");
  });

  it("does not share default objects between results", () => {
    const a = parseManifest(SERVICE_EXAMPLE);
    a.secrets.push("LEAK");
    a.ui.pages.push({ slot: "app", path: "/", entry: "ui/x.html", title: "x" });
    const b = parseManifest(SERVICE_EXAMPLE);
    expect(b.secrets).toEqual([]);
    expect(b.ui.pages).toEqual([]);
  });

  it("accepts an editor's $schema pointer", () => {
    expect(expectValid(service({ $schema: "./node_modules/@annex/manifest/annex.schema.json" })).$schema).toContain("annex.schema.json");
  });
});

function kvWith(limits: Record<string, unknown>): Record<string, unknown> {
  return service({ storage: { kind: "kv", limits }, capabilities: [{ name: "storage.kv", reason }] });
}

function sqlWith(limits: Record<string, unknown>): Record<string, unknown> {
  return service({ storage: { kind: "owned-schema", migrations: "migrations", limits }, capabilities: [{ name: "storage.sql", reason }] });
}

type Case = [label: string, valid: Record<string, unknown>, invalid: Record<string, unknown>, path: string, message: RegExp];

const top: Case[] = [
  ["manifestVersion is 2", service(), service({ manifestVersion: 1 }), "manifestVersion", /must be 2/],
  ["id is publisher.name in lowercase", service({ id: "acme.hello-world" }), service({ id: "Acme.Hello" }), "id", /<publisher>\.<name>/],
  ["id has exactly two labels", service(), service({ id: "acme.hello.world" }), "id", /<publisher>\.<name>/],
  ["id has no double hyphens", service({ id: "acme.a-b" }), service({ id: "acme.a--b" }), "id", /single hyphens/],
  ["id name is at most 32 characters", service({ id: `acme.${"a".repeat(32)}` }), service({ id: `acme.${"a".repeat(33)}` }), "id", /name part of the id .* at most 32/],
  ["publisher is 2-24 characters", service({ publisher: "ac", id: "ac.hello" }), service({ publisher: "a".repeat(25), id: `${"a".repeat(25)}.x` }), "publisher", /2 to 24/],
  ["name is not empty", service({ name: "H" }), service({ name: "   " }), "name", /must not be empty/],
  ["name is at most 64 characters", service({ name: "n".repeat(64) }), service({ name: "n".repeat(65) }), "name", /at most 64/],
  ["version is strict semver", service({ version: "1.2.3-beta.1" }), service({ version: "v1.2.3" }), "version", /semantic version/],
  ["version has no build metadata", service({ version: "1.0.0-rc.1" }), service({ version: "1.0.0+build.5" }), "version", /build metadata/],
  ["version is not a loose form", service({ version: "0.0.1" }), service({ version: "1.2" }), "version", /semantic version/],
  ["description is required", service({ description: "Fine." }), service({ description: undefined }), "description", /required/],
  ["engines.annex is a semver range", service({ engines: { annex: ">=0.1.0 <0.3.0" } }), service({ engines: { annex: "not a range" } }), "engines.annex", /semver range/],
  ["engines has no unknown fields", service(), service({ engines: { annex: "^0.1.0", node: ">=20" } }), "engines.node", /unknown field/],
  ["unknown top-level fields are errors", service(), service({ homepage: "https://x" }), "homepage", /unknown field "homepage"/],
];

const runtime: Case[] = [
  ["runtime.class is bundle or service", service(), service({ runtime: { class: "service-backed", entry: "a.js" } }), "runtime.class", /"bundle".*"service"/],
  ["runtime.entry is a .js/.mjs bundle path", service({ runtime: { class: "service", entry: "dist/server.mjs" } }), service({ runtime: { class: "service", entry: "server/index.ts" } }), "runtime.entry", /\.js, \.mjs/],
  ["runtime.entry cannot climb out of the bundle", service(), service({ runtime: { class: "service", entry: "../index.js" } }), "runtime.entry", /relative path inside the bundle/],
  ["runtime.entry is not absolute", service(), service({ runtime: { class: "service", entry: "/server/index.js" } }), "runtime.entry", /relative path/],
  ["runtime.entry has no backslashes", service(), service({ runtime: { class: "service", entry: "server\\index.js" } }), "runtime.entry", /backslashes/],
  ["runtime.source is a TS/JS source", service({ runtime: { class: "service", entry: "server/index.js", source: "src/server.ts" } }), service({ runtime: { class: "service", entry: "server/index.js", source: "src/server.py" } }), "runtime.source", /\.ts/],
  ["runtime.warmContext is a boolean", service({ runtime: { class: "service", entry: "a.js", warmContext: true } }), service({ runtime: { class: "service", entry: "a.js", warmContext: "yes" } }), "runtime.warmContext", /boolean/],
];

const capabilities: Case[] = [
  ["a capability needs a reason", service(), service({ capabilities: [{ name: "log" }] }), "capabilities[0].reason", /required/],
  ["a reason is a sentence, not a word", service(), service({ capabilities: [{ name: "log", reason: "x" }] }), "capabilities[0].reason", /why the extension needs this/],
  ["unknown capabilities list the vocabulary", service(), service({ capabilities: [{ name: "fs.write", reason }] }), "capabilities[0]", /unknown capability "fs\.write".*log, storage\.kv.*user\.read.*host:/],
  ["capability params are strict", service(), service({ capabilities: [{ name: "log", reason, level: "debug" }] }), "capabilities[0].level", /unknown field/],
  ["http.fetch lists at least one host (empty never means all)", service({ capabilities: [{ name: "http.fetch", hosts: ["api.example.com"], reason }] }), service({ capabilities: [{ name: "http.fetch", hosts: [], reason }] }), "capabilities[0].hosts", /at least one host/],
  ["http.fetch hosts are host names", service({ capabilities: [{ name: "http.fetch", hosts: ["*.example.com:8443"], reason }] }), service({ capabilities: [{ name: "http.fetch", hosts: ["api.example.com", "https://x.com/path"], reason }] }), "capabilities[0].hosts[1]", /no scheme, no path/],
  ["http.fetch refuses IP literals", service(), service({ capabilities: [{ name: "http.fetch", hosts: ["169.254.169.254"], reason }] }), "capabilities[0].hosts[0]", /IP addresses are not allowed/],
  ["http.fetch refuses localhost", service(), service({ capabilities: [{ name: "http.fetch", hosts: ["db.localhost"], reason }] }), "capabilities[0].hosts[0]", /localhost/],
  ["http.fetch refuses single-label names and bare TLD wildcards", service(), service({ capabilities: [{ name: "http.fetch", hosts: ["*.com"], reason }] }), "capabilities[0].hosts[0]", /at least two labels/],
  ["http.fetch ports are in range", service(), service({ capabilities: [{ name: "http.fetch", hosts: ["api.example.com:70000"], reason }] }), "capabilities[0].hosts[0]", /port/],
  ["http.fetch hosts are unique", service(), service({ capabilities: [{ name: "http.fetch", hosts: ["a.example.com", "a.example.com"], reason }] }), "capabilities[0].hosts[1]", /duplicate host/],
  ["secrets.read names are UPPER_SNAKE_CASE", service(), service({ secrets: ["api-key"], capabilities: [{ name: "secrets.read", names: ["api-key"], reason }] }), "capabilities[0].names[0]", /UPPER_SNAKE_CASE/],
  ["host capabilities are host:<namespace>.<name>", service({ capabilities: [{ name: "host:crm.contacts.read", reason }] }), service({ capabilities: [{ name: "host:crm", reason }] }), "capabilities[0]", /host:<namespace>\.<name>/],
  ["host capability params are JSON", service({ capabilities: [{ name: "host:crm.contacts.read", params: { fields: ["email"] }, reason }] }), service({ capabilities: [{ name: "host:crm.contacts.read", params: { at: new Date(0) }, reason }] }), "capabilities[0].params", /JSON/],
  ["host capabilities are strict too", service(), service({ capabilities: [{ name: "host:crm.contacts.read", reason, scope: "all" }] }), "capabilities[0].scope", /unknown field/],
];

const endpoints: Case[] = [
  ["endpoint class is closed", service(), service({ endpoints: [{ class: "internal", method: "GET", path: "/x", handler: "x" }] }), "endpoints[0].class", /unknown endpoint class "internal"/],
  ["methods are upper case", service(), service({ endpoints: [{ class: "api", method: "get", path: "/x", handler: "x" }] }), "endpoints[0].method", /upper case/],
  ["paths start with / and use :params", service({ endpoints: [{ class: "api", method: "GET", path: "/items/:id/", handler: "x" }] }), service({ endpoints: [{ class: "api", method: "GET", path: "items/*", handler: "x" }] }), "endpoints[0].path", /start with "\/"/],
  ["paths have no dot segments", service(), service({ endpoints: [{ class: "api", method: "GET", path: "/a/../b", handler: "x" }] }), "endpoints[0].path", /"\." or "\.\." segments/],
  ["handlers are JS identifiers", service({ endpoints: [{ class: "api", method: "GET", path: "/x", handler: "$get_x2" }] }), service({ endpoints: [{ class: "api", method: "GET", path: "/x", handler: "get-x" }] }), "endpoints[0].handler", /JavaScript identifier/],
  ["handlers are not reserved words", service(), service({ endpoints: [{ class: "api", method: "GET", path: "/x", handler: "default" }] }), "endpoints[0].handler", /reserved word/],
  ["rateLimit is {requests, perSeconds}", service({ endpoints: [{ class: "api", method: "GET", path: "/x", handler: "x", rateLimit: { requests: 10, perSeconds: 60 } }] }), service({ endpoints: [{ class: "api", method: "GET", path: "/x", handler: "x", rateLimit: { requests: 0, perSeconds: 60 } }] }), "endpoints[0].rateLimit.requests", /at least 1/],
  ["rateLimit values are integers", service(), service({ endpoints: [{ class: "api", method: "GET", path: "/x", handler: "x", rateLimit: { requests: 1.5, perSeconds: 60 } }] }), "endpoints[0].rateLimit.requests", /integer/],
  ["public endpoints may declare cors origins", service({ endpoints: [{ class: "public", method: "POST", path: "/ingest", handler: "ingest", cors: { origins: ["https://shop.example.com"] } }] }), service({ endpoints: [{ class: "public", method: "POST", path: "/ingest", handler: "ingest", cors: { origins: ["https://shop.example.com/path"] } }] }), "endpoints[0].cors.origins[0]", /scheme:\/\/host/],
  ["cors '*' stands alone", service({ endpoints: [{ class: "public", method: "GET", path: "/p", handler: "p", cors: { origins: ["*"] } }] }), service({ endpoints: [{ class: "public", method: "GET", path: "/p", handler: "p", cors: { origins: ["*", "https://a.example.com"] } }] }), "endpoints[0].cors.origins", /list it alone/],
  ["cors is only for public endpoints", service(), service({ endpoints: [{ class: "api", method: "GET", path: "/x", handler: "x", cors: { origins: ["*"] } }] }), "endpoints[0].cors", /unknown field/],
  ["webhooks say who verifies", service({ endpoints: [{ class: "webhook", method: "POST", path: "/hook", handler: "hook", verify: "annex" }] }), service({ endpoints: [{ class: "webhook", method: "POST", path: "/hook", handler: "hook", verify: "none" }] }), "endpoints[0].verify", /"annex".*"extension"/],
  ["webhook headers are lowercase names", service(), service({ secrets: ["S"], capabilities: [{ name: "secrets.read", names: ["S"], reason }], endpoints: [{ class: "webhook", method: "POST", path: "/h", handler: "h", verify: "extension", secret: "S", headers: ["Stripe-Signature"] }] }), "endpoints[0].headers[0]", /lowercase/],
  ["webhooks never receive cookies", service(), service({ secrets: ["S"], capabilities: [{ name: "secrets.read", names: ["S"], reason }], endpoints: [{ class: "webhook", method: "POST", path: "/h", handler: "h", verify: "extension", secret: "S", headers: ["cookie"] }] }), "endpoints[0].headers[0]", /never forwarded/],
  ...[...NEVER_FORWARDED_REQUEST_HEADERS, "x-annex-tenant"].map((header): Case => [
    `webhooks never ask for ${header}, which the gateway drops`,
    service({ secrets: ["S"], capabilities: [{ name: "secrets.read", names: ["S"], reason }], endpoints: [{ class: "webhook", method: "POST", path: "/h", handler: "h", verify: "extension", secret: "S", headers: ["stripe-signature"] }] }),
    service({ secrets: ["S"], capabilities: [{ name: "secrets.read", names: ["S"], reason }], endpoints: [{ class: "webhook", method: "POST", path: "/h", handler: "h", verify: "extension", secret: "S", headers: ["stripe-signature", header] }] }),
    "endpoints[0].headers[1]",
    /never forwarded/,
  ]),
  ["health endpoints are GET only", service({ endpoints: [{ class: "health", method: "GET", path: "/health", handler: "health" }] }), service({ endpoints: [{ class: "health", method: "POST", path: "/health", handler: "health" }] }), "endpoints[0].method", /GET only/],
  ["health endpoints take no rate limit", service(), service({ endpoints: [{ class: "health", method: "GET", path: "/health", handler: "health", rateLimit: { requests: 1, perSeconds: 1 } }] }), "endpoints[0].rateLimit", /unknown field/],
];

const ui: Case[] = [
  ["slots are a closed enum", bundle(), bundle({ ui: { pages: [{ slot: "sidebar", path: "/", entry: "ui/index.html", title: "Docs" }] } }), "ui.pages[0].slot", /app, admin, settings, public, dashboard\.widget/],
  ["dashboard.widget is a slot", bundle({ ui: { pages: [{ slot: "dashboard.widget", path: "/", entry: "ui/w.html", title: "W" }] } }), bundle({ ui: { pages: [{ slot: "dashboard_widget", path: "/", entry: "ui/w.html", title: "W" }] } }), "ui.pages[0].slot", /dashboard\.widget/],
  ["page entries are .html", bundle(), bundle({ ui: { pages: [{ slot: "app", path: "/", entry: "ui/index.js", title: "Docs" }] } }), "ui.pages[0].entry", /\.html/],
  ["pages have a title", bundle(), bundle({ ui: { pages: [{ slot: "app", path: "/", entry: "ui/index.html" }] } }), "ui.pages[0].title", /required/],
  ["ui.root is a bundle path", bundle({ ui: { root: "web/ui", pages: [{ slot: "app", path: "/", entry: "web/ui/index.html", title: "D" }] } }), bundle({ ui: { root: "../web", pages: [] } }), "ui.root", /relative path/],
  ["csp script hashes are sha256-<base64>", bundle({ ui: { pages: [], csp: { scriptHashes: [`sha256-${"A".repeat(43)}=`] } } }), bundle({ ui: { pages: [], csp: { scriptHashes: ["sha256-abc"] } } }), "ui.csp.scriptHashes[0]", /sha256-<base64>/],
];

const storage: Case[] = [
  ["storage.kind is none|kv|owned-schema", service(), service({ storage: { kind: "sql" } }), "storage.kind", /none, kv, owned-schema/],
  ["one spelling: owned_schema is refused", service(), service({ storage: { kind: "owned_schema", migrations: "migrations" } }), "storage.kind", /owned-schema/],
  ["owned-schema requires migrations", service({ storage: { kind: "owned-schema", migrations: "migrations" }, capabilities: [{ name: "storage.sql", reason }] }), service({ storage: { kind: "owned-schema" }, capabilities: [{ name: "storage.sql", reason }] }), "storage.migrations", /required/],
  ["migrations only with owned-schema", service(), service({ storage: { kind: "kv", migrations: "migrations" }, capabilities: [{ name: "storage.kv", reason }] }), "storage.migrations", /unknown field/],
  ["kv limits are positive whole numbers", kvWith({ keyBytes: 64, valueBytes: 1024, keys: 10, totalBytes: 4096 }), kvWith({ keys: 0 }), "storage.limits.keys", /storage\.limits\.keys must be at least 1/],
  ["kv limits are whole numbers", kvWith({ valueBytes: 1 }), kvWith({ valueBytes: 1.5 }), "storage.limits.valueBytes", /whole number/],
  ["kv limits are numbers", kvWith({ totalBytes: 1 }), kvWith({ totalBytes: "1000" }), "storage.limits.totalBytes", /whole number|number/],
  ["kv keys are at most 512 bytes", kvWith({ keyBytes: 512 }), kvWith({ keyBytes: 513 }), "storage.limits.keyBytes", /at most 512/],
  ["kv limits have sane maxima", kvWith({ totalBytes: 2 ** 40 }), kvWith({ totalBytes: 2 ** 40 + 1 }), "storage.limits.totalBytes", /at most/],
  ["kv limits are a closed set", kvWith({}), kvWith({ maxRows: 10 }), "storage.limits.maxRows", /unknown field/],
  ["sql limits are positive whole numbers", sqlWith({ timeoutMs: 1000, maxRows: 50, maxBytes: 65536 }), sqlWith({ maxRows: -1 }), "storage.limits.maxRows", /at least 1/],
  ["sql timeout has a sane maximum", sqlWith({ timeoutMs: 300_000 }), sqlWith({ timeoutMs: 300_001 }), "storage.limits.timeoutMs", /at most 300000/],
  ["sql limits are a closed set", sqlWith({}), sqlWith({ keys: 10 }), "storage.limits.keys", /unknown field/],
  ["no limits for storage none", service({ storage: { kind: "none" } }), service({ storage: { kind: "none", limits: { keys: 1 } } }), "storage.limits", /unknown field/],
];

const events: Case[] = [
  ["published types are lowercase dotted words", service({ events: { publishes: [{ type: "greeting.sent", description: "A greeting went out." }] }, capabilities: [{ name: "events.publish", types: ["greeting.sent"], reason }] }), service({ events: { publishes: [{ type: "Greeting Sent" }] }, capabilities: [{ name: "events.publish", types: ["greeting.sent"], reason }] }), "events.publishes[0].type", /dot-separated lowercase/],
  ["subscriptions name a handler", service(), service({ events: { subscribes: [{ type: "order.created" }] }, capabilities: [{ name: "events.subscribe", types: ["order.created"], reason }] }), "events.subscribes[0].handler", /required/],
];

const jobs: Case[] = [
  ["cron is five fields", service({ jobs: [{ name: "sync", cron: "*/15 * * * *", handler: "sync" }] }), service({ jobs: [{ name: "sync", cron: "* * *", handler: "sync" }] }), "jobs[0].cron", /five fields/],
  ["cron nicknames are accepted", service({ jobs: [{ name: "sync", cron: "@daily", handler: "sync" }] }), service({ jobs: [{ name: "sync", cron: "@reboot", handler: "sync" }] }), "jobs[0].cron", /five fields/],
  ["cron values are in range", service(), service({ jobs: [{ name: "sync", cron: "61 * * * *", handler: "sync" }] }), "jobs[0].cron", /not valid.*minute/],
  ["cron must fire some day", service(), service({ jobs: [{ name: "sync", cron: "0 0 30 2 *", handler: "sync" }] }), "jobs[0].cron", /never fires/],
  // Croner recurses month by month to its year 3000 looking for a run: five months a year overflowed the stack.
  ["cron must fire in some month it names", service({ jobs: [{ name: "sync", cron: "0 0 30 4,6,9,11 *", handler: "sync" }] }), service({ jobs: [{ name: "sync", cron: "0 0 31 2,4,6,9,11 *", handler: "sync" }] }), "jobs[0].cron", /^cron never fires/],
  ["cron has no seconds field", service(), service({ jobs: [{ name: "sync", cron: "*/5 * * * * *", handler: "sync" }] }), "jobs[0].cron", /five fields/],
  ["cron has no clock-dependent '?'", service(), service({ jobs: [{ name: "sync", cron: "0 0 ? * *", handler: "sync" }] }), "jobs[0].cron", /"\?"/],
  ["timezone is IANA", service({ jobs: [{ name: "sync", cron: "0 9 * * MON-FRI", handler: "sync", timezone: "Europe/Paris" }] }), service({ jobs: [{ name: "sync", cron: "0 9 * * *", handler: "sync", timezone: "Mars/Olympus_Mons" }] }), "jobs[0].timezone", /time zone/],
  ["job names are kebab-case", service(), service({ jobs: [{ name: "Nightly Sync", cron: "@daily", handler: "sync" }] }), "jobs[0].name", /lowercase letters/],
];

const config: Case[] = [
  ["setting types are closed", service({ config: { greeting: { type: "string", default: "Hello" } } }), service({ config: { greeting: { type: "text" } } }), "config.greeting.type", /string, number, integer, boolean, enum, url/],
  ["setting keys are identifiers", service(), service({ config: { "api-url": { type: "url" } } }), "config[\"api-url\"]", /setting keys/],
  ["string defaults are strings", service(), service({ config: { greeting: { type: "string", default: 5 } } }), "config.greeting.default", /string/],
  ["string defaults respect maxLength", service({ config: { code: { type: "string", default: "ab", minLength: 2, maxLength: 2 } } }), service({ config: { code: { type: "string", default: "abc", maxLength: 2 } } }), "config.code.default", /longer than maxLength/],
  ["number defaults respect min/max", service({ config: { ratio: { type: "number", default: 0.5, min: 0, max: 1 } } }), service({ config: { ratio: { type: "number", default: 2, min: 0, max: 1 } } }), "config.ratio.default", /above max/],
  ["integer defaults are integers", service({ config: { n: { type: "integer", default: 3 } } }), service({ config: { n: { type: "integer", default: 3.5 } } }), "config.n.default", /integer/],
  ["min does not exceed max", service(), service({ config: { n: { type: "integer", min: 5, max: 1 } } }), "config.n.min", /must not exceed max/],
  ["boolean defaults are booleans", service({ config: { on: { type: "boolean", default: true } } }), service({ config: { on: { type: "boolean", default: "true" } } }), "config.on.default", /boolean/],
  ["enum defaults are among the values", service({ config: { size: { type: "enum", values: ["s", "m"], default: "m" } } }), service({ config: { size: { type: "enum", values: ["s", "m"], default: "xl" } } }), "config.size.default", /not one of the values/],
  ["enum values are unique", service(), service({ config: { size: { type: "enum", values: ["s", "s"] } } }), "config.size.values[1]", /duplicate enum value/],
  ["url defaults are http(s) URLs", service({ config: { api: { type: "url", default: "https://api.example.com/v1" } } }), service({ config: { api: { type: "url", default: "javascript:alert(1)" } } }), "config.api.default", /http\(s\) URL/],
  ["url defaults hold no whitespace or controls (the URL parser drops a tab: this means api.example.com.evil.test)", service({ config: { api: { type: "url", default: "https://api.example.com/v1" } } }), service({ config: { api: { type: "url", default: "https://api.example.com\t.evil.test/" } } }), "config.api.default", /http\(s\) URL/],
  ["required settings have no default", service({ config: { token: { type: "string", required: true, description: "API token." } } }), service({ config: { token: { type: "string", required: true, default: "x" } } }), "config.token.default", /required setting has no default/],
  ["numbers are finite", service(), service({ config: { n: { type: "number", default: Number.POSITIVE_INFINITY } } }), "config.n.default", /finite|number/],
];

const limits: Case[] = [
  ["limits are positive integers", service({ limits: { memoryMb: 64, cpuMs: 100, wallMs: 1000 } }), service({ limits: { memoryMb: 0 } }), "limits.memoryMb", /at least 1/],
  ["limits have sane maxima", service({ limits: { memoryMb: 1024 } }), service({ limits: { memoryMb: 1025 } }), "limits.memoryMb", /at most 1024/],
  ["limits are whole numbers", service({ limits: { hostCalls: 10 } }), service({ limits: { hostCalls: 1.5 } }), "limits.hostCalls", /whole number/],
  ["limits are a closed set", service(), service({ limits: { diskMb: 10 } }), "limits.diskMb", /unknown field/],
  ["secrets are UPPER_SNAKE_CASE", service({ secrets: ["API_KEY"] }), service({ secrets: ["apiKey"] }), "secrets[0]", /UPPER_SNAKE_CASE/],
];

describe.each([
  ["top level", top],
  ["runtime", runtime],
  ["capabilities", capabilities],
  ["endpoints", endpoints],
  ["ui", ui],
  ["storage", storage],
  ["events", events],
  ["jobs", jobs],
  ["config", config],
  ["limits and secrets", limits],
])("%s", (_section, cases) => {
  it.each(cases)("%s", (_label, valid, invalid, path, message) => {
    expectValid(valid);
    expectIssue(invalid, path, message);
  });
});

describe("url settings", () => {
  // One rule with the host's validateConfig, which stores nothing a URL parser would reinterpret.
  it.each([
    ["tab", "https://api.example.com\t.evil.test/"],
    ["line feed", "https://api.example.com/\n"],
    ["carriage return", "https://api.\rexample.com/"],
    ["space", "https://api.example.com/a b"],
    ["leading space", " https://api.example.com/"],
    ["NUL", "https://api.example.com/\u0000"],
    ["DEL", "https://api.example.com/\u007f"],
    ["C1 control", "https://api.example.com/\u0085"],
    ["no-break space", "https://api.example.com/\u00a0"],
    ["line separator", "https://api.example.com/\u2028"],
    ["ideographic space", "https://api.example.com/\u3000"],
    ["credentials", "https://user:pw@api.example.com/"],
    ["over 2048 characters", `https://api.example.com/${"a".repeat(2048)}`],
  ])("refuses a default with %s, naming config.<key>.default", (_label, url) => {
    expect(isHttpUrl(url)).toBe(false);
    // NUL, DEL and C1 controls are refused in every manifest string already, with their own message.
    expectIssue(service({ config: { endpoint: { type: "url", default: url } } }), "config.endpoint.default", /http\(s\) URL|control character/);
  });

  it("accepts ordinary URLs, and exports the rule for hosts", () => {
    for (const url of ["https://api.example.com", "http://localhost:8080/a?b=c#d", "HTTPS://API.EXAMPLE.COM/%20x", "https://xn--caf-dma.example/"]) {
      expect(isHttpUrl(url), url).toBe(true);
      expectValid(service({ config: { endpoint: { type: "url", default: url } } }));
    }
    for (const url of ["javascript:alert(1)", "ftp://x.example.com/", "https://", "//x.example.com", 5 as never]) expect(isHttpUrl(url), String(url)).toBe(false);
  });
});

describe("vocabulary", () => {
  it("accepts every built-in capability with its parameters", () => {
    const params: Record<string, Record<string, unknown>> = {
      "http.fetch": { hosts: ["api.example.com"] },
      "secrets.read": { names: ["API_KEY"] },
      "events.publish": { types: ["greeting.sent"] },
      "events.subscribe": { types: ["order.*"] },
      "storage.kv": {},
    };
    const manifest = expectValid(
      service({
        capabilities: BUILTIN_CAPABILITY_NAMES.filter((name) => name !== "storage.sql").map((name) => ({ name, reason, ...params[name] })),
        storage: { kind: "kv" },
        secrets: ["API_KEY"],
        events: { publishes: [{ type: "greeting.sent" }], subscribes: [{ type: "order.created", handler: "onOrder" }] },
      }),
    );
    expect(manifest.capabilities.map((c) => c.name)).toEqual(BUILTIN_CAPABILITY_NAMES.filter((name) => name !== "storage.sql"));
  });
});
