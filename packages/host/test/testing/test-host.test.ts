import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineHostCapability, HostOptionsError } from "../../src/index.js";
import { signWebhook } from "../../src/gateway/webhook-signature.js";
import { createTestHost, packFolder, type TestHost } from "../../src/testing/test-host.js";
import { createLedger, ordersBundle } from "../events/support.js";
import { describeBackends } from "../support/backends.js";
import { makeBundle, makePublisher, serviceManifest, signedBundle } from "../support/fixtures.js";

const SERVER = `
export async function hello(request, ctx) {
  ctx.log.info("saying hello to " + request.params.name);
  return { message: "Hello, " + request.params.name + "!", user: ctx.principal.user.id, tenant: ctx.install.tenant };
}
export function stats(request, ctx) { return { days: request.query.days ?? "30", greeting: ctx.install.config.greeting }; }
export async function token(request, ctx) { return { token: await ctx.secrets.get("API_TOKEN") }; }
export async function contact(request, ctx) { return await ctx.host.call("crm.contacts.read", { id: request.params.id }); }
export function track(request, ctx) { return { status: 202, body: { got: request.body, tenant: ctx.install.tenant } }; }
export function incoming(request) { return { received: request.body }; }
`;

function manifest(version = "1.0.0") {
  return serviceManifest({
    id: "acme.stats",
    name: "Stats",
    version,
    capabilities: [
      { name: "log", reason: "Logs greetings." },
      { name: "user.read", reason: "Greets the signed-in user by id." },
      { name: "secrets.read", names: ["API_TOKEN"], reason: "Calls the stats API." },
      { name: "host:crm.contacts.read", reason: "Shows contact names." },
    ],
    secrets: ["API_TOKEN"],
    config: { greeting: { type: "string", default: "Hi" } },
    endpoints: [
      { class: "api", method: "GET", path: "/hello/:name", handler: "hello" },
      { class: "api", method: "GET", path: "/stats", handler: "stats" },
      { class: "api", method: "GET", path: "/token", handler: "token" },
      { class: "api", method: "GET", path: "/contacts/:id", handler: "contact" },
      { class: "public", method: "POST", path: "/track", handler: "track" },
      { class: "webhook", method: "POST", path: "/incoming", handler: "incoming", verify: "annex" },
    ],
    ui: { pages: [{ slot: "app", path: "/", entry: "ui/index.html", title: "Stats" }] },
  });
}

const crm = defineHostCapability({
  name: "crm.contacts.read",
  args: z.object({ id: z.string() }),
  result: z.object({ id: z.string(), name: z.string(), tenant: z.string() }),
  handler: ({ id }, { install }) => ({ id, name: `Contact ${id}`, tenant: install.tenant }),
});

