/**
 * The gateway rows of issue 13, each against its own floor, measured in the
 * same run in alternating rounds (floor, Annex, Annex, floor … the order
 * flipping every round), 10 connections on loopback, medians over the rounds:
 *
 * - Express adapter: `GET /api/ext/bench.ping/ping` through `annexRouter(host)`
 *   in an Express 5 app, against a bare Express 5 app (its own app, in its own
 *   process, nothing else mounted) answering the same JSON. Goal ≥ 50 %.
 * - node:http adapter: the same request through `createNodeHandler(host)`,
 *   against a bare `http.createServer` answering the same JSON. Goal ≥ 25 %.
 *
 * The host is the whole production wiring: `createHost` with its default
 * runner (the worker pool, default size), in-memory PGlite, its default
 * logger (pino at its default level "info", one line per request) writing to
 * the server process's stdout, which is /dev/null here; metrics on; every
 * decision audited (the default policy). Only the api rate limit is raised,
 * so that the load is answered and not refused with 429.
 *
 * Processes: the load generator (autocannon) here; the bare servers in one
 * child; the host and both adapters in another. Only one server is loaded at
 * a time. Also printed, for scale: a fresh-context extension and the cold
 * path (publish + install + first response).
 *
 * Runs on PGlite; ANNEX_TEST_DATABASE_URL adds a PostgreSQL pass (fresh
 * schema, dropped afterwards). BENCH_ROUNDS / BENCH_ROUND_S change the rounds,
 * BENCH_WARMUP_S the warm-up of each server (default 3 s).
 *
 * Run: pnpm bench -- gateway. Profile the host: `node --cpu-prof --import tsx
 * packages/host/bench/gateway.bench.ts serve-host` prints where to send load.
 */
import { fork, type ChildProcess } from "node:child_process";
import { openSync } from "node:fs";
import { createServer } from "node:http";
import { availableParallelism, loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { sql } from "kysely";
import { median, table } from "./support/report.js";

const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 4);
const ROUND_SECONDS = Number(process.env["BENCH_ROUND_S"] ?? 2);
// Long enough for every server to reach its steady state (JIT, the host's caches, PGlite's files): after 1 s the
// host still answered its first measured round 5–25 % slower than its later ones.
const WARMUP_SECONDS = Number(process.env["BENCH_WARMUP_S"] ?? 3);
const CONNECTIONS = 10;
const AUTH = { authorization: "Bearer bench@tenant-1" };
const ANSWER = { ok: true, message: "pong" };

interface HostReady {
  type: "ready";
  express: string;
  node: string;
  cold: { publishMs: number; installMs: number; firstResponseMs: number; totalMs: number };
}
interface BareReady {
  type: "ready";
  express: string;
  node: string;
}


