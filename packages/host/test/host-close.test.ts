import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createInMemoryRunner } from "@annex/runner";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isAnnexError } from "@annex/manifest";
import { z } from "zod";
import { createHost, defineHostCapability, HostClosedError, type BlobStore, type Host } from "../src/index.js";
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
    await expectClosed(host.sql.status("any"), "status");
    // Nothing changed behind the refusals, and the connection the app passed in is still the app's.
    const rows = await rowsOf(`SELECT state FROM "${schema}".annex_installs`);
    expect(rows.map((r) => r["state"])).toEqual(["active"]);
  });

  it("answers 503 E_HOST_CLOSED with Retry-After from the moment close() is called, through handle and the node adapter, unaudited", async () => {
    const { host, schema } = await servingHost();
    const server = createServer(createNodeHandler(host));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
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
