import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createWorkerPoolRunner, type Runner } from "@annex/runner";
import express from "express";
import { pino } from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { annexRouter } from "../../src/adapters/express.js";
import { createHost, type Host } from "../../src/index.js";
import { describeBackends } from "../support/backends.js";
import { makePublisher } from "../support/fixtures.js";
import { sqlBundle } from "./support.js";

/** ctx.sql as production runs it: createHost with strict trust, the Express adapter over HTTP, and a worker pool. */
describeBackends("owned schema through createHost + Express + worker pool", (backend) => {
  let host: Host;
  let runner: Runner;
  let server: Server;
  let base: string;

  const run = async (text: string, params: unknown[] = [], tenant = "tenant-a") => {
    const response = await fetch(`${base}/api/ext/acme.notes/run`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-user": "u1", "x-tenant": tenant },
      body: JSON.stringify({ text, params }),
    });
    expect(response.status).toBe(200);
    return (await response.json()) as { ok: boolean; rows?: unknown[]; code?: string };
  };

  beforeAll(async () => {
    const publisher = await makePublisher("acme", "partner");
    runner = createWorkerPoolRunner({ workers: 1 });
    host = await createHost({
      database: await backend.connect(),
      schema: backend.freshSchema("annex_sqlprod"),
      trust: { store: publisher.trustStore },
      runner,
      logger: pino({ level: "silent" }),
      gateway: {
        authenticate: (request) => {
          const user = request.headers.get("x-user");
          return user === null ? null : { tenant: request.headers.get("x-tenant") ?? "tenant-a", user: { id: user }, roles: [] };
        },
      },
    });
    const bytes = await sqlBundle();
    await host.publish(bytes, await publisher.sign(bytes), { actor: "admin" });
    for (const tenant of ["tenant-a", "tenant-b"]) await host.install(tenant, "acme.notes", { grants: [{ name: "storage.sql" }] });
    const app = express();
    app.use(annexRouter(host));
    server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    for (const tenant of ["tenant-a", "tenant-b"]) await host.uninstall(tenant, "acme.notes", { purge: true });
    await host.close();
    await runner.close();
  });

  it("runs the extension's statements in its tenant's schema", async () => {
    expect(await run("INSERT INTO items (id, name) VALUES ($1, $2) RETURNING name", ["p", "pear"])).toEqual({ ok: true, rows: [{ name: "pear" }], rowCount: 1 });
    expect((await run("SELECT id FROM items ORDER BY id")).rows).toEqual([{ id: "a" }, { id: "b" }, { id: "p" }]);
    expect((await run("SELECT id FROM items ORDER BY id", [], "tenant-b")).rows).toEqual([{ id: "a" }, { id: "b" }]);
  });

  it("refuses escapes through the production path as in the test host", async () => {
    expect(await run("RESET ROLE")).toMatchObject({ ok: false, code: "E_SQL_REFUSED" });
    expect(await run("SELECT 1; SELECT * FROM pg_authid")).toMatchObject({ ok: false, code: "E_SQL_REFUSED" });
    const other = (await host.getInstall("tenant-b", "acme.notes"))!.sql!.schema;
    expect(await run(`SELECT * FROM ${other}.items`)).toMatchObject({ ok: false, code: "E_SQL_REFUSED" });
    expect(await run("SELECT * FROM annex_installs")).toMatchObject({ ok: false, code: "E_SQL_FAILED" });
  });

  it("lists each install's schema version and migration status", async () => {
    const [install] = await host.listInstalls("tenant-a");
    expect(install!.sql).toMatchObject({ version: "0001", status: "ready", lastError: null });
    expect(install!.sql!.migrations.map((entry) => entry.name)).toEqual(["0001_items.sql"]);
  });
});