interface Round {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

async function main(backend: "pglite" | "postgres"): Promise<void> {
  const started = performance.now();
  const loadAtStart = loadavg()[0]!;
  // The host's stdout (its default logger's destination) goes to /dev/null: cheap, and the bench's output stays readable.
  const devNull = openSync("/dev/null", "w");
  const host = fork(fileURLToPath(import.meta.url), ["serve-host", backend], { execArgv: process.execArgv, stdio: ["ignore", devNull, "inherit", "ipc"] });
  const bare = fork(fileURLToPath(import.meta.url), ["serve-bare"], { execArgv: process.execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  try {
    const [hostReady, bareReady] = await Promise.all([ready<HostReady>(host), ready<BareReady>(bare)]);
    const candidates: Record<string, { url: string; headers?: Record<string, string> }> = {
      "bare express": { url: `${bareReady.express}/ping` },
      "express adapter": { url: `${hostReady.express}/api/ext/bench.ping/ping`, headers: AUTH },
      "bare node:http": { url: `${bareReady.node}/ping` },
      "node:http adapter": { url: `${hostReady.node}/api/ext/bench.ping/ping`, headers: AUTH },
      "node:http adapter, fresh context": { url: `${hostReady.node}/api/ext/bench.fresh/ping`, headers: AUTH },
    };
    // Warm up every server (JIT, the runner's contexts, the PGlite plans), each as long as the others.
    for (const { url, headers } of Object.values(candidates)) await load(url, headers, WARMUP_SECONDS);

    const names = Object.keys(candidates);
    const rounds = new Map<string, Round[]>(names.map((name) => [name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      // Alternating rounds: the order flips every round so that drift in the machine's load hits floors and Annex alike.
      for (const name of round % 2 === 0 ? names : [...names].reverse()) {
        const { url, headers } = candidates[name]!;
        const r = await load(url, headers, ROUND_SECONDS);
        rounds.get(name)!.push({ rps: r.requests.total / r.duration, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors + r.timeouts });
      }
    }

    const of = (name: string) => rounds.get(name)!;
    const rps = (name: string) => median(of(name).map((r) => r.rps));
    const share = (annex: string, floor: string) => median(of(annex).map((r, i) => r.rps / of(floor)[i]!.rps));
    const expressShare = share("express adapter", "bare express");
    const nodeShare = share("node:http adapter", "bare node:http");
    const pct = (n: number) => `${(n * 100).toFixed(1)} %`;
    const met = (ok: boolean) => (ok ? "met" : "NOT met");

    console.log(
      `\n${backend === "pglite" ? "in-memory PGlite" : "PostgreSQL (ANNEX_TEST_DATABASE_URL)"}; GET …/ping, ${CONNECTIONS} connections, ${ROUNDS} alternating rounds of ${ROUND_SECONDS} s per server after ${WARMUP_SECONDS} s of warm-up each, medians. ` +
        `Node ${process.version}, ${availableParallelism()} cores, 1-minute load average ${loadAtStart.toFixed(1)} at the start.\n`,
    );
    table(
      ["row", "floor (same run)", "floor req/s", "Annex req/s", "Annex / floor", "goal", ""],
      [
        ["gateway, Express adapter, audited, warm context", "bare Express 5 app, same JSON, own app", fmt(rps("bare express")), fmt(rps("express adapter")), pct(expressShare), "≥ 50 %", met(expressShare >= 0.5)],
        ["gateway, node:http adapter, audited, warm context", "bare node:http server, same JSON", fmt(rps("bare node:http")), fmt(rps("node:http adapter")), pct(nodeShare), "≥ 25 %", met(nodeShare >= 0.25)],
      ],
    );
    console.log("\nPer server (medians over the rounds):");
    table(
      ["server", "req/s", "p50 ms", "p99 ms", "non-2xx", "errors", "req/s per round"],
      names.map((name) => [
        name,
        fmt(rps(name)),
        median(of(name).map((r) => r.p50)).toFixed(1),
        median(of(name).map((r) => r.p99)).toFixed(1),
        String(of(name).reduce((n, r) => n + r.non2xx, 0)),
        String(of(name).reduce((n, r) => n + r.errors, 0)),
        of(name).map((r) => Math.round(r.rps)).join(" "),
      ]),
    );
    const c = hostReady.cold;
    console.log(`\ncold path (worker pool): publish ${c.publishMs.toFixed(1)} ms + install ${c.installMs.toFixed(1)} ms + first response ${c.firstResponseMs.toFixed(1)} ms = ${c.totalMs.toFixed(1)} ms`);
    const bad = names.filter((name) => of(name).some((r) => r.non2xx > 0 || r.errors > 0));
    if (bad.length > 0) throw new Error(`bench: non-2xx answers or errors from ${bad.join(", ")}: the figures are not of the path meant`);
    console.log(`bench: done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await Promise.all([stop(host), stop(bare)]);
  }
}

function ready<T>(child: ChildProcess): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    child.once("message", (message) => resolve(message as T));
    child.once("exit", (code) => reject(new Error(`bench server exited with ${code}`)));
  });
}

/** Lets a server clean up (close the runner, drop the bench schema) before the next pass starts. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
}

function load(url: string, headers: Record<string, string> | undefined, seconds: number): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon({ url, connections: CONNECTIONS, duration: seconds, headers: headers ?? {} }, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

const fmt = (n: number) => Math.round(n).toLocaleString("en");

async function listen(server: import("node:http").Server): Promise<string> {
  server.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const address = server.address();
  return `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`;
}

/** The floors: a bare Express 5 app and a bare node:http server, each answering the same JSON, nothing else in them. */
async function serveBare(): Promise<void> {
  const { default: express } = await import("express");
  const app = express();
  app.disable("x-powered-by");
  app.get("/ping", (_req, res) => void res.json(ANSWER));
  const expressServer = createServer(app);
  const nodeServer = createServer((req, res) => {
    if (req.method === "GET" && req.url === "/ping") {
      const body = JSON.stringify(ANSWER);
      res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) });
      res.end(body);
    } else {
      res.writeHead(404).end();
    }
  });
  const ready: BareReady = { type: "ready", express: await listen(expressServer), node: await listen(nodeServer) };
  process.send?.(ready);
  const close = () => {
    for (const server of [expressServer, nodeServer]) {
      server.closeAllConnections();
      server.close();
    }
    process.exit(0);
  };
  process.once("SIGTERM", close);
  process.once("disconnect", close);
}

/** The host: createHost as in production (default runner, logger and metrics), two extensions, both adapters. */
async function serveHost(url: string | undefined): Promise<void> {
  const [{ default: express }, manifest, hostModule, expressAdapter, nodeAdapter] = await Promise.all([
    import("express"),
    import("@annex/manifest"),
    import("@annex/host"),
    import("@annex/host/express"),
    import("@annex/host/node"),
  ]);
  const key = await manifest.generateKeyPair({ publisher: "bench" });
  const trustStore = manifest.parseTrustStore({ trustStoreVersion: 1, keys: [manifest.trustedKeyFromPublicKey(key, "partner")] });
  const schema = url === undefined ? undefined : `annex_bench_${process.pid}_${Date.now().toString(36)}`;
  const host = await hostModule.createHost({
    trust: { store: trustStore },
    database: url,
    schema,
    gateway: {
      authenticate: (request) => {
        const match = /^Bearer ([a-z0-9-]+)@([a-z0-9-]+)$/.exec(request.headers.get("authorization") ?? "");
        return match === null ? null : { tenant: match[2]!, user: { id: match[1]! }, roles: [] };
      },
      // Rate limiting stays on (its cost is part of the figure), with a bucket the load cannot drain.
      policy: { rateLimits: { api: { requests: 10_000_000, perSeconds: 1 } } },
    },
  });

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
      "server/index.js": encoder.encode(`export function ping() { return ${JSON.stringify(ANSWER)}; }\n`),
    });
    const { contentHash } = await manifest.readBundle(bytes);
    return { bytes, signature: await manifest.signBundle(contentHash, key) };
  }

  const app = express();
  app.disable("x-powered-by");
  app.use(expressAdapter.annexRouter(host));
  const expressServer = createServer(app);
  const nodeServer = createServer(nodeAdapter.createNodeHandler(host));
  const expressBase = await listen(expressServer);
  const nodeBase = await listen(nodeServer);

  // Cold path, measured on the first extension: nothing of it is loaded or cached yet.
  const warmBundle = await bundle("bench.ping", true);
  const t0 = performance.now();
  await host.publish(warmBundle.bytes, warmBundle.signature);
  const t1 = performance.now();
  await host.install("tenant-1", "bench.ping", { grants: [] });
  const t2 = performance.now();
  const first = await fetch(`${nodeBase}/api/ext/bench.ping/ping`, { headers: AUTH });
  await first.json();
  const t3 = performance.now();
  if (first.status !== 200) throw new Error(`first response was ${first.status}`);
  const freshBundle = await bundle("bench.fresh", false);
  await host.publish(freshBundle.bytes, freshBundle.signature);
  await host.install("tenant-1", "bench.fresh", { grants: [] });

  const ready: HostReady = { type: "ready", express: expressBase, node: nodeBase, cold: { publishMs: t1 - t0, installMs: t2 - t1, firstResponseMs: t3 - t2, totalMs: t3 - t0 } };
  // Started by hand (e.g. under --cpu-prof): print where to send load.
  if (process.send === undefined) console.error(JSON.stringify(ready));
  else process.send(ready);
  const close = async () => {
    for (const server of [expressServer, nodeServer]) {
      server.closeAllConnections();
      server.close();
    }
    if (schema !== undefined) await sql`DROP SCHEMA IF EXISTS ${sql.id(schema)} CASCADE`.execute(host.database.root);
    await host.close();
    process.exit(0);
  };
  process.once("SIGTERM", () => void close());
  process.once("SIGINT", () => void close());
  process.once("disconnect", () => void close());
}

const role = process.argv[2];
if (role === "serve-host") await serveHost(process.argv[3] === "postgres" ? process.env["ANNEX_TEST_DATABASE_URL"] : undefined);
else if (role === "serve-bare") await serveBare();
else {
  await main("pglite");
  if (process.env["ANNEX_TEST_DATABASE_URL"]) await main("postgres");
}
