// One host process of the multi-process test (processes.test.ts): the app code a deployment runs N times,
// on one PostgreSQL, with a shared Redis rate-limit store and optionally a NATS bus. Started with
// child_process.fork; it answers the parent over IPC.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createRedisRateLimitStore } from "@annex/bus-redis";
import { createNatsBus } from "@annex/bus-nats";
import { createHost, type Bus, type Host } from "@annex/host";
import { createNodeHandler } from "@annex/host/node";
import { createWorkerPoolRunner } from "@annex/runner";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { effectsCapability, jobRunsCapability, startCapability } from "./app.js";

export interface ChildSettings {
  /** A PostgreSQL connection string, or a PGlite data directory (which one process at a time may open). */
  database: string | { dataDir: string };
  schema: string;
  secretsKey: string;
  redis?: { url: string; prefix: string } | undefined;
  nats?: { servers: string; stream: string; subject: string } | undefined;
  /** events.leaseMs: how soon another process takes over a delivery whose process died. */
  leaseMs?: number | undefined;
}

export type ToChild = { op: "disable" | "enable"; tenant: string; extensionId: string } | { op: "close" };
export type FromChild = { op: "ready"; port: number; pid: number } | { op: "done"; of: string } | { op: "failed"; message: string; code?: string | undefined };

const settings = JSON.parse(process.env["ANNEX_SCALE_CHILD"] ?? "null") as ChildSettings;
const send = (message: FromChild) => process.send!(message);

let host: Host | undefined;
const redis = settings.redis === undefined ? undefined : new Redis(settings.redis.url, { maxRetriesPerRequest: 1 });
let nats: NatsConnection | undefined;
let bus: Bus | undefined;

try {
  if (settings.nats !== undefined) {
    nats = await connect({ servers: settings.nats.servers, maxReconnectAttempts: -1 });
    bus = await createNatsBus({ nats, stream: settings.nats.stream, subject: settings.nats.subject });
  }
  const runner = createWorkerPoolRunner({ workers: 1 });
  host = await createHost({
    database: settings.database,
    schema: settings.schema,
    trust: { store: { trustStoreVersion: 1, keys: [] }, mode: "dev" },
    secrets: { keys: [{ id: "k1", key: settings.secretsKey }] },
    capabilities: [effectsCapability(settings.schema, () => host!.database.root), startCapability(settings.schema, () => host!.database.root), jobRunsCapability(settings.schema, () => host!.database.root)],
    runner,
    stores: redis === undefined ? undefined : { rateLimits: createRedisRateLimitStore({ redis, prefix: settings.redis!.prefix }) },
    events: { pollIntervalMs: 50, ...(settings.leaseMs === undefined ? {} : { leaseMs: settings.leaseMs }), ...(bus === undefined ? {} : { bus }) },
    gateway: {
      // The app's session, here two headers its login would have set.
      authenticate: (request) => {
        const user = request.headers.get("x-user");
        const tenant = request.headers.get("x-tenant");
        return user === null || tenant === null ? null : { tenant, user: { id: user }, roles: [] };
      },
      // Long enough that only LISTEN/NOTIFY can explain another process's change arriving in time.
      policy: { installCacheMs: 600_000, rateLimits: { api: { requests: 5, perSeconds: 3600 } } },
    },
  });
  const server = createServer(createNodeHandler(host));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));

  process.on("message", (message: ToChild) => {
    void (async () => {
      try {
        if (message.op === "close") {
          server.closeAllConnections();
          await new Promise<void>((resolve) => server.close(() => resolve()));
          await host!.close();
          await runner.close();
          await bus?.close();
          await nats?.close();
          redis?.disconnect();
          send({ op: "done", of: "close" });
          process.disconnect();
          return;
        }
        await host![message.op](message.tenant, message.extensionId, { actor: `process ${process.pid}` });
        send({ op: "done", of: message.op });
      } catch (error) {
        send({ op: "failed", message: error instanceof Error ? error.message : String(error) });
      }
    })();
  });
  send({ op: "ready", port: (server.address() as AddressInfo).port, pid: process.pid });
} catch (error) {
  const code = (error as { code?: unknown } | null)?.code;
  send({ op: "failed", message: error instanceof Error ? `${error.message}\n${error.stack}` : String(error), code: typeof code === "string" ? code : undefined });
  process.exitCode = 1;
  process.disconnect();
}
