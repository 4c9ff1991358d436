import type { VerifiedBundle } from "@annex/manifest";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ExecuteEnvelope, ExecutionLimits } from "../../src/envelope.js";
import { HostCallError } from "../../src/errors.js";
import { createHostDispatch, type HostApis, type HostCallScope } from "../../src/host-apis.js";
import type { Runner } from "../../src/runner.js";
import { serializedBody } from "../../src/json-body.js";
import { buildBundle, envelopeFor } from "./fixtures.js";

/**
 * The contract every Runner implementation keeps (in-memory, worker pool,
 * remote), run against each of them. A subject is a runner plus how to tear
 * it down and how to count what it might leak (workers, servers).
 */
export interface ContractSubject {
  runner: Runner;
  /** Closes the runner and anything behind it (a server, a pool). */
  dispose(): Promise<void>;
  /** Threads, sockets or servers still alive; must be 0 after dispose. */
  live?(): number;
  /** Whether object bodies come back serialised already (`serializedBody`): where they ran in another thread. */
  serialisesBodies?: boolean;
}

export type MakeRunner = (options: { hostApis: HostApis; limits?: Partial<ExecutionLimits> }) => Promise<ContractSubject>;

interface Recorded {
  kv: Map<string, unknown>;
  /** Versions of the keys in `kv`, as a host that keeps them (compare-and-set) would. */
  versions: Map<string, number>;
  scopes: HostCallScope[];
  events: { type: string; payload: unknown; tenant: string }[];
}

let nextVersion = 0;

function fakeHostApis(recorded: Recorded): HostApis {
  const key = (scope: HostCallScope, k: string) => `${scope.tenant}/${scope.installId}/${k}`;
  return {
    kv: {
      get: (k, scope) => {
        recorded.scopes.push(scope);
        return recorded.kv.get(key(scope, k)) ?? null;
      },
      // Reads at once and answers a little later, as a database would: concurrent handlers interleave.
      getEntry: async (k, scope) => {
        recorded.scopes.push(scope);
        const version = recorded.versions.get(key(scope, k));
        const entry = version === undefined ? null : { value: recorded.kv.get(key(scope, k)), version };
        await new Promise((resolve) => setTimeout(resolve, 2));
        return entry;
      },
      set: (k, value, options, scope) => {
        recorded.scopes.push(scope);
        const actual = recorded.versions.get(key(scope, k)) ?? 0;
        if (options.ifVersion !== undefined && options.ifVersion !== actual) {
          throw new HostCallError("E_KV_VERSION_CONFLICT", `kv key ${k} is at version ${actual}, not ${options.ifVersion}`);
        }
        nextVersion += 1;
        recorded.kv.set(key(scope, k), value);
        recorded.versions.set(key(scope, k), nextVersion);
        return { version: nextVersion };
      },
      delete: (k, scope) => (recorded.versions.delete(key(scope, k)), recorded.kv.delete(key(scope, k))),
      deleteIfVersion: (k, ifVersion, scope) => {
        recorded.scopes.push(scope);
        const actual = recorded.versions.get(key(scope, k)) ?? 0;
        if (ifVersion !== actual) throw new HostCallError("E_KV_VERSION_CONFLICT", `kv key ${k} is at version ${actual}, not ${ifVersion}`);
        recorded.versions.delete(key(scope, k));
        return recorded.kv.delete(key(scope, k));
      },
      list: async (options, scope) => ({
        keys: [...recorded.kv.keys()]
          .filter((k) => k.startsWith(key(scope, options.prefix ?? "")))
          .map((k) => k.slice(key(scope, "").length))
          .sort(),
      }),
    },
    secrets: { get: (name, scope) => (name === "API_TOKEN" ? `token-for-${scope.tenant}` : null) },
    events: {
      publish: (type, payload, scope) => {
        recorded.events.push({ type, payload, tenant: scope.tenant });
        return { id: `evt-${recorded.events.length}` };
      },
    },
    hostCapabilities: {
      "crm.contacts.read": {
        args: { safeParse: (v: unknown) => (typeof (v as { id?: unknown })?.id === "string" ? { success: true, data: v } : { success: false, error: { issues: [{ path: ["id"], message: "must be a string" }] } }) },
        result: { safeParse: (v: unknown) => ({ success: true, data: v }) },
        handler: (args: { id: string }, scope) => ({ id: args.id, name: `Contact ${args.id}`, tenant: scope.tenant }),
      },
    },
  };
}

