import { AnnexError } from "@annex/manifest";
import { afterEach, describe, expect, it } from "vitest";
import { createInMemoryRunner, type InMemoryRunner } from "../../src/in-memory-runner.js";
import { HostCallError } from "../../src/errors.js";
import type { HostApis, HostCallScope, SchemaLike } from "../../src/host-apis.js";
import { computeEffectiveGrants } from "../../src/engine/grants.js";
import { buildBundle, envelopeFor, memoryKv, type FixtureOptions } from "../support/fixtures.js";

let runner: InMemoryRunner;
afterEach(async () => {
  await runner?.close();
});

const kvCap = { name: "storage.kv", reason: "Stores per-install settings." } as const;
const logCap = { name: "log", reason: "Writes request logs for debugging." } as const;

async function setup(options: FixtureOptions, hostApis: HostApis = {}) {
  runner = createInMemoryRunner({ hostApis });
  const bundle = await buildBundle(options);
  await runner.load(bundle);
  return bundle;
}

/** A schema-like for tests, in the shape zod exposes. */
function schema<T>(check: (value: unknown) => value is T): SchemaLike<T> {
  return {
    safeParse: (value) => (check(value) ? { success: true, data: value } : { success: false, error: { issues: [{ path: [], message: "invalid" }] } }),
  };
}

describe("kv", () => {
  it("round-trips through the host with a scope built from the envelope", async () => {
    const kv = memoryKv();
    const scopes: HostCallScope[] = [];
    const bundle = await setup(
      {
        source: `export async function h(req, ctx) { await ctx.kv.set("visits", { n: 1 }); const v = await ctx.kv.get("visits"); const page = await ctx.kv.list({ prefix: "vis" }); return { v, page, missing: await ctx.kv.get("nope") }; }`,
        storage: { kind: "kv" },
        capabilities: [kvCap],
      },
      { kv: { ...kv, get: (key, scope) => (scopes.push(scope), kv.get(key, scope)) } },
    );
    const envelope = envelopeFor(bundle, "h");
    const result = await runner.execute(envelope);
    expect(result.response?.body).toEqual({ v: { n: 1 }, page: { keys: ["visits"], cursor: null }, missing: null });
    expect(kv.data.get("inst-1/visits")).toEqual({ n: 1 });
    expect(scopes[0]).toEqual({
      requestId: envelope.requestId,
      extensionId: bundle.manifest.id,
      extensionVersion: "1.0.0",
      contentHash: bundle.contentHash,
      installId: "inst-1",
      tenant: "tenant-a",
      principal: envelope.principal,
    });
    expect(result.usage.hostCalls).toEqual({ "storage.kv": 4 });
  });

  it("validates arguments on the host side", async () => {
    const bundle = await setup(
      { source: `export async function h(req, ctx) { try { await ctx.kv.get(""); } catch (e) { return [e.code, e.message]; } }`, storage: { kind: "kv" }, capabilities: [kvCap] },
      { kv: memoryKv() },
    );
    const result = await runner.execute(envelopeFor(bundle, "h"));
    expect(result.response?.body).toEqual(["E_INVALID_ARGUMENT", expect.stringMatching(/key must be a non-empty string/)]);
  });
});

