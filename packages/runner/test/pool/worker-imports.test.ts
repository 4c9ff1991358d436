import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { expect, it } from "vitest";

/**
 * Every worker the pool starts (at start, as an extra worker, as the
 * replacement after a watchdog kill) imports its script before it can take
 * work; while it does, a one-worker pool serves nobody. @annex/manifest's
 * main entry builds its zod schemas on import (~150 ms of a ~310 ms worker
 * import, measured): the worker reaches the manifest package only through its
 * schema-free `runtime` entry.
 */
it("the worker script's import graph holds no manifest schema and no zod", async () => {
  const result = await build({
    entryPoints: [fileURLToPath(new URL("../../src/pool/worker-entry.ts", import.meta.url))],
    bundle: true,
    write: false,
    metafile: true,
    format: "esm",
    platform: "node",
    conditions: ["source"],
    logLevel: "silent",
  });
  const inputs = Object.keys(result.metafile.inputs);
  // The graph was walked through the manifest package (so the check below has something to miss).
  expect(inputs.some((path) => path.includes("packages/manifest/src/runtime.ts"))).toBe(true);
  expect(inputs.filter((path) => /(^|\/)zod\//.test(path) || path.includes("packages/manifest/src/index.ts") || path.includes("manifest/src/manifest/schema.ts"))).toEqual([]);
});
