import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createWorkerPoolRunner, type Runner } from "@annex/runner";
import express from "express";
import { pino } from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { annexRouter } from "../../src/adapters/express.js";
import { createHost, type Host } from "../../src/index.js";
import type { LoggedRecord } from "../../src/testing/index.js";
import { describeBackends } from "../support/backends.js";
import { makeBundle, makePublisher, serviceManifest } from "../support/fixtures.js";

const TENANT = "tenant-a";

/** A job that keeps what it saw in kv, and an endpoint that shows it: the job's effect is read back over HTTP. */
const DIGEST_SERVER = `
export async function digest(job, ctx) {
  const runs = (await ctx.kv.get("runs")) ?? [];
  runs.push({ name: ctx.job.name, scheduledAt: ctx.job.scheduledAt, arg: job.scheduledAt, tenant: ctx.install.tenant });
  await ctx.kv.set("runs", runs);
  return { count: runs.length };
}
export async function runs(request, ctx) { return (await ctx.kv.get("runs")) ?? []; }
`;

describeBackends("jobs on the production path (createHost + Express + worker pool)", (backend) => {
  let host: Host;
  let runner: Runner;
  let server: Server;
  let base: string;
  let installId: string;
  const records: LoggedRecord[] = [];
  // A clock moving in real time, set just before a minute boundary once the install is in place.
  let offset = Date.UTC(2026, 0, 1, 11, 59, 0) - Date.now();
  const now = () => Date.now() + offset;

  beforeAll(async () => {
    const publisher = await makePublisher("acme", "partner");
    runner = createWorkerPoolRunner({ workers: 1 });
    host = await createHost({
      database: await backend.connect(),
      schema: backend.freshSchema("path_jobs"),
      trust: { store: publisher.trustStore },
      runner,
      now,
      logger: pino({ level: "debug" }, { write: (line: string) => void records.push(JSON.parse(line) as LoggedRecord) }),
      // The default scheduler, in the background; it looks at least every 200 ms.
      jobs: { pollIntervalMs: 200 },
      gateway: { authenticate: (request) => (request.headers.get("x-session-user") === null ? null : { tenant: TENANT, user: { id: "ada" }, roles: ["member"] }) },
    });
    const manifest = serviceManifest({
      id: "acme.digest",
      name: "Digest",
      capabilities: [{ name: "storage.kv", reason: "Keeps the digests it made." }],
      storage: { kind: "kv" },
      endpoints: [{ class: "api", method: "GET", path: "/runs", handler: "runs" }],
      jobs: [{ name: "digest", cron: "0 12 * * *", handler: "digest" }],
    });
    const bytes = await makeBundle(manifest, { "server/index.js": DIGEST_SERVER });
    await host.publish(bytes, await publisher.sign(bytes), { actor: "admin@example.com" });
    const install = await host.install(TENANT, "acme.digest", { grants: [{ name: "storage.kv" }], actor: "admin@example.com" });
    installId = install.id;
    const app = express();
    app.use(annexRouter(host));
    server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
    await host?.close();
    await runner?.close();
  });

  const seen = async () => {
    const response = await fetch(`${base}/api/ext/acme.digest/runs`, { headers: { "x-session-user": "ada" } });
    expect(response.status).toBe(200);
    return (await response.json()) as Array<{ name: string; scheduledAt: string; arg: string; tenant: string }>;
  };

  it("the background scheduler runs the job at its time in the worker pool, and its effect is served over Express", async () => {
    expect((await host.jobs.list({ installId }))[0]!.nextRunAt).toEqual(new Date("2026-01-01T12:00:00.000Z"));
    offset = Date.UTC(2026, 0, 1, 11, 59, 59, 600) - Date.now();
    await host.jobs.tick(); // the clock jumped: look now rather than at the next poll
    const deadline = Date.now() + 15_000;
    while ((await seen()).length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await seen()).toEqual([{ name: "digest", scheduledAt: "2026-01-01T12:00:00.000Z", arg: "2026-01-01T12:00:00.000Z", tenant: TENANT }]);
    const [job] = await host.jobs.list({ installId });
    expect(job).toMatchObject({ running: false, lastRun: { outcome: "ok", scheduledAt: new Date("2026-01-01T12:00:00.000Z") } });
    expect(job!.nextRunAt).toEqual(new Date("2026-01-02T12:00:00.000Z"));
    expect(records.some((line) => line.msg === "job run ok" && line["job"] === "digest")).toBe(true);
    expect(await host.metrics!.text()).toMatch(/annex_executions_total\{[^}]*trigger="job"[^}]*\} 1/);
  });

  it("runNow runs it again at once through the same path, audited with the admin", async () => {
    const result = await host.jobs.runNow(installId, "digest", { actor: "admin@example.com" });
    expect(result).toMatchObject({ outcome: "ok", trigger: "manual", actor: "admin@example.com", output: { count: 2 } });
    expect((await seen()).map((run) => run.name)).toEqual(["digest", "digest"]);
    const audit = await host.audit.list({ action: "job.run" });
    expect(audit.map((entry) => [entry.actor, entry.details["trigger"], entry.decision])).toEqual([
      ["system", "schedule", "allow"],
      ["admin@example.com", "manual", "allow"],
    ]);
  });
});
