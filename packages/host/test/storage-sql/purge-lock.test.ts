import { sql, type Kysely } from "kysely";
import { expect, it } from "vitest";
import { describeBackends } from "../support/backends.js";
import { sqlBundle } from "./support.js";
import { createTestHost } from "../../src/testing/index.js";

describeBackends("purging an owned schema another session holds a lock in", (backend) => {
  it.skipIf(backend.name !== "postgres")(
    "fails with E_SQL_BUSY after its lock timeout instead of waiting without end, purges nothing, and succeeds once the lock is gone",
    async () => {
      // A red team: a session holding ACCESS SHARE on one of the install's tables (pg_dump, a report) kept the purge,
      // and getInstall of the install, waiting for as long as it lasted.
      const t = await createTestHost({ database: await backend.connect(), schema: backend.freshSchema("annex_purgelock") });
      const install = await t.install(await sqlBundle());
      const schema = install.sql!.schema;
      const admin = (await backend.connect()) as Kysely<any>;
      let release: () => void = () => {};
      const held = new Promise<void>((resolve) => (release = resolve));
      let locked: () => void = () => {};
      const holding = new Promise<void>((resolve) => (locked = resolve));
      const session = admin.transaction().execute(async (trx) => {
        await sql`LOCK TABLE ${sql.id(schema, "items")} IN ACCESS SHARE MODE`.execute(trx);
        locked();
        await held;
      });
      try {
        await holding;
        const started = Date.now();
        await expect(t.host.uninstall("test-tenant", "acme.notes", { purge: true })).rejects.toMatchObject({ code: "E_SQL_BUSY", message: expect.stringMatching(/holds a lock/) });
        expect(Date.now() - started).toBeLessThan(15_000);
        expect(await t.host.getInstall("test-tenant", "acme.notes")).toMatchObject({ state: "active" });
        const still = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = ${schema}`.execute(admin);
        expect(still.rows[0]!.n).toBe(1);
      } finally {
        release();
        await session;
      }
      await expect(t.host.uninstall("test-tenant", "acme.notes", { purge: true })).resolves.toMatchObject({ purged: true });
      await t.close();
    },
    30_000,
  );
});
