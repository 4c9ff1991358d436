import type { CapabilityGrant } from "@annex/manifest";
import { createInMemoryRunner, type Runner } from "@annex/runner";
import { expect, it } from "vitest";
import { z } from "zod";
import { createHost, defineHostCapability, generateSecretsKey, type Host, type HostOptions } from "../../src/index.js";
import type { TestDatabaseBackend } from "../../src/testing/index.js";
import { describeBackends } from "../support/backends.js";
import { makeBundle, serviceManifest } from "../support/fixtures.js";

/**
 * An execution already running when a lifecycle call returns must not act
 * with the authority it started with: once the install was disabled,
 * uninstalled or upgraded, its host calls are refused (E_INSTALL_CHANGED).
 * A change that leaves what it runs as (configure, setSecrets) refuses nothing.
 */

const T = "t1";
const EXT = "acme.inflight";
const SILENT = { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } } as never;

const CAPABILITIES = [
  { name: "log", reason: "Writes request logs for debugging." },
  { name: "storage.kv", reason: "Keeps counters." },
  { name: "host:gate.wait", reason: "Waits for the test." },
  { name: "events.subscribe", types: ["order.*"], reason: "Reacts to orders." },
];
const GRANTS: CapabilityGrant[] = [{ name: "log" }, { name: "storage.kv" }, { name: "host:gate.wait" }, { name: "events.subscribe", types: ["order.*"] }];

function manifest(version: string, overrides: Record<string, unknown> = {}) {
  return serviceManifest({
    id: EXT,
    name: "In flight",
    version,
    capabilities: CAPABILITIES,
    storage: { kind: "kv" },
    config: { greeting: { type: "string", default: "hi" } },
    secrets: ["TOKEN"],
    endpoints: [
      { class: "api", method: "GET", path: "/slow", handler: "slow" },
      { class: "api", method: "GET", path: "/quick", handler: "quick" },
      { class: "api", method: "GET", path: "/burst", handler: "burst" },
      { class: "api", method: "POST", path: "/write", handler: "write" },
    ],
    jobs: [{ name: "report", cron: "0 0 1 1 *", handler: "report" }],
    events: { subscribes: [{ type: "order.created", handler: "onOrder" }] },
    ...overrides,
  });
}

// Each handler waits on the test's gate, then writes kv and reports what the write (and a second call) answered.
const SERVER = `
async function after(ctx, key) {
  const out = {};
  try { await ctx.kv.set(key, "written"); out.wrote = true; } catch (e) { out.wrote = false; out.code = e.code; out.message = e.message; }
  try { await ctx.kv.get(key); out.second = "ok"; } catch (e) { out.second = e.code; }
  return out;
}
export async function slow(req, ctx) { await ctx.host.call("gate.wait", { who: "req" }); return after(ctx, "late-req"); }
export async function quick(req, ctx) { return { ok: true }; }
export async function write(req, ctx) { return after(ctx, "late-body"); }
export async function burst(req, ctx) {
  await ctx.host.call("gate.wait", { who: "req" });
  // Five at once: those made while the first one's read of the install is under way wait for its verdict.
  const codes = await Promise.all([0, 1, 2, 3, 4].map((i) => ctx.kv.set("burst-" + i, i).then(() => "ok", (e) => e.code)));
  return { codes };
}
export async function report(job, ctx) { await ctx.host.call("gate.wait", { who: "job" }); return after(ctx, "late-job"); }
export async function onOrder(event, ctx) {
  await ctx.host.call("gate.wait", { who: "event" });
  const out = await after(ctx, "late-event");
  await ctx.kv.set("event-result", out).catch(() => {});
}
`;

interface Gated {
  host: Host;
  arrived(who: string): Promise<void>;
  release(who: string): void;
  close(): Promise<void>;
}

