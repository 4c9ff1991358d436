/**
 * How cost grows with the number of installs (issue 13). Through createHost
 * as in production (the default worker pool, the default logger's level
 * written to /dev/null, metrics, every decision audited, in-memory PGlite):
 *
 * 1. Executions: 1, 10, 100 and 1,000 installed extensions (one tenant, each
 *    its own bundle), requests in rotation over all of them (request i goes
 *    to extension i mod N), 10 in flight, through `host.handle` (the whole
 *    gateway pipeline, no HTTP). Per level: the first pass (each extension's
 *    first request: resolve, verify, load into the pool), then steady
 *    rotation: executions/s, p50, p99; with 1,000 in rotation the caches
 *    sized below that (verified bundles: 64, the install cache's 1 s) miss,
 *    which is the cold-cache behaviour meant. Also the publish + install time
 *    per extension and the process RSS (main thread and the pool's worker)
 *    per loaded extension.
 * 2. The gateway over HTTP (node:http adapter, autocannon, 10 connections):
 *    one extension installed by 1 and by 100 tenants, requests rotating over
 *    the tenants, alternating rounds.
 *
 * Nothing may grow faster than linearly in the number of installs: the
 * per-install figures (setup time, memory) must stay flat and time per
 * execution must stay bounded; the bench prints each ratio to N = 10.
 *
 * Run: pnpm bench -- growth. GROWTH_MAX (default 1000) caps the levels.
 */
import { createServer } from "node:http";
import { availableParallelism, loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import autocannon from "autocannon";
import { pino } from "pino";
import { generateKeyPair, packBundle, parseTrustStore, readBundle, signBundle, trustedKeyFromPublicKey } from "@annex/manifest";
import { createHost } from "@annex/host";
import { createNodeHandler } from "@annex/host/node";
import { median, table } from "./support/report.js";

const LEVELS = [1, 10, 100, 1000].filter((n) => n <= Number(process.env["GROWTH_MAX"] ?? 1000));
const IN_FLIGHT = 10;
const STEADY_MS = Number(process.env["BENCH_ROUND_MS"] ?? 2000);
const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 3);
const ROUND_SECONDS = 2;
const TENANTS = 100;
const MiB = 1024 * 1024;
const encoder = new TextEncoder();

interface Level {
  n: number;
  setupMsPerInstall: number;
  firstPassMsPerExecution: number;
  perSecond: number;
  p50: number;
  p99: number;
  rss: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const settle = async () => {
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    globalThis.gc?.();
  }
};

