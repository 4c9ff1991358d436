import { Kysely, PostgresDialect, sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestHost, type TestHost } from "../../src/testing/index.js";
import type { InstallInfo } from "../../src/index.js";
import { runSql, sqlBundle, type SqlResult } from "./support.js";

/**
 * The role layer as production runs it: the host connects to PostgreSQL as an
 * ordinary login role (not a superuser) holding only what docs/storage-sql.md
 * lists — LOGIN, CREATEROLE, and CREATE on the database — and every install's
 * role, schema and migrations are made by that role. PostgreSQL only: PGlite
 * has no roles worth the name (every session is a superuser).
 */
const DATABASE_URL = process.env["ANNEX_TEST_DATABASE_URL"];

if (DATABASE_URL === undefined || DATABASE_URL === "") {
  describe.skip("owned schemas with a non-superuser host role (skipped: set ANNEX_TEST_DATABASE_URL; PGlite has no roles)", () => {
    it("installs, queries, refuses escapes and purges as a non-superuser", () => {});
  });
} else {
  describe("owned schemas with a non-superuser host role on PostgreSQL", () => {
    const suffix = `${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`;
    const hostRole = `annex_host_${suffix}`;
    const annexSchema = `annex_nsu_${suffix}`;
    let admin: Kysely<any>;
    let t: TestHost;
    let own: InstallInfo;
    let other: InstallInfo;

    const refused = (result: SqlResult) => expect(result).toMatchObject({ ok: false, code: "E_SQL_REFUSED" });

    /**
     * Runs `statement` as the install's role through the host's own connection, past the guard: what the
     * role alone allows. Always rolled back, so that nothing it sets (a session-level SET ROLE) outlives it
     * on the pooled connection.
     */
    async function asInstallRole(install: InstallInfo, statement: string): Promise<{ ok: true } | { ok: false; sqlstate: string; message: string }> {
      const rollback = new Error("roll back");
      try {
        await t.host.database.root.transaction().execute(async (trx) => {
          await sql.raw(`SET LOCAL ROLE "${install.sql!.schema}"`).execute(trx);
          await sql.raw(statement).execute(trx);
          throw rollback;
        });
      } catch (error) {
        if (error === rollback) return { ok: true };
        return { ok: false, sqlstate: (error as { code: string }).code, message: (error as Error).message };
      }
      throw new Error("unreachable: the transaction always rolls back");
    }

    beforeAll(async () => {
      const { default: pg } = await import("pg");
      admin = new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: DATABASE_URL, max: 2 }) }) });
      const database = (await sql<{ db: string }>`SELECT current_database() AS db`.execute(admin)).rows[0]!.db;
      // The minimal grants (docs/storage-sql.md): log in, create the installs' roles, create schemas (Annex's and the installs').
      await sql.raw(`CREATE ROLE "${hostRole}" LOGIN NOSUPERUSER NOCREATEDB CREATEROLE NOREPLICATION NOBYPASSRLS`).execute(admin);
      await sql.raw(`GRANT CREATE ON DATABASE "${database}" TO "${hostRole}"`).execute(admin);
      const url = new URL(DATABASE_URL);
      url.username = hostRole;
      url.password = "";
      t = await createTestHost({ database: url.toString(), schema: annexSchema });
      own = await t.install(await sqlBundle());
      other = await t.install(await sqlBundle(), { tenant: "tenant-b" });
    }, 60_000);

    afterAll(async () => {
      try {
        if (t !== undefined) {
          for (const tenant of ["test-tenant", "tenant-b"]) {
            for (const install of await t.host.listInstalls(tenant)) await t.host.uninstall(tenant, install.extensionId, { purge: true });
          }
          await t.close();
        }
      } finally {
        // Whatever a failed run left: the installs' roles (the host's role is a member of each), Annex's schema, the host's role.
        const leftovers = await sql<{ role: string }>`
          SELECT r.rolname AS role FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles h ON h.oid = m.member
          WHERE h.rolname = ${hostRole}`.execute(admin);
        await sql.raw(`DROP SCHEMA IF EXISTS "${annexSchema}" CASCADE`).execute(admin);
        for (const { role } of leftovers.rows) {
          await sql.raw(`DROP OWNED BY "${role}" CASCADE`).execute(admin);
          await sql.raw(`DROP ROLE IF EXISTS "${role}"`).execute(admin);
        }
        await sql.raw(`DROP OWNED BY "${hostRole}" CASCADE`).execute(admin);
        await sql.raw(`DROP ROLE IF EXISTS "${hostRole}"`).execute(admin);
        await admin.destroy();
      }
    });

    it("connects as a role that is not a superuser", async () => {
      const me = await sql<{ me: string; rolsuper: boolean; rolcreaterole: boolean }>`
        SELECT current_user AS me, rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user`.execute(t.host.database.root);
      expect(me.rows[0]).toEqual({ me: hostRole, rolsuper: false, rolcreaterole: true });
    });

    it("installs with migrations: each install gets a schema owned by a role of its own, and its ledger", async () => {
      for (const install of [own, other]) {
        const status = await t.sql(install.id).status();
        expect(status).toMatchObject({ status: "ready", version: "0001" });
        const owner = await sql<{ owner: string; login: boolean; sup: boolean }>`
          SELECT pg_get_userbyid(n.nspowner) AS owner, r.rolcanlogin AS login, r.rolsuper AS sup
          FROM pg_namespace n JOIN pg_roles r ON r.rolname = pg_get_userbyid(n.nspowner) WHERE n.nspname = ${status!.schema}`.execute(admin);
        expect(owner.rows[0]).toEqual({ owner: status!.schema, login: false, sup: false });
      }
    });

    it("runs the extension's statements as its role, in its schema", async () => {
      expect(await runSql(t, "SELECT current_user AS me, name FROM items WHERE id = $1", ["a"])).toEqual({
        ok: true,
        rows: [{ me: own.sql!.schema, name: "apple" }],
        rowCount: 1,
      });
      expect(await runSql(t, "INSERT INTO items (id, name, n) VALUES ($1, $2, $3) RETURNING n", ["c", "cherry", 3])).toEqual({ ok: true, rows: [{ n: 3 }], rowCount: 1 });
      expect((await runSql(t, "SELECT count(*)::int AS n FROM items", [], "tenant-b")).rows).toEqual([{ n: 2 }]);
    });

    it("refuses identity changes from a handler, and the role stays its own afterwards", async () => {
      refused(await runSql(t, "SET ROLE postgres"));
      refused(await runSql(t, `SET ROLE "${hostRole}"`));
      refused(await runSql(t, "RESET ROLE"));
      refused(await runSql(t, "SET SESSION AUTHORIZATION postgres"));
      refused(await runSql(t, "SELECT set_config('role', 'postgres', true)"));
      expect((await runSql(t, "SELECT current_user AS me")).rows).toEqual([{ me: own.sql!.schema }]);
    });

    it("refuses Annex's tables and the other install's schema from a handler", async () => {
      refused(await runSql(t, `SELECT * FROM "${annexSchema}".annex_installs`));
      refused(await runSql(t, `SELECT * FROM "${other.sql!.schema}".items`));
      expect(await runSql(t, "SELECT * FROM annex_installs")).toMatchObject({ ok: false, code: "E_SQL_FAILED" });
    });

    it("holds at the role layer too: past the guard, the install's role reaches nothing but its schema", async () => {
      const denied = (result: Awaited<ReturnType<typeof asInstallRole>>) => expect(result).toMatchObject({ ok: false, sqlstate: "42501" });
      denied(await asInstallRole(own, `SELECT * FROM "${annexSchema}".annex_installs`));
      denied(await asInstallRole(own, `SELECT * FROM "${other.sql!.schema}".items`));
      denied(await asInstallRole(own, `INSERT INTO "${other.sql!.schema}".items (id, name) VALUES ('x', 'x')`));
      denied(await asInstallRole(own, "SELECT pg_read_file('/etc/passwd')"));
      denied(await asInstallRole(own, "CREATE SCHEMA escape_attempt"));
      denied(await asInstallRole(own, "SET ROLE postgres"));
      denied(await asInstallRole(own, "SET SESSION AUTHORIZATION postgres"));
      expect(await asInstallRole(own, `SELECT * FROM "${own.sql!.schema}".items`)).toEqual({ ok: true });
    });

    it("shows why identity changes are the guard's to refuse: SET ROLE is checked against the session's user, the host", async () => {
      // Past the guard, the install's role could become any role the host's role may become — the host
      // itself, another install's role — as RESET ROLE would. Layer 1 refuses every spelling of it (the
      // test above); a host role that is not a superuser keeps even that worst case short of a superuser.
      expect(await asInstallRole(own, `SET ROLE "${hostRole}"`)).toEqual({ ok: true });
      expect(await asInstallRole(own, `SET ROLE "${other.sql!.schema}"`)).toEqual({ ok: true });
      expect(await asInstallRole(own, "SET ROLE postgres")).toMatchObject({ ok: false, sqlstate: "42501" });
    });

    it("purges an install as the non-superuser: its schema and its role are gone", async () => {
      const schema = other.sql!.schema;
      await t.host.uninstall("tenant-b", "acme.notes", { purge: true });
      const left = await sql<{ schemas: number; roles: number }>`
        SELECT (SELECT count(*)::int FROM pg_namespace WHERE nspname = ${schema}) AS schemas,
               (SELECT count(*)::int FROM pg_roles WHERE rolname = ${schema}) AS roles`.execute(admin);
      expect(left.rows[0]).toEqual({ schemas: 0, roles: 0 });
    });
  });
}
