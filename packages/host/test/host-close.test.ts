import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createInMemoryRunner } from "@annex/runner";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isAnnexError } from "@annex/manifest";
import { z } from "zod";
import { createHost, defineHostCapability, HostClosedError, type BlobStore, type Host, type Logger } from "../src/index.js";
import { createNodeHandler } from "../src/adapters/node.js";
import { testDatabaseBackends, type TestDatabaseBackend } from "../src/testing/index.js";
import { describeBackends, hostOn } from "./support/backends.js";
import { makePublisher, serviceManifest, signedBundle, type Publisher } from "./support/fixtures.js";
import { bearer, bearerPrincipal, problemOf, req } from "./gateway/support.js";

/** A blob store whose reads fail while `down` is set, as a disk or bucket that went away would. */
function flakyBlobs(): BlobStore & { down: boolean } {
  const blobs = new Map<string, Uint8Array>();
  return {
    down: false,
    async put(hash, bytes) {
      const fresh = !blobs.has(hash);
      blobs.set(hash, bytes);
      return fresh;
    },
    has: async (hash) => blobs.has(hash),
    delete: async (hash) => void blobs.delete(hash),
    async get(hash) {
      if (this.down) throw new Error("EIO: i/o error, read");
      return blobs.get(hash) ?? null;
    },
  };
}

/** A logger that keeps its warnings (the host's other lines are dropped). */
function keepingLogger(warnings: string[]): Logger {
  const logger: Logger = {
    level: "info",
    trace: () => {},
    debug: () => {},
    info: () => {},
    warn: (_fields: unknown, message?: string) => void warnings.push(String(message)),
    error: () => {},
    fatal: () => {},
    child: () => logger,
  } as unknown as Logger;
  return logger;
}

async function expectClosed(call: Promise<unknown>, method: string): Promise<void> {
  const error = await call.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error, `${method}: ${String(error)}`).toBeInstanceOf(HostClosedError);
  expect(isAnnexError(error, "E_HOST_CLOSED")).toBe(true);
  expect((error as Error).message).toContain(`host.${method}()`);
}

