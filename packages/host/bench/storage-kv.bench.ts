/**
 * Issue 11's kv rows: `ctx.kv.get` and `ctx.kv.set` of one key, from a handler
 * running in the sandbox (the worker pool, as production runs), against the
 * floor: a direct kysely select, and a direct kysely upsert, of the same row of
 * `annex_kv` on the same database. Reported as operations per second and the
 * ratio Annex / floor (time per operation).
 *
 * The handler runs N calls in one execution; the cost of one call is
 * (time of an execution with N calls − time of one with none) / N, so the
 * execution's own overhead (gateway, dispatch, context) is not counted as kv.
 * Rounds alternate (floor, Annex, then Annex, floor …); medians over the rounds.
 *
 * Runs on PGlite; ANNEX_TEST_DATABASE_URL adds a PostgreSQL pass. BENCH_ROUNDS,
 * BENCH_KV_N, BENCH_REPEATS and BENCH_WARMUP_S change rounds, calls per run (200), runs per round (5)
 * and the warm-up (default 3 s).
 *
 * Run: pnpm bench -- storage-kv
 */
import { availableParallelism, loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import type { Kysely } from "kysely";
import type { AnnexTables } from "../src/database/tables.js";
import { makeBundle, serviceManifest } from "../test/support/fixtures.js";
import { median, table } from "./support/report.js";
import { openStorageBenchHost, perCall, warmUp } from "./support/storage-host.js";

const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 6);
const N = Number(process.env["BENCH_KV_N"] ?? 200);
const REPEATS = Number(process.env["BENCH_REPEATS"] ?? 5);


const SERVER = `
export async function get(request, ctx) {
  const n = Number(request.query.n);
  let last = null;
  for (let i = 0; i < n; i++) last = await ctx.kv.get("k" + (i % 100));
  return { last };
}
export async function set(request, ctx) {
  const n = Number(request.query.n);
  for (let i = 0; i < n; i++) await ctx.kv.set("k" + (i % 100), { name: "name " + i, n: i });
  return { done: n };
}
`;

async function main(backend: "pglite" | "postgres"): Promise<void> {
  const loadAtStart = loadavg()[0]!;
  const { t, close } = await openStorageBenchHost(backend, "kv");
  try {
    const bytes = await makeBundle(
      serviceManifest({
        id: "bench.kv",
        publisher: "bench",
        capabilities: [{ name: "storage.kv", reason: "bench" }],
        storage: { kind: "kv" },
        endpoints: [
          { class: "api", method: "GET", path: "/get", handler: "get" },
          { class: "api", method: "GET", path: "/set", handler: "set" },
        ],
      }),
      { "server/index.js": SERVER },
    );
    const install = await t.install(bytes);
    for (let i = 0; i < 100; i++) await t.kv(install.id).set(`k${i}`, { name: `name ${i}`, n: i });
    // Typed with the host's own tables, so that the floor's statements follow a change of annex_kv (typecheck).
    const db = t.host.database.db as unknown as Kysely<AnnexTables>;
    const ns = { tenant: install.tenant, install_id: install.id };

    const viaSandbox = async (op: "get" | "set", n: number) => {
      const started = performance.now();
      const response = await t.request("GET", `/api/ext/bench.kv/${op}?n=${n}`, { as: "u1" });
      if (response.status !== 200) throw new Error(`${op} answered ${response.status}: ${await response.text()}`);
      await response.json();
      return performance.now() - started;
    };
    const direct = async (op: "get" | "set", n: number) => {
      const started = performance.now();
      for (let i = 0; i < n; i++) {
        const key = `floor${i % 100}`;
        if (op === "get") {
          await db.selectFrom("annex_kv").select(["value", "version", "expires_at"]).where("tenant", "=", ns.tenant).where("install_id", "=", ns.install_id).where("key", "=", key).executeTakeFirst();
        } else {
          const value = JSON.stringify({ name: `name ${i}`, n: i });
          await db
            .insertInto("annex_kv")
            .values({ ...ns, key, value, size_bytes: value.length + key.length, version: i + 1, expires_at: null, updated_at: new Date() })
            .onConflict((c) =>
              c.columns(["tenant", "install_id", "key"]).doUpdateSet({ value, size_bytes: value.length + key.length, version: i + 1, updated_at: new Date() }),
            )
            .execute();
        }
      }
      return performance.now() - started;
    };
    await direct("set", 100);
    // Warm-up: JIT, the worker's context, plans.
    await warmUp([() => viaSandbox("get", 50), () => direct("get", 50), () => viaSandbox("set", 50), () => direct("set", 50)]);

    const rows: string[][] = [];
    const perRound: string[] = [];
    for (const op of ["get", "set"] as const) {
      const floor: number[] = [];
      const annex: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const measureAnnex = async () => annex.push(await perCall(REPEATS, N, async () => (await viaSandbox(op, N)) - (await viaSandbox(op, 0))));
        const measureFloor = async () => floor.push(await perCall(REPEATS, N, () => direct(op, N)));
        if (round % 2 === 0) {
          await measureFloor();
          await measureAnnex();
        } else {
          await measureAnnex();
          await measureFloor();
        }
      }
      const ratios = annex.map((value, i) => value / floor[i]!);
      rows.push([
        `ctx.kv.${op}, one key, worker pool`,
        op === "get" ? "direct kysely select of the same row" : "direct kysely upsert of the same row",
        (1000 / median(floor)).toFixed(0),
        (1000 / median(annex)).toFixed(0),
        `${median(ratios).toFixed(2)}×`,
      ]);
      perRound.push(`${op}: ${ratios.map((r) => r.toFixed(2)).join(" ")}`);
    }
    console.log(
      `\n${backend === "pglite" ? "in-memory PGlite" : "PostgreSQL (ANNEX_TEST_DATABASE_URL)"}; ${REPEATS} runs of ${N} calls per round, ${ROUNDS} alternating rounds, medians. ` +
        `Node ${process.version}, ${availableParallelism()} cores, 1-minute load average ${loadAtStart.toFixed(1)} at the start.\n`,
    );
    table(["row", "floor (same run)", "floor ops/s", "Annex ops/s", "Annex / floor (time per op)"], rows);
    console.log(`ratios per round: ${perRound.join("; ")}`);
  } finally {
    await close("bench.kv");
  }
}

await main("pglite");
if (process.env["ANNEX_TEST_DATABASE_URL"]) await main("postgres");
