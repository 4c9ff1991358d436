/**
 * Job scheduling jitter (issue 12): from a run's scheduled time to the moment
 * its handler starts (its first host call, timed on the host), through
 * createHost as in production: the background scheduler with its default
 * settings (a 1 s poll, a timer at each job's next time), the default worker
 * pool, metrics, audit, in-memory PGlite.
 *
 * Cron has minute granularity, so the host's clock (`createHost({ now })`)
 * runs in real time but is moved to 1.5 s before each minute boundary: the
 * scheduler notices within one poll, sleeps until the boundary, claims the
 * job and runs it. Two cases:
 *
 * 1. one install, one job due each minute: N runs;
 * 2. 20 installs whose jobs are due at the same minute (4 run at once, the
 *    default concurrency): the spread of a burst.
 *
 * Run: pnpm bench -- jobs. JOBS_RUNS (default 30) sets N; JOBS_BURSTS (default 5) the bursts.
 */
import { availableParallelism, loadavg } from "node:os";
import { pino } from "pino";
import { z } from "zod";
import { packBundle } from "@annex/manifest";
import { createHost, defineHostCapability, type Host } from "@annex/host";

const RUNS = Number(process.env["JOBS_RUNS"] ?? 30);
const BURSTS = Number(process.env["JOBS_BURSTS"] ?? 5);
const BURST_INSTALLS = 20;
const LEAD_MS = 1500;
const encoder = new TextEncoder();

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function summary(label: string, samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  return `${label.padEnd(34)} n=${String(sorted.length).padStart(4)}  p50 ${percentile(sorted, 50).toFixed(1).padStart(7)} ms  p99 ${percentile(sorted, 99).toFixed(1).padStart(7)} ms  max ${sorted[sorted.length - 1]!.toFixed(1).padStart(7)} ms`;
}

async function main(): Promise<void> {
  let offset = 0;
  const now = () => Date.now() + offset;
  /** Handler starts, per (install, scheduledAt), on the host's clock. */
  const starts: Array<{ tenant: string; scheduledAt: string; at: number }> = [];
  const mark = defineHostCapability({
    name: "bench.mark",
    description: "Notes when a job handler started",
    args: z.object({ scheduledAt: z.string() }),
    result: z.object({ ok: z.boolean() }),
    handler: ({ scheduledAt }, { install }) => {
      starts.push({ tenant: install.tenant, scheduledAt, at: now() });
      return { ok: true };
    },
  });
  const host: Host = await createHost({
    trust: { store: { trustStoreVersion: 1, keys: [] }, mode: "dev" },
    capabilities: [mark],
    now,
    logger: pino({ level: "warn" }, pino.destination("/dev/null")),
  });
  const manifest = {
    manifestVersion: 2,
    id: "acme.tick",
    name: "Tick",
    version: "1.0.0",
    publisher: "acme",
    description: "A job each minute.",
    engines: { annex: "^0.1.0" },
    runtime: { class: "service", entry: "server/index.js" },
    capabilities: [{ name: "host:bench.mark", reason: "Times the bench." }],
    jobs: [{ name: "tick", cron: "* * * * *", handler: "tick" }],
  };
  const server = `export async function tick(job, ctx) { await ctx.host.call("bench.mark", { scheduledAt: ctx.job.scheduledAt }); }`;
  await host.publish(await packBundle({ "annex.json": encoder.encode(JSON.stringify(manifest)), "server/index.js": encoder.encode(server) }), null, { actor: "bench" });

  /** Moves the host's clock to LEAD_MS before the next minute boundary, and waits until `count` handlers of that minute started. */
  async function minute(count: number): Promise<number[]> {
    const boundary = (Math.floor(now() / 60_000) + 1) * 60_000;
    offset += boundary - LEAD_MS - now();
    const scheduledAt = new Date(boundary).toISOString();
    const deadline = Date.now() + LEAD_MS + 15_000;
    for (;;) {
      const seen = starts.filter((s) => s.scheduledAt === scheduledAt);
      if (seen.length >= count) return seen.map((s) => s.at - boundary);
      if (Date.now() > deadline) throw new Error(`only ${seen.length} of ${count} runs due at ${scheduledAt} started`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  console.log(`jobs: scheduled time → handler start; createHost, worker pool, in-memory PGlite, default scheduler (1 s poll); ${availableParallelism()} cores, load ${loadavg()[0]!.toFixed(2)}`);
  await host.install("tenant-0", "acme.tick", { grants: [{ name: "host:bench.mark" }], actor: "bench" });
  await minute(1); // the first run loads the bundle into the pool: not counted
  const single: number[] = [];
  for (let i = 0; i < RUNS; i++) single.push(...(await minute(1)));
  console.log(summary("one job, each minute", single));

  for (let i = 1; i < BURST_INSTALLS; i++) await host.install(`tenant-${i}`, "acme.tick", { grants: [{ name: "host:bench.mark" }], actor: "bench" });
  await minute(BURST_INSTALLS);
  const burst: number[] = [];
  const lastOfBurst: number[] = [];
  for (let i = 0; i < BURSTS; i++) {
    const seen = await minute(BURST_INSTALLS);
    burst.push(...seen);
    lastOfBurst.push(Math.max(...seen));
  }
  console.log(summary(`${BURST_INSTALLS} jobs due at once, each`, burst));
  console.log(summary(`${BURST_INSTALLS} jobs due at once, last of each`, lastOfBurst));
  const runs = await host.jobs.list();
  console.log(`runs recorded: ${runs.filter((job) => job.lastRun?.outcome === "ok").length} of ${runs.length} jobs ok at their last run`);
  await host.close();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
