/**
 * Gateway throughput: `GET /api/ext/{id}/ping` through the Express adapter
 * (authenticate → resolve install → route → policy → audit → worker-pool runner
 * → response) against a bare Express route answering the same JSON, in one
 * run, on loopback. Plus the cold path: publish + install + first response.
 *
 * The servers run in a child process and autocannon in this one, so the load
 * generator does not steal the server's event loop (2 shared cores: one each).
 * Rounds alternate between candidates so that machine noise hits them alike.
 *
 * Runs on in-memory PGlite, and on PostgreSQL too when ANNEX_TEST_DATABASE_URL
 * is set (in a fresh schema, dropped afterwards).
 *
 * Run: pnpm bench -- gateway
 */
import { fork } from "node:child_process";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { sql } from "kysely";

const ROUND_SECONDS = 2.5;
const ROUNDS = 2;
const CONNECTIONS = 10;
const AUTH = { authorization: "Bearer bench@tenant-1" };

interface ServerReady {
  type: "ready";
  base: string;
  cold: { publishMs: number; installMs: number; firstResponseMs: number; totalMs: number };
}

if (process.argv[2] === "serve") {
  await serve(process.argv[3] === "postgres" ? process.env["ANNEX_TEST_DATABASE_URL"] : undefined);
} else {
  await main("pglite");
  if (process.env["ANNEX_TEST_DATABASE_URL"]) await main("postgres");
}

async function main(backend: "pglite" | "postgres"): Promise<void> {
  console.log(`\n── ${backend === "pglite" ? "in-memory PGlite (in the server's process)" : "PostgreSQL (ANNEX_TEST_DATABASE_URL)"}`);
  const child = fork(fileURLToPath(import.meta.url), ["serve", backend], { execArgv: process.execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  try {
    const ready = await new Promise<ServerReady>((resolve, reject) => {
      child.once("message", (message) => resolve(message as ServerReady));
      child.once("exit", (code) => reject(new Error(`bench server exited with ${code}`)));
    });
    const candidates: Record<string, { path: string; headers?: Record<string, string> }> = {
      "bare express": { path: "/bare/ping" },
      "annex gateway (warm context)": { path: "/api/ext/bench.warm/ping", headers: AUTH },
      "annex gateway (fresh context)": { path: "/api/ext/bench.fresh/ping", headers: AUTH },
      // The same pipeline with only refusals audited: shows what the per-request audit line costs.
      "annex, audit denials only": { path: "/lean/api/ext/bench.warm/ping", headers: AUTH },
    };
    // Warm up every path (JIT, runner load, pools).
    for (const { path, headers } of Object.values(candidates)) await load(ready.base + path, headers, 1);

    const totals = new Map<string, { requests: number; seconds: number; p50: number[]; p99: number[]; errors: number; non2xx: number }>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, { path, headers }] of Object.entries(candidates)) {
        const result = await load(ready.base + path, headers, ROUND_SECONDS);
        const entry = totals.get(name) ?? { requests: 0, seconds: 0, p50: [], p99: [], errors: 0, non2xx: 0 };
        entry.requests += result.requests.total;
        entry.seconds += result.duration;
        entry.p50.push(result.latency.p50);
        entry.p99.push(result.latency.p99);
        entry.errors += result.errors + result.timeouts;
        entry.non2xx += result.non2xx;
        totals.set(name, entry);
      }
    }

    const bare = totals.get("bare express")!;
    const bareRps = bare.requests / bare.seconds;
    console.log(`GET …/ping, ${CONNECTIONS} connections, ${ROUNDS} alternating rounds of ${ROUND_SECONDS} s per candidate, loopback`);
    console.log("candidate                          req/s     p50 ms   p99 ms   vs bare   non-2xx  errors");
    for (const [name, entry] of totals) {
      const rps = entry.requests / entry.seconds;
      console.log(
        `${name.padEnd(32)} ${rps.toFixed(0).padStart(7)}   ${mean(entry.p50).toFixed(2).padStart(6)}   ${mean(entry.p99).toFixed(2).padStart(6)}   ${((rps / bareRps) * 100).toFixed(1).padStart(5)} %   ${String(entry.non2xx).padStart(7)}  ${String(entry.errors).padStart(6)}`,
      );
    }
    const warm = totals.get("annex gateway (warm context)")!;
    const ratio = warm.requests / warm.seconds / bareRps;
    console.log(`target: annex ≥ 40 % of bare express → ${(ratio * 100).toFixed(1)} % (warm context, every decision audited) ${ratio >= 0.4 ? "MET" : "NOT MET"}`);
    const lean = totals.get("annex, audit denials only")!;
    const leanRatio = lean.requests / lean.seconds / bareRps;
    console.log(`                                   ${(leanRatio * 100).toFixed(1)} % with policy.audit "denials" (allowed requests not audited)`);
    console.log(
      `cold path (worker pool): publish ${ready.cold.publishMs.toFixed(1)} ms + install ${ready.cold.installMs.toFixed(1)} ms + first response ${ready.cold.firstResponseMs.toFixed(1)} ms = ${ready.cold.totalMs.toFixed(1)} ms`,
    );
  } finally {
    // Let the server clean up (close the runner, drop the bench schema) before the next backend starts.
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
  }
}

