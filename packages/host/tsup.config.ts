import { defineConfig } from "tsup";

export default defineConfig({
  entry: { index: "src/index.ts", "testing/index": "src/testing/index.ts", "testing/bus-contract": "src/testing/bus-contract.ts", "testing/store-contracts": "src/testing/store-contracts.ts", "adapters/express": "src/adapters/express.ts", "adapters/node": "src/adapters/node.ts" },
  format: ["esm"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "node20",
  platform: "node",
});
