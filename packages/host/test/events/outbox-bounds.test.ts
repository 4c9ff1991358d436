import { createInMemoryRunner } from "@annex/runner";
import { sql, type RawBuilder } from "kysely";
import { afterEach, expect, it } from "vitest";
import { createHost, type Host } from "../../src/index.js";
import { OutboxStore } from "../../src/events/outbox.js";
import { createTestHost, type TestHost } from "../../src/testing/index.js";
import { describeBackends } from "../support/backends.js";
import { makeBundle, serviceManifest } from "../support/fixtures.js";
import { createLedger, manualClock, ordersBundle } from "./support.js";

/** Publishes `count` events whose payloads are `size` + 11 bytes of JSON (`{"blob":"…"}`), one after another or all at once. */
const BLOBS_SERVER = `
async function publishBlobs(ctx, count, size, together) {
  const blob = "x".repeat(size);
  const refused = [];
  let published = 0;
  const one = async () => {
    try { await ctx.events.publish("blob", { blob }); published++; }
    catch (e) { refused.push({ code: e.code, message: e.message }); }
  };
  if (together) await Promise.all(Array.from({ length: count }, one));
  else for (let i = 0; i < count; i++) await one();
  return { published, refused };
}
export async function publish(request, ctx) {
  return publishBlobs(ctx, request.body.count, request.body.size, request.body.together === true);
}
export async function numbers(request, ctx) {
  try { return { id: (await ctx.events.publish("blob", { xs: request.body.xs })).id }; }
  catch (e) { return { refused: e.code, message: e.message }; }
}
export async function burst(job, ctx) { return publishBlobs(ctx, 5, 2989, false); }
export async function onBlob(event) { throw new Error("this subscriber always fails"); }
`;

/** 2989 characters of blob: 3000 bytes of payload. */
const SIZE = 2989;
const BYTES = SIZE + 11;

function blobsBundle(options: { id?: string; subscribe?: boolean } = {}): Promise<Uint8Array> {
  const id = options.id ?? "acme.blobs";
  return makeBundle(
    serviceManifest({
      id,
      name: "Blobs",
      endpoints: [
        { class: "api", method: "POST", path: "/publish", handler: "publish" },
        { class: "api", method: "POST", path: "/numbers", handler: "numbers" },
      ],
      capabilities: [
        { name: "events.publish", types: ["blob"], reason: "Publishes blobs to fill the outbox." },
        { name: "events.subscribe", types: ["ext.acme.blobs.blob"], reason: "Fails on every blob, to park them." },
      ],
      events: {
        publishes: [{ type: "blob" }],
        subscribes: options.subscribe === true ? [{ type: "ext.acme.blobs.blob", handler: "onBlob" }] : [],
      },
      jobs: [{ name: "burst", cron: "0 0 1 1 *", handler: "burst" }],
    }),
    { "server/index.js": BLOBS_SERVER },
  );
}

interface Published {
  published: number;
  refused: Array<{ code: string; message: string }>;
}