describe.each(testDatabaseBackends())("host.close() of a host that opened its own database, on $name", (backend) => {
  // PGlite: createHost() starts one in memory; PostgreSQL: createHost({ database: url }) opens a pg pool. Each closed at most once.
  afterAll(() => backend.cleanup());

  it("closes once: concurrent and later calls get the same promise and resolve", async () => {
    const url = process.env["ANNEX_TEST_DATABASE_URL"];
    const host = await createHost({
      runner: createInMemoryRunner(),
      ...(backend.name === "postgres" ? { database: url, schema: backend.freshSchema("annex_close") } : {}),
    });
    expect(await host.listInstalls("t1")).toEqual([]);
    const first = host.close();
    const second = host.close();
    expect(second).toBe(first);
    await expect(Promise.all([first, second])).resolves.toBeDefined();
    await expect(host.close()).resolves.toBeUndefined();
  });

  // PostgreSQL only: PGlite has no pool to lose a connection of.
  if (backend.name === "postgres") it("survives pooled connections terminated while idle and while running a query; the pool opens new ones", async () => {
    // A red team: pg_terminate_backend of the pool's idle connections (an admin's kill, a restart, a failover) was an
    // unhandled 'error' event, and the host process exited.
    const warnings: string[] = [];
    const host = await createHost({
      runner: createInMemoryRunner(),
      logger: keepingLogger(warnings),
      database: process.env["ANNEX_TEST_DATABASE_URL"],
      schema: backend.freshSchema("annex_lost"),
    });
    const admin = new pg.Client({ connectionString: process.env["ANNEX_TEST_DATABASE_URL"] });
    await admin.connect();
    try {
      const root = host.database.root;
      // Several at once, so that the pool holds several connections; each says which backend it is.
      const pids = new Set(
        (await Promise.all(Array.from({ length: 4 }, () => sql<{ pid: number }>`SELECT pg_backend_pid() AS pid, pg_sleep(0.05)`.execute(root)))).map((r) => r.rows[0]!.pid),
      );
      expect(pids.size).toBeGreaterThan(1);
      await admin.query("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", [[...pids]]);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(warnings.some((w) => /pooled connection failed/.test(w))).toBe(true);

      // In use: the query running on it fails, the host does not.
      const marker = `annex_lost_${Date.now()}`;
      // Observed at once: it fails as soon as its connection is killed, maybe before the kill's own answer arrives.
      const running = sql`SELECT pg_sleep(5), ${marker}::text`.execute(root).then(
        () => null,
        (error: unknown) => error,
      );
      let busy: number | undefined;
      for (let i = 0; i < 50 && busy === undefined; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        busy = (await admin.query("SELECT pid FROM pg_stat_activity WHERE query LIKE '%pg_sleep(5)%' AND pid <> pg_backend_pid() AND state = 'active'")).rows[0]?.pid;
      }
      expect(busy).toBeDefined();
      const heard = warnings.length;
      await admin.query("SELECT pg_terminate_backend($1)", [busy]);
      expect(await running).toMatchObject({ message: expect.stringMatching(/terminat/) });
      // Its socket closes right after the error (pg then drops the connection from the pool): until then a query
      // sent on it would fail too, as any pool's would.
      for (let i = 0; i < 100 && warnings.length === heard; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(warnings.length).toBeGreaterThan(heard);

      // The host goes on: its own queries and the lifecycle API work on new connections.
      expect(await host.listInstalls("t1")).toEqual([]);
      expect((await sql<{ one: number }>`SELECT 1 AS one`.execute(root)).rows).toEqual([{ one: 1 }]);
    } finally {
      await admin.end();
      await host.close();
    }
  });

  it("fails a call that close() had to cut off with E_HOST_CLOSED saying so, not with what the closed database throws", async () => {
    // A red team: an install whose data hook ran past close()'s bound got "driver has already been destroyed".
    const url = process.env["ANNEX_TEST_DATABASE_URL"];
    const publisher = await makePublisher("acme", "community");
    let entered: () => void = () => {};
    const preparing = new Promise<void>((resolve) => (entered = resolve));
    const host = await createHost({
      runner: createInMemoryRunner(),
      trust: { store: publisher.trustStore },
      // close() waits for calls on the host up to the jobs' timeout + 1 s.
      jobs: { scheduler: false, timeoutMs: 100 },
      dataHooks: [
        {
          name: "slow",
          export: async () => null,
          purge: async () => {},
          prepare: async () => {
            entered();
            await new Promise((resolve) => setTimeout(resolve, 2500));
          },
        },
      ],
      ...(backend.name === "postgres" ? { database: url, schema: backend.freshSchema("annex_cut") } : {}),
    });
    const { bytes, signature } = await signedBundle(publisher, serviceManifest());
    await host.publish(bytes, signature);
    const installing = host.install("t1", "acme.hello", { grants: [{ name: "log" }] }).then(
      () => null,
      (error: unknown) => error,
    );
    await preparing;
    await host.close();
    const error = await installing;
    expect(error).toBeInstanceOf(HostClosedError);
    expect(error).toMatchObject({ code: "E_HOST_CLOSED", details: { method: "install", cutOff: true } });
    expect((error as Error).message).toMatch(/closed while this call ran.*recover/);
  }, 30_000);
});

describeBackends("a closed host", (backend) => {
  let publisher: Publisher;
  const auth = bearer("ada", "t1");

  beforeAll(async () => {
    publisher = await makePublisher("acme", "community");
  });

  async function servingHost(blobs?: BlobStore): Promise<{ host: Host; schema: string }> {
    const runner = createInMemoryRunner();
    const host = await hostOn(backend, { runner, blobs, trust: { store: publisher.trustStore }, gateway: { authenticate: bearerPrincipal } });
    const { bytes, signature } = await signedBundle(publisher, serviceManifest());
    await host.publish(bytes, signature);
    await host.install("t1", "acme.hello", { grants: [{ name: "log" }] });
    const ok = await host.handle(req("GET", "/api/ext/acme.hello/hello/ada", { headers: auth }));
    expect(ok.status).toBe(200);
    return { host, schema: host.database.schema! };
  }

  it("refuses its methods with E_HOST_CLOSED naming the method, and leaves the caller's connection open", async () => {
    const { host, schema } = await servingHost();
    await host.close();
    const { bytes, signature } = await signedBundle(publisher, serviceManifest({ version: "1.0.1" }));
    await expectClosed(host.publish(bytes, signature), "publish");
    await expectClosed(host.install("t2", "acme.hello", { grants: [] }), "install");
    await expectClosed(host.upgrade("t1", "acme.hello", { version: "1.0.1", grants: [] }), "upgrade");
    await expectClosed(host.uninstall("t1", "acme.hello"), "uninstall");
    await expectClosed(host.listInstalls("t1"), "listInstalls");
    await expectClosed(host.getInstall("t1", "acme.hello"), "getInstall");
    await expectClosed(host.resolve("t1", "acme.hello"), "resolve");
    await expectClosed(host.rotateSecretsKey(), "rotateSecretsKey");
    await expectClosed(host.sql.status("any"), "sql.status");
    // Nothing changed behind the refusals, and the connection the app passed in is still the app's.
    const rows = await rowsOf(`SELECT state FROM "${schema}".annex_installs`);
    expect(rows.map((r) => r["state"])).toEqual(["active"]);
  });

  it("refuses the methods of its nested objects too, naming each, and keeps its sync ones", async () => {
    const { host } = await servingHost();
    const installId = (await host.getInstall("t1", "acme.hello"))!.id;
    const kv = host.kv.install(installId);
    const { bytes, signature } = await signedBundle(publisher, serviceManifest({ version: "1.0.2" }));
    await host.close();
    const refused: Array<[Promise<unknown>, string]> = [
      [host.registry.publish(bytes, signature), "registry.publish"],
      [host.registry.getVersion("acme.hello", "1.0.0"), "registry.getVersion"],
      [host.registry.listVersions("acme.hello"), "registry.listVersions"],
      [host.registry.latestVersion("acme.hello"), "registry.latestVersion"],
      [host.registry.listExtensions(), "registry.listExtensions"],
      [host.registry.loadBundle("0".repeat(64)), "registry.loadBundle"],
      [host.audit.list(), "audit.list"],
      [host.kv.sweepExpired(), "kv.sweepExpired"],
      // An InstallKv taken before close() and one taken after are both refused.
      [kv.get("k"), "kv.install(…).get"],
      [kv.set("k", 1), "kv.install(…).set"],
      [host.kv.install(installId).entries(), "kv.install(…).entries"],
      [host.webhookSecrets.set(installId, undefined, { actor: "ada" }), "webhookSecrets.set"],
      [host.webhookSecrets.rotate(installId, { actor: "ada" }), "webhookSecrets.rotate"],
      [host.webhookSecrets.remove(installId), "webhookSecrets.remove"],
      [host.webhookSecrets.reseal(), "webhookSecrets.reseal"],
      [host.events.publish("t1", "order.created", {}), "events.publish"],
      [host.events.drain(), "events.drain"],
      [host.events.deadLetters.list(), "events.deadLetters.list"],
      [host.events.deadLetters.replay("d1"), "events.deadLetters.replay"],
      [host.events.deadLetters.discard("d1"), "events.deadLetters.discard"],
      [host.jobs.list(), "jobs.list"],
      [host.jobs.runNow(installId, "any"), "jobs.runNow"],
      [host.jobs.runs({ installId }), "jobs.runs"],
      [host.jobs.tick(), "jobs.tick"],
    ];
    for (const [call, method] of refused) await expectClosed(call, method);
    // Sync reads of what the host already holds still answer.
    expect(() => host.registry.clearBundleCache()).not.toThrow();
    expect(host.kv.policy.keys).toBeGreaterThan(0);
  });

  /**
   * A host on its own worker pool (the one close() closes) serving an install whose job and event handler each
   * make a host call that waits until the test lets it go.
   */
  async function waitingHost(): Promise<{ host: Host; installId: string; arrived(who: string): Promise<void>; release(who: string): void }> {
    const waiting = new Map<string, () => void>();
    const slow = defineHostCapability({
      name: "slow.wait",
      description: "Answers when the test lets it",
      args: z.object({ who: z.string() }),
      result: z.object({ ok: z.boolean() }),
      handler: async ({ who }) => {
        await new Promise<void>((resolve) => waiting.set(who, resolve));
        return { ok: true };
      },
    });
    // The background relay on, the background scheduler off (runNow only).
    const host = await hostOn(backend, { capabilities: [slow], trust: { store: publisher.trustStore }, events: { pollIntervalMs: 20 }, jobs: { scheduler: false } });
    const source = `
      export async function report(job, ctx) { await ctx.host.call("slow.wait", { who: "job" }); return { done: true }; }
      export async function onOrder(event, ctx) { await ctx.host.call("slow.wait", { who: "delivery" }); }
    `;
    const manifest = serviceManifest({
      endpoints: [],
      capabilities: [
        { name: "host:slow.wait", reason: "Waits a while." },
        { name: "events.subscribe", types: ["order.created"], reason: "Hears of orders." },
      ],
      jobs: [{ name: "report", cron: "0 0 1 1 *", handler: "report" }],
      events: { subscribes: [{ type: "order.created", handler: "onOrder" }] },
    });
    const { bytes, signature } = await signedBundle(publisher, manifest, { "server/index.js": source });
    await host.publish(bytes, signature);
    const install = await host.install("t1", "acme.hello", { grants: [{ name: "host:slow.wait" }, { name: "events.subscribe", types: ["order.created"] }] });
    return {
      host,
      installId: install.id,
      async arrived(who) {
        while (!waiting.has(who)) await new Promise((resolve) => setTimeout(resolve, 5));
      },
      release: (who) => waiting.get(who)!(),
    };
  }

  it("lets a manual job run under way when close() comes finish, and records it", async () => {
    const { host, installId, arrived, release } = await waitingHost();
    const run = host.jobs.runNow(installId, "report", { actor: "ada" });
    await arrived("job");
    const closing = host.close();
    // Let go 300 ms into the close: the scheduler's stop does not cover a manual run; close() must wait for it itself.
    setTimeout(() => release("job"), 300);
    await closing;
    expect(await run).toMatchObject({ outcome: "ok", output: { done: true } });
    expect(await rowsOf(`SELECT outcome, actor FROM "${host.database.schema!}".annex_job_runs`)).toEqual([{ outcome: "ok", actor: "ada" }]);
  });

  it("lets an event delivery under way when close() comes finish, and records it delivered", async () => {
    const { host, arrived, release } = await waitingHost();
    await host.events.publish("t1", "order.created", { id: 1 });
    await arrived("delivery");
    const closing = host.close();
    setTimeout(() => release("delivery"), 300);
    await closing;
    expect(await rowsOf(`SELECT state, attempts FROM "${host.database.schema!}".annex_event_deliveries`)).toEqual([{ state: "done", attempts: 1 }]);
  });

  it("answers 503 E_HOST_CLOSED with Retry-After from the moment close() is called, through handle and the node adapter, unaudited", async () => {
    const { host, schema } = await servingHost();
    const server = createServer(createNodeHandler(host));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      console.error("CLOSE", Date.now());
    const closing = host.close();
      // Called in the same turn as close(): nothing of the request may reach the runner or the database going away.
      const during = await host.handle(req("GET", "/api/ext/acme.hello/hello/ada", { headers: auth }));
      await closing;
      const { port } = server.address() as AddressInfo;
      const after = await fetch(`http://127.0.0.1:${port}/api/ext/acme.hello/hello/ada`, { headers: auth });
      for (const response of [during, after]) {
        expect(response.status).toBe(503);
        expect(response.headers.get("retry-after")).toBe("1");
        const problem = await problemOf(response);
        expect(problem.code).toBe("E_HOST_CLOSED");
        expect(problem.detail).toMatch(/shutting down; retry/);
        const lines = await rowsOf(`SELECT count(*)::int AS n FROM "${schema}".annex_audit WHERE details->>'requestId' = '${String(problem["requestId"])}'`);
        expect(lines[0]!["n"]).toBe(0);
      }
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("lets a request already in flight run to its answer before closing the worker pool and the database", async () => {
    let calls = 0;
    const slow = defineHostCapability({
      name: "slow.wait",
      description: "Answers after 300 ms",
      args: z.object({}),
      result: z.object({ ok: z.boolean() }),
      handler: async () => {
        calls += 1;
        await new Promise((resolve) => setTimeout(resolve, 300));
        return { ok: true };
      },
    });
    // The host's own worker pool (no runner given): the one close() closes.
    const host = await hostOn(backend, { capabilities: [slow], trust: { store: publisher.trustStore }, gateway: { authenticate: bearerPrincipal } });
    const source = "export async function hello(request, ctx) { await ctx.host.call('slow.wait', {}); return { hello: request.params.name }; }\n";
    const { bytes, signature } = await signedBundle(publisher, serviceManifest({ capabilities: [{ name: "host:slow.wait", reason: "Waits a while." }] }), { "server/index.js": source });
    await host.publish(bytes, signature);
    await host.install("t1", "acme.hello", { grants: [{ name: "host:slow.wait" }] });
    const inFlight = host.handle(req("GET", "/api/ext/acme.hello/hello/ada", { headers: auth }));
    // Inside the sandbox, waiting on its host call, when close() comes (it used to answer 502 E_SANDBOX_CRASHED).
    while (calls === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await host.close();
    const response = await inFlight;
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ hello: "ada" });
    const [line] = await rowsOf(`SELECT decision FROM "${host.database.schema!}".annex_audit WHERE action = 'gateway.request' ORDER BY id DESC LIMIT 1`);
    expect(line).toEqual({ decision: "allow" });
  });

  it("answers 503 E_REGISTRY_UNAVAILABLE, never E_BUNDLE_REJECTED, while the blob store fails, and serves again once it is back", async () => {
    const blobs = flakyBlobs();
    const { host, schema } = await servingHost(blobs);
    try {
      blobs.down = true;
      host.registry.clearBundleCache();
      // A lifecycle call of this host forgets the gateway's cached install, as a change would.
      await host.disable("t1", "acme.hello");
      await host.enable("t1", "acme.hello");
      const response = await host.handle(req("GET", "/api/ext/acme.hello/hello/ada", { headers: auth }));
      expect(response.status).toBe(503);
      expect(response.headers.get("retry-after")).toBe("1");
      const problem = await problemOf(response);
      expect(problem.code).toBe("E_REGISTRY_UNAVAILABLE");
      expect(problem.detail).not.toMatch(/republish/);
      const [line] = await rowsOf(`SELECT decision, details FROM "${schema}".annex_audit WHERE details->>'requestId' = '${String(problem["requestId"])}'`);
      expect(line).toMatchObject({ decision: "error", details: { code: "E_REGISTRY_UNAVAILABLE", status: 503 } });
      expect(String((line!["details"] as Record<string, unknown>)["reason"])).toContain("EIO");

      blobs.down = false;
      const again = await host.handle(req("GET", "/api/ext/acme.hello/hello/ada", { headers: auth }));
      expect(again.status).toBe(200);
      expect(await again.json()).toEqual({ hello: "ada" });
    } finally {
      await host.close();
    }
  });

  /** Rows through the connection the tests pass to their hosts (a closed host's own handle is gone). */
  async function rowsOf(text: string): Promise<Record<string, unknown>[]> {
    const database = await backend.connect();
    if ("selectFrom" in database) return (await sql.raw<Record<string, unknown>>(text).execute(database)).rows;
    return (await database.query<Record<string, unknown>>(text)).rows;
  }
});
