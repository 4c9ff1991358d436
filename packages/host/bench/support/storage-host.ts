import { createWorkerPoolRunner } from "@annex/runner";
import { Kysely, PostgresDialect, sql } from "kysely";
import { createTestHost, type TestHost } from "@annex/host/testing";

/**
 * The host the storage benches measure through: createTestHost on a worker
 * pool of one worker (as production runs), silent, on in-memory PGlite or, for
 * "postgres", on ANNEX_TEST_DATABASE_URL in a schema of its own. `close`
 * purges the extension, closes everything and drops that schema.
 */
export async function openStorageBenchHost(backend: "pglite" | "postgres", name: string): Promise<{ t: TestHost; close(extensionId: string): Promise<void> }> {
  let pool: Kysely<any> | undefined;
  let schema: string | undefined;
  if (backend === "postgres") {
    const { default: pg } = await import("pg");
    pool = new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: process.env["ANNEX_TEST_DATABASE_URL"], max: 4 }) }) });
    schema = `annex_bench_${name}_${process.pid}`;
  }
  // BENCH_SPIN_US sets the pool's hostCallSpinMicros (default: the pool's own, 1000 with a core to spare), to compare.
  const runner = createWorkerPoolRunner({ workers: 1, ...(process.env["BENCH_SPIN_US"] === undefined ? {} : { hostCallSpinMicros: Number(process.env["BENCH_SPIN_US"]) }) });
  const t = await createTestHost({ runner, database: pool, schema, logger: (await import("pino")).pino({ level: "silent" }) });
  return {
    t,
    async close(extensionId) {
      try {
        if ((await t.host.getInstall("test-tenant", extensionId)) !== null) await t.host.uninstall("test-tenant", extensionId, { purge: true });
      } finally {
        await t.close();
        await runner.close();
        if (pool !== undefined) {
          await sql`DROP SCHEMA IF EXISTS ${sql.id(schema!)} CASCADE`.execute(pool);
          await pool.destroy();
        }
      }
    },
  };
}

/**
 * Runs each step in turn until `seconds` have passed (BENCH_WARMUP_S, default 3): PGlite's WebAssembly and
 * both sides' JavaScript tier up over the first seconds, and a warm-up counted in calls ended before that
 * (rounds measured later ran up to 40 % faster than the first ones).
 */
export async function warmUp(steps: Array<() => Promise<unknown>>, seconds = Number(process.env["BENCH_WARMUP_S"] ?? 3)): Promise<void> {
  const until = performance.now() + seconds * 1000;
  do for (const step of steps) await step();
  while (performance.now() < until);
}

/**
 * ms per call over `runs` runs of `n` calls (`runOnce` answers a run's ms): one run of a fast floor (~25 ms)
 * moved by ±50 % with a single GC pause.
 */
export async function perCall(runs: number, n: number, runOnce: () => Promise<number>): Promise<number> {
  let total = 0;
  for (let i = 0; i < runs; i++) total += await runOnce();
  return total / (n * runs);
}
