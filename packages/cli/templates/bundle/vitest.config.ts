import { defineConfig } from "vitest/config";

// This extension's own test run, independent of any config in a parent folder.
export default defineConfig({
  test: { include: ["test/**/*.test.ts"] },
});
