import pg from "pg";
import { afterEach, expect, it } from "vitest";
import { createTestHost, type TestHost } from "../../src/testing/index.js";
import { describeBackends, describePostgres } from "../support/backends.js";
import { createLedger, manualClock, REPORT_JOBS, reportsBundle } from "./support.js";

/**
 * Job claims and finishes against lifecycle calls on the same install, in
 * the interleavings that deadlocked: a third session holds a row so that
 * each side is caught holding what the other then asks for. PostgreSQL
 * alone: PGlite is one connection, where nothing waits on anything.
 */
describePostgres("jobs against lifecycle calls", (backend) => {
  const url = process.env["ANNEX_TEST_DATABASE_URL"]!;
  const open: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const item of open.splice(0).reverse()) await item.close();
  });

  async function session(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    open.push({ close: () => client.end() });
    return client;
  }

  async function world(ledger = createLedger()) {
    const clock = manualClock();
    const schema = backend.freshSchema("annex_job_locks");
    const t: TestHost = await createTestHost({ database: await backend.connect(), schema, capabilities: [ledger.capability], now: clock.now });
    open.push(t);
    const install = await t.install(await reportsBundle("1.0.0", { jobs: REPORT_JOBS.filter((job) => job.name === "hourly") }));
    await t.jobs.tick();
    return { t, clock, schema, install, admin: await session() };
  }

  /** Until `n` sessions of the test database wait on a lock. */
  async function lockWaits(admin: pg.Client, n: number): Promise<void> {
    for (let i = 0; i < 500; i++) {
      const { rows } = await admin.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()");
      if (rows[0]!.n >= n) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error(`${n} sessions never waited on a lock`);
  }

  const settle = <T>(promise: Promise<T>) => promise.then((value) => ({ value }), (error: unknown) => ({ error: String(error) }));

  const calls = {
    disable: (t: TestHost) => t.disable("acme.reports").then((install) => install.state),
    uninstall: (t: TestHost) => t.uninstall("acme.reports").then((result) => result.install.state),
    purge: (t: TestHost) => t.uninstall("acme.reports", { purge: true }).then((result) => (result.purged ? "purged" : "kept")),
  };
  const outcome = { disable: "disabled", uninstall: "uninstalled", purge: "purged" };

  it.each(Object.keys(calls) as Array<keyof typeof calls>)("a claim holding its job row while %s changes the install: both complete", async (call) => {
    const { t, clock, schema, install, admin } = await world();
    // A run whose host died: the claim that takes its job over closes the run first, then records its own.
    await admin.query(
      `INSERT INTO ${schema}.annex_job_runs (id, install_id, tenant, extension_id, version, name, trigger, actor, owner, scheduled_at, started_at, outcome)
        VALUES ('stale', $1, 'test-tenant', 'acme.reports', '1.0.0', 'hourly', 'schedule', 'system', 'gone', now(), now(), 'running')`,
      [install.id],
    );
    await admin.query(`UPDATE ${schema}.annex_jobs SET run_id = 'stale', lease = 'gone', lease_owner = 'gone', lease_until = $1`, [new Date(clock.now() - 1000)]);
    const holder = await session();
    await holder.query("BEGIN");
    await holder.query(`SELECT 1 FROM ${schema}.annex_job_runs WHERE id = 'stale' FOR UPDATE`);
    clock.advance(3_600_000);
    const tick = settle(t.jobs.tick()); // holds the job row, waits for the stale run
    await lockWaits(admin, 1);
    const change = settle(calls[call](t)); // holds the install row, its trigger waits for the job row
    await lockWaits(admin, 2);
    await holder.query("COMMIT"); // the claim goes on to record its run, whose foreign key names the install
    // Before, PostgreSQL found a deadlock after a second and failed the admin's call with it.
    expect(await change).toEqual({ value: outcome[call] });
    // The claim committed first, so its run is recorded and ends: ok, or refused when the install had stopped serving by the time it ran.
    const ticked = await tick;
    expect(ticked).toMatchObject({ value: { ran: 1 } });
    const { rows } = await admin.query<{ id: string; outcome: string }>(`SELECT id, outcome FROM ${schema}.annex_job_runs ORDER BY seq`);
    expect(rows.map((row) => row.outcome)).toEqual(call === "purge" ? [] : ["error", "value" in ticked && ticked.value.ok === 1 ? "ok" : "error"]);
  });

  it("a run that finishes while a purge deletes its job: both complete", async () => {
    const { t, clock, schema, admin } = await world(createLedger({ delayMs: 1500 }));
    clock.advance(3_600_000);
    const tick = settle(t.jobs.tick());
    for (let i = 0; (await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}.annex_job_runs WHERE outcome = 'running'`)).rows[0]!.n === 0; i++) {
      if (i > 500) throw new Error("the run never started");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const holder = await session();
    await holder.query("BEGIN");
    await holder.query(`SELECT 1 FROM ${schema}.annex_jobs FOR UPDATE`);
    const purge = settle(calls.purge(t)); // its trigger waits for the job row
    await lockWaits(admin, 1);
    await lockWaits(admin, 2); // the run's finish too, once the ledger answers
    await holder.query("COMMIT");
    expect(await purge).toEqual({ value: "purged" });
    expect(await tick).toEqual({ value: { ran: 1, ok: 1, failed: 0 } });
    expect((await admin.query(`SELECT id FROM ${schema}.annex_job_runs`)).rows).toEqual([]);
  });
});

/**
 * The same finish against a purge without a third session: on PGlite (one connection) the two take turns, on
 * PostgreSQL they race for the rows. Either way both complete and the purge leaves no run behind. Also what keeps
 * this file a suite on a machine without PostgreSQL.
 */
describeBackends("a job run finishing while its install is purged", (backend) => {
  it("completes both: the purge removes the install, the run ends ok, and no run row is left", async () => {
    const clock = manualClock();
    const t: TestHost = await createTestHost({ database: await backend.connect(), schema: backend.freshSchema("annex_job_purge"), capabilities: [createLedger({ delayMs: 500 }).capability], now: clock.now });
    try {
      const install = await t.install(await reportsBundle("1.0.0", { jobs: REPORT_JOBS.filter((job) => job.name === "hourly") }));
      await t.jobs.tick();
      clock.advance(3_600_000);
      const tick = t.jobs.tick();
      for (let i = 0; (await t.host.jobs.runs({ installId: install.id })).items.every((run) => run.outcome !== "running"); i++) {
        if (i > 500) throw new Error("the run never started");
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const purged = await t.uninstall("acme.reports", { purge: true });
      expect(purged.purged).toBe(true);
      expect(await tick).toEqual({ ran: 1, ok: 1, failed: 0 });
      expect((await t.host.jobs.runs({ installId: install.id })).items).toEqual([]);
    } finally {
      await t.close();
    }
  });
});
