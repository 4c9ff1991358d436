import { fork, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createHost, generateSecretsKey, type Host } from "@annex/host";
import { packBundle } from "@annex/manifest";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { Redis } from "ioredis";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HANGS_ON_FIRST_RUN, effectsCapability, jobRunsCapability, startCapability } from "./app.js";
import type { ChildSettings, FromChild, ToChild } from "./host-process.js";

// Several real host processes (child_process.fork of host-process.ts) on one PostgreSQL: what a deployment
// of N app processes relies on. PGlite is one process, so this runs only where PostgreSQL is given.

const DATABASE_URL = process.env["ANNEX_TEST_DATABASE_URL"];
const REDIS_URL = process.env["ANNEX_TEST_REDIS_URL"] ?? "redis://127.0.0.1:6379";
const NATS_URL = process.env["ANNEX_TEST_NATS_URL"] ?? "127.0.0.1:4222";
const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");

const SERVER = `
export function ping(request, ctx) { return { pong: ctx.install.tenant }; }
export async function onOrder(event, ctx) {
  await ctx.host.call("effects.start", { deliveryId: event.id, n: event.payload.n });
  await ctx.host.call("effects.record", { deliveryId: event.id, n: event.payload.n });
}
export async function onRefund(event, ctx) {
  await ctx.host.call("effects.record", { deliveryId: event.id, n: event.payload.n });
}
`;
const MANIFEST = {
  manifestVersion: 2,
  id: "acme.scale",
  name: "Scale",
  version: "1.0.0",
  publisher: "acme",
  description: "Answers pings and books orders.",
  engines: { annex: "^0.1.0" },
  runtime: { class: "service", entry: "server/index.js" },
  capabilities: [
    { name: "events.subscribe", types: ["order.*"], reason: "Books orders." },
    { name: "host:effects.record", reason: "Books orders." },
    { name: "host:effects.start", reason: "Books orders." },
  ],
  endpoints: [{ class: "api", method: "GET", path: "/ping", handler: "ping" }],
  events: { subscribes: [{ type: "order.created", handler: "onOrder" }, { type: "order.refunded", handler: "onRefund" }] },
};

// A second extension with nothing but a job due every minute, installed in one tenant only.
const CRON_SERVER = `
export async function tick(job, ctx) {
  await ctx.host.call("jobs.record", { scheduledAt: job.scheduledAt });
}
`;
const CRON_MANIFEST = {
  manifestVersion: 2,
  id: "acme.cron",
  name: "Cron",
  version: "1.0.0",
  publisher: "acme",
  description: "Ticks every minute.",
  engines: { annex: "^0.1.0" },
  runtime: { class: "service", entry: "server/index.js" },
  capabilities: [{ name: "host:jobs.record", reason: "Records its runs." }],
  endpoints: [],
  jobs: [{ name: "tick", cron: "* * * * *", handler: "tick" }],
};

async function probe(what: string, check: () => Promise<unknown>): Promise<boolean> {
  try {
    await check();
    return true;
  } catch (error) {
    if (process.env["CI"] === "true") throw new Error(`CI: ${what} is not reachable: ${error instanceof Error ? error.message : String(error)}`);
    return false;
  }
}

const redisUp = DATABASE_URL === undefined ? false : await probe(`Redis at ${REDIS_URL}`, async () => {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  redis.on("error", () => {});
  try {
    await redis.connect();
    await redis.ping();
  } finally {
    redis.disconnect();
  }
});
const natsUp = DATABASE_URL === undefined ? false : await probe(`NATS at ${NATS_URL}`, async () => {
  const nc = await connect({ servers: NATS_URL, timeout: 1000, reconnect: false });
  await nc.close();
});

interface Child {
  process: ChildProcess;
  port: number;
  pid: number;
  /** Sends a command and waits for its answer. */
  ask(message: ToChild): Promise<void>;
}

