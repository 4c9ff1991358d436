/**
 * Issue 12's event rows: events per second delivered end to end — published
 * through `host.events.publish` (one outbox insert each), fanned out, leased,
 * run by a handler in the sandbox (a worker pool per host, as production
 * runs) and acked — with one relay and with two (two hosts on one database,
 * each with its own relay and worker pool), against the floor: a bare outbox
 * with kysely on the same database — the same rows inserted one by one, then
 * selected in batches (`FOR UPDATE SKIP LOCKED`) and deleted.
 *
 * Events go to TENANTS tenants with one subscribed install each: deliveries of
 * one (install, type) run one at a time (order is kept), so a single install
 * would measure one queue, not the relay. Rounds alternate (floor first, then
 * Annex first …); medians over the rounds.
 *
 * Runs on PGlite; ANNEX_TEST_DATABASE_URL adds a PostgreSQL pass. BENCH_ROUNDS,
 * BENCH_EVENTS_TENANTS and BENCH_EVENTS_PER_TENANT change the sizes.
 *
 * Run: pnpm bench -- events
 */
import { availableParallelism, loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { createWorkerPoolRunner, type Runner } from "@annex/runner";
import { Kysely, PostgresDialect, sql } from "kysely";
import { pino } from "pino";
import { makeBundle, serviceManifest } from "../test/support/fixtures.js";
import { createTestHost, type TestHost } from "@annex/host/testing";
import { median, table } from "./support/report.js";

const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 3);
const TENANTS = Number(process.env["BENCH_EVENTS_TENANTS"] ?? 16);
const PER_TENANT = Number(process.env["BENCH_EVENTS_PER_TENANT"] ?? 25);
const N = TENANTS * PER_TENANT;

const SERVER = `
export async function onTick(event, ctx) { return { seen: event.payload.i }; }
`;

/** The bench's extension: one handler subscribed to bench.tick. */
function benchBundle(): Promise<Uint8Array> {
  return makeBundle(
    serviceManifest({
      id: "bench.events",
      publisher: "bench",
      capabilities: [{ name: "events.subscribe", types: ["bench.tick"], reason: "bench" }],
      endpoints: [],
      events: { subscribes: [{ type: "bench.tick", handler: "onTick" }] },
    }),
    { "server/index.js": SERVER },
  );
}

/** A fresh in-memory PGlite, or a pool on ANNEX_TEST_DATABASE_URL whose `close` also drops `schema`. */
async function openDatabase(backend: "pglite" | "postgres", schema: string, connections: number) {
  let database: Kysely<any> | import("@electric-sql/pglite").PGlite;
  let close: () => Promise<void>;
  if (backend === "postgres") {
    const { default: pg } = await import("pg");
    const pool = new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: process.env["ANNEX_TEST_DATABASE_URL"], max: connections }) }) });
    database = pool;
    close = async () => {
      await sql`DROP SCHEMA IF EXISTS ${sql.id(schema)} CASCADE`.execute(pool);
      await pool.destroy();
    };
  } else {
    const { PGlite } = await import("@electric-sql/pglite");
    const pglite = await PGlite.create();
    database = pglite;
    close = () => pglite.close();
  }
  return { database, close };
}