describeBackends("createTestHost", (backend) => {
  let dir: string;
  let t: TestHost;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "annex-test-host-"));
    await writeFile(join(dir, "annex.json"), JSON.stringify(manifest(), null, 2));
    await mkdir(join(dir, "server"));
    await writeFile(join(dir, "server/index.js"), SERVER);
    await mkdir(join(dir, "ui"));
    await writeFile(join(dir, "ui/index.html"), "<p>stats</p>");
    await mkdir(join(dir, "src"));
    await writeFile(join(dir, "src/server.ts"), "// sources are not packed");
    await mkdir(join(dir, "node_modules"));
    t = await createTestHost({ capabilities: [crm], database: await backend.connect(), schema: backend.freshSchema() });
  });
  afterAll(async () => {
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("installs an extension folder and answers requests without a server", async () => {
    const install = await t.install(pathToFileURL(`${dir}/`), { secrets: { API_TOKEN: "tok_123" } });
    expect(install).toMatchObject({ extensionId: "acme.stats", state: "active", tenant: "test-tenant" });
    const response = await t.request("GET", "/api/ext/acme.stats/hello/Ada", { as: "u1" });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ message: "Hello, Ada!", user: "u1", tenant: "test-tenant" });
  });

  it("packs what annex pack packs: the folder with its ignore rules (node_modules never), the UI built", async () => {
    const { readBundle } = await import("@annex/manifest");
    const bundle = await readBundle(await packFolder(dir));
    expect([...bundle.files.keys()].sort()).toEqual(["annex.json", "server/index.js", "src/server.ts", "ui/index.html"]);
  });

  it("grants what the manifest requests by default and applies config defaults", async () => {
    const response = await t.request("GET", "/api/ext/acme.stats/stats?days=7", { as: "u1" });
    expect(await response.json()).toEqual({ days: "7", greeting: "Hi" });
  });

  it("wires install secrets and host capabilities (fakes) to the sandbox", async () => {
    expect(await (await t.request("GET", "/api/ext/acme.stats/token", { as: "u1" })).json()).toEqual({ token: "tok_123" });
    expect(await (await t.request("GET", "/api/ext/acme.stats/contacts/7", { as: "u1" })).json()).toEqual({ id: "7", name: "Contact 7", tenant: "test-tenant" });
  });

  it("collects the extension's log lines", async () => {
    await t.request("GET", "/api/ext/acme.stats/hello/Logs", { as: "u1" });
    expect(t.logs.map((line) => line.message)).toContain("saying hello to Logs");
    expect(t.logs.at(-1)).toMatchObject({ level: "info", extensionId: "acme.stats", handler: "hello" });
  });

  it("answers 401 without `as`, sends JSON bodies, and serves public endpoints per tenant", async () => {
    expect((await t.request("GET", "/api/ext/acme.stats/stats")).status).toBe(401);
    const tracked = await t.request("POST", "/ext/acme.stats/public/track", { body: { page: "/" } });
    expect(tracked.status).toBe(202);
    expect(await tracked.json()).toEqual({ got: { page: "/" }, tenant: "test-tenant" });
    expect((await t.request("POST", "/ext/acme.stats/public/track", { body: {}, tenant: "nobody" })).status).toBe(404);
  });

  it("signs webhooks with the install's secret", async () => {
    const secret = await t.webhookSecret("acme.stats");
    expect(await t.webhookSecret("acme.stats")).toBe(secret);
    const body = JSON.stringify({ id: "evt_1" });
    const response = await t.request("POST", "/ext/acme.stats/hooks/incoming", { body, headers: { "content-type": "application/json", ...signWebhook(secret, body).headers } });
    expect(await response.json()).toEqual({ received: { id: "evt_1" } });
    expect((await t.request("POST", "/ext/acme.stats/hooks/incoming", { body })).status).toBe(401);
  });

  it("exposes the audit log with the gateway's decisions", async () => {
    const lines = await t.audit.list({ action: "gateway.request", order: "desc", limit: 5 });
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.some((line) => line.decision === "allow" && line.tenant === "test-tenant")).toBe(true);
  });

  it("drives the lifecycle: disable, enable, upgrade, uninstall", async () => {
    await t.disable("acme.stats");
    expect((await t.request("GET", "/api/ext/acme.stats/stats", { as: "u1" })).status).toBe(404);
    await t.enable("acme.stats");
    expect((await t.request("GET", "/api/ext/acme.stats/stats", { as: "u1" })).status).toBe(200);
    const bytes = await makeBundle(manifest("1.1.0"), { "server/index.js": SERVER.replace('"30"', '"90"'), "ui/index.html": "<p>v2</p>" });
    const upgraded = await t.upgrade(bytes);
    expect(upgraded.version).toBe("1.1.0");
    expect(await (await t.request("GET", "/api/ext/acme.stats/stats", { as: "u1" })).json()).toEqual({ days: "90", greeting: "Hi" });
    await t.uninstall("acme.stats");
    expect((await t.request("GET", "/api/ext/acme.stats/stats", { as: "u1" })).status).toBe(404);
  });

  it("installs for other tenants, isolated from the default one", async () => {
    const bytes = await makeBundle(serviceManifest({ id: "acme.iso", endpoints: [{ class: "api", method: "GET", path: "/who", handler: "who" }] }), {
      "server/index.js": "export function who(request, ctx) { return { tenant: ctx.install.tenant }; }",
    });
    await t.install(bytes, { tenant: "other" });
    expect(await (await t.request("GET", "/api/ext/acme.iso/who", { as: { user: { id: "u2" }, tenant: "other" } })).json()).toEqual({ tenant: "other" });
    expect((await t.request("GET", "/api/ext/acme.iso/who", { as: "u1" })).status).toBe(404);
  });

  it("bundles runtime.source on the fly, the way annex pack does, ignoring a stale build beside it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "annex-source-"));
    try {
      const withSource = serviceManifest({ id: "acme.fromsource" });
      await writeFile(join(dir, "annex.json"), JSON.stringify({ ...withSource, runtime: { ...(withSource["runtime"] as object), source: "src/server.ts" } }));
      await mkdir(join(dir, "src"));
      await writeFile(join(dir, "src/greeting.ts"), "export const greet = (name: string): string => `Hello from source, ${name}!`;\n");
      await writeFile(
        join(dir, "src/server.ts"),
        'import { greet } from "./greeting.js";\nexport function hello(request: { params: Record<string, string> }) { return { message: greet(request.params.name ?? "") }; }\n',
      );
      await mkdir(join(dir, "server"));
      await writeFile(join(dir, "server/index.js"), 'export function hello() { return { message: "stale build" }; }');
      await t.install(dir);
      const response = await t.request("GET", "/api/ext/acme.fromsource/hello/Ada", { as: "u1" });
      expect(await response.json()).toEqual({ message: "Hello from source, Ada!" });

      // A source that does not compile fails the install with the error annex pack gives, naming the file.
      await writeFile(join(dir, "src/server.ts"), "export function hello( { return 1 }\n");
      await expect(t.upgrade(dir)).rejects.toMatchObject({ code: "E_BUILD", message: expect.stringContaining("src/server.ts") });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("says what to do when a folder's entry is not built, or the path is not a folder of an extension", async () => {
    const unbuilt = await mkdtemp(join(tmpdir(), "annex-unbuilt-"));
    try {
      await writeFile(join(unbuilt, "annex.json"), JSON.stringify(serviceManifest({ id: "acme.unbuilt" })));
      // The errors of `annex pack` (from @annex/build), naming the field and what to do.
      await expect(t.install(unbuilt)).rejects.toMatchObject({ code: "E_PACK_MISSING_FILE", message: expect.stringContaining("runtime.source") });
      await expect(t.install(join(unbuilt, "nowhere"))).rejects.toMatchObject({ code: "E_FILE_NOT_FOUND" });
      await writeFile(join(unbuilt, "annex.json"), JSON.stringify({ ...serviceManifest({ id: "acme.unbuilt" }), ui: { pages: [{ slot: "app", path: "/", entry: "ui/index.html", title: "X" }] } }));
      await mkdir(join(unbuilt, "server"));
      await writeFile(join(unbuilt, "server/index.js"), "export function hello() { return 1; }");
      await expect(t.install(unbuilt)).rejects.toMatchObject({ code: "E_PACK_MISSING_FILE", message: expect.stringContaining("ui.pages[0].entry") });
      await expect(t.install(new URL("https://example.com/") as unknown as string)).rejects.toMatchObject({ code: "E_TEST_HOST_SOURCE" });
      await expect(t.request("GET", "api/ext/x")).rejects.toMatchObject({ code: "E_TEST_HOST_REQUEST" });
    } finally {
      await rm(unbuilt, { recursive: true, force: true });
    }
  });
});

