import { mkdir, writeFile } from "node:fs/promises";
import { defineConfig } from "tsup";
import { baseCss } from "./src/base-css.js";

export default defineConfig({
  entry: ["src/index.ts", "src/tokens.ts"],
  format: ["esm"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "es2022",
  platform: "browser",
  // dist/base.css is generated from the same token definitions as the JS, so the two cannot drift.
  async onSuccess() {
    await mkdir("dist", { recursive: true });
    await writeFile("dist/base.css", baseCss);
  },
});