function load(url: string, headers: Record<string, string> | undefined, seconds: number): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon({ url, connections: CONNECTIONS, duration: seconds, headers: headers ?? {} }, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

function mean(values: number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

/** The child: a host (in-memory PGlite, or PostgreSQL at `url`), two extensions, an Express app with the gateway and a bare route. */
async function serve(url: string | undefined): Promise<void> {
  const [{ default: express }, manifest, runnerModule, hostModule, express_] = await Promise.all([
    import("express"),
    import("@annex/manifest"),
    import("@annex/runner"),
    import("../src/index.js"),
    import("../src/adapters/express.js"),
  ]);
  const key = await manifest.generateKeyPair({ publisher: "bench" });
  const trustStore = manifest.parseTrustStore({ trustStoreVersion: 1, keys: [manifest.trustedKeyFromPublicKey(key, "partner")] });
  const schema = url === undefined ? undefined : `annex_bench_${process.pid}_${Date.now().toString(36)}`;
  // The production default: the worker pool with its default options (one worker per core but one, so 1 on
  // two cores; one execution each, prefetch 2), shared by both gateways below.
  const runner = runnerModule.createWorkerPoolRunner({});
  const host = await hostModule.createHost({
    trust: { store: trustStore },
    database: url,
    schema,
    runner,
    gateway: {
      authenticate: (request) => {
        const match = /^Bearer ([a-z0-9-]+)@([a-z0-9-]+)$/.exec(request.headers.get("authorization") ?? "");
        return match === null ? null : { tenant: match[2]!, user: { id: match[1]! }, roles: [] };
      },
      // Rate limiting stays on (its cost is part of the figure), with a bucket the load cannot drain.
      policy: { rateLimits: { api: { requests: 10_000_000, perSeconds: 1 } } },
    },
  });
  const gateway = host.gateway!;

  // A second host over the same database, with only refusals audited.
  const leanHost = await hostModule.createHost({
    trust: { store: trustStore },
    database: host.database.root,
    schema: host.database.schema,
    migrate: false,
    runner,
    gateway: {
      authenticate: (request) => ({ tenant: "tenant-1", user: { id: request.headers.has("authorization") ? "bench" : "anonymous" }, roles: [] }),
      prefixes: { api: "/lean/api/ext", ext: "/lean/ext", ui: "/lean/ext-ui" },
      policy: { rateLimits: { api: { requests: 10_000_000, perSeconds: 1 } }, audit: "denials" },
    },
  });
  const lean = leanHost.gateway!;

  const encoder = new TextEncoder();
  async function bundle(id: string, warm: boolean) {
    const bytes = await manifest.packBundle({
      "annex.json": encoder.encode(
        JSON.stringify({
          manifestVersion: 2,
          id,
          name: "Bench",
          version: "1.0.0",
          publisher: "bench",
          description: "Answers ping.",
          engines: { annex: "^0.1.0" },
          runtime: { class: "service", entry: "server/index.js", warmContext: warm },
          endpoints: [{ class: "api", method: "GET", path: "/ping", handler: "ping" }],
        }),
      ),
      "server/index.js": encoder.encode('export function ping() { return { ok: true, message: "pong" }; }\n'),
    });
    const { contentHash } = await manifest.readBundle(bytes);
    return { bytes, signature: await manifest.signBundle(contentHash, key) };
  }

  const app = express();
  app.disable("x-powered-by");
  app.use(express_.annexRouter(gateway));
  app.use(express_.annexRouter(lean));
  app.get("/bare/ping", (_req, res) => void res.json({ ok: true, message: "pong" }));
  const server = app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const address = server.address();
  const base = `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`;

  // Cold path, measured on the first extension: nothing of it is loaded or cached yet.
  const warmBundle = await bundle("bench.warm", true);
  const t0 = performance.now();
  await host.publish(warmBundle.bytes, warmBundle.signature);
  const t1 = performance.now();
  await host.install("tenant-1", "bench.warm", { grants: [] });
  const t2 = performance.now();
  const first = await fetch(`${base}/api/ext/bench.warm/ping`, { headers: AUTH });
  await first.json();
  const t3 = performance.now();
  if (first.status !== 200) throw new Error(`first response was ${first.status}`);

  const freshBundle = await bundle("bench.fresh", false);
  await host.publish(freshBundle.bytes, freshBundle.signature);
  await host.install("tenant-1", "bench.fresh", { grants: [] });

  const ready: ServerReady = { type: "ready", base, cold: { publishMs: t1 - t0, installMs: t2 - t1, firstResponseMs: t3 - t2, totalMs: t3 - t0 } };
  // Started by hand (`… gateway.bench.ts serve`, e.g. under --cpu-prof): print where to send load.
  if (process.send === undefined) console.log(JSON.stringify(ready));
  else process.send(ready);
  const stop = async () => {
    server.closeAllConnections();
    server.close();
    await leanHost.close();
    await runner.close();
    if (schema !== undefined) await sql`DROP SCHEMA IF EXISTS ${sql.id(schema)} CASCADE`.execute(host.database.root);
    await host.close();
    process.exit(0);
  };
  process.once("SIGTERM", () => void stop());
  process.once("SIGINT", () => void stop());
  process.once("disconnect", () => void stop());
}
