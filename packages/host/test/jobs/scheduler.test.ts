import { sql } from "kysely";
import { afterEach, expect, it } from "vitest";
import { createHost, JobsError } from "../../src/index.js";
import { JobStore } from "../../src/jobs/job-store.js";
import { createTestHost, type TestHost } from "../../src/testing/index.js";
import { describeBackends } from "../support/backends.js";
import { makeBundle } from "../support/fixtures.js";
import { createLedger, manualClock, REPORT_JOBS, REPORTS_SERVER, reportsBundle, reportsManifest } from "./support.js";

const at = (iso: string) => new Date(iso).getTime();
const jobs = (...names: string[]) => REPORT_JOBS.filter((job) => names.includes(job.name));

describeBackends("jobs", (backend) => {
  const open: TestHost[] = [];
  afterEach(async () => {
    for (const t of open.splice(0)) await t.close();
  });

  async function world(options: { schema?: string; clock?: ReturnType<typeof manualClock>; ledger?: ReturnType<typeof createLedger>; limits?: { cpuMs?: number; wallMs?: number } } = {}) {
    const ledger = options.ledger ?? createLedger();
    const clock = options.clock ?? manualClock();
    const schema = options.schema ?? backend.freshSchema("annex_jobs");
    const t = await createTestHost({
      database: await backend.connect(),
      schema,
      capabilities: [ledger.capability],
      now: clock.now,
      ...(options.limits === undefined ? {} : { jobs: { limits: options.limits, timeoutMs: 5000 } }),
    });
    open.push(t);
    return { t, ledger, clock, schema };
  }

  it("runs a job when its time comes, with ctx.job, audits it and moves it to its next time", async () => {
    const { t, ledger, clock } = await world();
    const install = await t.install(await reportsBundle("1.0.0", { jobs: jobs("hourly") }));
    expect(await t.jobs.tick()).toEqual({ ran: 0, ok: 0, failed: 0 });
    const [before] = await t.host.jobs.list({ installId: install.id });
    expect(before).toMatchObject({ installId: install.id, tenant: "test-tenant", extensionId: "acme.reports", name: "hourly", cron: "0 * * * *", timezone: "UTC", running: false });
    expect(before!.nextRunAt).toEqual(new Date("2026-01-01T13:00:00.000Z"));
    expect(before!.lastRun).toBeUndefined();

    clock.advance(59 * 60_000); // 12:59: not yet
    expect((await t.jobs.tick()).ran).toBe(0);
    clock.advance(60_000 + 250); // 13:00:00.250
    expect(await t.jobs.tick()).toEqual({ ran: 1, ok: 1, failed: 0 });
    expect(ledger.notes()).toEqual(["hourly@2026-01-01T13:00:00.000Z"]);
    const execution = t.executions.find((e) => e.handler === "hourly")!;
    expect(execution.trigger).toBe("job");
    expect(execution.result.response?.body).toEqual({ name: "hourly", scheduledAt: "2026-01-01T13:00:00.000Z", arg: "2026-01-01T13:00:00.000Z", requestId: execution.requestId });

    const [after] = await t.host.jobs.list({ installId: install.id });
    expect(after!.nextRunAt).toEqual(new Date("2026-01-01T14:00:00.000Z"));
    expect(after!.lastRun).toMatchObject({ runId: execution.requestId, outcome: "ok", scheduledAt: new Date("2026-01-01T13:00:00.000Z"), startedAt: new Date(clock.now()) });
    const audit = await t.audit.list({ action: "job.run" });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor: "system", tenant: "test-tenant", target: "acme.reports", decision: "allow" });
    expect(audit[0]!.details).toMatchObject({ runId: execution.requestId, job: "hourly", trigger: "schedule", outcome: "ok", version: "1.0.0", scheduledAt: "2026-01-01T13:00:00.000Z" });
    expect(typeof audit[0]!.details["durationMs"]).toBe("number");
    // Nothing more is due at 13:00.
    expect((await t.jobs.tick()).ran).toBe(0);
    const metrics = await t.host.metrics!.text();
    expect(metrics).toMatch(/annex_job_runs_total\{outcome="ok"\} 1/);
    expect(metrics).toMatch(/annex_job_start_delay_seconds_count 1/);
  });

  it("reads the cron in the install's timezone setting, else the job's own timezone, else UTC", async () => {
    const { t } = await world();
    const bundle = await reportsBundle("1.0.0", { jobs: [...jobs("nightly"), { name: "tokyo", cron: "0 9 * * *", handler: "hourly", timezone: "Asia/Tokyo" }] });
    const ny = await t.install(bundle, { config: { timezone: "America/New_York" } });
    const utc = await t.install(bundle, { tenant: "tenant-utc" });
    const odd = await t.install(bundle, { tenant: "tenant-odd", config: { timezone: "Mars/Olympus_Mons" } });
    await t.jobs.tick();
    const next = async (installId: string) => Object.fromEntries((await t.host.jobs.list({ installId })).map((job) => [job.name, [job.timezone, job.nextRunAt?.toISOString()]]));
    // 02:00 in New York in January is 07:00 UTC; the install's setting also wins over the job's own zone.
    expect(await next(ny.id)).toEqual({ nightly: ["America/New_York", "2026-01-02T07:00:00.000Z"], tokyo: ["America/New_York", "2026-01-01T14:00:00.000Z"] });
    // No setting: the job's own zone (09:00 in Tokyo is 00:00 UTC), else UTC.
    expect(await next(utc.id)).toEqual({ nightly: ["UTC", "2026-01-02T02:00:00.000Z"], tokyo: ["Asia/Tokyo", "2026-01-02T00:00:00.000Z"] });
    // A setting that is not a time zone is ignored.
    expect(await next(odd.id)).toEqual({ nightly: ["UTC", "2026-01-02T02:00:00.000Z"], tokyo: ["Asia/Tokyo", "2026-01-02T00:00:00.000Z"] });
    // Changing the setting reschedules.
    await t.host.configure("test-tenant", "acme.reports", { timezone: "Europe/Paris" }, { actor: "test" });
    await t.jobs.tick();
    expect((await next(ny.id))["nightly"]).toEqual(["Europe/Paris", "2026-01-02T01:00:00.000Z"]);
  });

  it("two hosts on one database run each due run exactly once", async () => {
    const ledger = createLedger();
    const clock = manualClock();
    const a = await world({ ledger, clock });
    const b = await world({ ledger, clock, schema: a.schema });
    const bundle = await reportsBundle("1.0.0", { jobs: jobs("hourly") });
    const tenants = ["tenant-1", "tenant-2", "tenant-3"];
    for (const tenant of tenants) await a.t.install(bundle, { tenant });
    await b.t.jobs.tick(); // the schedule starts when a scheduler first reads it: next at 13:00
    for (let hour = 0; hour < 4; hour++) {
      clock.advance(60 * 60_000);
      const ticks = await Promise.all([a.t.jobs.tick(), b.t.jobs.tick(), a.t.jobs.tick(), b.t.jobs.tick()]);
      expect(ticks.reduce((sum, tick) => sum + tick.failed, 0)).toBe(0);
      expect(ticks.reduce((sum, tick) => sum + tick.ran, 0)).toBe(tenants.length);
    }
    const expected = tenants.flatMap((tenant) => [13, 14, 15, 16].map((h) => `${tenant}:hourly@2026-01-01T${h}:00:00.000Z`));
    expect(ledger.calls.map((c) => `${c.tenant}:${c.note}`).sort()).toEqual(expected.sort());
    const listed = await a.t.host.jobs.list({ tenant: "tenant-2" });
    expect(listed).toHaveLength(1);
    const runs = await a.t.host.jobs.runs({ installId: listed[0]!.installId });
    expect(runs.items).toHaveLength(4);
    expect(new Set(runs.items.map((r) => r.scheduledAt.toISOString())).size).toBe(4);
  });

  it("takes over a job whose lease ran out (its process died), and records the dead run as failed", async () => {
    const { t, ledger, clock, schema } = await world();
    const install = await t.install(await reportsBundle("1.0.0", { jobs: jobs("hourly") }));
    await t.jobs.tick();
    clock.advance(60 * 60_000); // 13:00: due
    // Another process claims the run, then dies without finishing it.
    const dead = new JobStore(t.host.database.db, schema);
    const now = new Date(clock.now());
    const [claimed] = await dead.claimDue("dead-process", "dead-lease", now, new Date(now.getTime() + 30_000), 10, 2);
    expect(claimed).toMatchObject({ installId: install.id, name: "hourly", scheduledAt: new Date("2026-01-01T13:00:00.000Z") });
    // While its lease holds, nobody runs the job, and runNow says it is running.
    expect((await t.jobs.tick()).ran).toBe(0);
    expect((await t.host.jobs.list())[0]!.running).toBe(true);
    await expect(t.host.jobs.runNow(install.id, "hourly", { actor: "admin" })).rejects.toMatchObject({ code: "E_JOB_RUNNING", details: { runId: claimed!.runId } });
    clock.advance(30_001);
    expect(await t.jobs.tick()).toEqual({ ran: 1, ok: 1, failed: 0 });
    expect(ledger.notes()).toEqual(["hourly@2026-01-01T13:00:00.000Z"]);
    const { items } = await t.host.jobs.runs({ installId: install.id });
    expect(items.map((r) => [r.outcome, r.error?.code ?? null])).toEqual([
      ["ok", null],
      ["error", "E_JOB_LEASE_EXPIRED"],
    ]);
    expect(t.logged.some((line) => line.msg.startsWith("job run taken over"))).toBe(true);
    expect((await t.host.jobs.list())[0]!.nextRunAt).toEqual(new Date("2026-01-01T14:00:00.000Z"));
  });

  it("after downtime runs one catch-up run, not one per missed time, then resumes the schedule", async () => {
    const { t, ledger, clock } = await world();
    const install = await t.install(await reportsBundle("1.0.0", { jobs: jobs("hourly") }));
    await t.jobs.tick();
    clock.advance(5 * 60 * 60_000 + 30 * 60_000); // 17:30: 13, 14, 15, 16 and 17 were missed
    expect(await t.jobs.tick()).toEqual({ ran: 1, ok: 1, failed: 0 });
    expect(await t.jobs.tick()).toEqual({ ran: 0, ok: 0, failed: 0 });
    // The catch-up run carries the first missed time; the next one is the next time after now.
    expect(ledger.notes()).toEqual(["hourly@2026-01-01T13:00:00.000Z"]);
    expect((await t.host.jobs.list({ installId: install.id }))[0]!.nextRunAt).toEqual(new Date("2026-01-01T18:00:00.000Z"));
    clock.advance(30 * 60_000);
    expect((await t.jobs.tick()).ran).toBe(1);
    expect(ledger.notes()).toEqual(["hourly@2026-01-01T13:00:00.000Z", "hourly@2026-01-01T18:00:00.000Z"]);
  });

  it("a disabled install runs nothing, and resumes from now when enabled (what it missed is not run)", async () => {
    const { t, ledger, clock } = await world();
    const install = await t.install(await reportsBundle("1.0.0", { jobs: jobs("hourly") }));
    await t.jobs.tick();
    await t.disable("acme.reports");
    clock.advance(3 * 60 * 60_000);
    expect((await t.jobs.tick()).ran).toBe(0);
    expect((await t.host.jobs.list())[0]).toMatchObject({ nextRunAt: null, running: false });
    const refused = await t.host.jobs.runNow(install.id, "hourly", { actor: "admin@acme" }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(JobsError);
    expect(refused).toMatchObject({ code: "E_JOB_INSTALL_NOT_ACTIVE", details: { state: "disabled" } });
    const denied = await t.audit.list({ action: "job.run", decision: "deny" });
    expect(denied[0]).toMatchObject({ actor: "admin@acme", target: "acme.reports" });
    expect(ledger.calls).toEqual([]);
    await t.enable("acme.reports");
    expect((await t.jobs.tick()).ran).toBe(0);
    expect((await t.host.jobs.list())[0]!.nextRunAt).toEqual(new Date("2026-01-01T16:00:00.000Z"));
    // Uninstalled: the schedule is gone.
    await t.uninstall("acme.reports");
    clock.advance(2 * 60 * 60_000);
    expect((await t.jobs.tick()).ran).toBe(0);
    expect(await t.host.jobs.list()).toEqual([]);
  });

  it("pauses a job when its install stops serving, by itself: a disable and an enable, or an uninstall and a reinstall, with no sync between run nothing missed meanwhile", async () => {
    const { t, ledger, clock, schema } = await world();
    // The rows as they are, without the sync that listing does.
    const rows = async () => (await sql<{ next_run_at: Date | null }>`SELECT next_run_at FROM ${sql.table(`${schema}.annex_jobs`)}`.execute(t.host.database.db)).rows;
    await t.install(await reportsBundle("1.0.0", { jobs: jobs("hourly") }));
    await t.jobs.tick(); // 12:00: next at 13:00
    clock.advance(30 * 60_000);
    await t.disable("acme.reports"); // 12:30
    expect(await rows()).toEqual([{ next_run_at: null }]);
    clock.advance(3 * 60 * 60_000);
    await t.enable("acme.reports"); // 15:30: 13:00, 14:00 and 15:00 were missed while disabled
    expect((await t.jobs.tick()).ran).toBe(0);
    expect((await t.host.jobs.list())[0]!.nextRunAt).toEqual(new Date("2026-01-01T16:00:00.000Z"));

    await t.uninstall("acme.reports"); // 15:30
    expect(await rows()).toEqual([]);
    clock.advance(3 * 60 * 60_000);
    await t.install(await reportsBundle("1.0.0", { jobs: jobs("hourly") })); // 18:30, the same install id
    expect((await t.jobs.tick()).ran).toBe(0);
    expect((await t.host.jobs.list())[0]!.nextRunAt).toEqual(new Date("2026-01-01T19:00:00.000Z"));
    // A change made by SQL, as by another tool, pauses too.
    await sql`UPDATE ${sql.table(`${schema}.annex_installs`)} SET state = 'disabled'`.execute(t.host.database.db);
    expect(await rows()).toEqual([{ next_run_at: null }]);
    expect(ledger.calls).toEqual([]);
  });

  it("runNow runs a job at once, audited with the actor, leaves the schedule alone, and refuses with typed errors", async () => {
    const { t, ledger } = await world();
    const install = await t.install(await reportsBundle("1.0.0", { jobs: jobs("hourly", "nightly") }));
    const result = await t.host.jobs.runNow(install.id, "nightly", { actor: "admin@acme" });
    expect(result).toMatchObject({ installId: install.id, name: "nightly", trigger: "manual", actor: "admin@acme", outcome: "ok", version: "1.0.0" });
    expect(result.scheduledAt).toEqual(new Date("2026-01-01T12:00:00.000Z"));
    expect(ledger.notes()).toEqual(["nightly@2026-01-01T12:00:00.000Z"]);
    const [audit] = await t.audit.list({ action: "job.run" });
    expect(audit).toMatchObject({ actor: "admin@acme", decision: "allow", details: { runId: result.runId, trigger: "manual", job: "nightly" } });
    const nightly = (await t.host.jobs.list()).find((job) => job.name === "nightly")!;
    expect(nightly.nextRunAt).toEqual(new Date("2026-01-02T02:00:00.000Z"));
    expect(nightly.lastRun).toMatchObject({ runId: result.runId, outcome: "ok" });

    const t1 = await t.jobs.run(install.id, "hourly");
    expect(t1.output).toMatchObject({ name: "hourly", scheduledAt: "2026-01-01T12:00:00.000Z" });

    await expect(t.host.jobs.runNow(install.id, "weekly")).rejects.toMatchObject({ code: "E_JOB_NOT_FOUND", details: { field: "name", jobs: ["hourly", "nightly"] } });
    await expect(t.host.jobs.runNow("00000000-0000-4000-8000-000000000000", "hourly")).rejects.toMatchObject({ code: "E_JOB_NOT_FOUND", details: { field: "installId" } });
    await expect(t.host.jobs.runNow("../etc", "hourly")).rejects.toMatchObject({ code: "E_JOB_NOT_FOUND", details: { field: "installId" } });
    await expect(t.host.jobs.runs({ installId: install.id, limit: 0 })).rejects.toMatchObject({ code: "E_JOBS_OPTIONS", details: { field: "limit" } });
    await expect(t.host.jobs.runs({ installId: install.id, cursor: "x" })).rejects.toMatchObject({ code: "E_JOBS_OPTIONS", details: { field: "cursor" } });

    // History, newest first, in pages.
    const first = await t.host.jobs.runs({ installId: install.id, limit: 1 });
    expect(first.items.map((r) => r.name)).toEqual(["hourly"]);
    const second = await t.host.jobs.runs({ installId: install.id, limit: 1, cursor: first.cursor! });
    expect(second.items.map((r) => r.runId)).toEqual([result.runId]);
    expect(second.cursor).toBeNull();
    expect((await t.host.jobs.runs({ installId: install.id, name: "hourly" })).items).toHaveLength(1);
  });

  it("runNow and runs scoped to a tenant refuse another tenant's install as one that does not exist", async () => {
    const { t, ledger } = await world();
    const theirs = await t.install(await reportsBundle("1.0.0", { jobs: jobs("hourly") }), { tenant: "tenant-a" });
    await t.host.jobs.runNow(theirs.id, "hourly", { actor: "admin@a", tenant: "tenant-a" });
    expect(ledger.calls).toHaveLength(1);
    const auditBefore = await t.audit.list({ action: "job.run" });

    // An admin of tenant-b names tenant-a's install: the same refusal as for an install that does not exist,
    // whatever the job name (its jobs are not listed), and even when it is disabled (its state is not told).
    const missing = await t.host.jobs.runNow("00000000-0000-4000-8000-000000000000", "hourly", { actor: "admin@b", tenant: "tenant-b" }).catch((error: unknown) => error);
    for (const name of ["hourly", "nope"]) {
      const refused = await t.host.jobs.runNow(theirs.id, name, { actor: "admin@b", tenant: "tenant-b" }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(JobsError);
      expect(refused).toMatchObject({ code: "E_JOB_NOT_FOUND", details: { field: "installId", installId: theirs.id } });
      expect((refused as Error).message).toBe((missing as Error).message.replace("00000000-0000-4000-8000-000000000000", theirs.id));
    }
    await t.host.disable("tenant-a", "acme.reports", { actor: "admin@a" });
    await expect(t.host.jobs.runNow(theirs.id, "hourly", { actor: "admin@b", tenant: "tenant-b" })).rejects.toMatchObject({ code: "E_JOB_NOT_FOUND", details: { field: "installId" } });
    await t.host.enable("tenant-a", "acme.reports", { actor: "admin@a" });
    // Nothing ran, and nothing was written in tenant-a's audit log for the attempts.
    expect(ledger.calls).toHaveLength(1);
    expect(await t.audit.list({ action: "job.run" })).toEqual(auditBefore);

    // Its history reads empty for tenant-b, as an unknown install's would; tenant-a (and no tenant) see the run.
    expect(await t.host.jobs.runs({ installId: theirs.id, tenant: "tenant-b" })).toEqual({ items: [], cursor: null });
    expect((await t.host.jobs.runs({ installId: theirs.id, tenant: "tenant-a" })).items).toHaveLength(1);
    expect((await t.host.jobs.runs({ installId: theirs.id })).items).toHaveLength(1);
    expect(await t.host.jobs.list({ tenant: "tenant-b" })).toEqual([]);
    await expect(t.host.jobs.runNow(theirs.id, "hourly", { tenant: "" })).rejects.toMatchObject({ code: "E_JOBS_OPTIONS", details: { field: "tenant" } });
    await expect(t.host.jobs.runs({ installId: theirs.id, tenant: 7 as unknown as string })).rejects.toMatchObject({ code: "E_JOBS_OPTIONS", details: { field: "tenant" } });
  });

  it("records a job that throws or runs out of time as an error, and keeps its schedule", async () => {
    const { t, clock } = await world({ limits: { cpuMs: 50, wallMs: 500 } });
    const install = await t.install(await reportsBundle("1.0.0", { jobs: jobs("boom", "spin") }));
    await t.jobs.tick();
    clock.advance(30 * 60_000); // 12:30: boom is due
    expect(await t.jobs.tick()).toEqual({ ran: 1, ok: 0, failed: 1 });
    const boom = (await t.host.jobs.list()).find((job) => job.name === "boom")!;
    expect(boom.lastRun).toMatchObject({ outcome: "error", error: { code: "E_HANDLER_ERROR" } });
    expect(boom.lastRun!.error!.message).toContain("the report could not be built");
    expect(boom.nextRunAt).toEqual(new Date("2026-01-01T13:00:00.000Z"));
    const spin = await t.host.jobs.runNow(install.id, "spin");
    expect(spin).toMatchObject({ outcome: "error", error: { code: "E_TIMEOUT" } });
    const audit = await t.audit.list({ action: "job.run", decision: "error" });
    expect(audit.map((entry) => (entry.details["error"] as { code: string }).code)).toEqual(["E_HANDLER_ERROR", "E_TIMEOUT"]);
    expect(t.logged.filter((line) => line.msg === "job run failed")).toHaveLength(2);
    // The schedule goes on.
    clock.advance(30 * 60_000);
    expect(await t.jobs.tick()).toEqual({ ran: 1, ok: 0, failed: 1 });
    expect((await t.host.jobs.runs({ installId: install.id, name: "boom" })).items).toHaveLength(2);
    expect(await t.host.metrics!.text()).toMatch(/annex_job_runs_total\{outcome="error"\} 3/);
  });

  it("hostile: records and audits a run whose error text PostgreSQL cannot store (NUL, a lone surrogate), and moves on", async () => {
    // The run's error is written to jsonb: with a NUL in the guest's message that write failed, the run stayed
    // "running" until its lease ran out, unaudited, and runNow was refused meanwhile.
    const { t, clock } = await world();
    const server = `export async function nul() { throw new Error("x\\u0000y\\udc00"); }`;
    const install = await t.install(await makeBundle(reportsManifest({ jobs: [{ name: "nul", cron: "*/30 * * * *", handler: "nul" }] }), { "server/index.js": server }));
    await t.jobs.tick();
    clock.advance(30 * 60_000);
    expect(await t.jobs.tick()).toEqual({ ran: 1, ok: 0, failed: 1 });
    const [job] = await t.host.jobs.list({ installId: install.id });
    expect(job).toMatchObject({ running: false, nextRunAt: new Date("2026-01-01T13:00:00.000Z") });
    expect(job!.lastRun).toMatchObject({ outcome: "error", error: { code: "E_HANDLER_ERROR", message: expect.stringContaining("x\ufffdy\ufffd") } });
    expect(await t.audit.list({ action: "job.run", decision: "error" })).toHaveLength(1);
    await expect(t.host.jobs.runNow(install.id, "nul")).resolves.toMatchObject({ outcome: "error" });
  });

  it("hostile: a runaway job is stopped at its quota and does not keep another install's job from running", async () => {
    const { t, ledger, clock } = await world({ limits: { cpuMs: 50, wallMs: 500 } });
    await t.install(await reportsBundle("1.0.0", { jobs: [{ name: "spin", cron: "0 13 * * *", handler: "spin" }] }), { tenant: "tenant-evil" });
    await t.install(await reportsBundle("1.0.1", { jobs: jobs("hourly") }), { tenant: "tenant-good" });
    await t.jobs.tick();
    clock.advance(60 * 60_000); // 13:00: both due
    expect(await t.jobs.tick()).toEqual({ ran: 2, ok: 1, failed: 1 });
    expect(ledger.calls.map((call) => [call.tenant, call.note])).toEqual([["tenant-good", "hourly@2026-01-01T13:00:00.000Z"]]);
    const [evil] = await t.host.jobs.list({ tenant: "tenant-evil" });
    expect(evil!.lastRun).toMatchObject({ outcome: "error", error: { code: "E_TIMEOUT" } });
    expect(evil!.running).toBe(false);
    expect(evil!.nextRunAt).toEqual(new Date("2026-01-02T13:00:00.000Z"));
  });

  it("hostile: one install's many due jobs take at most jobs.perInstall slots (2), each install's earliest first, also counting other processes' runs", async () => {
    const { t, clock, schema } = await world();
    // Eight jobs due at 12:59, before the other tenant's one at 13:00: by due time alone they took every slot first.
    const many = Array.from({ length: 8 }, (_, i) => ({ name: `many-${i}`, cron: "59 12 * * *", handler: `many${i}` }));
    const server = REPORTS_SERVER + many.map((job) => `export async function ${job.handler}() {}\n`).join("");
    const noisy = await t.install(await makeBundle(reportsManifest({ version: "1.0.0", jobs: many }), { "server/index.js": server }), { tenant: "tenant-noisy" });
    const quiet = await t.install(await reportsBundle("1.0.1", { jobs: jobs("hourly") }), { tenant: "tenant-quiet" });
    await t.jobs.tick();
    clock.advance(60 * 60_000); // 13:00: all due
    expect(await t.jobs.tick()).toEqual({ ran: 9, ok: 9, failed: 0 });
    const runs = await sql<{ install_id: string; name: string }>`SELECT install_id, name FROM ${sql.table(`${schema}.annex_job_runs`)} ORDER BY seq`.execute(t.host.database.db);
    const order = runs.rows.map((run) => (run.install_id === quiet.id ? "quiet" : "noisy"));
    // Claims of 4 (jobs.concurrency): the noisy install's first two and the quiet one's (in any order), then the noisy ones two at a time.
    expect(order.slice(0, 3).sort()).toEqual(["noisy", "noisy", "quiet"]);
    expect(order.slice(3)).toEqual(Array(6).fill("noisy"));

    // Another process holds two of the noisy install's jobs (live leases): this one claims none of its others.
    clock.advance(24 * 60 * 60_000);
    await sql`UPDATE ${sql.table(`${schema}.annex_jobs`)} SET lease = 'elsewhere', lease_owner = 'elsewhere', lease_until = ${new Date(clock.now() + 60_000)}, run_id = NULL
      WHERE install_id = ${noisy.id} AND name IN ('many-0', 'many-1')`.execute(t.host.database.db);
    expect(await t.jobs.tick()).toEqual({ ran: 1, ok: 1, failed: 0 });
    const [quietJob] = await t.host.jobs.list({ installId: quiet.id });
    expect(quietJob!.lastRun).toMatchObject({ outcome: "ok", scheduledAt: new Date("2026-01-01T14:00:00.000Z") }); // its catch-up run
    const waiting = (await t.host.jobs.list({ installId: noisy.id })).filter((job) => !job.running);
    expect(waiting.map((job) => job.nextRunAt)).toEqual(Array(6).fill(new Date("2026-01-02T12:59:00.000Z")));
  });

  it("writes what a job published to the outbox only when the job succeeded", async () => {
    const { t, schema } = await world();
    const install = await t.install(await reportsBundle("1.0.0", { jobs: jobs("announce", "announce-fail") }));
    const events = async () =>
      (await sql<{ type: string; payload: { failed?: boolean } }>`SELECT type, payload FROM ${sql.id(schema, "annex_events")} ORDER BY seq`.execute(t.host.database.root)).rows;
    const failed = await t.jobs.run(install.id, "announce-fail");
    expect(failed.outcome).toBe("error");
    expect(await events()).toEqual([]);
    const ok = await t.jobs.run(install.id, "announce");
    expect(ok.outcome).toBe("ok");
    expect(await events()).toEqual([{ type: "ext.acme.reports.report.ready", payload: { at: "2026-01-01T12:00:00.000Z" } }]);
  });

  it("an upgrade reschedules changed jobs and drops removed ones", async () => {
    const { t } = await world();
    const install = await t.install(await reportsBundle("1.0.0", { jobs: jobs("hourly", "nightly") }));
    await t.jobs.tick();
    await t.upgrade(await reportsBundle("1.1.0", { jobs: [{ name: "hourly", cron: "30 * * * *", handler: "hourly" }] }));
    await t.jobs.tick();
    const listed = await t.host.jobs.list({ installId: install.id });
    expect(listed.map((job) => [job.name, job.cron, job.nextRunAt?.toISOString()])).toEqual([["hourly", "30 * * * *", "2026-01-01T12:30:00.000Z"]]);
    await expect(t.host.jobs.runNow(install.id, "nightly")).rejects.toMatchObject({ code: "E_JOB_NOT_FOUND", details: { field: "name" } });
  });

  it("the background scheduler runs a job at its time, in another host than the one that installed it", async () => {
    // A clock moving in real time from 12:59:30, set to just before 13:00 once everything is in place: the background scheduler's own timers fire.
    let offset = at("2026-01-01T12:59:30.000Z") - Date.now();
    const clock = { now: () => Date.now() + offset, advance: () => {} };
    const ledger = createLedger();
    const a = await world({ ledger, clock: clock as ReturnType<typeof manualClock> });
    const background = await createTestHost({
      database: await backend.connect(),
      schema: a.schema,
      capabilities: [ledger.capability],
      now: clock.now,
      jobs: { scheduler: true, pollIntervalMs: 100 },
    });
    open.push(background);
    await a.t.install(await reportsBundle("1.0.0", { jobs: jobs("hourly") }));
    offset = at("2026-01-01T12:59:59.500Z") - Date.now();
    await a.t.jobs.tick(); // nothing is due yet; the row says 13:00, and the background host's next look finds it
    expect(ledger.calls).toEqual([]);
    const deadline = Date.now() + 10_000;
    while (ledger.calls.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(ledger.notes()).toEqual(["hourly@2026-01-01T13:00:00.000Z"]);
    const [run] = (await a.t.host.jobs.runs({ installId: (await a.t.host.jobs.list())[0]!.installId })).items;
    expect(run!.startedAt.getTime() - run!.scheduledAt.getTime()).toBeLessThan(2000);
  });

  it("a listing right after an install shows its jobs, also when the background scheduler took the change first", async () => {
    const t = await createTestHost({ database: await backend.connect(), schema: backend.freshSchema("annex_jobs"), capabilities: [createLedger().capability], now: manualClock().now, jobs: { scheduler: true, pollIntervalMs: 60_000 } });
    open.push(t);
    for (const tenant of ["tenant-1", "tenant-2", "tenant-3"]) {
      await t.install(await reportsBundle("1.0.0", { jobs: jobs("hourly", "nightly") }), { tenant });
      // One macrotask: the scheduler's round (woken at once by the change) starts reading the new schedules,
      // and the listing must wait for it rather than find nothing left to read and answer from the table before it.
      await new Promise((resolve) => setTimeout(resolve, 0));
      expect((await t.host.jobs.list({ tenant })).map((job) => job.name)).toEqual(["hourly", "nightly"]);
    }
  });

  it("refuses options that cannot work, naming the field", async () => {
    const database = await backend.connect();
    for (const [jobsOptions, field] of [
      [{ pollIntervalMs: 0 }, "jobs.pollIntervalMs"],
      [{ leaseMs: 1000, timeoutMs: 2000 }, "jobs.leaseMs"],
      [{ scheduler: "yes" }, "jobs.scheduler"],
      [{ concurrency: 1.5 }, "jobs.concurrency"],
      [{ perInstall: 0 }, "jobs.perInstall"],
    ] as const) {
      const refused = await createHost({ database, schema: backend.freshSchema("annex_jobs_opts"), jobs: jobsOptions as never }).catch((error: unknown) => error);
      expect(refused, field).toBeInstanceOf(JobsError);
      expect(refused).toMatchObject({ code: "E_JOBS_OPTIONS", details: { field } });
    }
  });
});
