import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

// Once for the whole run: every test file's PGlite backend (testDatabaseBackends) starts from a freshly
// initialised cluster instead of running initdb itself, ≈2 s less per file on a 2-core machine.
// @annex/host is imported from its build (which `npm test` makes first); without one the suite runs as
// before, each backend running initdb.
export default async function setup(): Promise<() => Promise<void>> {
  let testing: typeof import("@annex/host/testing");
  try {
    testing = await import("@annex/host/testing");
    if (typeof testing.writePGliteSnapshot !== "function") throw new Error("the build predates writePGliteSnapshot");
  } catch (error) {
    console.warn(`global setup: no PGlite snapshot (${(error as Error).message}); run pnpm build for faster database suites`);
    return async () => {};
  }
  const { PGLITE_SNAPSHOT_ENV, writePGliteSnapshot } = testing;
  const dir = await mkdtemp(join(tmpdir(), "annex-pglite-snapshot-"));
  process.env[PGLITE_SNAPSHOT_ENV] = await writePGliteSnapshot(join(dir, "fresh.tar"));
  return async () => {
    delete process.env[PGLITE_SNAPSHOT_ENV];
    await rm(dir, { recursive: true, force: true });
  };
}
