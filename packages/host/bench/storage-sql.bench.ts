/**
 * Issue 11's owned-schema row: `ctx.sql.query` of one row by key, from a
 * handler running in the sandbox (the worker pool, as production runs), against
 * the floor: a direct kysely query of the same row on the same database.
 * Goal: ≤ 3× the floor.
 *
 * The handler runs N queries in one execution; the cost of one query is
 * (time of an execution with N queries − time of one with none) / N, so the
 * execution's own overhead (gateway, dispatch, context) is not counted as SQL.
 * Rounds alternate (floor, Annex, then Annex, floor …); medians over the rounds.
 *
 * Runs on PGlite; ANNEX_TEST_DATABASE_URL adds a PostgreSQL pass. BENCH_ROUNDS,
 * BENCH_SQL_N, BENCH_REPEATS and BENCH_WARMUP_S change rounds, queries per run (300), runs per round (5)
 * and the warm-up (default 3 s).
 *
 * Run: pnpm bench -- storage-sql
 */
import { availableParallelism, loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { makeBundle, serviceManifest } from "../test/support/fixtures.js";
import { median, table } from "./support/report.js";
import { openStorageBenchHost, perCall, warmUp } from "./support/storage-host.js";

const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 6);
const N = Number(process.env["BENCH_SQL_N"] ?? 300);
const REPEATS = Number(process.env["BENCH_REPEATS"] ?? 5);


const SERVER = `
export async function read(request, ctx) {
  const n = Number(request.query.n);
  let last = null;
  for (let i = 0; i < n; i++) last = (await ctx.sql.query("SELECT id, name, n FROM items WHERE id = $1", ["k" + (i % 100)])).rows[0];
  return { last };
}
`;
const MIGRATION = `CREATE TABLE items (id text PRIMARY KEY, name text NOT NULL, n integer NOT NULL);
INSERT INTO items (id, name, n) SELECT 'k' || i, 'name ' || i, i FROM unnest(ARRAY[${Array.from({ length: 1000 }, (_, i) => i).join(",")}]) AS i;`;

async function main(backend: "pglite" | "postgres"): Promise<void> {
  const loadAtStart = loadavg()[0]!;
  const { t, close } = await openStorageBenchHost(backend, "sql");
  try {
    const bytes = await makeBundle(
      serviceManifest({
        id: "bench.sql",
        publisher: "bench",
        capabilities: [{ name: "storage.sql", reason: "bench" }],
        storage: { kind: "owned-schema", migrations: "migrations" },
        endpoints: [{ class: "api", method: "GET", path: "/read", handler: "read" }],
      }),
      { "server/index.js": SERVER, "migrations/0001_items.sql": MIGRATION },
    );
    const install = await t.install(bytes);
    const ownSchema = install.sql!.schema;
    const db = t.host.database.root;

    const viaSandbox = async (n: number) => {
      const started = performance.now();
      const response = await t.request("GET", `/api/ext/bench.sql/read?n=${n}`, { as: "u1" });
      if (response.status !== 200) throw new Error(`read answered ${response.status}: ${await response.text()}`);
      await response.json();
      return performance.now() - started;
    };
    const direct = async (n: number) => {
      const started = performance.now();
      for (let i = 0; i < n; i++) await db.withSchema(ownSchema).selectFrom("items").select(["id", "name", "n"]).where("id", "=", `k${i % 100}`).executeTakeFirst();
      return performance.now() - started;
    };
    // Warm-up: JIT, the worker's context, plans, the parser's WebAssembly.
    await warmUp([() => viaSandbox(50), () => direct(50)]);

    const floor: number[] = [];
    const annex: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const measureAnnex = async () => annex.push(await perCall(REPEATS, N, async () => (await viaSandbox(N)) - (await viaSandbox(0))));
      const measureFloor = async () => floor.push(await perCall(REPEATS, N, () => direct(N)));
      if (round % 2 === 0) {
        await measureFloor();
        await measureAnnex();
      } else {
        await measureAnnex();
        await measureFloor();
      }
    }
    const ratios = annex.map((value, i) => value / floor[i]!);
    const ratio = median(ratios);
    console.log(
      `\n${backend === "pglite" ? "in-memory PGlite" : "PostgreSQL (ANNEX_TEST_DATABASE_URL)"}; ${REPEATS} runs of ${N} queries per round, ${ROUNDS} alternating rounds, medians. ` +
        `Node ${process.version}, ${availableParallelism()} cores, 1-minute load average ${loadAtStart.toFixed(1)} at the start.\n`,
    );
    table(
      ["row", "floor (same run)", "floor µs/query", "Annex µs/query", "Annex / floor", "goal", ""],
      [
        [
          "ctx.sql.query, one row by key, worker pool",
          "direct kysely select of the same row",
          (median(floor) * 1000).toFixed(0),
          (median(annex) * 1000).toFixed(0),
          `${ratio.toFixed(2)}×`,
          "≤ 3×",
          ratio <= 3 ? "met" : "NOT met",
        ],
      ],
    );
    console.log(`ratios per round: ${ratios.map((r) => r.toFixed(2)).join(" ")}`);
  } finally {
    await close("bench.sql");
  }
}

await main("pglite");
if (process.env["ANNEX_TEST_DATABASE_URL"]) await main("postgres");