describeBackends("event outbox bounds", (backend) => {
  let t: TestHost | undefined;
  const hosts: Host[] = [];
  afterEach(async () => {
    await t?.close();
    t = undefined;
    for (const host of hosts.splice(0)) await host.close();
  });

  async function world(events: Record<string, unknown> = {}) {
    const clock = manualClock();
    const ledger = createLedger();
    t = await createTestHost({
      database: await backend.connect(),
      schema: backend.freshSchema("annex_outbox_bounds"),
      capabilities: [ledger.capability],
      now: clock.now,
      events,
    });
    const publish = async (count: number, options: { together?: boolean; tenant?: string; size?: number } = {}): Promise<Published> => {
      const response = await t!.request("POST", "/api/ext/acme.blobs/publish", {
        as: { user: { id: "u1" }, tenant: options.tenant ?? "test-tenant" },
        body: { count, size: options.size ?? SIZE, together: options.together === true },
      });
      expect(response.status).toBe(200);
      return (await response.json()) as Published;
    };
    return { t, clock, ledger, publish };
  }

  async function held(host: Host): Promise<{ events: number; bytes: number }> {
    const table = sql.table(`${host.database.schema}.annex_events`);
    const result = await sql<{ events: string; bytes: string | null }>`
      SELECT count(*) AS events, sum(payload_bytes) AS bytes FROM ${table} WHERE source LIKE 'install:%'`.execute(host.database.root);
    return { events: Number(result.rows[0]!.events), bytes: Number(result.rows[0]!.bytes ?? 0) };
  }

  it("refuses a publish past the install's outboxBytes with E_EVENT_OUTBOX_FULL, counting what its executions hold, until the outbox sweeps them", async () => {
    const { t, clock, publish } = await world({ outboxBytes: 11_500 });
    await t.install(await blobsBundle());
    // Three fit (9,000 bytes); the fourth, in the same execution (not yet written), would pass the budget.
    const first = await publish(4);
    expect(first.published).toBe(3);
    expect(first.refused).toHaveLength(1);
    expect(first.refused[0]!.code).toBe("E_EVENT_OUTBOX_FULL");
    expect(first.refused[0]!.message).toContain("already hold 9000 bytes");
    expect(first.refused[0]!.message).toContain("events.outboxBytes");
    expect(first.refused[0]!.message).toContain("publish smaller payloads");
    expect(await held(t.host)).toEqual({ events: 3, bytes: 3 * BYTES });
    // Written, they still count: nothing more fits, whatever the execution.
    expect((await publish(1)).refused.map((r) => r.code)).toEqual(["E_EVENT_OUTBOX_FULL"]);
    // Publishes awaited together see each other's bytes before any is written. A payload of 200 bytes counts as
    // 1,024 (what an event's rows weigh at least): 2 of 4 fit in the 2,500 bytes left, then none of 6.
    const small = await publish(4, { together: true, size: 189 });
    expect(small.published).toBe(2);
    expect((await publish(6, { together: true, size: 189 })).published).toBe(0);
    expect(await held(t.host)).toEqual({ events: 5, bytes: 3 * BYTES + 2 * 1024 });
    // The budget is the install's: the same extension for another tenant, and the app, publish as before.
    await t.install(await blobsBundle(), { tenant: "other-tenant" });
    expect((await publish(3, { tenant: "other-tenant" })).published).toBe(3);
    await t.events.publish("order.created", { blob: "y".repeat(200_000) });
    // Fanned out (nobody subscribes) and kept for retentionMs (1 h): then swept, and the budget is free again.
    await t.relay.drain();
    clock.advance(3_600_001);
    expect((await publish(1)).refused.map((r) => r.code)).toEqual(["E_EVENT_OUTBOX_FULL"]);
    await t.relay.drain();
    expect(await held(t.host)).toEqual({ events: 0, bytes: 0 });
    expect((await publish(4)).published).toBe(3);
  });

  it("counts a payload's numbers as the outbox writes them back, so what every read of an event costs stays within its 256 KiB", async () => {
    const { t } = await world();
    await t.install(await blobsBundle());
    const numbers = async (xs: number[]) =>
      (await (await t.request("POST", "/api/ext/acme.blobs/numbers", { as: { user: { id: "u1" }, tenant: "test-tenant" }, body: { xs } })).json()) as { id?: string; refused?: string; message?: string };
    // Twice over: past the 1,024 bytes an event counts at least.
    const xs = [1e308, -2.5e22, 1.5e-7, 1e21, 123.5, 0, 1e-300, -7.25e-10, 12345678901234567890].flatMap((x) => [x, x]);
    const { id } = await numbers(xs);
    expect(id).toBeDefined();
    const table = sql.table(`${t.host.database.schema}.annex_events`);
    const stored = await sql<{ counted: number; printed: number }>`SELECT payload_bytes AS counted, octet_length(payload::text) AS printed FROM ${table} WHERE id = ${id}`.execute(t.host.database.root);
    // jsonb's text puts a space after the key's colon and after each comma: one per element of xs. The rest is the
    // numbers in full (1e308 is 309 digits), which is what the count is of.
    expect(stored.rows).toEqual([{ counted: stored.rows[0]!.printed - xs.length, printed: expect.any(Number) }]);
    expect(stored.rows[0]!.counted).toBeGreaterThan(2 * (309 + 302));
    // 37,000 of 1e308: 259 KB as sent, 11.5 MB at every read of it. Refused, saying why.
    const refused = await numbers(Array(37_000).fill(1e308));
    expect(refused).toMatchObject({ refused: "E_PAYLOAD_TOO_LARGE", message: expect.stringContaining("numbers written out in full") });
  });

  it("counts an install's dead letters against its budget until they are discarded or swept after deadLetterRetentionMs", async () => {
    const { t, clock, publish } = await world({ outboxBytes: 10_000, deadLetterRetentionMs: 3 * 3_600_000 });
    await t.install(await blobsBundle({ subscribe: true }));
    expect((await publish(3)).published).toBe(3);
    // Three attempts each (the test host's maxAttempts), one queue: parked within 24 minutes.
    for (let i = 0; i < 12; i++) {
      await t.relay.drain();
      clock.advance(120_000);
    }
    const dead = await t.deadLetters();
    expect(dead).toHaveLength(3);
    // Past the retention of finished deliveries, parked ones still hold the outbox.
    clock.advance(3_600_000);
    await t.relay.drain();
    expect((await publish(1)).refused.map((r) => r.code)).toEqual(["E_EVENT_OUTBOX_FULL"]);
    // A discarded one is finished: swept after retentionMs, its bytes are free.
    await t.host.events.deadLetters.discard(dead[0]!.deliveryId, { actor: "admin" });
    clock.advance(3_600_001);
    await t.relay.drain();
    expect(await held(t.host)).toEqual({ events: 2, bytes: 2 * BYTES });
    expect(await t.deadLetters()).toHaveLength(2);
    // Three hours after they failed, the others are swept too.
    clock.advance(3_660_000);
    await t.relay.drain();
    expect(await t.deadLetters()).toHaveLength(0);
    expect(await held(t.host)).toEqual({ events: 0, bytes: 0 });
    expect((await publish(3)).published).toBe(3);
  });

  it("lets the sweep find what it deletes through an index, not by reading the outbox's tables whole", async () => {
    const { t } = await world();
    const outbox = new OutboxStore(t.host.database.root, t.host.database.schema);
    const now = new Date();
    const { finished, expired, events } = outbox.sweepStatements(now, now);
    // The sweep's own statements. With sequential scans priced out, a table with no index for the predicate is still
    // read whole, by a full scan of some other index; only an index condition finds just the rows to delete. The
    // sweep runs once a minute on PGlite's one session, on tables that grow.
    const scans = await t.host.database.root.transaction().execute(async (trx) => {
      await sql`SET LOCAL enable_seqscan = off`.execute(trx);
      const scansOf = async (statement: RawBuilder<unknown>, table: string) => {
        const [row] = (await sql<{ "QUERY PLAN": unknown }>`EXPLAIN (FORMAT JSON) ${statement}`.execute(trx)).rows;
        const plan = typeof row!["QUERY PLAN"] === "string" ? JSON.parse(row!["QUERY PLAN"]) : row!["QUERY PLAN"];
        const found: string[] = [];
        const walk = (node: Record<string, unknown>) => {
          const children = (node["Plans"] as Record<string, unknown>[] | undefined) ?? [];
          if (node["Relation Name"] === table && node["Node Type"] !== "ModifyTable") {
            const condition = node["Index Cond"] ?? (node["Node Type"] === "Bitmap Heap Scan" ? node["Recheck Cond"] : undefined);
            found.push(`${node["Node Type"]} ${node["Index Name"] ?? ""}: ${condition === undefined ? "whole" : "by condition"}`);
          }
          for (const child of children) walk(child);
        };
        walk((plan as Array<{ Plan: Record<string, unknown> }>)[0]!.Plan);
        return found;
      };
      return {
        finished: await scansOf(finished, "annex_event_deliveries"),
        expired: await scansOf(expired, "annex_event_deliveries"),
        // Its deliveries are read by the anti-join that keeps an event while any delivery of it is left.
        events: await scansOf(events, "annex_events"),
      };
    });
    for (const found of Object.values(scans)) {
      expect(found.length).toBeGreaterThan(0);
      for (const scan of found) expect(scan).toMatch(/by condition$/);
    }
  });

  it("keeps dead letters listable and replayable for 7 days by default, then sweeps them and their events", async () => {
    const { t, clock, ledger } = await world();
    await t.install(await ordersBundle());
    await t.events.publish("order.created", { n: 1, poison: true });
    await t.events.publish("order.created", { n: 2, poison: true });
    for (let i = 0; i < 6; i++) {
      await t.relay.drain();
      clock.advance(120_000);
    }
    const parked = await t.deadLetters();
    expect(parked.map((letter) => letter.attempts)).toEqual([3, 3]);
    // A minute short of 7 days after the first failed for the last time: both are there, and one can still be
    // replayed (it fails again, and is parked anew).
    clock.advance(parked[0]!.failedAt.getTime() + 7 * 24 * 3_600_000 - 60_000 - clock.now());
    await t.relay.drain();
    expect(await t.deadLetters()).toHaveLength(2);
    await t.host.events.deadLetters.replay(parked[1]!.deliveryId, { actor: "admin" });
    for (let i = 0; i < 4; i++) {
      await t.relay.drain();
      clock.advance(30_000);
    }
    expect(ledger.calls.filter((call) => call.note === "order:2")).toHaveLength(6);
    // 7 days after the first failed for the last time: it is swept, with its event; the replayed one stays.
    await t.relay.drain();
    const left = await t.deadLetters();
    expect(left.map((letter) => letter.deliveryId)).toEqual([parked[1]!.deliveryId]);
    const events = await sql<{ id: string }>`SELECT id FROM ${sql.table(`${t.host.database.schema}.annex_events`)}`.execute(t.host.database.root);
    expect(events.rows.map((row) => row.id)).toEqual([left[0]!.eventId]);
    expect(t.logged.some((line) => line.msg.startsWith("dead letters swept") && line["expired"] === 1)).toBe(true);
    await expect(t.host.events.deadLetters.replay(parked[0]!.deliveryId, { actor: "admin" })).rejects.toMatchObject({ code: "E_DEAD_LETTER_NOT_FOUND" });
  });

  it("holds one budget per install across the host processes on one database, through createHost", async () => {
    const database = await backend.connect();
    const schema = backend.freshSchema("annex_outbox_bounds");
    const runner = createInMemoryRunner();
    const options = {
      database,
      schema,
      runner,
      trust: { store: { trustStoreVersion: 1 as const, keys: [] }, mode: "dev" as const },
      events: { outboxBytes: 10_000 },
    };
    try {
      const a = await createHost(options);
      hosts.push(a);
      const b = await createHost(options);
      hosts.push(b);
      const published = await a.publish(await blobsBundle(), null, { actor: "test" });
      const install = await a.install("tenant-a", published.extensionId, {
        version: published.version,
        grants: [
          { name: "events.publish", types: ["blob"] },
          { name: "events.subscribe", types: ["ext.acme.blobs.blob"] },
        ],
        actor: "test",
      });
      const first = await a.jobs.runNow(install.id, "burst", { actor: "test" });
      expect(first.outcome).toBe("ok");
      expect(first.output).toMatchObject({ published: 3, refused: [{ code: "E_EVENT_OUTBOX_FULL" }, { code: "E_EVENT_OUTBOX_FULL" }] });
      // Another process sees what the first wrote.
      const second = await b.jobs.runNow(install.id, "burst", { actor: "test" });
      expect(second.output).toMatchObject({ published: 0 });
      expect((second.output as Published).refused).toHaveLength(5);
      expect(await held(b)).toEqual({ events: 3, bytes: 3 * BYTES });
    } finally {
      for (const host of hosts.splice(0)) await host.close();
      await runner.close();
    }
  });
});
