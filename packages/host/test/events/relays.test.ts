import { afterEach, expect, it } from "vitest";
import { createTestHost, type TestHost } from "../../src/testing/index.js";
import { describeBackends } from "../support/backends.js";
import { createLedger, ordersBundle, shippingBundle } from "./support.js";

const TENANTS = ["r0", "r1", "r2", "r3"];
const ORDERS_PER_TENANT = 10;
const REFUNDS_PER_TENANT = 5;

// Several hosts on one database and schema stand for host processes: each runs its own relay (its own
// owner, leases and consumer) over the shared outbox. On PostgreSQL their rounds run on separate pool
// connections; on PGlite they interleave on its one connection.
describeBackends("several relays on one database", (backend) => {
  let hosts: TestHost[] = [];
  afterEach(async () => {
    for (const t of hosts.reverse()) await t.close();
    hosts = [];
  });

  for (const relays of [2, 4]) {
    it(`${relays} relays deliver each event once to each subscribed install, sharing the work`, async () => {
      const database = await backend.connect();
      const schema = backend.freshSchema("annex_relays");
      // One relay could finish all deliveries before another's first lease under CI's load (PostgreSQL,
      // 2 relays, twice): the first handler holds its relay until a second relay has run one.
      const ledger = createLedger({ delayMs: 5, shareAmong: 2 });
      // Small batches: each round leases a few deliveries, so the relays compete for the rest.
      for (let i = 0; i < relays; i++) {
        hosts.push(await createTestHost({ database, schema, capabilities: [ledger.capabilityOf(i)], events: { batchSize: 2 } }));
      }
      const first = hosts[0]!;
      for (const tenant of TENANTS) {
        await first.install(await ordersBundle(), { tenant });
        await first.install(await shippingBundle(), { tenant });
      }
      // Published through different hosts: it is one outbox.
      let n = 0;
      for (const tenant of TENANTS) {
        for (let i = 0; i < ORDERS_PER_TENANT; i++, n++) await hosts[n % relays]!.host.events.publish(tenant, "order.created", { n, ship: true });
        for (let i = 0; i < REFUNDS_PER_TENANT; i++, n++) await hosts[n % relays]!.host.events.publish(tenant, "order.refunded", { n });
      }
      // Each order delivered to acme.orders publishes one `shipped`, delivered to acme.shipping.
      const expected = TENANTS.length * (2 * ORDERS_PER_TENANT + REFUNDS_PER_TENANT);

      const open = async () =>
        Number(
          (
            await first.host.database.db
              .selectFrom("annex_event_deliveries")
              .select((eb) => eb.fn.countAll().as("n"))
              .where("state", "in", ["pending", "leased"])
              .executeTakeFirstOrThrow()
          ).n,
        );
      // Open deliveries and events not fanned out yet, counted in ONE statement (one snapshot). Two queries raced
      // on PostgreSQL: a relay read 0 open deliveries, another relay's fan-out committed, then it read 0 unfanned
      // events, and it stopped before its first round (the other relay then did all the work).
      const remaining = async () => {
        const row = await first.host.database.db
          .selectNoFrom((eb) => [
            eb.selectFrom("annex_event_deliveries").select(eb.fn.countAll().as("n")).where("state", "in", ["pending", "leased"]).as("open"),
            eb.selectFrom("annex_events").select(eb.fn.countAll().as("n")).where("fanned_out_at", "is", null).as("unfanned"),
          ])
          .executeTakeFirstOrThrow();
        return Number(row.open) + Number(row.unfanned);
      };
      const deadline = Date.now() + 150_000;
      // Each relay polls on its own, as it would in its process, until nothing is left for anyone.
      const finished = async () => (await remaining()) === 0;
      // What each relay's rounds did, for the message of a failed "shared" assertion.
      const rounds = hosts.map(() => ({ rounds: 0, fannedOut: 0, sent: 0, slowestMs: 0 }));
      await Promise.all(
        hosts.map(async (t, i) => {
          while (!(await finished())) {
            if (Date.now() > deadline) throw new Error(`deliveries still open after 150 s: ${await open()}`);
            const started = Date.now();
            const { sent, fannedOut } = await t.relay.drain();
            const tally = rounds[i]!;
            tally.rounds++;
            tally.sent += sent;
            tally.fannedOut += fannedOut;
            tally.slowestMs = Math.max(tally.slowestMs, Date.now() - started);
            if (sent === 0) await new Promise((resolve) => setTimeout(resolve, 5));
          }
        }),
      );

      // Once per (event, install): every delivery's handler ran once, and its effect applied once.
      const keys = ledger.calls.map((c) => c.key);
      expect(keys).toHaveLength(expected);
      expect(new Set(keys).size).toBe(expected);
      const orders = ledger.calls.filter((c) => c.note.startsWith("order:")).map((c) => c.note);
      const shipped = ledger.calls.filter((c) => c.note.startsWith("shipped:")).map((c) => c.note.split(":")[1]);
      expect(new Set(orders).size).toBe(TENANTS.length * ORDERS_PER_TENANT);
      expect(new Set(shipped).size).toBe(TENANTS.length * ORDERS_PER_TENANT);
      expect(ledger.calls.filter((c) => c.note.startsWith("refund:"))).toHaveLength(TENANTS.length * REFUNDS_PER_TENANT);
      // Each tenant's effects came from its own installs.
      for (const call of ledger.calls) {
        const n = Number(call.note.split(":")[1]);
        expect(call.tenant).toBe(TENANTS[Math.floor(n / (ORDERS_PER_TENANT + REFUNDS_PER_TENANT))]);
      }

      // The outbox agrees: every delivery done at its first attempt, none leased twice.
      const rows = await first.host.database.db.selectFrom("annex_event_deliveries").select(["state", "attempts"]).execute();
      expect(rows).toHaveLength(expected);
      expect(rows.every((r) => r.state === "done" && Number(r.attempts) === 1)).toBe(true);

      // The work was shared: more than one relay ran handlers.
      const ranBy = hosts.map((t) => t.executions.filter((e) => e.trigger === "event").length);
      expect(ranBy.reduce((a, b) => a + b, 0)).toBe(expected);
      expect(ranBy.filter((count) => count > 0).length, `handlers run per relay ${JSON.stringify(ranBy)}; rounds ${JSON.stringify(rounds)}`).toBeGreaterThanOrEqual(2);
    }, 180_000);
  }
});
