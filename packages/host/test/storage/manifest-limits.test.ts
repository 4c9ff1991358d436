import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestHost, type TestHost } from "../../src/testing/index.js";
import { describeBackends } from "../support/backends.js";
import { FIRST_MIGRATION, runSql, sqlBundle } from "../storage-sql/support.js";
import { kvBundle, kvCall, kvManifest } from "./kv-fixtures.js";

/** A manifest's `storage.limits`, each capped by the host's policy, through the production path (createHost, gateway, runner). */
describeBackends("manifest storage.limits", (backend) => {
  let t: TestHost;
  const kvPolicy = { keyBytes: 32, valueBytes: 64, keys: 10, totalBytes: 1000 };
  const sqlPolicy = { timeoutMs: 1500, maxRows: 50, maxBytes: 20_000 };

  beforeAll(async () => {
    t = await createTestHost({ database: await backend.connect(), schema: backend.freshSchema("mlimits"), kv: { limits: kvPolicy, sweepIntervalMs: 0 }, sql: { limits: sqlPolicy } });
  });
  afterAll(async () => {
    if (t === undefined) return;
    for (const tenant of ["lim-kv", "lim-sql-low", "lim-sql-high"]) {
      for (const install of await t.host.listInstalls(tenant)) await t.host.uninstall(tenant, install.extensionId, { purge: true });
    }
    await t.close();
  });

  it("kv: what the manifest asks below the policy holds, what it asks above is capped", async () => {
    const manifest = kvManifest({ storage: { kind: "kv", limits: { keys: 2, valueBytes: 1_000_000 } } });
    const install = await t.install(await kvBundle(manifest), { tenant: "lim-kv" });
    expect(await t.kv(install.id).limits()).toEqual({ keyBytes: 32, valueBytes: 64, keys: 2, totalBytes: 1000 });
    const call = (op: string, ...args: unknown[]) => kvCall(t, op, args, { tenant: "lim-kv" });
    expect((await call("set", "a", 1)).result).toEqual({ version: expect.any(Number) });
    expect((await call("set", "b", 1)).result).toEqual({ version: expect.any(Number) });
    expect(await call("set", "c", 1)).toMatchObject({ code: "E_KV_QUOTA_EXCEEDED", message: expect.stringContaining("2 keys") });
    expect(await call("set", "a", "x".repeat(63))).toMatchObject({ code: "E_KV_QUOTA_EXCEEDED", message: expect.stringContaining("valueBytes limit of 64") });
    expect((await t.kv(install.id).list()).keys).toEqual(["a", "b"]);
  });

  it("sql: a manifest's maxRows below the policy holds for ctx.sql.query and t.sql", async () => {
    const install = await t.install(await sqlBundle({ "0001_items.sql": FIRST_MIGRATION }, { storage: { kind: "owned-schema", migrations: "migrations", limits: { maxRows: 1, maxBytes: 10_000_000 } } }), { tenant: "lim-sql-low" });
    expect(await runSql(t, "SELECT id FROM items WHERE id = $1", ["a"], "lim-sql-low")).toMatchObject({ ok: true, rows: [{ id: "a" }] });
    expect(await runSql(t, "SELECT id FROM items ORDER BY id", [], "lim-sql-low")).toMatchObject({ ok: false, code: "E_SQL_TOO_MANY_ROWS", message: expect.stringContaining("more than 1 rows") });
    await expect(t.sql(install.id).query("SELECT id FROM items ORDER BY id")).rejects.toMatchObject({ code: "E_SQL_TOO_MANY_ROWS" });
  });

  it("sql: a manifest's maxRows above the policy is capped by it", async () => {
    const overrides = { id: "acme.bignotes", name: "Big notes", storage: { kind: "owned-schema", migrations: "migrations", limits: { maxRows: 1_000_000, timeoutMs: 300_000 } } };
    await t.install(await sqlBundle({ "0001_items.sql": FIRST_MIGRATION }, overrides), { tenant: "lim-sql-high" });
    const values = Array.from({ length: 60 }, (_, i) => `('k${i}', 'n${i}')`).join(", ");
    expect(await runSql(t, `INSERT INTO items (id, name) VALUES ${values}`, [], "lim-sql-high", "acme.bignotes")).toMatchObject({ ok: true, rowCount: 60 });
    expect(await runSql(t, "SELECT id FROM items ORDER BY id LIMIT 50", [], "lim-sql-high", "acme.bignotes")).toMatchObject({ ok: true, rowCount: 50 });
    expect(await runSql(t, "SELECT id FROM items ORDER BY id", [], "lim-sql-high", "acme.bignotes")).toMatchObject({ ok: false, code: "E_SQL_TOO_MANY_ROWS", message: expect.stringContaining("more than 50 rows") });
  });

  it("refuses a bundle whose storage.limits are malformed with E_MANIFEST naming the field (packing, as annex pack does)", async () => {
    for (const [limits, field] of [[{ keys: 0 }, "storage.limits.keys"], [{ valueBytes: 1.5 }, "storage.limits.valueBytes"], [{ keyBytes: 4096 }, "storage.limits.keyBytes"], [{ rows: 1 }, "storage.limits"]] as const) {
      const manifest = kvManifest({ id: "acme.badlimits", name: "Bad limits", storage: { kind: "kv", limits } });
      await expect(kvBundle(manifest), JSON.stringify(limits)).rejects.toMatchObject({ code: "E_MANIFEST", message: expect.stringContaining(field) });
    }
  });
});