describeBackends("createTestHost: what handlers published", (backend) => {
  it("lists the events the outbox holds, the app's and those a handler published, oldest first, narrowed by type, tenant, extension or install", async () => {
    const ledger = createLedger();
    const t = await createTestHost({ capabilities: [ledger.capability], database: await backend.connect(), schema: backend.freshSchema("annex_published") });
    try {
      const orders = await t.install(await ordersBundle());
      const elsewhere = await t.install(await ordersBundle(), { tenant: "other-tenant" });
      await t.events.publish("order.created", { n: 7, ship: true });
      await t.events.publish("order.created", { n: 8, ship: true }, { tenant: "other-tenant" });
      await t.events.publish("order.created", { n: 9 });
      expect(await t.events.published({ installId: orders.id })).toEqual([]);
      await t.relay.drain();

      const all = await t.events.published();
      expect(all.map((e) => [e.tenant, e.type, e.payload])).toEqual([
        ["test-tenant", "order.created", { n: 7, ship: true }],
        ["other-tenant", "order.created", { n: 8, ship: true }],
        ["test-tenant", "order.created", { n: 9 }],
        // Published by the handlers, after the app's three, in the order the relay ran them.
        ...(all[3]!.tenant === "test-tenant"
          ? [["test-tenant", "ext.acme.orders.shipped", { n: 7, by: "test-tenant" }], ["other-tenant", "ext.acme.orders.shipped", { n: 8, by: "other-tenant" }]]
          : [["other-tenant", "ext.acme.orders.shipped", { n: 8, by: "other-tenant" }], ["test-tenant", "ext.acme.orders.shipped", { n: 7, by: "test-tenant" }]]),
      ]);
      expect(all[0]).toMatchObject({ publisher: "app", depth: 0 });
      expect(all[0]!.occurredAt).toMatch(/^\d{4}-\d\d-\d\dT/);

      const mine = await t.events.published({ installId: orders.id });
      expect(mine).toEqual([
        expect.objectContaining({ type: "ext.acme.orders.shipped", payload: { n: 7, by: "test-tenant" }, publisher: { installId: orders.id, extensionId: "acme.orders" }, depth: 1 }),
      ]);
      expect((await t.events.published({ extensionId: "acme.orders" })).map((e) => e.publisher)).toEqual(
        expect.arrayContaining([{ installId: orders.id, extensionId: "acme.orders" }, { installId: elsewhere.id, extensionId: "acme.orders" }]),
      );
      expect(await t.events.published({ extensionId: "acme.orders", tenant: "other-tenant" })).toHaveLength(1);
      expect(await t.events.published({ type: "order.created", tenant: "test-tenant" })).toHaveLength(2);
      expect(await t.events.published({ extensionId: "acme.nobody" })).toEqual([]);
    } finally {
      await t.close();
    }
  });
});