async function main(backend: "pglite" | "postgres"): Promise<void> {
  const loadAtStart = loadavg()[0]!;
  const schema = `annex_bench_events_${process.pid}_${backend}`;
  const { database, close } = await openDatabase(backend, schema, 8);

  const runners: Runner[] = [];
  const hosts: TestHost[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const runner = createWorkerPoolRunner({ workers: 1 });
      runners.push(runner);
      hosts.push(await createTestHost({ runner, database, schema, logger: pino({ level: "silent" }), events: { batchSize: 32, concurrency: 8 } }));
    }
    const bytes = await benchBundle();
    const tenants = Array.from({ length: TENANTS }, (_, i) => `bench-${i}`);
    for (const tenant of tenants) await hosts[0]!.install(bytes, { tenant });
    // The floor goes through the same connection (pool) as Annex.
    const floorDb = hosts[0]!.host.database.root;
    await sql`CREATE TABLE ${sql.id(schema, "bench_outbox")} (seq bigserial PRIMARY KEY, id text NOT NULL, tenant text NOT NULL, type text NOT NULL, payload jsonb NOT NULL, occurred_at timestamptz NOT NULL)`.execute(floorDb);
    const db = hosts[0]!.host.database.db;

    const open = async () => Number((await db.selectFrom("annex_event_deliveries").select((eb) => eb.fn.countAll().as("n")).where("state", "in", ["pending", "leased"]).executeTakeFirstOrThrow()).n);
    const unfanned = async () => Number((await db.selectFrom("annex_events").select((eb) => eb.fn.countAll().as("n")).where("fanned_out_at", "is", null).executeTakeFirstOrThrow()).n);
    const delivered = async () => Number((await db.selectFrom("annex_event_deliveries").select((eb) => eb.fn.countAll().as("n")).where("state", "=", "done").executeTakeFirstOrThrow()).n);

    let round = 0;
    /** Publishes N events and delivers them all with `relays` hosts' relays; events per second. */
    const viaAnnex = async (relays: number): Promise<number> => {
      round++;
      const before = await delivered();
      const started = performance.now();
      for (let i = 0; i < N; i++) await hosts[i % relays]!.host.events.publish(tenants[i % TENANTS]!, "bench.tick", { i, round });
      await Promise.all(
        hosts.slice(0, relays).map(async (t) => {
          for (;;) {
            const { sent } = await t.relay.drain();
            if (sent > 0) continue;
            if ((await open()) === 0 && (await unfanned()) === 0) return;
            // What is left is leased by the other relay, or waits behind it (order per install): look again shortly.
            await new Promise((resolve) => setTimeout(resolve, 2));
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      const got = (await delivered()) - before;
      if (got !== N) throw new Error(`delivered ${got} of ${N}`);
      return N / seconds;
    };
    /** The same rows through a bare outbox: inserted one by one, selected in batches of 32 with SKIP LOCKED, deleted. */
    const floor = async (): Promise<number> => {
      const started = performance.now();
      for (let i = 0; i < N; i++) {
        await floorDb
          .withSchema(schema)
          .insertInto("bench_outbox")
          .values({ id: crypto.randomUUID(), tenant: tenants[i % TENANTS]!, type: "bench.tick", payload: JSON.stringify({ i }), occurred_at: new Date() })
          .execute();
      }
      let taken = 0;
      for (;;) {
        const batch = await floorDb.transaction().execute(async (trx) => {
          const rows = await trx.withSchema(schema).selectFrom("bench_outbox").select(["seq", "id", "tenant", "type", "payload"]).orderBy("seq").limit(32).forUpdate().skipLocked().execute();
          if (rows.length > 0) await trx.withSchema(schema).deleteFrom("bench_outbox").where("seq", "in", rows.map((r) => r.seq)).execute();
          return rows.length;
        });
        if (batch === 0) break;
        taken += batch;
      }
      if (taken !== N) throw new Error(`floor took ${taken} of ${N}`);
      return N / ((performance.now() - started) / 1000);
    };

    progress(`${backend}: ${TENANTS} installs; warming up`);
    // Warm-up: JIT, the workers' contexts, bundles loaded in both pools, plans.
    await viaAnnex(2);
    await floor();

    const floors: number[] = [];
    const one: number[] = [];
    const two: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      progress(`${backend}: round ${r + 1} of ${ROUNDS}`);
      if (r % 2 === 0) {
        floors.push(await floor());
        one.push(await viaAnnex(1));
        two.push(await viaAnnex(2));
      } else {
        two.push(await viaAnnex(2));
        one.push(await viaAnnex(1));
        floors.push(await floor());
      }
    }
    const f = median(floors);
    console.log(
      `\n${backend === "pglite" ? "in-memory PGlite (one connection shared by both hosts)" : "PostgreSQL (ANNEX_TEST_DATABASE_URL)"}; ${N} events per round (${TENANTS} tenants × ${PER_TENANT}, one subscribed install each), ` +
        `${ROUNDS} alternating rounds, medians. Node ${process.version}, ${availableParallelism()} cores, 1-minute load average ${loadAtStart.toFixed(1)} at the start.\n`,
    );
    table(
      ["row", "events/s", "floor events/s (same run)", "floor / Annex"],
      [
        ["delivered end to end, 1 relay (1 host, worker pool of 1)", median(one).toFixed(0), f.toFixed(0), `${(f / median(one)).toFixed(1)}×`],
        ["delivered end to end, 2 relays (2 hosts, a pool of 1 each)", median(two).toFixed(0), f.toFixed(0), `${(f / median(two)).toFixed(1)}×`],
        ["floor: bare outbox insert + select (SKIP LOCKED, 32) + delete, kysely", f.toFixed(0), "", "1×"],
      ],
    );
    console.log(`per round: 1 relay ${one.map((v) => v.toFixed(0)).join(" ")}; 2 relays ${two.map((v) => v.toFixed(0)).join(" ")}; floor ${floors.map((v) => v.toFixed(0)).join(" ")}`);
  } finally {
    for (const t of hosts) await t.close();
    for (const runner of runners) await runner.close();
    await close();
  }
}

/**
 * How a parked backlog weighs on everyone else: one delivery of a live tenant, drained while a disabled
 * install of another tenant holds 0, 10,000 and 100,000 open deliveries (older than it, so first in
 * publication order). A drain that looked at the backlog row by row grew with it (144 ms at 100,000 on
 * PGlite before the claim read queue heads); it should stay flat.
 */
async function parkedBacklog(backend: "pglite" | "postgres"): Promise<void> {
  const sizes = [0, 10_000, 100_000];
  const drains = Number(process.env["BENCH_BACKLOG_DRAINS"] ?? 9);
  const schema = `annex_bench_backlog_${process.pid}_${backend}`;
  const { database, close } = await openDatabase(backend, schema, 4);
  const runner = createWorkerPoolRunner({ workers: 1 });
  const t = await createTestHost({ runner, database, schema, logger: pino({ level: "silent" }) });
  try {
    const bytes = await benchBundle();
    await t.install(bytes, { tenant: "live" });
    const parked = await t.install(bytes, { tenant: "parked" });
    await t.disable("bench.events", { tenant: "parked" });
    const root = t.host.database.root;
    const rows: string[][] = [];
    let have = 0;
    for (const size of sizes) {
      progress(`${backend}: parked backlog of ${size}`);
      if (size > have) {
        const at = new Date();
        await sql`INSERT INTO ${sql.id(schema, "annex_events")} (id, tenant, type, payload, source, depth, occurred_at, fanned_out_at)
          SELECT 'parked-' || g, 'parked', 'bench.tick', '{"i":0}'::jsonb, 'app', 0, ${at}, ${at} FROM generate_series(cast(${have + 1} as integer), cast(${size} as integer)) g`.execute(root);
        await sql`INSERT INTO ${sql.id(schema, "annex_event_deliveries")} (id, event_id, tenant, install_id, type, state, next_attempt_at, created_at, updated_at)
          SELECT 'parked-' || g, 'parked-' || g, 'parked', ${parked.id}, 'bench.tick', 'pending', ${at}, ${at}, ${at} FROM generate_series(cast(${have + 1} as integer), cast(${size} as integer)) g`.execute(root);
        // A backlog that built up over time has been vacuumed (PostgreSQL's autovacuum; PGlite runs none).
        await sql`VACUUM ANALYZE ${sql.id(schema, "annex_event_deliveries")}`.execute(root);
        await sql`VACUUM ANALYZE ${sql.id(schema, "annex_events")}`.execute(root);
        have = size;
      }
      const one: number[] = [];
      const empty: number[] = [];
      const warmUp = 3;
      for (let i = 0; i < drains + warmUp; i++) {
        await t.host.events.publish("live", "bench.tick", { i });
        let started = performance.now();
        const { sent } = await t.relay.drain();
        const oneMs = performance.now() - started;
        if (sent !== 1) throw new Error(`drained ${sent} deliveries, expected 1`);
        started = performance.now();
        await t.relay.drain();
        const emptyMs = performance.now() - started;
        if (i >= warmUp) {
          one.push(oneMs);
          empty.push(emptyMs);
        }
      }
      rows.push([size.toLocaleString("en-US"), median(one).toFixed(1), median(empty).toFixed(1)]);
    }
    console.log(`\n${backend === "pglite" ? "in-memory PGlite" : "PostgreSQL (ANNEX_TEST_DATABASE_URL)"}: one live tenant's delivery drained behind a disabled install's open deliveries; medians of ${drains} drains (worker pool of 1).\n`);
    table(["open deliveries of the disabled install", "drain of one delivery, ms", "empty drain, ms"], rows);
  } finally {
    await t.close();
    await runner.close();
    await close();
  }
}

/**
 * A serving install's backlog in one queue (the ordering rule lets one of its deliveries run at a time): N
 * pending events it was sent, drained to the end. Every claim looks at the window of open deliveries, so the
 * drain should grow with N, not with N²: the one-per-install picking, joined as a set, was once planned inside
 * a nested loop over every open row, and 256 pending deliveries made each claim 2-3 s on PGlite.
 */
async function servingBacklog(backend: "pglite" | "postgres"): Promise<void> {
  const sizes = [128, 512, 2048];
  const schema = `annex_bench_serving_${process.pid}_${backend}`;
  const { database, close } = await openDatabase(backend, schema, 4);
  const runner = createWorkerPoolRunner({ workers: 1 });
  const t = await createTestHost({ runner, database, schema, logger: pino({ level: "silent" }) });
  try {
    await t.install(await benchBundle(), { tenant: "busy" });
    const rows: string[][] = [];
    for (const size of sizes) {
      progress(`${backend}: a serving install's backlog of ${size} in one queue`);
      for (let i = 0; i < size; i++) await t.host.events.publish("busy", "bench.tick", { i });
      const started = performance.now();
      let sent = 0;
      while (sent < size) {
        const drained = (await t.relay.drain()).sent;
        if (drained === 0) throw new Error(`drained ${sent} of ${size} deliveries, then nothing`);
        sent += drained;
      }
      const ms = performance.now() - started;
      rows.push([size.toLocaleString("en-US"), ms.toFixed(0), ((ms * 1000) / size).toFixed(0)]);
    }
    console.log(`\n${backend === "pglite" ? "in-memory PGlite" : "PostgreSQL (ANNEX_TEST_DATABASE_URL)"}: a serving install's backlog in one queue, drained to the end (worker pool of 1); the time per delivery should stay flat.\n`);
    table(["pending deliveries in one queue", "drain, ms", "per delivery, µs"], rows);
  } finally {
    await t.close();
    await runner.close();
    await close();
  }
}

function progress(text: string): void {
  process.stderr.write(`events bench: ${text}\n`);
}

if (process.env["BENCH_EVENTS_ONLY"] !== "serving") {
  await main("pglite");
  await parkedBacklog("pglite");
}
await servingBacklog("pglite");
if (process.env["ANNEX_TEST_DATABASE_URL"]) {
  await main("postgres");
  await parkedBacklog("postgres");
  await servingBacklog("postgres");
}
