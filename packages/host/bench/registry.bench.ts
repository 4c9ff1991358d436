/**
 * The registry's hot path for the gateway: resolve(tenant, extension) →
 * serving install + verified bundle, against the floor of one bare indexed
 * select of the same row through the same Kysely connection. Also the cold
 * path: publish, install and first resolve (which verifies the bundle again).
 *
 * Runs on in-memory PGlite, and on PostgreSQL too when ANNEX_TEST_DATABASE_URL is set.
 */
import { performance } from "node:perf_hooks";
import { generateKeyPair, packBundle, parseTrustStore, readBundle, signBundle, trustedKeyFromPublicKey } from "@annex/manifest";
import { createHost } from "@annex/host";
import { testDatabaseBackends } from "@annex/host/testing";

const ITERATIONS = 3000;
const ROUNDS = 6;

interface Figures {
  perSecond: number;
  p50: number;
  p99: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs the candidates in alternating rounds so that machine noise (2 shared cores) hits them alike. */
async function compare(candidates: Record<string, () => Promise<unknown>>): Promise<Record<string, Figures>> {
  const names = Object.keys(candidates);
  const samples = new Map(names.map((name) => [name, [] as number[]]));
  const elapsed = new Map(names.map((name) => [name, 0]));
  for (const name of names) for (let i = 0; i < 200; i++) await candidates[name]!();
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of names) {
      const fn = candidates[name]!;
      const list = samples.get(name)!;
      const start = performance.now();
      for (let i = 0; i < ITERATIONS / ROUNDS; i++) {
        const t = performance.now();
        await fn();
        list.push(performance.now() - t);
      }
      elapsed.set(name, elapsed.get(name)! + performance.now() - start);
    }
  }
  const out: Record<string, Figures> = {};
  for (const name of names) {
    const sorted = samples.get(name)!.sort((a, b) => a - b);
    const figures = { perSecond: (sorted.length / elapsed.get(name)!) * 1000, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
    console.log(`  ${name.padEnd(36)} ${figures.perSecond.toFixed(0).padStart(7)} ops/s   p50 ${figures.p50.toFixed(3)} ms   p99 ${figures.p99.toFixed(3)} ms`);
    out[name] = figures;
  }
  return out;
}

async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const start = performance.now();
  const value = await fn();
  console.log(`  ${label.padEnd(36)} ${(performance.now() - start).toFixed(1).padStart(7)} ms`);
  return value;
}

const key = await generateKeyPair({ publisher: "acme" });
const trustStore = parseTrustStore({ trustStoreVersion: 1, keys: [trustedKeyFromPublicKey(key, "community")] });
const encoder = new TextEncoder();
const bytes = await packBundle({
  "annex.json": encoder.encode(
    JSON.stringify({
      manifestVersion: 2,
      id: "acme.ping",
      name: "Ping",
      version: "1.0.0",
      publisher: "acme",
      description: "Answers ping.",
      engines: { annex: "^0.1.0" },
      runtime: { class: "service", entry: "server/index.js" },
      capabilities: [{ name: "log", reason: "Writes request logs for debugging." }],
      endpoints: [{ class: "api", method: "GET", path: "/ping", handler: "ping" }],
    }),
  ),
  "server/index.js": encoder.encode("export function ping() { return { pong: true }; }\n"),
});
const signature = await signBundle((await readBundle(bytes)).contentHash, key);

for (const backend of testDatabaseBackends()) {
  console.log(`\n${backend.name}`);
  const database = await timed("open the database", async () => backend.connect());
  const host = await timed("createHost (migrations)", () => createHost({ database, schema: backend.freshSchema("annex_bench"), trust: { store: trustStore } }));
  await timed("publish (verify + store)", () => host.publish(bytes, signature));
  await timed("install (consent, config, verify)", () => host.install("t1", "acme.ping", { grants: [{ name: "log" }] }));
  await timed("first resolve (cached after install)", () => host.resolve("t1", "acme.ping"));

  const db = host.database.db;
  const figures = await compare({
    "bare select of the install row": () =>
      db.selectFrom("annex_installs").selectAll().where("tenant", "=", "t1").where("extension_id", "=", "acme.ping").executeTakeFirst(),
    "host.resolve": () => host.resolve("t1", "acme.ping"),
  });
  const ratio = figures["host.resolve"]!.perSecond / figures["bare select of the install row"]!.perSecond;
  console.log(`  ratio resolve / bare select          ${ratio.toFixed(2)}× the throughput`);
  await host.close();
  await backend.cleanup();
}
