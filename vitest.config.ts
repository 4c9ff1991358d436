import { availableParallelism } from "node:os";
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
    // One PGlite snapshot for the run: each file's PGlite backend starts from it instead of running initdb.
    globalSetup: ["tests/global-setup.ts"],
    // Vitest's default is one worker fewer than the cores: one worker on a two-core machine, which then idles
    // while a file waits on Chromium, child processes or PostgreSQL. Two workers there took the suite from
    // 1,811 s to 1,485 s (2-vCPU EPYC, 2026-12-07); larger machines keep the default.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    // Hosts log to stdout by default; a suite's output stays readable. Tests that check logging pass their own logger.
    env: { ANNEX_LOG_LEVEL: "silent" },
    reporters: ["default"],
  },
});
