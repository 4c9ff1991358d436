import { defineConfig } from "vitest/config";

// This extension's own test run, independent of any config in a parent folder.
// The hook timeout leaves room for the test host's embedded PostgreSQL (PGlite) to start.
export default defineConfig({
  test: { include: ["test/**/*.test.ts"], hookTimeout: 60_000 },
});