/** Forks one host process; resolves once it serves. */
function startChild(settings: ChildSettings): Promise<Child> {
  const child = fork(join(here, "host-process.ts"), [], {
    cwd: root,
    // The workspace packages' sources, as the tests use them (no build step).
    execArgv: ["--conditions=source", "--import", "tsx"],
    env: { ...process.env, ANNEX_SCALE_CHILD: JSON.stringify(settings), ANNEX_LOG_LEVEL: "silent" },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const waiting: Array<(message: FromChild) => void> = [];
  child.on("message", (message: FromChild) => waiting.shift()?.(message));
  const next = () =>
    new Promise<FromChild>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`host process ${child.pid} did not answer within 120 s`)), 120_000);
      waiting.push((message) => {
        clearTimeout(timer);
        resolve(message);
      });
    });
  return next().then((first) => {
    if (first.op !== "ready") {
      throw Object.assign(new Error(`host process ${child.pid} failed to start: ${first.op === "failed" ? first.message : first.op}`), {
        code: first.op === "failed" ? first.code : undefined,
      });
    }
    return {
      process: child,
      port: first.port,
      pid: first.pid,
      async ask(message) {
        const answer = next();
        child.send(message);
        const got = await answer;
        if (got.op === "failed") throw new Error(`host process ${child.pid}: ${got.message}`);
      },
    };
  });
}

async function stopChild(child: Child): Promise<void> {
  if (child.process.exitCode !== null || !child.process.connected) return;
  const exited = new Promise<void>((resolve) => child.process.once("exit", () => resolve()));
  await child.ask({ op: "close" }).catch(() => child.process.kill());
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
  if (child.process.exitCode === null) child.process.kill();
}

