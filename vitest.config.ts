import { defineConfig } from "vitest/config";

// One root config: every package's tests resolve sibling packages through the
// "source" export condition, so tests run against src/ without a build step.
export default defineConfig({
  resolve: {
    conditions: ["source"],
  },
  ssr: {
    resolve: {
      conditions: ["source"],
    },
  },
  test: {
    include: ["packages/*/test/**/*.test.ts", "examples/**/test/**/*.test.ts", "tests/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Hosts log to stdout by default; a suite's output stays readable. Tests that check logging pass their own logger.
    env: { ANNEX_LOG_LEVEL: "silent" },
    reporters: ["default"],
  },
});