const SOURCE = `
export function hello(request, ctx) { return { hello: request.body?.name ?? "world", tenant: ctx.install.tenant }; }
export function full() { return { status: 201, headers: { "x-made-by": "guest" }, body: "created" }; }
export async function later() { await null; return [1, 2, 3]; }
export function nothing() { }
export function boom() { throw new Error("kaboom"); }
export async function remember(request, ctx) {
  await ctx.kv.set("note", request.body);
  return { stored: await ctx.kv.get("note"), keys: (await ctx.kv.list({})).keys };
}
export async function secret(request, ctx) { return await ctx.secrets.get("API_TOKEN"); }
export async function publish(request, ctx) { return await ctx.events.publish("order.created", { n: 1 }); }
export async function contact(request, ctx) {
  try { return await ctx.host.call("crm.contacts.read", request.body); } catch (e) { return { code: e.code, message: e.message }; }
}
export async function sneaky(request, ctx) {
  const out = {};
  for (const [name, fn] of [["kv", () => ctx.kv.get("x")], ["secret", () => ctx.secrets.get("OTHER")], ["sql", () => ctx.sql.query("select 1", [])]]) {
    try { out[name] = { value: await fn() }; } catch (e) { out[name] = { code: e.code ?? String(e) }; }
  }
  return out;
}
export async function kvEntry(request, ctx) {
  try { return { result: await ctx.kv.getEntry(request.body.key) }; } catch (e) { return { code: e.code ?? null, message: String(e.message) }; }
}
export async function kvSet(request, ctx) {
  const { key, value, options } = request.body;
  try { return { result: await ctx.kv.set(key, value, options) }; } catch (e) { return { code: e.code ?? null, message: String(e.message) }; }
}
export async function kvDelete(request, ctx) {
  const { key, options } = request.body;
  try { return { result: await ctx.kv.delete(key, options) }; } catch (e) { return { code: e.code ?? null, message: String(e.message) }; }
}
export async function kvDeleteAfterRead(request, ctx) {
  const entry = await ctx.kv.getEntry(request.body.read ?? request.body.key);
  try { return { result: await ctx.kv.delete(request.body.key, { ifVersion: entry?.version }) }; } catch (e) { return { code: e.code ?? null }; }
}
export async function badDeleteVersions(request, ctx) {
  const out = {};
  for (const [name, options] of [["nan", { ifVersion: NaN }], ["negative", { ifVersion: -1 }], ["fraction", { ifVersion: 1.5 }], ["string", { ifVersion: "1" }], ["stringOptions", "ifVersion"], ["arrayOptions", [0]]]) {
    try { out[name] = { result: await ctx.kv.delete("victim", options) }; } catch (e) { out[name] = { code: e.code ?? String(e) }; }
  }
  return out;
}
export async function kvSetAfterRead(request, ctx) {
  const entry = await ctx.kv.getEntry(request.body.read ?? request.body.key);
  try { return { result: await ctx.kv.set(request.body.key, "written", { ifVersion: entry?.version }) }; } catch (e) { return { code: e.code ?? null }; }
}
export async function increment(request, ctx) {
  let conflicts = 0;
  for (let i = 0; i < request.body.times; i++) {
    for (;;) {
      const entry = await ctx.kv.getEntry("counter");
      try { await ctx.kv.set("counter", (entry?.value ?? 0) + 1, { ifVersion: entry?.version ?? 0 }); break; }
      catch (e) { if (e.code !== "E_KV_VERSION_CONFLICT") throw e; conflicts += 1; }
    }
  }
  return conflicts;
}
export async function badVersions(request, ctx) {
  const cases = [["nan", NaN], ["infinity", Infinity], ["minusInfinity", -Infinity], ["unsafe", 2 ** 53], ["huge", 1e300], ["negative", -1],
    ["fraction", 1.5], ["string", "1"], ["object", { version: 1 }], ["boolean", true], ["array", [1]], ["bigint", 10n], ["negativeFraction", -0.5]];
  const out = {};
  for (const [name, version] of cases) {
    try { out[name] = { result: await ctx.kv.set("bad", 1, { ifVersion: version }) }; } catch (e) { out[name] = { code: e.code ?? String(e) }; }
  }
  for (const [name, options] of [["stringOptions", "ifVersion"], ["arrayOptions", [0]]]) {
    try { out[name] = { result: await ctx.kv.set("bad", 1, options) }; } catch (e) { out[name] = { code: e.code ?? String(e) }; }
  }
  for (const [name, key] of [["numberKey", 1], ["emptyKey", ""], ["longKey", "k".repeat(513)]]) {
    try { out[name] = { result: await ctx.kv.getEntry(key) }; } catch (e) { out[name] = { code: e.code ?? String(e) }; }
  }
  return out;
}
export function forgets(request, ctx) { ctx.kv.set("a", 1); ctx.kv.set("b", 2); ctx.events.publish("order.created", { n: 2 }); return { ok: true }; }
export async function forgetsOne(request, ctx) { await ctx.kv.set("a", 1); ctx.kv.get("a"); throw new Error("after the call"); }
export function forgetsMany(request, ctx) {
  for (let i = 0; i < 100; i++) ctx.kv.get("k" + i);
  ctx.kv.set("s", 1); ctx.kv.list({}); ctx.kv.getEntry("e"); ctx.kv.delete("d"); ctx.events.publish("order.created", {}); ctx.secrets.get("API_TOKEN");
  return "left";
}
export function bytes(request) { return { status: 200, headers: { "content-type": "application/octet-stream" }, body: new Uint8Array([104, 105]) }; }
export async function slow(request) { for (let i = 0; i < 3; i++) await null; return request.body; }
let counter = 0;
export function count() { counter += 1; return counter; }
export function trigger(input, ctx) { return { event: ctx.event ?? null, job: ctx.job ?? null, argId: input?.id ?? null, frozen: ctx.event === undefined && ctx.job === undefined ? null : Object.isFrozen(ctx.event ?? ctx.job) }; }
export function who(request, ctx) { return { config: ctx.install.config, principal: ctx.principal ?? null, frozen: Object.isFrozen(ctx.install.config) }; }
`;

const CAPABILITIES = [
  { name: "log", reason: "Writes request logs for debugging." },
  { name: "storage.kv", reason: "Keeps notes between requests." },
  { name: "secrets.read", names: ["API_TOKEN"], reason: "Calls the partner API." },
  { name: "events.publish", types: ["order.created"], reason: "Announces orders." },
  { name: "host:crm.contacts.read", reason: "Shows contact names." },
] as const;

