import { defineConfig } from "tsup";

export default defineConfig({
  // Three entries, one build: code splitting puts what they share in chunks,
  // so all see the same classes and the same isVerifiedBundle brand.
  entry: ["src/index.ts", "src/node.ts", "src/runtime.ts"],
  format: ["esm"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "es2022",
  platform: "neutral",
  splitting: true,
  // Only the Node entry imports these (the main entry must stay free of
  // them), and with their node: prefix, so no bundler mistakes them for npm packages.
  external: [/^node:/],
  removeNodeProtocol: false,
});
