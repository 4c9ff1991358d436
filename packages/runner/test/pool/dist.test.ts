import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "tsup";
import { afterAll, expect, it } from "vitest";

const packageRoot = fileURLToPath(new URL("../../", import.meta.url));
const cacheDir = join(packageRoot, "node_modules", ".cache", "annex-runner");
let outDir: string | undefined;

afterAll(() => {
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

/**
 * The pool must find its worker in a built package too, where no TypeScript
 * loader exists: build the package's entries with tsup (as `pnpm build` does,
 * plus @annex/manifest bundled in so the check needs no other package built),
 * then run a pool from the output under plain Node.
 */
it("runs the worker pool from the built package under plain node", async () => {
  // Its parent exists only once something has cached there (run alone on a fresh clone, nothing has).
  mkdirSync(join(packageRoot, "node_modules", ".cache"), { recursive: true });
  outDir = mkdtempSync(join(cacheDir + "-", "")).replace(/\/$/, "");
  await build({
    config: false,
    entry: {
      index: join(packageRoot, "src/index.ts"),
      "pool-worker": join(packageRoot, "src/pool/worker-entry.ts"),
      manifest: fileURLToPath(new URL("./fixtures/manifest-entry.ts", import.meta.url)),
    },
    outDir,
    format: ["esm"],
    platform: "node",
    target: "node20",
    dts: false,
    silent: true,
    noExternal: [/^@annex\//],
    // As `pnpm build` leaves them: the package's runtime dependencies are resolved from node_modules at run time.
    external: Object.keys((JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { dependencies?: Record<string, string> }).dependencies ?? {}).filter(
      (name) => !name.startsWith("@annex/"),
    ),
    esbuildOptions(options) {
      options.conditions = ["source"];
    },
  });
  expect(existsSync(join(outDir, "pool-worker.js"))).toBe(true);

  const script = `
    import { packBundle, verifyBundle, parseTrustStore } from ${JSON.stringify(pathToFileURL(join(outDir, "manifest.js")).href)};
    import { createWorkerPoolRunner } from ${JSON.stringify(pathToFileURL(join(outDir, "index.js")).href)};
    const enc = new TextEncoder();
    const manifest = { manifestVersion: 2, id: "acme.dist", name: "Dist", version: "1.0.0", publisher: "acme",
      description: "Dist check.", engines: { annex: "^0.1.0" }, runtime: { class: "service", entry: "server/index.js" },
      endpoints: [{ class: "api", method: "GET", path: "/hello", handler: "hello" }] };
    const bytes = await packBundle({ "annex.json": enc.encode(JSON.stringify(manifest)), "server/index.js": enc.encode("export function hello() { return 'from dist'; }") });
    const bundle = await verifyBundle(bytes, null, parseTrustStore({ trustStoreVersion: 1, keys: [] }), { mode: "dev" });
    const pool = createWorkerPoolRunner({ workers: 1 });
    await pool.load(bundle);
    const result = await pool.execute({ requestId: "d1", extension: { id: "acme.dist", version: "1.0.0", contentHash: bundle.contentHash },
      install: { id: "i", tenant: "t", config: {} }, grants: [],
      invocation: { kind: "endpoint", handler: "hello", request: { method: "GET", path: "/hello", params: {}, query: {}, headers: {}, body: null } } });
    await pool.close();
    console.log(JSON.stringify({ body: result.response?.body, live: pool.stats().liveWorkers }));
  `;
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: packageRoot, encoding: "utf8", timeout: 60_000 });
  expect(child.stderr).toBe("");
  expect(JSON.parse(child.stdout.trim().split("\n").pop()!)).toEqual({ body: "from dist", live: 0 });
});
