import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createHost } from "../../src/index.js";
import { sql } from "kysely";
import { createPGliteFrom, createTestHost, PGLITE_SNAPSHOT_ENV, PGliteSnapshotError, testDatabaseBackends, writePGliteSnapshot } from "../../src/testing/index.js";

const dir = mkdtempSync(join(tmpdir(), "annex-snapshot-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("PGlite snapshots for test suites", () => {
  it("starts the PGlite backend from a snapshot: a cluster nothing touched, where a host installs its schema", async () => {
    const path = await writePGliteSnapshot(join(dir, "fresh.tar"));
    const [backend] = testDatabaseBackends({ postgresUrl: "", pgliteSnapshot: path });
    try {
      const pglite = await backend!.connect();
      expect("dumpDataDir" in pglite).toBe(true); // a PGlite, not a Kysely
      const schemas = await (pglite as import("@electric-sql/pglite").PGlite).query<{ nspname: string }>(
        "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY 1",
      );
      expect(schemas.rows.map((row) => row.nspname)).toEqual(["public"]);
      const host = await createHost({ database: pglite as never, schema: backend!.freshSchema() });
      try {
        expect(await host.getInstall("t", "acme.none")).toBeNull();
      } finally {
        await host.close();
      }
      // Two backends from one snapshot are two databases: what one writes the other does not see.
      const [other] = testDatabaseBackends({ postgresUrl: "", pgliteSnapshot: path });
      try {
        await (pglite as import("@electric-sql/pglite").PGlite).exec("CREATE TABLE only_in_first (x int)");
        const seen = await ((await other!.connect()) as import("@electric-sql/pglite").PGlite).query("SELECT to_regclass('public.only_in_first') AS t");
        expect(seen.rows).toEqual([{ t: null }]);
      } finally {
        await other!.cleanup();
      }
    } finally {
      await backend!.cleanup();
    }
  });

  it("starts createTestHost's own in-memory PGlite from the snapshot it is given (pgliteSnapshot, else ANNEX_TEST_PGLITE_SNAPSHOT)", async () => {
    // A snapshot with something in it shows which cluster the host started on; writePGliteSnapshot's are untouched.
    const { PGlite } = await import("@electric-sql/pglite");
    const seeded = await PGlite.create();
    await seeded.exec("CREATE TABLE public.seeded_marker (x int)");
    const path = join(dir, "seeded.tar");
    writeFileSync(path, new Uint8Array(await (await seeded.dumpDataDir("none")).arrayBuffer()));
    await seeded.close();
    const marked = async (t: Awaited<ReturnType<typeof createTestHost>>) =>
      (await sql<{ t: string | null }>`SELECT to_regclass('public.seeded_marker')::text AS t`.execute(t.host.database.root)).rows[0]!.t;
    const before = process.env[PGLITE_SNAPSHOT_ENV];
    try {
      const given = await createTestHost({ pgliteSnapshot: path });
      try {
        expect(await marked(given)).toBe("seeded_marker");
      } finally {
        await given.close();
      }
      process.env[PGLITE_SNAPSHOT_ENV] = path;
      const fromEnv = await createTestHost();
      try {
        expect(await marked(fromEnv)).toBe("seeded_marker");
      } finally {
        await fromEnv.close();
      }
      const missing = join(dir, "gone.tar");
      await expect(createTestHost({ pgliteSnapshot: missing })).rejects.toMatchObject({ code: "E_PGLITE_SNAPSHOT", details: { path: missing } });
    } finally {
      if (before === undefined) delete process.env[PGLITE_SNAPSHOT_ENV];
      else process.env[PGLITE_SNAPSHOT_ENV] = before;
    }
  }, 120_000);

  it("says which snapshot it cannot read, and what to do", async () => {
    const missing = join(dir, "missing.tar");
    const error = await createPGliteFrom(missing).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PGliteSnapshotError);
    expect(error).toMatchObject({ code: "E_PGLITE_SNAPSHOT", details: { path: missing } });
    expect((error as Error).message).toContain("writePGliteSnapshot");
  });

  it("refuses a file that is not a snapshot instead of starting an empty or broken database", async () => {
    const garbage = join(dir, "garbage.tar");
    writeFileSync(garbage, "not a tar file at all".repeat(100));
    const error = await createPGliteFrom(garbage).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PGliteSnapshotError);
    expect((error as Error).message).toContain("write it again");
  });
});
