import { defineConfig } from "tsup";

export default defineConfig({
  // pool-worker: the worker thread script of createWorkerPoolRunner, found beside the bundle at run time.
  entry: { index: "src/index.ts", guest: "src/guest.ts", "pool-worker": "src/pool/worker-entry.ts" },
  format: ["esm"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "node20",
  platform: "node",
});