export function runnerContract(label: string, makeRunner: MakeRunner): void {
  describe(`Runner contract: ${label}`, () => {
    let subject: ContractSubject;
    let runner: Runner;
    let recorded: Recorded;
    let bundle: VerifiedBundle;
    let warmBundle: VerifiedBundle;

    // One runner for the suite (starting worker threads costs seconds); the host
    // APIs record into a fresh log per test.
    const hostApis = fakeHostApis({
      get kv() {
        return recorded.kv;
      },
      get versions() {
        return recorded.versions;
      },
      get scopes() {
        return recorded.scopes;
      },
      get events() {
        return recorded.events;
      },
    });

    beforeAll(async () => {
      subject = await makeRunner({ hostApis });
      runner = subject.runner;
      bundle = await buildBundle({
        source: SOURCE,
        capabilities: CAPABILITIES.map((c) => ({ ...c })) as never,
        storage: { kind: "kv" },
        secrets: ["API_TOKEN"],
        publishes: ["order.created"],
      });
      warmBundle = await buildBundle({ source: SOURCE, warmContext: true });
      await runner.load(bundle);
    });

    beforeEach(() => {
      recorded = { kv: new Map(), versions: new Map(), scopes: [], events: [] };
    });

    afterAll(async () => {
      await subject.dispose();
      if (subject.live) expect(subject.live(), "threads, servers or sockets left alive after dispose").toBe(0);
    });

    const run = (handler: string, overrides: Parameters<typeof envelopeFor>[2] = {}, target = bundle) =>
      runner.execute(envelopeFor(target, handler, overrides));

    it("load reports the bundle's identity and handlers", async () => {
      const loaded = await runner.load(bundle);
      expect(loaded.contentHash).toBe(bundle.contentHash);
      expect(loaded.extensionId).toBe((bundle.manifest as { id: string }).id);
      expect(loaded.version).toBe("1.0.0");
      expect(loaded.handlers).toEqual(expect.arrayContaining(["hello", "full", "remember", "count"]));
    });

    it("runs a handler and answers with its result, echoing the requestId", async () => {
      const envelope = envelopeFor(bundle, "hello", { body: { name: "Ada" } });
      const result = await runner.execute(envelope);
      expect(result.requestId).toBe(envelope.requestId);
      expect(result.ok).toBe(true);
      expect(result.response).toEqual({ status: 200, headers: expect.any(Object), body: { hello: "Ada", tenant: "tenant-a" } });
    });

    it("answers an object body as its value and, where it ran elsewhere, as its JSON text too", async () => {
      // Large enough to be worth serialising where it ran (a small one travels as it is everywhere).
      const name = "Zoë ✓".repeat(15_000);
      const result = await run("hello", { body: { name } });
      const body = { hello: name, tenant: "tenant-a" };
      expect(result.response?.body).toEqual(body);
      const text = serializedBody(result.response!);
      if (subject.serialisesBodies === true) expect(text).toBe(JSON.stringify(body));
      else expect(text).toBeUndefined();
    });

    it("refuses a response with more than 100 headers, where the handler ran", async () => {
      const headers = await buildBundle({
        source: `
          export function many(request) {
            const headers = {};
            for (let i = 0; i < request.body.n; i++) headers["x-h" + i] = request.body.value;
            return { status: 200, headers, body: "ok" };
          }`,
      });
      await runner.load(headers);
      const allowed = await run("many", { body: { n: 100, value: "v" } }, headers);
      expect(allowed.ok).toBe(true);
      expect(Object.keys(allowed.response!.headers)).toHaveLength(100);
      const tooMany = await run("many", { body: { n: 5000, value: "" } }, headers);
      expect(tooMany.error).toMatchObject({ code: "E_HANDLER_ERROR", message: expect.stringMatching(/response\.headers has 5000 headers; at most 100/) });
      // Their bytes are the host's gateway's to bound (it answers E_BAD_RESPONSE_HEADER past 8 KiB).
      const long = await run("many", { body: { n: 2, value: "x".repeat(9000) } }, headers);
      expect(long.ok).toBe(true);
    });

    it("normalises handler results: full responses, async values, nothing, bytes", async () => {
      const full = await run("full");
      expect(full.response?.status).toBe(201);
      expect(full.response?.headers["x-made-by"]).toBe("guest");
      expect(full.response?.body).toBe("created");
      expect((await run("later")).response).toMatchObject({ status: 200, body: [1, 2, 3] });
      const nothing = await run("nothing");
      expect(nothing.ok).toBe(true);
      expect(nothing.response?.status).toBeGreaterThanOrEqual(200);
      expect(nothing.response?.status).toBeLessThan(300);
      const bytes = await run("bytes");
      expect(bytes.response?.body).toBeInstanceOf(Uint8Array);
      expect([...(bytes.response?.body as Uint8Array)]).toEqual([104, 105]);
    });

    it("reports usage for every execution", async () => {
      const result = await run("hello");
      expect(result.usage.wallMs).toBeGreaterThanOrEqual(0);
      expect(result.usage.cpuMs).toBeGreaterThanOrEqual(0);
      expect(result.usage.memoryPeakBytes).toBeGreaterThan(0);
      expect(result.usage.hostCalls).toEqual({});
      expect(Array.isArray(result.logs)).toBe(true);
      const withCalls = await run("remember", { body: { a: 1 } });
      expect(withCalls.usage.hostCalls["storage.kv"]).toBe(3);
    });

    it("holds every host call until hostCallsAfter resolves, while the handler itself runs", async () => {
      // A handler without host calls is not held.
      const pure = await runner.execute(envelopeFor(bundle, "hello"), { hostCallsAfter: new Promise(() => {}) });
      expect(pure.response?.body).toMatchObject({ hello: "world" });
      let open!: () => void;
      const after = new Promise<void>((resolve) => (open = resolve));
      const running = runner.execute(envelopeFor(bundle, "publish"), { hostCallsAfter: after });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(recorded.events).toEqual([]);
      open();
      const result = await running;
      expect(result.error).toBeUndefined();
      expect(result.ok).toBe(true);
      expect(recorded.events).toEqual([{ type: "order.created", payload: { n: 1 }, tenant: "tenant-a" }]);
    });

    it("fails every host call with E_HOST_CALL_FAILED when hostCallsAfter rejects, and none reaches the host", async () => {
      const refused = Promise.reject(new Error("audit log down"));
      const result = await runner.execute(envelopeFor(bundle, "contact", { body: { id: "c1" } }), { hostCallsAfter: refused });
      expect(result.response?.body).toMatchObject({ code: "E_HOST_CALL_FAILED" });
      const kv = await runner.execute(envelopeFor(bundle, "remember", { body: { a: 1 } }), { hostCallsAfter: refused });
      expect(kv.ok).toBe(false);
      expect(kv.error?.message).toContain("refused");
      expect(recorded.kv.size).toBe(0);
      expect(recorded.scopes).toEqual([]);
    });

    it("never runs an execution its caller gave up on before it started (abandoned): E_TIMEOUT, no host call", async () => {
      const result = await runner.execute(envelopeFor(bundle, "publish"), { abandoned: Promise.resolve() });
      expect(result).toMatchObject({ ok: false, error: { code: "E_TIMEOUT" } });
      // One that is still pending changes nothing.
      const served = await runner.execute(envelopeFor(bundle, "hello"), { abandoned: new Promise(() => {}) });
      expect(served.response?.body).toMatchObject({ hello: "world" });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(recorded.events).toEqual([]);
    });

    it("sends the host calls of an execution to its own dispatch, checked against the runner's grants first", async () => {
      const other: Recorded = { kv: new Map(), versions: new Map(), scopes: [], events: [] };
      const dispatch = createHostDispatch(fakeHostApis(other));
      const published = await runner.execute(envelopeFor(bundle, "publish"), { dispatch });
      expect(published.ok).toBe(true);
      expect(other.events).toEqual([{ type: "order.created", payload: { n: 1 }, tenant: "tenant-a" }]);
      // The runner's own host APIs saw nothing of that execution.
      expect(recorded.events).toEqual([]);
      // A dispatch is not a grant: a capability the envelope withholds is refused before the dispatch runs.
      const grants = [{ name: "log" }, { name: "secrets.read", names: ["API_TOKEN"] }] as ExecuteEnvelope["grants"];
      const sneaky = await runner.execute(envelopeFor(bundle, "sneaky", { grants }), { dispatch });
      expect(sneaky.response?.body).toMatchObject({ kv: { code: "E_CAPABILITY_DENIED" }, sql: { code: "E_CAPABILITY_DENIED" } });
      expect(other.scopes).toEqual([]);
      // The next execution without one goes back to the runner's own.
      expect((await run("publish")).ok).toBe(true);
      expect(recorded.events).toHaveLength(1);
      expect(other.events).toHaveLength(1);
    });

    it("warns, in one log entry, of host calls the handler left pending when it returned or threw: they are cancelled with the execution", async () => {
      const forgot = await run("forgets");
      expect(forgot.ok).toBe(true);
      expect(forgot.response?.body).toEqual({ ok: true });
      const warnings = forgot.logs.filter((line) => line.level === "warn");
      expect(warnings).toEqual([
        {
          level: "warn",
          message:
            "[annex] 3 host calls were still pending when the handler returned and were cancelled (ctx.kv.set ×2, ctx.events.publish), " +
            "so they may not have taken effect: await every ctx call before returning",
          at: expect.any(String),
        },
      ]);
      const threw = await run("forgetsOne");
      expect(threw.error?.code).toBe("E_HANDLER_ERROR");
      expect(threw.logs.filter((line) => line.level === "warn").map((line) => line.message)).toEqual([
        "[annex] 1 host call was still pending when the handler returned and was cancelled (ctx.kv.get), so it may not have taken effect: await every ctx call before returning",
      ]);
      // However many calls and kinds, one entry of bounded size.
      const many = (await run("forgetsMany")).logs.filter((line) => line.level === "warn");
      expect(many).toHaveLength(1);
      expect(many[0]!.message).toMatch(/^\[annex\] 106 host calls were still pending .*\(ctx\.kv\.get ×100, ctx\.events\.publish, ctx\.kv\.delete, ctx\.kv\.getEntry, ctx\.kv\.list, 2 more kinds\)/);
      expect(many[0]!.message.length).toBeLessThan(300);
      // A handler that awaits its calls gets no such warning.
      expect((await run("remember", { body: { a: 1 } })).logs.filter((line) => line.level === "warn")).toEqual([]);
    });

    it("answers a guest exception with E_HANDLER_ERROR and the guest's message", async () => {
      const result = await run("boom");
      expect(result.ok).toBe(false);
      expect(result.error?.code).toBe("E_HANDLER_ERROR");
      expect(result.error?.message).toContain("kaboom");
    });

    it("answers an unknown handler with E_HANDLER_NOT_FOUND", async () => {
      const result = await run("doesNotExist");
      expect(result.ok).toBe(false);
      expect(result.error?.code).toBe("E_HANDLER_NOT_FOUND");
    });

    it("refuses an envelope whose content hash was never loaded", async () => {
      const envelope = envelopeFor(bundle, "hello");
      envelope.extension.contentHash = `sha256:${"0".repeat(64)}`;
      const result = await runner.execute(envelope);
      expect(result.ok).toBe(false);
      expect(result.error?.code).toBe("E_BUNDLE_NOT_LOADED");
    });

    it("refuses to load anything verifyBundle did not produce", async () => {
      const forged = { ...bundle, contentHash: bundle.contentHash } as VerifiedBundle;
      await expect(runner.load(forged)).rejects.toMatchObject({ code: expect.stringMatching(/^E_BUNDLE_UNVERIFIED$/) });
      const other = await buildBundle({ source: "export function x() { return 1 }" });
      const result = await run("x", {}, other);
      expect(result.error?.code).toBe("E_BUNDLE_NOT_LOADED");
    });

    it("unload makes the hash unknown again, and load brings it back", async () => {
      await runner.unload(bundle.contentHash);
      expect((await run("hello")).error?.code).toBe("E_BUNDLE_NOT_LOADED");
      await runner.load(bundle);
      expect((await run("hello")).ok).toBe(true);
    });

    it("runs host API round trips in the host, scoped by the envelope", async () => {
      const remembered = await run("remember", { body: { note: "hi" } });
      expect(remembered.response?.body).toEqual({ stored: { note: "hi" }, keys: ["note"] });
      expect(recorded.kv.get("tenant-a/inst-1/note")).toEqual({ note: "hi" });
      expect(recorded.scopes.every((s) => s.tenant === "tenant-a" && s.installId === "inst-1")).toBe(true);
      expect((await run("secret")).response?.body).toBe("token-for-tenant-a");
      expect((await run("publish")).response?.body).toEqual({ id: "evt-1" });
      expect(recorded.events).toEqual([{ type: "order.created", payload: { n: 1 }, tenant: "tenant-a" }]);
      expect((await run("contact", { body: { id: "c-7" } })).response?.body).toEqual({ id: "c-7", name: "Contact c-7", tenant: "tenant-a" });
    });

    it("kv compare-and-set: getEntry gives the version, set with ifVersion writes only at that version, a conflict is caught by code", async () => {
      expect((await run("kvEntry", { body: { key: "doc" } })).response?.body).toEqual({ result: null });
      const created = (await run("kvSet", { body: { key: "doc", value: { v: 1 }, options: { ifVersion: 0 } } })).response?.body as { result: { version: number } };
      expect(created).toEqual({ result: { version: expect.any(Number) } });
      const first = created.result.version;
      expect((await run("kvEntry", { body: { key: "doc" } })).response?.body).toEqual({ result: { value: { v: 1 }, version: first } });
      // 0 and null both mean "must not exist": the key exists now.
      for (const ifVersion of [0, null]) {
        const refused = await run("kvSet", { body: { key: "doc", value: "lost", options: { ifVersion } } });
        expect(refused.ok).toBe(true);
        expect(refused.response?.body).toMatchObject({ code: "E_KV_VERSION_CONFLICT" });
      }
      const second = (await run("kvSet", { body: { key: "doc", value: { v: 2 }, options: { ifVersion: first } } })).response?.body as { result: { version: number } };
      expect(second.result.version).toBeGreaterThan(first);
      const stale = await run("kvSet", { body: { key: "doc", value: "lost", options: { ifVersion: first } } });
      expect(stale.response?.body).toMatchObject({ code: "E_KV_VERSION_CONFLICT", message: expect.stringContaining("version") });
      expect(recorded.kv.get("tenant-a/inst-1/doc")).toEqual({ v: 2 });
      // Without ifVersion a write is unconditional.
      expect((await run("kvSet", { body: { key: "doc", value: { v: 3 } } })).response?.body).toEqual({ result: { version: expect.any(Number) } });
      expect(recorded.scopes.every((scope) => scope.tenant === "tenant-a" && scope.installId === "inst-1")).toBe(true);
    });

    it("kv compare-and-set: { ifVersion: entry?.version } with no entry means \"must not exist\", never an unconditional write", async () => {
      expect((await run("kvSetAfterRead", { body: { key: "fresh" } })).response?.body).toEqual({ result: { version: expect.any(Number) } });
      // The key exists when the handler writes with the undefined version of an entry it did not find: a conflict.
      recorded.kv.set("tenant-a/inst-1/raced", "theirs");
      recorded.versions.set("tenant-a/inst-1/raced", 999_999);
      const raced = await run("kvSetAfterRead", { body: { key: "raced", read: "absent" } });
      expect(raced.response?.body).toEqual({ code: "E_KV_VERSION_CONFLICT" });
      expect(recorded.kv.get("tenant-a/inst-1/raced")).toBe("theirs");
    });

    it("kv compare-and-set: two handlers incrementing one counter with retries lose no update", async () => {
      const times = 10;
      const results = await Promise.all([run("increment", { body: { times } }), run("increment", { body: { times } }), run("increment", { body: { times } })]);
      for (const result of results) expect(result.error).toBeUndefined();
      expect(recorded.kv.get("tenant-a/inst-1/counter")).toBe(3 * times);
      // The handlers did interleave (a conflict is an update that would have been lost without ifVersion).
      expect(results.reduce((sum, result) => sum + (result.response?.body as number), 0)).toBeGreaterThan(0);
    });

    it("kv compare-and-set: hostile versions, options and keys are refused with E_INVALID_ARGUMENT and write nothing", async () => {
      const result = await run("badVersions");
      expect(result.error).toBeUndefined();
      const body = result.response?.body as Record<string, { code?: string }>;
      const names = ["nan", "infinity", "minusInfinity", "unsafe", "huge", "negative", "fraction", "string", "object", "boolean", "array", "bigint", "negativeFraction", "stringOptions", "arrayOptions", "numberKey", "emptyKey", "longKey"];
      expect(Object.keys(body).sort()).toEqual([...names].sort());
      for (const name of names) expect(body[name], name).toEqual({ code: "E_INVALID_ARGUMENT" });
      expect(recorded.kv.has("tenant-a/inst-1/bad")).toBe(false);
    });

    it("kv compare-and-delete: delete with ifVersion deletes only at that version, a conflict is caught by code and deletes nothing", async () => {
      const created = (await run("kvSet", { body: { key: "doc", value: { v: 1 } } })).response?.body as { result: { version: number } };
      const first = created.result.version;
      const second = ((await run("kvSet", { body: { key: "doc", value: { v: 2 } } })).response?.body as { result: { version: number } }).result.version;
      // A stale version, and 0 / null ("must not exist") while it exists: conflicts, the key stays.
      for (const ifVersion of [first, 0, null]) {
        expect((await run("kvDelete", { body: { key: "doc", options: { ifVersion } } })).response?.body).toMatchObject({ code: "E_KV_VERSION_CONFLICT" });
      }
      expect(recorded.kv.get("tenant-a/inst-1/doc")).toEqual({ v: 2 });
      expect((await run("kvDelete", { body: { key: "doc", options: { ifVersion: second } } })).response?.body).toEqual({ result: true });
      expect(recorded.kv.has("tenant-a/inst-1/doc")).toBe(false);
      // "Must not exist" on an absent key: nothing to delete, no conflict.
      expect((await run("kvDelete", { body: { key: "doc", options: { ifVersion: 0 } } })).response?.body).toEqual({ result: false });
      // Without ifVersion a delete is unconditional, as before.
      await run("kvSet", { body: { key: "doc", value: 3 } });
      expect((await run("kvDelete", { body: { key: "doc" } })).response?.body).toEqual({ result: true });
      expect(recorded.scopes.every((scope) => scope.tenant === "tenant-a" && scope.installId === "inst-1")).toBe(true);
    });

    it("kv compare-and-delete: { ifVersion: entry?.version } with no entry means \"must not exist\", never an unconditional delete", async () => {
      recorded.kv.set("tenant-a/inst-1/raced", "theirs");
      recorded.versions.set("tenant-a/inst-1/raced", 999_999);
      expect((await run("kvDeleteAfterRead", { body: { key: "raced", read: "absent" } })).response?.body).toEqual({ code: "E_KV_VERSION_CONFLICT" });
      expect(recorded.kv.get("tenant-a/inst-1/raced")).toBe("theirs");
    });

    it("kv compare-and-delete: hostile versions and options are refused with E_INVALID_ARGUMENT and delete nothing", async () => {
      recorded.kv.set("tenant-a/inst-1/victim", "kept");
      recorded.versions.set("tenant-a/inst-1/victim", 1);
      const body = (await run("badDeleteVersions")).response?.body as Record<string, { code?: string }>;
      for (const name of ["nan", "negative", "fraction", "string", "stringOptions", "arrayOptions"]) expect(body[name], name).toEqual({ code: "E_INVALID_ARGUMENT" });
      expect(recorded.kv.get("tenant-a/inst-1/victim")).toBe("kept");
    });

    it("kv compare-and-set: a host whose kv keeps no versions refuses getEntry and ifVersion instead of writing unconditionally", async () => {
      const other: Recorded = { kv: new Map(), versions: new Map(), scopes: [], events: [] };
      const { getEntry: _versions, deleteIfVersion: _conditionalDelete, ...unversioned } = fakeHostApis(other).kv!;
      const dispatch = createHostDispatch({ kv: { ...unversioned, set: (...args) => void unversioned.set(...args) } });
      const entry = await runner.execute(envelopeFor(bundle, "kvEntry", { body: { key: "doc" } }), { dispatch });
      expect(entry.response?.body).toMatchObject({ code: "E_HOST_CALL_FAILED" });
      const conditional = await runner.execute(envelopeFor(bundle, "kvSet", { body: { key: "doc", value: 1, options: { ifVersion: 0 } } }), { dispatch });
      expect(conditional.response?.body).toMatchObject({ code: "E_HOST_CALL_FAILED" });
      expect(other.kv.size).toBe(0);
      const plain = await runner.execute(envelopeFor(bundle, "kvSet", { body: { key: "doc", value: 1 } }), { dispatch });
      expect(plain.response?.body).toEqual({ result: null });
      expect(other.kv.get("tenant-a/inst-1/doc")).toBe(1);
      // A delete with ifVersion is refused too (a host without deleteIfVersion), never done unconditionally.
      const conditionalDelete = await runner.execute(envelopeFor(bundle, "kvDelete", { body: { key: "doc", options: { ifVersion: 1 } } }), { dispatch });
      expect(conditionalDelete.response?.body).toMatchObject({ code: "E_HOST_CALL_FAILED" });
      expect(other.kv.get("tenant-a/inst-1/doc")).toBe(1);
    });

    it("validates host capability arguments on the host side, and the guest sees the typed error", async () => {
      const result = await run("contact", { body: { id: 42 } });
      expect(result.ok).toBe(true);
      expect(result.response?.body).toMatchObject({ code: "E_INVALID_ARGUMENT", message: expect.stringContaining("id") });
    });

    it("grants are the envelope's grants intersected with the manifest's requests", async () => {
      // The envelope grants more than the manifest asks (sql, another secret) and withholds kv.
      const grants = [
        { name: "log" },
        { name: "storage.sql" },
        { name: "secrets.read", names: ["API_TOKEN", "OTHER"] },
      ] as ExecuteEnvelope["grants"];
      const result = await run("sneaky", { grants });
      expect(result.ok).toBe(true);
      expect(result.response?.body).toEqual({
        kv: { code: "E_CAPABILITY_DENIED" },
        secret: { code: "E_CAPABILITY_DENIED" },
        sql: { code: "E_CAPABILITY_DENIED" },
      });
      expect(recorded.scopes).toHaveLength(0);
      // The guest caught every refusal: the usage still counts them, for the host to audit.
      expect(result.usage.deniedCalls).toEqual({ "storage.kv": 1, "secrets.read": 1, "storage.sql": 1 });
      const granted = await run("hello");
      expect(granted.usage.deniedCalls).toBeUndefined();
    });

    it("runs many executions concurrently, each with its own answer", async () => {
      const results = await Promise.all(Array.from({ length: 24 }, (_, i) => run(i % 2 === 0 ? "slow" : "hello", { body: { name: `n${i}` } })));
      results.forEach((result, i) => {
        expect(result.ok).toBe(true);
        expect(result.response?.body).toEqual(i % 2 === 0 ? { name: `n${i}` } : { hello: `n${i}`, tenant: "tenant-a" });
      });
      expect(new Set(results.map((r) => r.requestId)).size).toBe(24);
    });

    it("fresh contexts keep no state between calls; warm ones may, where the manifest allows it", async () => {
      const fresh = [];
      for (let i = 0; i < 3; i++) fresh.push((await run("count")).response?.body);
      expect(fresh).toEqual([1, 1, 1]);
      // The manifest of `bundle` does not allow warm contexts: asking for one still gets a fresh one.
      expect((await run("count", { context: "warm" })).response?.body).toBe(1);
      await runner.load(warmBundle);
      const warm = [];
      for (let i = 0; i < 3; i++) warm.push((await run("count", { context: "warm" }, warmBundle)).response?.body as number);
      expect(warm[0]).toBe(1);
      expect(Math.max(...warm)).toBeGreaterThan(1);
    });

    it("copies values out with JSON's rules, without calling the guest's getters or toJSON", async () => {
      const values = await buildBundle({
        source: `export function h() {
          return {
            date: new Date(0), boxed: [new Number(1), new String("s"), new Boolean(false)], nums: [NaN, -0, Infinity, 1.5],
            holes: [1, , 3], undef: undefined, fn() {}, sym: Symbol("x"), nested: { deep: [{ a: [1, { b: "c" }] }] },
            get spin() { for (;;) {} }, own: { toJSON() { for (;;) {} }, kept: 1 }, typed: new Int16Array([-1, 2]),
            bytes: new Uint8Array([1, 2, 3]), buffer: new Uint8Array([9, 8]).buffer, shared: [globalThis.s = { x: 1 }, globalThis.s],
            "__proto__": { polluted: true }, wide: "é€𝄞",
          };
        }
        export function circular() { const o = {}; o.self = o; return o; }
        export function big() { return 10n; }`,
      });
      await runner.load(values);
      const result = await run("h", {}, values);
      expect(result.error).toBeUndefined();
      expect(result.response?.body).toEqual({
        date: "1970-01-01T00:00:00.000Z",
        boxed: [1, "s", false],
        nums: [null, 0, null, 1.5],
        holes: [1, null, 3],
        nested: { deep: [{ a: [1, { b: "c" }] }] },
        own: { kept: 1 },
        typed: { "0": -1, "1": 2 },
        bytes: new Uint8Array([1, 2, 3]),
        buffer: new Uint8Array([9, 8]),
        shared: [{ x: 1 }, { x: 1 }],
        wide: "é€𝄞",
      });
      expect(Object.getPrototypeOf(result.response?.body)).toBe(Object.prototype);
      expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
      for (const handler of ["circular", "big"]) {
        const refused = await run(handler, {}, values);
        expect(refused.error?.code, handler).toBe("E_HANDLER_ERROR");
        expect(refused.error?.message, handler).toMatch(/cannot be copied/);
      }
    });

    it("refuses a host call over the envelope's hostCallArgBytes inside the sandbox, with the host's code, before the host sees it", async () => {
      const big = await buildBundle({
        source: `
          const codeOf = (p) => p.then(() => "ok", (e) => e.code + ": " + e.message);
          export async function bigargs(request, ctx) {
            const n = request.body.n;
            return {
              // Cheap to make, a million bytes as JSON: what cost the host's thread seconds to refuse.
              kv: await codeOf(ctx.kv.set("k", new Array(n).fill({}))),
              event: await codeOf(ctx.events.publish("order.created", { items: new Array(n).fill(0) })),
              small: await codeOf(ctx.kv.set("small", [1, 2, 3])),
            };
          }`,
        capabilities: [
          { name: "storage.kv", reason: "Keeps notes between requests." },
          { name: "events.publish", types: ["order.created"], reason: "Tells others about orders." },
        ] as never,
        storage: { kind: "kv" },
        publishes: ["order.created"],
      });
      await runner.load(big);
      const bounds = { "kv.set": 4000, "events.publish": 4000 };
      const over = await run("bigargs", { body: { n: 1_000_000 }, hostCallArgBytes: bounds }, big);
      expect(over.error).toBeUndefined();
      expect(over.response?.body).toEqual({
        kv: expect.stringMatching(/^E_KV_QUOTA_EXCEEDED: ctx\.kv\.set arguments are larger than 4000 bytes as JSON/),
        event: expect.stringMatching(/^E_PAYLOAD_TOO_LARGE: ctx\.events\.publish arguments are larger than 4000 bytes as JSON/),
        small: "ok",
      });
      // Only the small call reached the host.
      expect([...recorded.kv.keys()].map((key) => key.split("/").pop())).toEqual(["small"]);
      expect(recorded.events).toHaveLength(0);
      // The bound is on JSON: numbers, 9 bytes each in QuickJS's binary form, count as the digits JSON writes.
      const numbers = await run("bigargs", { body: { n: 1500 }, hostCallArgBytes: { "kv.set": 4000, "events.publish": 4000 } }, big);
      expect(numbers.response?.body).toMatchObject({ event: "ok" });
      // Under its bound the same call goes through; a bound never raises responseBytes.
      const under = await run("bigargs", { body: { n: 100 }, hostCallArgBytes: bounds }, big);
      expect(under.response?.body).toEqual({ kv: "ok", event: "ok", small: "ok" });
      const capped = await run("bigargs", { body: { n: 1_000_000 }, hostCallArgBytes: { "kv.set": 50 * 1024 * 1024 }, limits: { responseBytes: 100_000 } }, big);
      expect((capped.response?.body as { kv: string }).kv).toMatch(/^E_PAYLOAD_TOO_LARGE: ctx\.kv\.set arguments are larger than 100000 bytes/);
      // Without the grant the call is refused for want of it, whatever its size, and counted for the audit.
      const ungranted = await run("bigargs", { body: { n: 1_000_000 }, hostCallArgBytes: bounds, grants: [{ name: "log" }] as ExecuteEnvelope["grants"] }, big);
      expect(ungranted.response?.body).toMatchObject({ kv: expect.stringMatching(/^E_CAPABILITY_DENIED/), event: expect.stringMatching(/^E_CAPABILITY_DENIED/) });
      expect(ungranted.usage.deniedCalls).toEqual({ "storage.kv": 2, "events.publish": 1 });
    });

    it("refuses a call too large to copy as denied when its name is not granted: event type, secret, host API", async () => {
      const big = await buildBundle({
        source: `
          const codeOf = (p) => p.then(() => "ok", (e) => e.code);
          export async function bigargs(request, ctx) {
            const n = request.body.n;
            const huge = new Array(n).fill(0);
            return {
              otherType: await codeOf(ctx.events.publish("user.deleted", { items: huge })),
              grantedType: await codeOf(ctx.events.publish("order.created", { items: huge })),
              secret: await codeOf(ctx.secrets.get("ADMIN_TOKEN", huge)),
              host: await codeOf(ctx.host.call("users.delete", { ids: huge })),
            };
          }`,
        capabilities: [
          { name: "events.publish", types: ["order.created"], reason: "Tells others about orders." },
          { name: "secrets.read", names: ["API_TOKEN"], reason: "Calls the partner API." },
        ] as never,
        secrets: ["API_TOKEN"],
        publishes: ["order.created"],
      });
      await runner.load(big);
      const result = await run("bigargs", { body: { n: 1_000_000 }, hostCallArgBytes: { "events.publish": 4000 }, limits: { responseBytes: 100_000 } }, big);
      expect(result.error).toBeUndefined();
      // The type, secret and API it was not granted: denied and counted for the audit, as a small call would be.
      expect(result.response?.body).toEqual({ otherType: "E_CAPABILITY_DENIED", grantedType: "E_PAYLOAD_TOO_LARGE", secret: "E_CAPABILITY_DENIED", host: "E_CAPABILITY_DENIED" });
      // A host API the manifest never requested counts as host:?: the name is the guest's to choose (see usageKey).
      expect(result.usage.deniedCalls).toEqual({ "events.publish": 1, "secrets.read": 1, "host:?": 1 });
      expect(recorded.events).toHaveLength(0);
    });

    it("refuses an envelope whose hostCallArgBytes is not host methods to positive integers", async () => {
      for (const hostCallArgBytes of [{ "kv.sett": 10 }, { "kv.set": 0 }, { "kv.set": 1.5 }, [] as never]) {
        const result = await run("hello", { hostCallArgBytes: hostCallArgBytes as never });
        expect(result.error?.code, JSON.stringify(hostCallArgBytes)).toBe("E_BAD_ENVELOPE");
        expect(result.error?.message).toMatch(/hostCallArgBytes/);
      }
    });

    it("bounds the result by responseBytes as JSON, not only in its binary form, which can be far smaller", async () => {
      // Each of these is a few KB in QuickJS's binary form and several times that as JSON, which is how a
      // result leaves the host (an HTTP body, the remote wire): a byte of an Int8Array is ~6 characters,
      // a control character 6, a shared object once per place it appears.
      const amplified = await buildBundle({
        source: `export function typed() { return new Int8Array(2000).fill(-1); }
        export function escaped() { return { text: "\\u0001\\n".repeat(1500), wide: "é€𝄞" }; }
        export function shared() { const o = { text: "x".repeat(1000), n: [1.5, -0, 2e-7] }; return [o, o, o, o, o, o, o, o]; }`,
      });
      await runner.load(amplified);
      const expected: Record<string, unknown> = {
        typed: Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [String(i), -1])),
        escaped: { text: "\u0001\n".repeat(1500), wide: "é€𝄞" },
        shared: Array.from({ length: 8 }, () => ({ text: "x".repeat(1000), n: [1.5, 0, 2e-7] })),
      };
      for (const [handler, body] of Object.entries(expected)) {
        const size = Buffer.byteLength(JSON.stringify(body));
        const fits = await run(handler, { limits: { responseBytes: size } }, amplified);
        expect(fits.error, handler).toBeUndefined();
        expect(fits.response?.body, handler).toEqual(body);
        const over = await run(handler, { limits: { responseBytes: size - 1 } }, amplified);
        expect(over.error?.code, handler).toBe("E_PAYLOAD_TOO_LARGE");
      }
      expect((await run("hello")).ok).toBe(true);
    });

    it("fails a load whose top-level code exceeds its CPU limit with E_TIMEOUT (phase load), and keeps serving", async () => {
      const spinning = await buildBundle({ source: `for (;;) {}\nexport function h() { return 1; }`, limits: { cpuMs: 100 } });
      await expect(runner.load(spinning)).rejects.toMatchObject({ code: "E_TIMEOUT", details: expect.objectContaining({ phase: "load" }) });
      expect((await run("hello")).ok).toBe(true);
    });

    it("fails a load whose top-level code runs out of memory with E_MEMORY (phase load), and keeps serving", async () => {
      const bomb = await buildBundle({ source: `const a = []; for (;;) a.push(new Array(10000).fill(1));\nexport function h() { return 1; }`, limits: { memoryMb: 16, cpuMs: 5000, wallMs: 20000 } });
      await expect(runner.load(bomb)).rejects.toMatchObject({ code: "E_MEMORY", details: expect.objectContaining({ phase: "load" }) });
      expect((await run("hello")).ok).toBe(true);
    });

    it("loads no server code from ui.root, whatever the root is called: importing it fails alike in every runner", async () => {
      const importsUi = await buildBundle({
        source: `import { x } from "../web/lib.js";\nexport function h() { return x; }`,
        ui: { root: "web", pages: [] },
        files: { "web/lib.js": "export const x = 1;" },
      });
      await expect(runner.load(importsUi)).rejects.toMatchObject({ code: "E_BUNDLE_INVALID", message: expect.stringContaining("web/lib.js") });
      const outside = await buildBundle({
        source: `import { x } from "./lib.js";\nexport function h() { return x; }`,
        ui: { root: "web", pages: [] },
        files: { "server/lib.js": "export const x = 2;", "web/lib.js": "export const x = 1;" },
      });
      await runner.load(outside);
      expect((await run("h", {}, outside)).response?.body).toBe(2);
    });

    it("gives each warm execution its own install config and principal", async () => {
      await runner.load(warmBundle);
      const call = (config: Record<string, unknown>, user: string | undefined) => {
        const envelope = envelopeFor(warmBundle, "who", { context: "warm" });
        return runner.execute({
          ...envelope,
          install: { ...envelope.install, config },
          principal: user === undefined ? undefined : { tenant: "tenant-a", roles: [user] },
        });
      };
      const seen = [];
      for (const [config, user] of [[{ v: 1 }, "a"], [{ v: 1 }, "a"], [{ v: 2 }, "a"], [{ v: 2 }, "b"], [{ v: 2 }, undefined], [{ v: 3 }, "a"]] as const) {
        seen.push((await call(config, user)).response?.body);
      }
      expect(seen).toEqual([
        { config: { v: 1 }, principal: { tenant: "tenant-a", roles: ["a"] }, frozen: true },
        { config: { v: 1 }, principal: { tenant: "tenant-a", roles: ["a"] }, frozen: true },
        { config: { v: 2 }, principal: { tenant: "tenant-a", roles: ["a"] }, frozen: true },
        { config: { v: 2 }, principal: { tenant: "tenant-a", roles: ["b"] }, frozen: true },
        { config: { v: 2 }, principal: null, frozen: true },
        { config: { v: 3 }, principal: { tenant: "tenant-a", roles: ["a"] }, frozen: true },
      ]);
    });

    it("tells a handler what started it: ctx.event for an event, ctx.job for a job, neither for an endpoint, in fresh and warm contexts", async () => {
      await runner.load(warmBundle);
      const event = { kind: "event", handler: "trigger", event: { id: "delivery-1", type: "acme.order.created", payload: { n: 1 }, occurredAt: "2026-12-03T10:00:00.000Z" } } as const;
      const job = { kind: "job", handler: "trigger", job: { name: "nightly", scheduledAt: "2026-12-03T02:00:00.000Z" } } as const;
      for (const target of [bundle, warmBundle]) {
        const context = target === warmBundle ? ("warm" as const) : ("fresh" as const);
        // In a warm context the order matters: an endpoint after an event must not see the event.
        const seen = [];
        for (const invocation of [event, job, undefined, event]) {
          const result = await run("trigger", { context, ...(invocation === undefined ? {} : { invocation }) }, target);
          expect(result.ok, JSON.stringify(result.error)).toBe(true);
          seen.push(result.response?.body);
        }
        expect(seen).toEqual([
          { event: { id: "delivery-1", type: "acme.order.created" }, job: null, argId: "delivery-1", frozen: true },
          { event: null, job: { name: "nightly", scheduledAt: "2026-12-03T02:00:00.000Z" }, argId: null, frozen: true },
          { event: null, job: null, argId: null, frozen: null },
          { event: { id: "delivery-1", type: "acme.order.created" }, job: null, argId: "delivery-1", frozen: true },
        ]);
      }
    });

    it("after close, executions fail with E_RUNNER_UNAVAILABLE and nothing is left running", async () => {
      const own = await makeRunner({ hostApis });
      try {
        await own.runner.load(bundle);
        expect((await own.runner.execute(envelopeFor(bundle, "hello"))).ok).toBe(true);
        await own.runner.close();
        const result = await own.runner.execute(envelopeFor(bundle, "hello"));
        expect(result.ok).toBe(false);
        expect(result.error?.code).toBe("E_RUNNER_UNAVAILABLE");
      } finally {
        await own.dispose();
      }
      if (own.live) expect(own.live()).toBe(0);
    });
  });
}
