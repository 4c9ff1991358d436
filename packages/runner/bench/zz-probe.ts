import { packBundle, parseTrustStore, verifyBundle } from "@annex/manifest";
import { createInMemoryRunnerWithDispatch } from "/work/main/packages/runner/src/in-memory-runner.js";
import { createInMemoryRunner, createRemoteRunner, createRunnerServer } from "/work/main/packages/runner/src/index.js";
const enc = new TextEncoder();
const manifest = { manifestVersion: 2, id: "acme.p", name: "P", version: "1.0.0", publisher: "acme", description: "Probe.", engines: { annex: "^0.1.0" },
  runtime: { class: "service", entry: "server/index.js", warmContext: true }, endpoints: [{ class: "api", method: "POST", path: "/h", handler: "hello" }] };
const bundle = await verifyBundle(await packBundle({ "annex.json": enc.encode(JSON.stringify(manifest)), "server/index.js": enc.encode("export function hello(r) { return 1 }") }), null, parseTrustStore({ trustStoreVersion: 1, keys: [] }), { mode: "dev" });
let n = 0;
const env = () => ({ requestId: `r${++n}`, extension: { id: "acme.p", version: "1.0.0", contentHash: bundle.contentHash }, install: { id: "i", tenant: "t", config: {} }, grants: [], context: "warm" as const,
  invocation: { kind: "endpoint" as const, handler: "hello", request: { method: "POST", path: "/h", params: {}, query: {}, headers: {}, body: null } } });
async function time(label: string, f: () => Promise<unknown>) {
  for (let i = 0; i < 50; i++) await f();
  const t: number[] = [];
  for (let i = 0; i < 300; i++) { const s = performance.now(); await f(); t.push(performance.now() - s); }
  t.sort((a, b) => a - b);
  console.log(label, "p50", t[150]!.toFixed(3), "p90", t[270]!.toFixed(3));
}
const mem = createInMemoryRunner(); await mem.load(bundle);
await time("in-memory warm", () => mem.execute(env()));
const key = "k".repeat(40);
const server = createRunnerServer({ key, trustStore: parseTrustStore({ trustStoreVersion: 1, keys: [] }), mode: "dev", runner: (d) => createInMemoryRunnerWithDispatch({}, d) });
const remote = createRemoteRunner({ url: await server.listen(0), key });
await remote.load(bundle);
await time("remote(in-memory) warm", () => remote.execute(env()));
await time("remote health", () => remote.health());
await remote.close(); await server.close(); await mem.close();