async function ping(child: Child, tenant: string): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${child.port}/api/ext/acme.scale/ping`, { headers: { "x-user": "ada", "x-tenant": tenant } });
  await response.arrayBuffer();
  return response.status;
}

async function until<T>(what: string, ms: number, check: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * One deployment: the parent's own host (it publishes and installs, and runs no relay) and `count` forked
 * host processes on one schema. With `nats`, deliveries travel between processes on a JetStream stream.
 */
async function deployment(count: number, options: { nats?: boolean; leaseMs?: number } = {}) {
  const schema = `annex_scale_${process.pid}_${Date.now().toString(36)}`;
  const secretsKey = generateSecretsKey();
  const id = randomUUID().replace(/-/g, "");
  const natsSettings = options.nats ? { servers: NATS_URL, stream: `annex_scale_${id}`, subject: `annex.scale.${id}` } : undefined;
  const redisSettings = redisUp ? { url: REDIS_URL, prefix: `annex-scale:${id}:` } : undefined;
  const parent: Host = await createHost({
    database: DATABASE_URL!,
    schema,
    trust: { store: { trustStoreVersion: 1, keys: [] }, mode: "dev" },
    secrets: { keys: [{ id: "k1", key: secretsKey }] },
    capabilities: [effectsCapability(schema, () => parent.database.root), startCapability(schema, () => parent.database.root), jobRunsCapability(schema, () => parent.database.root)],
    // The parent only publishes and installs: every delivery and job run happens in the forked processes.
    events: { relay: false },
    jobs: { scheduler: false },
    gateway: { authenticate: () => null },
  });
  for (const table of ["scale_effects", "scale_starts"]) {
    await sql`CREATE TABLE ${sql.id(schema, table)} (delivery_id text NOT NULL, n integer NOT NULL, pid integer NOT NULL)`.execute(parent.database.root);
  }
  await sql`CREATE TABLE ${sql.id(schema, "scale_job_runs")} (scheduled_at text NOT NULL, pid integer NOT NULL)`.execute(parent.database.root);
  const bytes = await packBundle({ "annex.json": new TextEncoder().encode(JSON.stringify(MANIFEST)), "server/index.js": new TextEncoder().encode(SERVER) });
  await parent.publish(bytes, null, { actor: "test" });
  const cron = await packBundle({ "annex.json": new TextEncoder().encode(JSON.stringify(CRON_MANIFEST)), "server/index.js": new TextEncoder().encode(CRON_SERVER) });
  await parent.publish(cron, null, { actor: "test" });
  const children: Child[] = [];
  for (let i = 0; i < count; i++) children.push(await startChild({ database: DATABASE_URL!, schema, secretsKey, redis: redisSettings, nats: natsSettings, leaseMs: options.leaseMs }));
  return {
    parent,
    children,
    schema,
    async install(tenant: string) {
      await parent.install(tenant, "acme.scale", {
        grants: [{ name: "events.subscribe", types: ["order.*"] }, { name: "host:effects.record" }, { name: "host:effects.start" }],
        actor: "test",
      });
    },
    async effects() {
      return (await sql<{ delivery_id: string; n: number; pid: number }>`SELECT delivery_id, n, pid FROM ${sql.id(schema, "scale_effects")}`.execute(parent.database.root)).rows;
    },
    async close() {
      await Promise.all(children.map(stopChild));
      await sql`DROP SCHEMA IF EXISTS ${sql.id(schema)} CASCADE`.execute(parent.database.root).catch(() => {});
      await parent.close();
      if (natsSettings !== undefined) {
        const nc = await connect({ servers: NATS_URL });
        await (await jetstreamManager(nc)).streams.delete(natsSettings.stream).catch(() => {});
        await nc.close();
      }
      if (redisSettings !== undefined) {
        const redis = new Redis(REDIS_URL);
        const keys = await redis.keys(`${redisSettings.prefix}*`);
        if (keys.length > 0) await redis.del(...keys);
        redis.disconnect();
      }
    },
  };
}

type Deployment = Awaited<ReturnType<typeof deployment>>;

/** Publishes `perTenant` events of two types for each tenant through the parent, and waits until every delivery is done. */
async function deliverAll(d: Deployment, tenants: string[], perTenant: number) {
  let n = 0;
  for (const tenant of tenants) {
    for (let i = 0; i < perTenant; i++, n++) await d.parent.events.publish(tenant, i % 2 === 0 ? "order.created" : "order.refunded", { n });
  }
  const expected = n;
  await until("every delivery done", 120_000, async () => {
    const open = await sql<{ n: string }>`SELECT count(*) AS n FROM ${sql.id(d.schema, "annex_event_deliveries")} WHERE state <> 'done'`.execute(d.parent.database.root);
    const done = await sql<{ n: string }>`SELECT count(*) AS n FROM ${sql.id(d.schema, "annex_event_deliveries")} WHERE state = 'done'`.execute(d.parent.database.root);
    return Number(open.rows[0]!.n) === 0 && Number(done.rows[0]!.n) === expected;
  });
  // A duplicate run would show up now.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const effects = await d.effects();
  const attempts = await sql<{ attempts: number; last_error: unknown }>`SELECT attempts, last_error FROM ${sql.id(d.schema, "annex_event_deliveries")}`.execute(d.parent.database.root);
  // A delivery runs again only after a recorded failure (on a crowded machine, a cold worker can time out
  // before the handler's effect), never because two processes held it at once.
  const retriedWithoutFailure = attempts.rows.filter((r) => Number(r.attempts) > 1 && r.last_error === null);
  return { expected, effects, retriedWithoutFailure };
}

// PGlite is one process's database: a second host process on its data directory is refused, not let in to
// overwrite the first one's pages (writes lost without an error), and takes it over once the first has closed.
describe("two host processes on one PGlite data directory", () => {
  it("refuses the second with E_DATABASE_LOCKED naming the first, and lets it in once the first has closed", async () => {
    const dataDir = join(await mkdtemp(join(tmpdir(), "annex-scale-")), "data");
    const settings: ChildSettings = { database: { dataDir }, schema: "annex", secretsKey: generateSecretsKey() };
    const first = await startChild(settings);
    try {
      const second = await startChild(settings).catch((error: unknown) => error);
      expect(second).toMatchObject({ code: "E_DATABASE_LOCKED", message: expect.stringContaining(`${first.pid}`) });
    } finally {
      await stopChild(first);
    }
    const after = await startChild(settings);
    try {
      expect(after.pid).not.toBe(first.pid);
    } finally {
      await stopChild(after);
      await rm(dirname(dataDir), { recursive: true, force: true });
    }
  }, 240_000);
});

// Several processes on one PostgreSQL: made only where ANNEX_TEST_DATABASE_URL is given (CI sets it).
if (DATABASE_URL !== undefined && DATABASE_URL !== "") {
  describe("three host processes on one PostgreSQL (in-process bus)", () => {
    let d: Deployment;
    beforeAll(async () => {
      d = await deployment(3);
    }, 400_000);
    afterAll(async () => {
      await d?.close();
    }, 60_000);

    it("delivers each event once to each subscribed install, the work spread over the processes", async () => {
      const tenants = ["d0", "d1", "d2", "d3"];
      for (const tenant of tenants) await d.install(tenant);
      const { expected, effects, retriedWithoutFailure } = await deliverAll(d, tenants, 12);
      expect(effects).toHaveLength(expected);
      expect(new Set(effects.map((e) => e.delivery_id)).size).toBe(expected);
      expect(new Set(effects.map((e) => e.n)).size).toBe(expected);
      expect(retriedWithoutFailure).toEqual([]);
      // Every run happened in a forked host process, and more than one of them took part.
      const pids = new Set(effects.map((e) => e.pid));
      for (const pid of pids) expect(d.children.map((c) => c.pid)).toContain(pid);
      expect(pids.size).toBeGreaterThanOrEqual(2);
    }, 180_000);

    it.skipIf(!redisUp)(`keeps one rate-limit budget across the processes with the shared Redis store${redisUp ? "" : ` (skipped: no Redis at ${REDIS_URL})`}`, async () => {
      await d.install("rl");
      // The policy allows 5 api requests per install and hour; each process alone would allow 5.
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push(await ping(d.children[i % d.children.length]!, "rl"));
      expect(statuses.filter((s) => s === 200)).toHaveLength(5);
      expect(statuses.filter((s) => s === 429)).toHaveLength(7);
      expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    }, 60_000);

    it("runs each due time of a cron job once across the processes (their schedulers race for it)", async () => {
      await d.parent.install("jobs", "acme.cron", { grants: [{ name: "host:jobs.record" }], actor: "test" });
      const runs = async () => (await sql<{ scheduled_at: string; pid: number }>`SELECT scheduled_at, pid FROM ${sql.id(d.schema, "scale_job_runs")}`.execute(d.parent.database.root)).rows;
      // Due at the next minute boundary: within 60 s, plus room for a crowded machine.
      await until("the job's first run", 90_000, async () => (await runs()).length > 0);
      await new Promise((resolve) => setTimeout(resolve, 3000)); // the other schedulers' runs would show now
      const got = await runs();
      expect(new Set(got.map((r) => r.scheduled_at)).size).toBe(got.length);
      for (const run of got) expect(d.children.map((c) => c.pid)).toContain(run.pid);
      const history = await d.parent.jobs.runs({ installId: (await d.parent.getInstall("jobs", "acme.cron"))!.id });
      expect(history.items.filter((r) => r.outcome === "ok").length).toBe(got.length);
    }, 150_000);

    it("an install disabled in one process is refused by another at once, though its cache holds installs for 10 minutes", async () => {
      await d.install("cache");
      const [a, b] = d.children as [Child, Child];
      expect(await ping(b, "cache")).toBe(200); // now in b's install cache
      await a.ask({ op: "disable", tenant: "cache", extensionId: "acme.scale" });
      const disabledAt = Date.now();
      await until("process b refuses the disabled install", 3000, async () => (await ping(b, "cache")) === 404);
      const took = Date.now() - disabledAt;
      await a.ask({ op: "enable", tenant: "cache", extensionId: "acme.scale" });
      await until("process b serves the enabled install", 3000, async () => (await ping(b, "cache")) === 200);
      expect(took).toBeLessThan(3000);
    }, 60_000);
  });

  describe("a host process killed mid-delivery", () => {
    let d: Deployment;
    beforeAll(async () => {
      // Leases of 8 s (the execution timeout is 6 s): the survivor takes over soon after the kill.
      d = await deployment(2, { leaseMs: 8000 });
    }, 400_000);
    afterAll(async () => {
      await d?.close();
    }, 60_000);

    it("loses nothing: another process takes the delivery over when the lease runs out, and its effect applies once", async () => {
      await d.install("k");
      await d.parent.events.publish("k", "order.created", { n: HANGS_ON_FIRST_RUN });
      // The first run starts in one of the processes and hangs there; kill that process outright.
      const started = await until("the first run starts", 60_000, async () => (await sql<{ pid: number }>`SELECT pid FROM ${sql.id(d.schema, "scale_starts")}`.execute(d.parent.database.root)).rows[0]);
      const victim = d.children.find((c) => c.pid === started.pid)!;
      const survivor = d.children.find((c) => c.pid !== started.pid)!;
      expect(victim).toBeDefined();
      victim.process.kill("SIGKILL");
      await until("the delivery is done", 90_000, async () => {
        const rows = await sql<{ state: string }>`SELECT state FROM ${sql.id(d.schema, "annex_event_deliveries")}`.execute(d.parent.database.root);
        return rows.rows.length === 1 && rows.rows[0]!.state === "done";
      });
      await new Promise((resolve) => setTimeout(resolve, 500));
      const starts = (await sql<{ pid: number }>`SELECT pid FROM ${sql.id(d.schema, "scale_starts")}`.execute(d.parent.database.root)).rows.map((r) => r.pid);
      expect(starts).toEqual([victim.pid, survivor.pid]);
      const effects = await d.effects();
      expect(effects.map((e) => ({ n: e.n, pid: e.pid }))).toEqual([{ n: HANGS_ON_FIRST_RUN, pid: survivor.pid }]);
      const [delivery] = (await sql<{ attempts: number; id: string }>`SELECT id, attempts FROM ${sql.id(d.schema, "annex_event_deliveries")}`.execute(d.parent.database.root)).rows;
      expect(Number(delivery!.attempts)).toBe(2);
      expect(effects[0]!.delivery_id).toBe(delivery!.id); // the same key on both runs
    }, 240_000);
  });

  describe.skipIf(!natsUp)(`two host processes on one PostgreSQL with the NATS JetStream bus${natsUp ? "" : ` (skipped: no NATS at ${NATS_URL})`}`, () => {
    let d: Deployment;
    beforeAll(async () => {
      d = await deployment(2, { nats: true });
    }, 400_000);
    afterAll(async () => {
      await d?.close();
    }, 60_000);

    it("delivers each event once through the broker (each process leases, sends to the stream and consumes from it)", async () => {
      const tenants = ["n0", "n1", "n2"];
      for (const tenant of tenants) await d.install(tenant);
      const { expected, effects, retriedWithoutFailure } = await deliverAll(d, tenants, 10);
      expect(effects).toHaveLength(expected);
      expect(new Set(effects.map((e) => e.delivery_id)).size).toBe(expected);
      expect(retriedWithoutFailure).toEqual([]);
      for (const pid of new Set(effects.map((e) => e.pid))) expect(d.children.map((c) => c.pid)).toContain(pid);
    }, 180_000);
  });
}