describe("capability checks", () => {
  it("denies an ungranted capability with a catchable E_CAPABILITY_DENIED, counted", async () => {
    const bundle = await setup(
      { source: `export async function h(req, ctx) { try { await ctx.kv.get("a"); return "reached"; } catch (e) { return e.code; } }`, storage: { kind: "kv" }, capabilities: [kvCap] },
      { kv: memoryKv() },
    );
    const result = await runner.execute(envelopeFor(bundle, "h", { grants: [] }));
    expect(result.response?.body).toBe("E_CAPABILITY_DENIED");
    expect(result.usage.hostCalls).toEqual({ "storage.kv": 1 });
  });

  it("surfaces an uncaught denial as the execution's E_CAPABILITY_DENIED", async () => {
    const bundle = await setup({ source: `export async function h(req, ctx) { return ctx.secrets.get("API_KEY"); }`, capabilities: [logCap] });
    const result = await runner.execute(envelopeFor(bundle, "h"));
    expect(result.error?.code).toBe("E_CAPABILITY_DENIED");
  });

  it("ignores a grant the manifest never requested", async () => {
    const kv = memoryKv();
    const bundle = await setup({ source: `export async function h(req, ctx) { try { await ctx.kv.get("a"); return "reached"; } catch (e) { return e.code; } }`, capabilities: [logCap] }, { kv });
    const result = await runner.execute(envelopeFor(bundle, "h", { grants: [{ name: "log" }, { name: "storage.kv" }] }));
    expect(result.response?.body).toBe("E_CAPABILITY_DENIED");
  });

  it("does not let a guest fake a host error code into the execution's code", async () => {
    const bundle = await setup({ source: `export function h() { const e = new Error("fake"); e.code = "E_CAPABILITY_DENIED"; throw e; }` });
    const result = await runner.execute(envelopeFor(bundle, "h"));
    expect(result.error).toMatchObject({ code: "E_HANDLER_ERROR", details: { guestCode: "E_CAPABILITY_DENIED" } });
  });

  it("names an escaped host-call error's code in E_HANDLER_ERROR's message, and leaves the platform's frames out of its stack", async () => {
    const kv = memoryKv();
    const failing = { ...kv, get: () => Promise.reject(new HostCallError("E_KV_QUOTA_EXCEEDED", "the install's kv is full")) };
    const bundle = await setup({ source: `export async function h(req, ctx) { await ctx.kv.get("a"); return "reached"; }`, storage: { kind: "kv" }, capabilities: [kvCap] }, { kv: failing });
    const result = await runner.execute(envelopeFor(bundle, "h", { grants: [{ name: "storage.kv" }] }));
    expect(result.error).toMatchObject({ code: "E_HANDLER_ERROR", message: expect.stringContaining("(E_KV_QUOTA_EXCEEDED): the install's kv is full"), details: { guestCode: "E_KV_QUOTA_EXCEEDED" } });
    expect(result.error?.stack ?? "").not.toContain("annex:bootstrap");
  });

  it("allows only the secret names and event types both granted and requested", async () => {
    const published: [string, unknown, string][] = [];
    const bundle = await setup(
      {
        source: `export async function h(req, ctx) {
          const out = {};
          for (const name of ["API_KEY", "OTHER_KEY"]) { try { out[name] = await ctx.secrets.get(name); } catch (e) { out[name] = e.code; } }
          for (const type of ["order.created", "order.deleted"]) { try { out[type] = await ctx.events.publish(type, { id: 1 }); } catch (e) { out[type] = e.code; } }
          return out;
        }`,
        secrets: ["API_KEY", "OTHER_KEY"],
        publishes: ["order.created", "order.deleted"],
        capabilities: [
          { name: "secrets.read", names: ["API_KEY", "OTHER_KEY"], reason: "Calls the payment provider." },
          { name: "events.publish", types: ["order.created", "order.deleted"], reason: "Announces new orders." },
        ],
      },
      {
        secrets: { get: (name, scope) => `${name}-for-${scope.installId}` },
        events: { publish: (type, payload, scope) => void published.push([type, payload, scope.tenant]) },
      },
    );
    const result = await runner.execute(
      envelopeFor(bundle, "h", {
        grants: [
          { name: "secrets.read", names: ["API_KEY", "NOT_REQUESTED"] },
          { name: "events.publish", types: ["order.created"] },
        ],
      }),
    );
    expect(result.response?.body).toEqual({
      API_KEY: "API_KEY-for-inst-1",
      OTHER_KEY: "E_CAPABILITY_DENIED",
      "order.created": null,
      "order.deleted": "E_CAPABILITY_DENIED",
    });
    expect(published).toEqual([["order.created", { id: 1 }, "tenant-a"]]);
  });

  it("lets events.publish patterns (order.*) cover concrete types, within both the grant and the request", async () => {
    const published: string[] = [];
    const types = ["order.created", "order.line.added", "invoice.sent", "order.*", "order"];
    const bundle = await setup(
      {
        source: `export async function h(req, ctx) {
          const out = {};
          for (const type of ${JSON.stringify(types)}) { try { await ctx.events.publish(type, {}); out[type] = "published"; } catch (e) { out[type] = e.code; } }
          return out;
        }`,
        publishes: ["order.created", "order.line.added"],
        capabilities: [{ name: "events.publish", types: ["order.*"], reason: "Announces orders." }],
      },
      { events: { publish: (type) => void published.push(type) } },
    );
    const wide = await runner.execute(envelopeFor(bundle, "h"));
    expect(wide.response?.body).toEqual({
      "order.created": "published",
      "order.line.added": "published",
      "invoice.sent": "E_CAPABILITY_DENIED",
      "order.*": "E_CAPABILITY_DENIED",
      order: "E_CAPABILITY_DENIED",
    });
    // The admin granted less than the manifest asked for: only that part.
    const narrow = await runner.execute(envelopeFor(bundle, "h", { grants: [{ name: "events.publish", types: ["order.line.*"] }] }));
    expect(narrow.response?.body).toMatchObject({ "order.created": "E_CAPABILITY_DENIED", "order.line.added": "published" });
    expect(published).toEqual(["order.created", "order.line.added", "order.line.added"]);
  });

  it("computes effective grants as the intersection with the manifest", () => {
    const grants = computeEffectiveGrants(
      [
        { name: "http.fetch", hosts: ["api.example.com", "evil.test"] },
        { name: "secrets.read", names: ["A", "B"] },
        { name: "host:crm.read", params: { scope: "x" } },
        { name: "host:crm.write" },
        { name: "storage.sql" },
        { name: "user.read" },
      ],
      [
        { name: "http.fetch", hosts: ["*.example.com"], reason: "r" },
        { name: "secrets.read", names: ["B", "C"], reason: "r" },
        { name: "host:crm.read", reason: "r" },
        { name: "user.read", reason: "r" },
      ],
    );
    expect(grants).toEqual({
      log: false,
      user: true,
      kv: false,
      sql: false,
      fetch: { granted: ["api.example.com", "evil.test"], requested: ["*.example.com"] },
      secrets: ["B"],
      publish: [],
      host: { "crm.read": { params: { scope: "x" } } },
    });
  });
});