async function main(): Promise<void> {
  const started = performance.now();
  const loadAtStart = loadavg()[0]!;
  const key = await generateKeyPair({ publisher: "bench" });
  const host = await createHost({
    trust: { store: parseTrustStore({ trustStoreVersion: 1, keys: [trustedKeyFromPublicKey(key, "partner")] }) },
    // The default logger's format and level ("info": a line per request), written where it costs least.
    logger: pino({ name: "annex", level: "info" }, pino.destination({ dest: "/dev/null", sync: false })),
    gateway: {
      authenticate: (request) => {
        const match = /^Bearer ([a-z0-9-]+)@([a-z0-9-]+)$/.exec(request.headers.get("authorization") ?? "");
        return match === null ? null : { tenant: match[2]!, user: { id: match[1]! }, roles: [] };
      },
      // A bucket the load cannot drain: the figures are of answered requests, not of 429s.
      policy: { rateLimits: { api: { requests: 10_000_000, perSeconds: 1 } } },
    },
  });

  async function publish(id: string): Promise<void> {
    const bytes = await packBundle({
      "annex.json": encoder.encode(
        JSON.stringify({
          manifestVersion: 2,
          id,
          name: "Growth",
          version: "1.0.0",
          publisher: "bench",
          description: "Answers ping.",
          engines: { annex: "^0.1.0" },
          runtime: { class: "service", entry: "server/index.js" },
          endpoints: [{ class: "api", method: "GET", path: "/ping", handler: "ping" }],
        }),
      ),
      // Each bundle its own code, so each is its own content hash, compiled and loaded on its own.
      "server/index.js": encoder.encode(`export function ping() { return { ok: true, id: ${JSON.stringify(id)} }; }\n`),
    });
    const { contentHash } = await readBundle(bytes);
    await host.publish(bytes, await signBundle(contentHash, key));
  }

  const call = async (tenant: string, id: string): Promise<void> => {
    const response = await host.handle(new Request(`http://localhost/api/ext/${id}/ping`, { headers: { authorization: `Bearer bench@${tenant}` } }));
    if (response.status !== 200) throw new Error(`bench: ${id} for ${tenant} answered ${response.status}: ${await response.text()}`);
    await response.arrayBuffer();
  };

  // 1. Executions with 1 … 1,000 installed extensions in rotation.
  const ids: string[] = [];
  const levels: Level[] = [];
  await settle();
  const rssAtStart = process.memoryUsage().rss;
  for (const n of LEVELS) {
    const t0 = performance.now();
    const fresh: string[] = [];
    while (ids.length < n) {
      const id = `bench.x${ids.length}`;
      await publish(id);
      await host.install("tenant-1", id, { grants: [] });
      ids.push(id);
      fresh.push(id);
    }
    const setupMsPerInstall = (performance.now() - t0) / Math.max(1, fresh.length);
    // First pass: each new extension's first request (resolve, verify, load into the worker), 10 at a time.
    const t1 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < fresh.length) await call("tenant-1", fresh[next++]!);
      }),
    );
    const firstPassMsPerExecution = (performance.now() - t1) / Math.max(1, fresh.length);
    // Steady rotation over all n, at least one whole pass.
    const latencies: number[] = [];
    let i = 0;
    const t2 = performance.now();
    const end = t2 + STEADY_MS;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (performance.now() < end || i < n) {
          const id = ids[i++ % n]!;
          const t = performance.now();
          await call("tenant-1", id);
          latencies.push(performance.now() - t);
        }
      }),
    );
    const elapsed = performance.now() - t2;
    await settle();
    latencies.sort((a, b) => a - b);
    levels.push({
      n,
      setupMsPerInstall,
      firstPassMsPerExecution,
      perSecond: (latencies.length / elapsed) * 1000,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      rss: process.memoryUsage().rss,
    });
  }

  // 2. The gateway over HTTP: one extension, installed by 1 and by 100 tenants, requests rotating over the tenants.
  await publish("bench.tenants");
  const tenants = Array.from({ length: TENANTS }, (_, k) => `tenant-t${k}`);
  for (const tenant of tenants) await host.install(tenant, "bench.tenants", { grants: [] });
  for (const tenant of tenants) await call(tenant, "bench.tenants");
  const server = createServer(createNodeHandler(host));
  server.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}/api/ext/bench.tenants/ping`;
  const requestsFor = (count: number) => tenants.slice(0, count).map((tenant) => ({ method: "GET" as const, headers: { authorization: `Bearer bench@${tenant}` } }));
  const load = (count: number, seconds: number) =>
    new Promise<autocannon.Result>((resolve, reject) => {
      autocannon({ url, connections: IN_FLIGHT, duration: seconds, requests: requestsFor(count) }, (error, result) => (error ? reject(error) : resolve(result)));
    });
  await load(1, 1);
  await load(TENANTS, 1);
  const byTenants = new Map<number, number[]>([
    [1, []],
    [TENANTS, []],
  ]);
  for (let round = 0; round < ROUNDS; round++) {
    for (const count of round % 2 === 0 ? [1, TENANTS] : [TENANTS, 1]) {
      const result = await load(count, ROUND_SECONDS);
      if (result.non2xx > 0 || result.errors > 0) throw new Error(`bench: ${result.non2xx} non-2xx answers and ${result.errors} errors with ${count} tenants`);
      byTenants.get(count)!.push(result.requests.total / result.duration);
    }
  }
  server.closeAllConnections();
  server.close();
  await host.close();

  console.log(
    `\nCost growth with the number of installs: createHost with the default worker pool, in-memory PGlite, audit and metrics on; ${IN_FLIGHT} in flight. ` +
      `Node ${process.version}, ${availableParallelism()} cores, 1-minute load average ${loadAtStart.toFixed(1)} at the start.\n`,
  );
  const base = levels.find((l) => l.n === 10) ?? levels[0]!;
  const ms = (n: number) => `${n.toFixed(2)} ms`;
  table(
    ["installed extensions in rotation", "publish + install / ext", "first request / ext", "steady exec/s", "p50", "p99", "RSS", "RSS / loaded ext"],
    levels.map((level, k) => {
      const previous = levels[k - 1];
      const perExt = previous === undefined ? (level.rss - rssAtStart) / level.n : (level.rss - previous.rss) / (level.n - previous.n);
      return [
        String(level.n),
        ms(level.setupMsPerInstall),
        ms(level.firstPassMsPerExecution),
        Math.round(level.perSecond).toLocaleString("en"),
        ms(level.p50),
        ms(level.p99),
        `${(level.rss / MiB).toFixed(0)} MiB`,
        `${(perExt / 1024).toFixed(0)} KiB`,
      ];
    }),
  );
  const top = levels[levels.length - 1]!;
  if (top !== base) {
    const perExec = (l: Level) => 1000 / l.perSecond;
    console.log(`\nGrowth from ${base.n} to ${top.n} installs (${top.n / base.n}× the installs; linear growth of a per-install cost would print 1.0×, of a total ${top.n / base.n}×):`);
    console.log(`  publish + install, per install:   ${(top.setupMsPerInstall / base.setupMsPerInstall).toFixed(2)}×`);
    console.log(`  first request, per extension:     ${(top.firstPassMsPerExecution / base.firstPassMsPerExecution).toFixed(2)}×`);
    console.log(`  time per execution (steady):      ${(perExec(top) / perExec(base)).toFixed(2)}×   p99 ${(top.p99 / base.p99).toFixed(2)}×`);
    console.log(`  RSS over the start, per install:  ${((top.rss - rssAtStart) / top.n / ((base.rss - rssAtStart) / base.n)).toFixed(2)}×`);
  }
  const one = median(byTenants.get(1)!);
  const many = median(byTenants.get(TENANTS)!);
  console.log(`\nGateway over HTTP (node:http adapter), one extension, ${IN_FLIGHT} connections, ${ROUNDS} alternating rounds of ${ROUND_SECONDS} s, medians:`);
  table(
    ["tenants in rotation", "req/s", "vs 1 tenant", "req/s per round"],
    [
      ["1", Math.round(one).toLocaleString("en"), "100 %", byTenants.get(1)!.map((r) => Math.round(r)).join(" ")],
      [String(TENANTS), Math.round(many).toLocaleString("en"), `${((many / one) * 100).toFixed(1)} %`, byTenants.get(TENANTS)!.map((r) => Math.round(r)).join(" ")],
    ],
  );
  console.log(`\nbench: done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

await main();