async function gatedHost(backend: TestDatabaseBackend, options: { schema?: string; runner?: Runner | "pool"; gateway?: Partial<HostOptions["gateway"]>; notifications?: string | false } = {}): Promise<Gated & { schema: string }> {
  const waiting = new Map<string, () => void>();
  const gate = defineHostCapability({
    name: "gate.wait",
    description: "waits until the test releases it",
    args: z.object({ who: z.string() }),
    result: z.object({ ok: z.boolean() }),
    handler: async ({ who }) => {
      await new Promise<void>((resolve) => waiting.set(who, resolve));
      return { ok: true };
    },
  });
  const schema = options.schema ?? backend.freshSchema("inflight");
  const ownRunner = options.runner === undefined ? createInMemoryRunner({ limits: { wallMs: 30_000 } }) : undefined;
  const host = await createHost({
    database: await backend.connect(),
    schema,
    // "pool": the host's own worker pool (createHost's default runner).
    ...(options.runner === "pool" ? {} : { runner: options.runner ?? ownRunner }),
    capabilities: [gate],
    trust: { store: { trustStoreVersion: 1, keys: [] }, mode: "dev" },
    secrets: { keys: [{ id: "k0", key: generateSecretsKey() }] },
    logger: SILENT,
    events: { relay: false },
    jobs: { scheduler: false, timeoutMs: 30_000 } as never,
    ...(options.notifications === undefined ? {} : { notifications: options.notifications }),
    gateway: {
      authenticate: () => ({ tenant: T, user: { id: "u1" }, roles: [] }),
      policy: { rateLimits: { api: false, public: false, webhook: false }, clientRateLimits: { public: false, webhook: false }, exposeErrors: true, installCacheMs: 0, limits: { wallMs: 30_000 } },
      ...options.gateway,
    } as never,
  });
  return {
    host,
    schema,
    async arrived(who) {
      const started = Date.now();
      while (!waiting.has(who)) {
        if (Date.now() - started > 10_000) throw new Error(`${who} never reached the gate`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
    release(who) {
      const resolve = waiting.get(who);
      waiting.delete(who);
      resolve?.();
    },
    async close() {
      for (const resolve of waiting.values()) resolve();
      await host.close();
      await ownRunner?.close();
    },
  };
}

async function kvKeys(host: Host, installId: string): Promise<Record<string, unknown>> {
  const rows = (await (host.database.db as any).selectFrom("annex_kv").select(["key", "value"]).where("install_id", "=", installId).execute()) as { key: string; value: unknown }[];
  return Object.fromEntries(rows.map((row) => [row.key, typeof row.value === "string" ? JSON.parse(row.value) : row.value]));
}

async function publishV1(host: Host): Promise<void> {
  await host.publish(await makeBundle(manifest("1.0.0"), { "server/index.js": SERVER }), null);
}

function request(host: Host, path: string) {
  return host.handle(new Request(`http://x/api/ext/${EXT}${path}`)).then(async (response) => ({ status: response.status, body: (await response.json()) as Record<string, unknown> }));
}

type Installed = Awaited<ReturnType<Host["install"]>>;

/**
 * The setting of most cases: a gated host with 1.0.0 (and `versions`)
 * published and 1.0.0 installed; closed after `test`, whatever it throws.
 */
async function withInstall(
  backend: TestDatabaseBackend,
  test: (t: Gated & { schema: string }, install: Installed) => Promise<void>,
  options: { host?: Parameters<typeof gatedHost>[1]; versions?: Record<string, unknown>[] } = {},
): Promise<void> {
  const t = await gatedHost(backend, options.host);
  try {
    await publishV1(t.host);
    for (const version of options.versions ?? []) await t.host.publish(await makeBundle(version, { "server/index.js": SERVER }), null);
    await test(t, await t.host.install(T, EXT, { version: "1.0.0", grants: GRANTS }));
  } finally {
    await t.close();
  }
}

describeBackends("in-flight executions across lifecycle calls", (backend) => {
  for (const op of ["disable", "uninstall"] as const) {
    it(`a request in flight when ${op} returns: its next host calls are refused with E_INSTALL_CHANGED and write nothing`, async () => {
      await withInstall(backend, async (t, install) => {
        const answer = request(t.host, "/slow");
        await t.arrived("req");
        await (op === "disable" ? t.host.disable(T, EXT) : t.host.uninstall(T, EXT));
        t.release("req");
        const { status, body } = await answer;
        expect(status).toBe(200);
        expect(body).toMatchObject({ wrote: false, code: "E_INSTALL_CHANGED", second: "E_INSTALL_CHANGED" });
        expect(body["message"]).toMatch(/disabled, uninstalled or upgraded while this execution ran/);
        expect(body["message"]).toContain(op === "disable" ? "disabled" : "uninstalled");
        expect(await kvKeys(t.host, install.id)).toEqual({});
      });
    });
  }

  it("refuses the host calls made while the install's standing is being read, not only the one that started the read", async () => {
    await withInstall(backend, async (t, install) => {
      const answer = request(t.host, "/burst");
      await t.arrived("req");
      await t.host.disable(T, EXT);
      t.release("req");
      expect((await answer).body).toEqual({ codes: Array(5).fill("E_INSTALL_CHANGED") });
      expect(await kvKeys(t.host, install.id)).toEqual({});
    });
  });

  for (const [what, back] of [
    ["uninstall, then install again (the same id, version and grants)", async (h: Host) => {
      await h.uninstall(T, EXT);
      await h.install(T, EXT, { version: "1.0.0", grants: GRANTS });
    }],
    ["disable, upgrade, upgrade back to the same version, enable", async (h: Host) => {
      await h.disable(T, EXT);
      await h.upgrade(T, EXT, { version: "1.1.0", grants: GRANTS });
      await h.upgrade(T, EXT, { version: "1.0.0", grants: GRANTS });
      await h.enable(T, EXT);
    }],
  ] as const) {
    it(`stays refused after ${what}: a change back does not give an execution its authority back`, async () => {
      await withInstall(backend, async (t, install) => {
        const answer = request(t.host, "/slow");
        await t.arrived("req");
        await back(t.host);
        expect(await t.host.getInstall(T, EXT)).toMatchObject({ id: install.id, state: "active", version: "1.0.0" });
        t.release("req");
        expect((await answer).body).toMatchObject({ wrote: false, code: "E_INSTALL_CHANGED" });
        expect(await kvKeys(t.host, install.id)).toEqual({});
      }, { versions: [manifest("1.1.0")] });
    });
  }

  it("a request whose body arrives after a disable returned runs with no authority, however long the body took", async () => {
    // A red team: the gateway resolved the install, then waited for a slow body past the 10 s a change was
    // remembered for; the handler then ran as if nothing had happened.
    await withInstall(backend, async (t, install) => {
      let push: (chunk: string) => void = () => {};
      let end: () => void = () => {};
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          push = (chunk) => controller.enqueue(new TextEncoder().encode(chunk));
          end = () => controller.close();
        },
      });
      const answer = t.host
        .handle(new Request(`http://x/api/ext/${EXT}/write`, { method: "POST", headers: { "content-type": "application/json" }, body, duplex: "half" } as RequestInit))
        .then(async (response) => ({ status: response.status, body: (await response.json()) as Record<string, unknown> }));
      push('{"half": ');
      // The gateway has resolved the install and waits for the rest of the body.
      await new Promise((resolve) => setTimeout(resolve, 300));
      await t.host.disable(T, EXT);
      await new Promise((resolve) => setTimeout(resolve, 10_500));
      push("1}");
      end();
      const { status, body: answered } = await answer;
      expect(status).toBe(200);
      expect(answered).toMatchObject({ wrote: false, code: "E_INSTALL_CHANGED" });
      expect(await kvKeys(t.host, install.id)).toEqual({});
    });
  }, 30_000);

  it("the worker pool (createHost's default runner) refuses the same way", async () => {
    await withInstall(backend, async (t, install) => {
      const answer = request(t.host, "/slow");
      await t.arrived("req");
      await t.host.disable(T, EXT);
      t.release("req");
      expect((await answer).body).toMatchObject({ wrote: false, code: "E_INSTALL_CHANGED", second: "E_INSTALL_CHANGED" });
      expect(await kvKeys(t.host, install.id)).toEqual({});
    }, { host: { runner: "pool" } });
  });

  it("a job run (runNow) in flight when disable returns is refused", async () => {
    await withInstall(backend, async (t, install) => {
      const run = t.host.jobs.runNow(install.id, "report");
      await t.arrived("job");
      await t.host.disable(T, EXT);
      t.release("job");
      expect((await run).output).toMatchObject({ wrote: false, code: "E_INSTALL_CHANGED", second: "E_INSTALL_CHANGED" });
      expect(await kvKeys(t.host, install.id)).toEqual({});
    });
  });

  it("an event delivery in flight when disable returns is refused", async () => {
    await withInstall(backend, async (t, install) => {
      await t.host.events.publish(T, "order.created", { n: 1 });
      const drained = t.host.events.drain();
      await t.arrived("event");
      await t.host.disable(T, EXT);
      t.release("event");
      await drained;
      expect(await kvKeys(t.host, install.id)).toEqual({});
    });
  });

  it("a v1 job in flight when an upgrade dropping storage.kv returns is refused (it does not keep v1's grants)", async () => {
    const v2 = manifest("2.0.0", { capabilities: CAPABILITIES.filter((c) => c.name !== "storage.kv"), storage: { kind: "none" } });
    await withInstall(backend, async (t, install) => {
      const run = t.host.jobs.runNow(install.id, "report");
      await t.arrived("job");
      const upgraded = await t.host.upgrade(T, EXT, { version: "2.0.0", grants: GRANTS.filter((g) => g.name !== "storage.kv") });
      expect(upgraded).toMatchObject({ state: "active", version: "2.0.0" });
      t.release("job");
      const result = await run;
      expect(result.output).toMatchObject({ wrote: false, code: "E_INSTALL_CHANGED" });
      expect(String((result.output as { message: string }).message)).toMatch(/was upgraded; this execution runs 1\.0\.0/);
      expect(await kvKeys(t.host, install.id)).toEqual({});
    }, { versions: [v2] });
  });

  it("configure and setSecrets during an in-flight execution refuse nothing", async () => {
    await withInstall(backend, async (t, install) => {
      const answer = request(t.host, "/slow");
      await t.arrived("req");
      await t.host.configure(T, EXT, { greeting: "hello" });
      await t.host.setSecrets(T, EXT, { TOKEN: "s3cret" });
      t.release("req");
      expect((await answer).body).toMatchObject({ wrote: true, second: "ok" });
      expect(await kvKeys(t.host, install.id)).toEqual({ "late-req": "written" });
    });
  });

  it("an execution that starts after the install was enabled again is served as usual", async () => {
    await withInstall(backend, async (t, install) => {
      await t.host.disable(T, EXT);
      await t.host.enable(T, EXT);
      const answer = request(t.host, "/slow");
      await t.arrived("req");
      t.release("req");
      expect((await answer).body).toMatchObject({ wrote: true, second: "ok" });
      expect(await kvKeys(t.host, install.id)).toEqual({ "late-req": "written" });
    });
  });

  it("a disable made by another host process on the same database refuses this host's in-flight execution (notifications)", async () => {
    const notifications = backend.name === "postgres" ? process.env["ANNEX_TEST_DATABASE_URL"]! : undefined;
    // A long install cache: this host's gateway keeps serving until the notification arrives, which the test waits for.
    const a = await gatedHost(backend, { notifications, gateway: { policy: { rateLimits: { api: false, public: false, webhook: false }, clientRateLimits: { public: false, webhook: false }, exposeErrors: true, installCacheMs: 60_000, limits: { wallMs: 30_000 } } } as never });
    const b = await gatedHost(backend, { schema: a.schema, notifications: false });
    try {
      await publishV1(b.host);
      const install = await b.host.install(T, EXT, { grants: GRANTS });
      expect((await request(a.host, "/quick")).status).toBe(200);
      const answer = request(a.host, "/slow");
      await a.arrived("req");
      await b.host.disable(T, EXT);
      const started = Date.now();
      while ((await request(a.host, "/quick")).status === 200) {
        if (Date.now() - started > 10_000) throw new Error("host A never heard of the disable");
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      a.release("req");
      expect((await answer).body).toMatchObject({ wrote: false, code: "E_INSTALL_CHANGED", second: "E_INSTALL_CHANGED" });
      expect(await kvKeys(a.host, install.id)).toEqual({});
    } finally {
      await b.close();
      await a.close();
    }
  });
});
