import { sql, type Kysely } from "kysely";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Host } from "../../src/index.js";
import { describeBackends } from "../support/backends.js";
import { bearer, gatewayWorld, req, type GatewayWorld, type WorldOptions } from "./support.js";

const POSTGRES_URL = process.env["ANNEX_TEST_DATABASE_URL"];

/** Polls until `check` holds; install changes arrive asynchronously (on the listener's connection). */
async function eventually(check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

// The world's host and a second host over the same database stand for two host processes. The second
// caches serving installs for ten minutes: what reaches it sooner came through LISTEN/NOTIFY.
describeBackends("install changes across hosts", (backend) => {
  let world: GatewayWorld;
  const listening: WorldOptions = { policy: { installCacheMs: 600_000 }, ...(backend.name === "postgres" ? { notifications: POSTGRES_URL } : {}) };
  const status = async (host: Host, tenant: string) => (await host.handle(req("GET", "/api/ext/acme.gw/hello/x", { headers: bearer("ada", tenant) }))).status;

  beforeAll(async () => {
    world = await gatewayWorld(backend);
  });
  afterAll(() => world.close());

  it("a disable made by one host reaches the other host's cache at once, and so does the enable", async () => {
    await world.installFor("c1");
    const other = await world.hostWith(listening);
    expect(await status(other, "c1")).toBe(200);
    await world.host.disable("c1", "acme.gw");
    await eventually(async () => (await status(other, "c1")) === 404);
    await world.host.enable("c1", "acme.gw");
    expect(await status(other, "c1")).toBe(200);
    await world.host.uninstall("c1", "acme.gw");
    await eventually(async () => (await status(other, "c1")) === 404);
  });

  it("a change made with plain SQL, outside any host, reaches the cache too (a trigger announces it)", async () => {
    await world.installFor("c2");
    const other = await world.hostWith(listening);
    expect(await status(other, "c2")).toBe(200);
    await world.host.database.db.updateTable("annex_installs").set({ state: "disabled" }).where("tenant", "=", "c2").execute();
    await eventually(async () => (await status(other, "c2")) === 404);
  });

  it("a change rolled back announces nothing, and a host that does not listen keeps its copy for installCacheMs", async () => {
    await world.installFor("c3");
    const deaf = await world.hostWith({ policy: { installCacheMs: 600_000 }, notifications: false });
    const other = await world.hostWith(listening);
    expect(await status(deaf, "c3")).toBe(200);
    expect(await status(other, "c3")).toBe(200);
    await world.host.database.db
      .transaction()
      .execute(async (trx) => {
        await trx.updateTable("annex_installs").set({ state: "disabled" }).where("tenant", "=", "c3").execute();
        throw new Error("rolled back");
      })
      .catch(() => {});
    await world.host.disable("c3", "acme.gw");
    await eventually(async () => (await status(other, "c3")) === 404);
    expect(await status(deaf, "c3")).toBe(200);
  });

  it("refuses a notifications option that is not a postgres:// URL", async () => {
    await expect(world.hostWith({ notifications: "mysql://x" as string })).rejects.toMatchObject({ code: "E_DATABASE_CONFIG", details: { field: "notifications" } });
  });

  if (backend.name === "postgres") {
    it("when its LISTEN connection is cut, the host reconnects, forgets everything it cached, and hears later changes", async () => {
      await world.installFor("c4");
      await world.installFor("c5");
      const other = await world.hostWith(listening);
      expect(await status(other, "c4")).toBe(200);
      expect(await status(other, "c5")).toBe(200);
      const root = (await backend.connect()) as Kysely<any>;
      // A change nobody hears: the listener is cut first, and the row is changed before it is back.
      await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ${`annex:listen:${process.pid}`}`.execute(root);
      await world.host.database.db.updateTable("annex_installs").set({ state: "disabled" }).where("tenant", "=", "c4").execute();
      // After the reconnect the whole cache is dropped, so the change missed meanwhile applies too.
      await eventually(async () => (await status(other, "c4")) === 404);
      await world.host.disable("c5", "acme.gw");
      await eventually(async () => (await status(other, "c5")) === 404);
    });
  }
});
