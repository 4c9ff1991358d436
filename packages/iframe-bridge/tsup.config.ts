import { defineConfig } from "tsup";

export default defineConfig({
  entry: { index: "src/index.ts", "host/index": "src/host/index.ts", "client/index": "src/client/index.ts" },
  format: ["esm"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "es2022",
  platform: "browser",
});