describe("createTestHost with no options", () => {
  it("starts its own in-memory PGlite and runner, and closes them", async () => {
    const t = await createTestHost();
    try {
      const bytes = await makeBundle(serviceManifest({ id: "acme.mini" }), { "server/index.js": "export function hello(request) { return { hi: request.params.name }; }" });
      await t.install(bytes);
      expect(await (await t.request("GET", "/api/ext/acme.mini/hello/you", { as: "u" })).json()).toEqual({ hi: "you" });
      expect(t.host.database.kind).toBe("pglite");
    } finally {
      await t.close();
    }
    await expect(t.runner.execute({} as never)).resolves.toMatchObject({ ok: false, error: { code: "E_RUNNER_UNAVAILABLE" } });
  });
});

describe("createTestHost({ trust })", () => {
  it("installs a signed bundle when the publisher's key is trusted, and refuses it under the default empty store", async () => {
    const publisher = await makePublisher("acme");
    const { bytes, signature } = await signedBundle(publisher, serviceManifest({ id: "acme.signed" }));
    const untrusting = await createTestHost();
    try {
      await expect(untrusting.install(bytes, { signature })).rejects.toMatchObject({ code: "E_SIGNATURE_UNTRUSTED", message: expect.stringMatching(/not in the trust store/) });
    } finally {
      await untrusting.close();
    }
    const t = await createTestHost({ trust: { store: publisher.trustStore } });
    try {
      const install = await t.install(bytes, { signature });
      expect(install).toMatchObject({ extensionId: "acme.signed", state: "active" });
      expect(await (await t.request("GET", "/api/ext/acme.signed/hello/you", { as: "u" })).json()).toEqual({ hello: "you" });
      // Passed through as given: strict by default, as in createHost.
      await expect(t.install(await makeBundle(serviceManifest({ id: "acme.unsigned" })))).rejects.toMatchObject({ code: "E_SIGNATURE_MISSING" });
    } finally {
      await t.close();
    }
  });
});

describe("createTestHost refuses options it does not know", () => {
  it("names a misspelt option with a did-you-mean, as createHost does, before starting anything", async () => {
    const error = await createTestHost({ databse: "postgres://annex@db/app", tenat: "x" } as never).then(
      async (t) => {
        await t.close();
        return undefined;
      },
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(HostOptionsError);
    expect(error).toMatchObject({
      code: "E_HOST_OPTIONS",
      details: { field: "databse", unknown: ["databse", "tenat"], suggestions: { databse: "database", tenat: "tenant" } },
    });
    expect((error as Error).message).toMatch(/^createTestHost: unknown options "databse" \(did you mean "database"\?\), "tenat" \(did you mean "tenant"\?\)/);
    // Nothing near: the message lists what createTestHost knows, its own options and those it passes through.
    await expect(createTestHost({ verbose: true } as never)).rejects.toThrow(/createTestHost knows: database, pgliteSnapshot, schema, trust/);
  });
});