describe("host capabilities", () => {
  const isContactQuery = (value: unknown): value is { id: string } =>
    typeof value === "object" && value !== null && typeof (value as { id?: unknown }).id === "string";
  const isContact = (value: unknown): value is { id: string; name: string } =>
    isContactQuery(value) && typeof (value as { name?: unknown }).name === "string";

  async function crm(handler: (args: { id: string }, scope: HostCallScope & { params?: unknown }) => unknown) {
    return setup(
      {
        source: `export async function h(req, ctx) { try { return await ctx.host.call("crm.contacts.read", req.body); } catch (e) { return { code: e.code, message: e.message }; } }`,
        capabilities: [{ name: "host:crm.contacts.read", reason: "Shows the contact next to the order." }],
      },
      { hostCapabilities: { "crm.contacts.read": { args: schema(isContactQuery), result: schema(isContact), handler } } },
    );
  }

  it("validates arguments and results with the registered schemas and passes grant params", async () => {
    let seenParams: unknown;
    const bundle = await crm((args, scope) => {
      seenParams = scope.params;
      return { id: args.id, name: `Contact ${args.id} of ${scope.tenant}` };
    });
    const ok = await runner.execute(envelopeFor(bundle, "h", { body: { id: "c1" }, grants: [{ name: "host:crm.contacts.read", params: { fields: ["name"] } }] }));
    expect(ok.response?.body).toEqual({ id: "c1", name: "Contact c1 of tenant-a" });
    expect(seenParams).toEqual({ fields: ["name"] });
    expect(ok.usage.hostCalls).toEqual({ "host:crm.contacts.read": 1 });
    const bad = await runner.execute(envelopeFor(bundle, "h", { body: { id: 5 } }));
    expect(bad.response?.body).toMatchObject({ code: "E_INVALID_ARGUMENT" });
  });

  it("reports a result that breaks its schema, and hides host internals of a failing implementation", async () => {
    const wrongResult = await crm(() => ({ id: "c1" }));
    expect((await runner.execute(envelopeFor(wrongResult, "h", { body: { id: "c1" } }))).response?.body).toMatchObject({ code: "E_HOST_CALL_FAILED" });
    await runner.close();
    const crashing = await crm(() => {
      throw new Error("connection to db-internal-7:5432 refused");
    });
    const result = await runner.execute(envelopeFor(crashing, "h", { body: { id: "c1" } }));
    expect(result.response?.body).toEqual({ code: "E_HOST_CALL_FAILED", message: "host:crm.contacts.read failed on the host" });
    await runner.close();
    const typed = await crm(() => {
      throw new AnnexError("E_NOT_FOUND", "contact c1 does not exist");
    });
    expect((await runner.execute(envelopeFor(typed, "h", { body: { id: "c1" } }))).response?.body).toEqual({
      code: "E_NOT_FOUND",
      message: "contact c1 does not exist",
    });
  });
});

describe("logs", () => {
  it("collects ctx.log and console output with levels", async () => {
    const bundle = await setup({ source: `export function h(req, ctx) { ctx.log.warn("careful", { n: 1 }); console.log("plain"); ctx.log.error(new Error("bad")); return 1; }` });
    const result = await runner.execute(envelopeFor(bundle, "h"));
    expect(result.logs.map(({ level, message }) => [level, message])).toEqual([
      ["warn", 'careful {"n":1}'],
      ["info", "plain"],
      ["error", "Error: bad"],
    ]);
    expect(result.usage.logBytes).toBe(Buffer.byteLength('careful {"n":1}plainError: bad'));
  });

  it("refuses ctx.log without the log capability but drops console output silently", async () => {
    const bundle = await setup({
      source: `export function h(req, ctx) { console.log("dropped"); try { ctx.log.info("x"); } catch (e) { return e.code; } }`,
      capabilities: [],
    });
    const result = await runner.execute(envelopeFor(bundle, "h"));
    expect(result.response?.body).toBe("E_CAPABILITY_DENIED");
    expect(result.logs).toEqual([]);
  });

  it("stops collecting at the log byte limit and says so", async () => {
    const bundle = await setup({ source: `export function h(req, ctx) { for (let i = 0; i < 100; i++) ctx.log.info("x".repeat(100)); return 1; }`, limits: { logBytes: 1000 } });
    const result = await runner.execute(envelopeFor(bundle, "h"));
    expect(result.ok).toBe(true);
    expect(result.usage.logBytes).toBe(1000);
    expect(result.logs).toHaveLength(11);
    expect(result.logs.at(-1)?.message).toMatch(/log limit of 1000 bytes reached/);
  });
});
