import { sql, type Kysely } from "kysely";
import type { PGlite } from "@electric-sql/pglite";
import { afterEach, expect, it } from "vitest";
import { createTestHost, type TestHost } from "../../src/testing/index.js";
import { describeBackends } from "../support/backends.js";
import { createLedger, lossyBus, manualClock, ordersBundle, shippingBundle } from "./support.js";

async function rows<T>(db: PGlite | Kysely<any>, text: string): Promise<T[]> {
  if ("selectFrom" in (db as object)) return (await sql.raw<T>(text).execute(db as Kysely<any>)).rows;
  return (await (db as PGlite).query<T>(text)).rows;
}

/** docs/events.md: the deliveries of an install that is gone are dropped (counted), then swept with their events. */
describeBackends("events: deliveries of installs that are gone", (backend) => {
  let t: TestHost | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it("drops a leased delivery whose lease ran out once its install is gone (its message lost), and sweeps it with its event", async () => {
    const clock = manualClock();
    const ledger = createLedger();
    let loseOne = true;
    const { bus, lost } = lossyBus((message) => {
      if (!loseOne || message.type !== "ext.acme.orders.shipped") return false;
      loseOne = false;
      return true;
    });
    const db = await backend.connect();
    const schema = backend.freshSchema("annex_ev_gone");
    t = await createTestHost({ database: db, schema, capabilities: [ledger.capability], now: clock.now, events: { bus, retentionMs: 60_000, deadLetterRetentionMs: 120_000 } });
    const tenant = "t-gone";
    await t.install(await ordersBundle(), { tenant });
    await t.install(await shippingBundle(), { tenant });
    await t.events.publish("order.created", { n: 1, ship: true }, { tenant });
    await t.relay.drain();
    await t.relay.drain();
    expect(lost).toHaveLength(1);
    // Uninstalled while its delivery is leased and its message lost: only a claim would have ended that lease, and
    // claims lease serving installs' deliveries only.
    await t.uninstall("acme.shipping", { tenant });
    let dropped = 0;
    for (let round = 0; round < 10; round++) {
      clock.advance(10 * 60_000);
      dropped += (await t.relay.drain()).dropped;
    }
    expect(dropped).toBe(1);
    expect(await rows(db, `SELECT state FROM "${schema}".annex_event_deliveries WHERE type = 'ext.acme.orders.shipped'`)).toEqual([]);
    expect(await rows(db, `SELECT type FROM "${schema}".annex_events WHERE type = 'ext.acme.orders.shipped'`)).toEqual([]);
    const held = await rows<{ events: string | number }>(db, `SELECT events FROM "${schema}".annex_event_holdings`);
    expect(held.filter((row) => Number(row.events) > 0)).toEqual([]);
    expect(ledger.notes().filter((note) => note.startsWith("shipped"))).toEqual([]);
  });

  for (const roundBetween of [true, false]) {
    it(`never hands a reinstalled install (same id) what was sent to the one uninstalled, whether or not a relay round ran between (${roundBetween ? "one ran" : "none ran"})`, async () => {
      const ledger = createLedger();
      const db = await backend.connect();
      const schema = backend.freshSchema("annex_ev_reinstall");
      t = await createTestHost({ database: db, schema, capabilities: [ledger.capability] });
      const tenant = "t-reinstall";
      const first = await t.install(await ordersBundle(), { tenant });
      await t.disable("acme.orders", { tenant });
      await t.events.publish("order.created", { n: 1 }, { tenant });
      await t.relay.drain(); // fanned out to the disabled install: waiting for it
      await t.uninstall("acme.orders", { tenant });
      if (roundBetween) await t.relay.drain();
      const second = await t.install(await ordersBundle(), { tenant });
      expect(second.id).toBe(first.id);
      await t.relay.drain();
      expect(ledger.calls).toEqual([]);
      const states = await rows<{ state: string; last_error: { code?: string } | string }>(db, `SELECT state, last_error FROM "${schema}".annex_event_deliveries`);
      expect(states.map((row) => [row.state, (typeof row.last_error === "string" ? JSON.parse(row.last_error) : row.last_error)?.code])).toEqual([["dropped", "E_INSTALL_GONE"]]);
      // What is published after the reinstall reaches it.
      await t.events.publish("order.created", { n: 2 }, { tenant });
      await t.relay.drain();
      await t.relay.drain();
      expect(ledger.notes()).toEqual(["order:2"]);
    });
  }
});
