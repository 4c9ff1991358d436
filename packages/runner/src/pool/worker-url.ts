import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/**
 * Where the pool's worker script lives.
 *
 * Built package: tsup emits `dist/pool-worker.js` beside the bundle that holds
 * this code, so `./pool-worker.js` next to `import.meta.url` is the worker.
 *
 * From source (vitest, tsx): Node 20 cannot load a `.ts` worker (loader hooks
 * registered with `--import` do not reach worker threads), so the worker entry
 * is bundled once per process with esbuild (a devDependency, imported only on
 * this path) into `node_modules/.cache/annex-runner/` of this package, where
 * Node resolves the runtime dependencies left external (QuickJS loads its
 * .wasm file relative to its own module, so it must stay a real package).
 */
let sourceBuild: Promise<URL> | undefined;

export function resolveWorkerUrl(): Promise<URL> {
  const here = import.meta.url;
  if (!here.endsWith(".ts")) return Promise.resolve(new URL("./pool-worker.js", here));
  sourceBuild ??= buildWorkerFromSource(fileURLToPath(new URL("./worker-entry.ts", here)));
  return sourceBuild;
}

async function buildWorkerFromSource(entry: string): Promise<URL> {
  const packageRoot = join(dirname(entry), "..", "..");
  const pkg = JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { dependencies?: Record<string, string> };
  // Runtime dependencies stay external (resolved from this package's node_modules); workspace sources are bundled.
  const external = Object.keys(pkg.dependencies ?? {}).filter((name) => !name.startsWith("@annex/"));
  // The specifier is a variable so that bundlers building the package leave esbuild out of it.
  const esbuildId = "esbuild";
  const esbuild = (await import(esbuildId)) as typeof import("esbuild");
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: "esm",
    platform: "node",
    target: "node20",
    conditions: ["source"],
    external: external.flatMap((name) => [name, `${name}/*`]),
    sourcemap: "inline",
    logLevel: "silent",
  });
  const code = result.outputFiles[0]!.text;
  const dir = join(packageRoot, "node_modules", ".cache", "annex-runner");
  const file = join(dir, `pool-worker.${createHash("sha256").update(code).digest("hex").slice(0, 16)}.mjs`);
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    // Write then rename: parallel test processes may build the same file at once.
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, code);
    renameSync(tmp, file);
  }
  return pathToFileURL(file);
}
