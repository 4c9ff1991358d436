import { sql } from "kysely";
import { afterEach, expect, it } from "vitest";
import { createTestHost, type TestHost } from "../../src/testing/index.js";
import { describeBackends } from "../support/backends.js";
import { createLedger, manualClock, ordersBundle, shippingBundle } from "./support.js";

describeBackends("event delivery", (backend) => {
  let t: TestHost | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  async function world(options: { tenant?: string; publishRate?: { events: number; perSeconds: number } } = {}) {
    const ledger = createLedger();
    const clock = manualClock();
    t = await createTestHost({
      database: await backend.connect(),
      schema: backend.freshSchema("annex_events"),
      capabilities: [ledger.capability],
      now: clock.now,
      tenant: options.tenant,
      ...(options.publishRate === undefined ? {} : { events: { publishRate: options.publishRate } }),
    });
    return { t, ledger, clock };
  }

  it("delivers an event the app published to the subscribed install, with an idempotency key per event and install", async () => {
    const { t, ledger } = await world();
    const install = await t.install(await ordersBundle());
    const { id } = await t.events.publish("order.created", { n: 1 });
    expect(ledger.calls).toEqual([]); // nothing runs before the relay does
    const drained = await t.relay.drain();
    expect(drained).toMatchObject({ fannedOut: 1, sent: 1 });
    expect(ledger.notes()).toEqual(["order:1"]);
    const run = t.executions.find((e) => e.handler === "onOrder")!;
    expect(run.trigger).toBe("event");
    expect(run.installId).toBe(install.id);
    const body = run.result.response?.body as { id: string; type: string; ctxEventId: string | null; occurredAt: string };
    expect(body.type).toBe("order.created");
    // The key is the delivery's, not the event's: another install gets another key for the same event.
    expect(body.id).not.toBe(id);
    expect(ledger.calls[0]!.key).toBe(body.id);
    // ctx.event.id is the same key as the argument's event.id.
    expect(body.ctxEventId).toBe(body.id);
    expect(body.occurredAt).toBe(new Date(Date.UTC(2026, 0, 1, 12, 0, 0)).toISOString());
    // A second drain finds nothing.
    expect(await t.relay.drain()).toMatchObject({ sent: 0 });
    expect(ledger.calls).toHaveLength(1);
  });

  it("carries an event an extension published (as ext.<id>.<type>) to the installs subscribed to it, and only events of the tenant", async () => {
    const { t, ledger } = await world();
    await t.install(await ordersBundle());
    await t.install(await shippingBundle());
    await t.install(await ordersBundle(), { tenant: "other-tenant" });
    await t.install(await shippingBundle(), { tenant: "other-tenant" });
    await t.events.publish("order.created", { n: 7, ship: true });
    await t.relay.drain();
    expect(ledger.notes()).toEqual(["order:7", "shipped:7:ext.acme.orders.shipped"]);
    expect(new Set(ledger.calls.map((c) => c.tenant))).toEqual(new Set(["test-tenant"]));
  });

  it("publishes nothing for a handler that fails, and refuses a type the install was not granted", async () => {
    const { t, ledger, clock } = await world();
    await t.install(await ordersBundle("1.0.0", `
      export async function onOrder(event, ctx) {
        await ctx.events.publish("shipped", { n: event.payload.n });
        throw new Error("after publishing");
      }
      export async function onRefund(event, ctx) {
        try { await ctx.events.publish("not-declared", {}); } catch (e) { await ctx.host.call("ledger.apply", { key: event.id, note: e.code }); }
      }
    `));
    await t.install(await shippingBundle());
    await t.events.publish("order.created", { n: 1 });
    await t.events.publish("order.refunded", { n: 2 });
    await t.relay.drain();
    clock.advance(10_000);
    await t.relay.drain();
    expect(ledger.notes()).toEqual(["E_CAPABILITY_DENIED"]);
  });

  it("retries with backoff, keeps order per install and type, and parks a poison event in the dead letters after the last attempt", async () => {
    const { t, ledger, clock } = await world();
    await t.install(await ordersBundle());
    await t.events.publish("order.created", { n: 0, poison: true });
    for (const n of [1, 2, 3]) await t.events.publish("order.created", { n });
    await t.events.publish("order.refunded", { n: 9 });
    await t.relay.drain();
    // The poison event failed once; the orders behind it wait; the refund (another type) went through.
    // Different types are delivered concurrently, so only the set is fixed across types.
    expect(ledger.calls.map((c) => c.note).sort()).toEqual(["order:0", "refund:9"]);
    expect(await t.relay.drain()).toMatchObject({ sent: 0 }); // its retry is not due yet
    clock.advance(1000); // attempt 2 after 0.5–1 s
    await t.relay.drain();
    expect(ledger.calls.filter((c) => c.note === "order:0")).toHaveLength(2);
    clock.advance(2000); // attempt 3 after 1–2 s: the last (the test host allows 3)
    await t.relay.drain();
    expect(ledger.calls.filter((c) => c.note === "order:0")).toHaveLength(3);
    // Parked: the orders behind it are delivered, in order.
    expect(ledger.notes().filter((n) => n.startsWith("order:"))).toEqual(["order:0", "order:1", "order:2", "order:3"]);
    expect(ledger.notes().filter((n) => n.startsWith("refund:"))).toEqual(["refund:9"]);
    const dead = await t.deadLetters();
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ type: "order.created", tenant: "test-tenant", extensionId: "acme.orders", attempts: 3, payload: { n: 0, poison: true } });
    expect(dead[0]!.lastError).toMatchObject({ code: "E_HANDLER_ERROR" });
    expect(dead[0]!.lastError!.message).toContain("cannot handle order 0");
    const parked = await t.audit.list({ action: "event.dead-letter.park" } as never);
    expect(parked.some((entry) => entry.action === "event.dead-letter.park" && (entry.details as { deliveryId: string }).deliveryId === dead[0]!.deliveryId)).toBe(true);
    // Named like every other line about the install: its extension id, the tenant in its own column.
    expect(parked.find((entry) => entry.action === "event.dead-letter.park")).toMatchObject({ tenant: "test-tenant", target: "acme.orders" });
    const metrics = await t.host.metrics!.text();
    expect(metrics).toMatch(/annex_event_deliveries_total\{outcome="dead",reason="E_HANDLER_ERROR"\} 1/);
    expect(metrics).toMatch(/annex_event_deliveries_total\{outcome="failed",reason="E_HANDLER_ERROR"\} 2/);
  });

  it("parks a delivery whose handler throws text PostgreSQL cannot store (NUL), and acks one whose published event holds it", async () => {
    // A guest's error message is written to the delivery's last_error (jsonb): with a NUL in it, that write used to
    // fail, so the delivery was neither retried nor parked and ran again every lease period, blocking those behind it.
    const { t, ledger, clock } = await world();
    await t.install(
      await ordersBundle(
        "1.0.0",
        `export async function onOrder(event, ctx) {
          await ctx.host.call("ledger.apply", { key: event.id + ":" + Math.random(), note: "order:" + event.payload.n });
          if (event.payload.n === 0) throw new Error("bad\\u0000news\\ud800");
          try { await ctx.events.publish("shipped", { s: "a\\u0000b" }); } catch (e) { await ctx.host.call("ledger.apply", { key: event.id, note: e.code }); }
        }
        export async function onRefund() {}`,
      ),
    );
    await t.events.publish("order.created", { n: 0 });
    await t.events.publish("order.created", { n: 1 });
    for (let i = 0; i < 6; i++) {
      await t.relay.drain();
      clock.advance(5000);
    }
    // The guest's publish is refused at once (a host-call argument error), so the delivery can be acked.
    expect(ledger.notes()).toEqual(["order:0", "order:0", "order:0", "order:1", "E_INVALID_ARGUMENT"]);
    const dead = await t.deadLetters();
    expect(dead).toHaveLength(1);
    expect(dead[0]!.lastError).toMatchObject({ code: "E_HANDLER_ERROR", message: expect.stringContaining("bad\ufffdnews\ufffd") });
  });

  it("replays a dead letter after the fix ships as an upgrade, with the same key; discard drops one for good; both audited", async () => {
    const { t, ledger, clock } = await world();
    await t.install(await ordersBundle());
    await t.events.publish("order.created", { n: 1, poison: true });
    await t.events.publish("order.created", { n: 2, poison: true });
    // Three attempts each; the second waits behind the first (same install and type).
    for (let i = 0; i < 6; i++) {
      await t.relay.drain();
      clock.advance(5000);
    }
    const [first, second] = await t.deadLetters();
    expect(first).toBeDefined();
    expect(second).toBeDefined();
    // The fix: version 1.0.1 handles the poison.
    await t.upgrade(await ordersBundle("1.0.1", `
      export async function onOrder(event, ctx) { await ctx.host.call("ledger.apply", { key: event.id, note: "fixed:" + event.payload.n }); }
      export async function onRefund() {}
    `));
    // Scoped to another tenant (an admin API acting for that tenant), the letters are not found and stay parked.
    await expect(t.host.events.deadLetters.replay(first!.deliveryId, { actor: "intruder", tenant: "other-tenant" })).rejects.toMatchObject({ code: "E_DEAD_LETTER_NOT_FOUND" });
    await expect(t.host.events.deadLetters.discard(second!.deliveryId, { actor: "intruder", tenant: "other-tenant" })).rejects.toMatchObject({ code: "E_DEAD_LETTER_NOT_FOUND" });
    expect(await t.deadLetters()).toHaveLength(2);
    await t.host.events.deadLetters.replay(first!.deliveryId, { actor: "ops@example.com", tenant: "test-tenant" });
    await t.host.events.deadLetters.discard(second!.deliveryId, { actor: "ops@example.com" });
    await t.relay.drain();
    // The first attempt's effect was applied under the same key, so the fixed handler's is refused: effects apply once.
    expect(ledger.calls.filter((c) => c.key === first!.deliveryId).map((c) => c.note)).toEqual(["order:1", "order:1", "order:1", "fixed:1"]);
    expect(ledger.calls.some((c) => c.note === "fixed:2")).toBe(false);
    expect(await t.deadLetters()).toEqual([]);
    await expect(t.host.events.deadLetters.replay(first!.deliveryId)).rejects.toMatchObject({ code: "E_DEAD_LETTER_NOT_FOUND" });
    await expect(t.host.events.deadLetters.discard("nope")).rejects.toMatchObject({ code: "E_DEAD_LETTER_NOT_FOUND" });
    const entries = await t.audit.list({ tenant: "test-tenant" });
    const actions = entries.filter((e) => e.action.startsWith("event.dead-letter.")).map((e) => [e.action, e.actor, e.target]);
    expect(actions).toEqual(
      expect.arrayContaining([
        ["event.dead-letter.replay", "ops@example.com", "acme.orders"],
        ["event.dead-letter.discard", "ops@example.com", "acme.orders"],
      ]),
    );
  });

  it("refuses to replay a dead letter of an uninstalled install (E_DEAD_LETTER_INSTALL_GONE, nothing audited), lists it marked installGone, and discards it", async () => {
    const { t, clock } = await world();
    const install = await t.install(await ordersBundle());
    await t.events.publish("order.created", { n: 1, poison: true });
    for (let i = 0; i < 3; i++) {
      await t.relay.drain();
      clock.advance(5000);
    }
    const [letter] = await t.deadLetters();
    expect(letter).toMatchObject({ installId: install.id, installGone: false });
    await t.uninstall("acme.orders");

    // Still listed (an admin has to see it to discard it), and marked.
    expect(await t.deadLetters()).toEqual([expect.objectContaining({ deliveryId: letter!.deliveryId, installGone: true, extensionId: "acme.orders" })]);
    const refused = await t.host.events.deadLetters.replay(letter!.deliveryId, { actor: "ops@example.com", tenant: "test-tenant" }).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: "E_DEAD_LETTER_INSTALL_GONE", details: { deliveryId: letter!.deliveryId, installId: install.id } });
    expect((refused as Error).message).toMatch(/uninstalled.*discard it/);
    // Another tenant learns nothing of it: not found, as before.
    await expect(t.host.events.deadLetters.replay(letter!.deliveryId, { actor: "intruder", tenant: "other-tenant" })).rejects.toMatchObject({ code: "E_DEAD_LETTER_NOT_FOUND" });
    await t.relay.drain();
    const rows = await t.host.database.db.selectFrom("annex_event_deliveries").select(["id", "state"]).execute();
    expect(rows).toEqual([{ id: letter!.deliveryId, state: "dead" }]);
    const replays = await t.audit.list({ action: "event.dead-letter.replay" } as never);
    expect(replays.filter((entry) => entry.action === "event.dead-letter.replay")).toEqual([]);

    await t.host.events.deadLetters.discard(letter!.deliveryId, { actor: "ops@example.com", tenant: "test-tenant" });
    expect(await t.deadLetters()).toEqual([]);
  });

  it("claims past backlogs longer than the claim window (a disabled install's, and the deliveries behind a failing head), keeping each queue's order", async () => {
    const { t, ledger, clock } = await world();
    for (const tenant of ["parked", "stuck", "small"]) await t.install(await ordersBundle(), { tenant });
    await t.disable("acme.orders", { tenant: "parked" });
    // Oldest first: 150 deliveries that cannot run, then a poison head with 140 behind it, then one of each type.
    for (let n = 0; n < 150; n++) await t.events.publish("order.created", { n }, { tenant: "parked" });
    await t.events.publish("order.created", { n: 0, poison: true }, { tenant: "stuck" });
    for (let n = 1; n <= 140; n++) await t.events.publish("order.created", { n }, { tenant: "stuck" });
    await t.events.publish("order.created", { n: 7 }, { tenant: "small" });
    await t.events.publish("order.refunded", { n: 8 }, { tenant: "small" });
    const of = (tenant: string) => ledger.calls.filter((c) => c.tenant === tenant).map((c) => c.note);

    await t.relay.drain();
    expect(of("small").sort()).toEqual(["order:7", "refund:8"]);
    expect(of("stuck")).toEqual(["order:0"]);
    expect(of("parked")).toEqual([]);

    await t.enable("acme.orders", { tenant: "parked" });
    clock.advance(1000);
    await t.relay.drain();
    clock.advance(2000);
    await t.relay.drain(); // the poison head's last attempt: parked in the dead letters, the rest delivered
    expect(of("parked")).toEqual(Array.from({ length: 150 }, (_, n) => `order:${n}`));
    expect(of("stuck")).toEqual(["order:0", "order:0", "order:0", ...Array.from({ length: 140 }, (_, n) => `order:${n + 1}`)]);
    expect(await t.deadLetters()).toHaveLength(1);
  }, 60_000);

  it("holds a disabled install's deliveries until it is enabled again, and drops (and counts) an uninstalled one's", async () => {
    const { t, ledger } = await world();
    await t.install(await ordersBundle());
    await t.install(await shippingBundle());
    await t.disable("acme.orders");
    await t.events.publish("order.created", { n: 1 });
    await t.relay.drain();
    expect(ledger.calls).toEqual([]);
    await t.enable("acme.orders");
    await t.relay.drain();
    expect(ledger.notes()).toEqual(["order:1"]);

    await t.disable("acme.orders");
    await t.events.publish("order.created", { n: 2 });
    await t.relay.drain(); // fanned out; waits for the install
    await t.uninstall("acme.orders");
    const drained = await t.relay.drain();
    expect(drained.dropped).toBe(1);
    expect(ledger.notes()).toEqual(["order:1"]);
    expect(await t.host.metrics!.text()).toMatch(/annex_event_deliveries_total\{outcome="dropped",reason="uninstalled"\} 1/);
  });

  it("delivers nothing to an install whose events.subscribe grant does not cover the type (enforced at fan-out and at delivery)", async () => {
    const { t, ledger } = await world();
    const install = await t.install(await ordersBundle());
    // Grants narrowed behind the manifest's back (a tampered row, or a host bug): only refunds stay covered.
    const narrow = JSON.stringify(install.grants.map((g) => (g.name === "events.subscribe" ? { ...g, types: ["order.refunded"] } : g)));
    await t.disable("acme.orders");
    await t.events.publish("order.created", { n: 1 });
    await t.relay.drain(); // fanned out under the old grants; waits for the install
    await t.host.database.db.updateTable("annex_installs").set({ grants: narrow }).where("id", "=", install.id).execute();
    await t.enable("acme.orders");
    await t.events.publish("order.created", { n: 2 });
    await t.events.publish("order.refunded", { n: 3 });
    await t.relay.drain();
    expect(ledger.notes()).toEqual(["refund:3"]);
    expect(await t.host.metrics!.text()).toMatch(/annex_event_deliveries_total\{outcome="dropped",reason="unsubscribed"\} 1/);
  });

  it("writes the app's event in the app's transaction: published if the transaction commits, never if it rolls back", async () => {
    const { t, ledger } = await world();
    await t.install(await ordersBundle());
    const root = t.host.database.root;
    await root
      .transaction()
      .execute(async (trx) => {
        await t.events.publish("order.created", { n: 1 }, { trx });
        throw new Error("the app's change failed");
      })
      .catch(() => {});
    await root.transaction().execute(async (trx) => {
      await t.events.publish("order.created", { n: 2 }, { trx });
    });
    await t.relay.drain();
    expect(ledger.notes()).toEqual(["order:2"]);
  });

  it("refuses bad events from the app with typed errors naming the field", async () => {
    const { t } = await world();
    await expect(t.events.publish("ext.acme.orders.shipped", {})).rejects.toMatchObject({ code: "E_EVENT_TYPE", details: { field: "type" } });
    await expect(t.events.publish("Order Created", {})).rejects.toMatchObject({ code: "E_EVENT_TYPE" });
    await expect(t.events.publish("order.*", {})).rejects.toMatchObject({ code: "E_EVENT_TYPE" });
    await expect(t.events.publish("order.created", { big: "x".repeat(300 * 1024) })).rejects.toMatchObject({ code: "E_EVENT_PAYLOAD" });
    await expect(t.events.publish("order.created", { n: 10n })).rejects.toMatchObject({ code: "E_EVENT_PAYLOAD" });
    // PostgreSQL cannot store these in jsonb: refused here, not as a database error from the insert.
    await expect(t.events.publish("order.created", { s: "a\u0000b" })).rejects.toMatchObject({ code: "E_EVENT_PAYLOAD", message: /key "s" holds NUL/ });
    await expect(t.events.publish("order.created", { ["k\ud800"]: 1 })).rejects.toMatchObject({ code: "E_EVENT_PAYLOAD" });
    await expect(t.host.events.publish("bad tenant!", "order.created", {})).rejects.toMatchObject({ code: "E_EVENT_TENANT" });
  });

  it("stops an event loop at maxDepth: a handler that republishes what it handles", async () => {
    const { t, ledger, clock } = await world();
    const LOOP = `
      export async function onOrder(event, ctx) {
        await ctx.host.call("ledger.apply", { key: event.id, note: "loop:" + event.type });
        await ctx.events.publish("shipped", {});
      }
      export async function onLoop(event, ctx) {
        await ctx.host.call("ledger.apply", { key: event.id, note: "loop:" + event.type });
        await ctx.events.publish("shipped", {});
      }
      export async function onRefund() {}
    `;
    await t.install(await ordersBundle("1.0.0", LOOP, {
      events: { publishes: [{ type: "shipped" }], subscribes: [{ type: "order.created", handler: "onOrder" }, { type: "ext.acme.orders.shipped", handler: "onLoop" }, { type: "order.refunded", handler: "onRefund" }] },
      capabilities: [
        { name: "events.subscribe", types: ["order.*", "ext.acme.orders.shipped"], reason: "Loops." },
        { name: "events.publish", types: ["shipped"], reason: "Loops." },
        { name: "host:ledger.apply", reason: "Counts." },
      ],
    }));
    await t.events.publish("order.created", {});
    for (let i = 0; i < 4; i++) {
      await t.relay.drain();
      clock.advance(10_000);
    }
    // The app's event at depth 0, then 8 generations; the 9th publish is refused and that delivery ends in the dead letters.
    expect(ledger.notes()).toHaveLength(9);
    const dead = await t.deadLetters();
    expect(dead).toHaveLength(1);
    expect(dead[0]!.lastError!.message).toContain("a chain of 9 events");
  });

  it("bounds how fast an install's handlers can grow the outbox: a widening loop meets its publish budget", async () => {
    const { t, ledger, clock } = await world({ publishRate: { events: 20, perSeconds: 3600 } });
    // Two events per delivery of its own event: 2^9 - 1 executions by depth 8 without a budget.
    const STORM = `
      async function twice(event, ctx) {
        await ctx.host.call("ledger.apply", { key: event.id, note: "run" });
        for (const n of [1, 2]) {
          try { await ctx.events.publish("shipped", { n }); }
          catch (e) { await ctx.host.call("ledger.apply", { key: event.id + ":" + n, note: e.code }); }
        }
      }
      export const onOrder = twice;
      export const onLoop = twice;
      export async function onRefund() {}
    `;
    await t.install(await ordersBundle("1.0.0", STORM, {
      events: { publishes: [{ type: "shipped" }], subscribes: [{ type: "order.created", handler: "onOrder" }, { type: "ext.acme.orders.shipped", handler: "onLoop" }, { type: "order.refunded", handler: "onRefund" }] },
      capabilities: [
        { name: "events.subscribe", types: ["order.*", "ext.acme.orders.shipped"], reason: "Storms." },
        { name: "events.publish", types: ["shipped"], reason: "Storms." },
        { name: "host:ledger.apply", reason: "Counts." },
      ],
    }));
    await t.events.publish("order.created", {});
    for (let i = 0; i < 12; i++) {
      await t.relay.drain();
      clock.advance(1_000);
    }
    const notes = ledger.notes();
    // The app's event, then exactly the 20 events the budget allowed: 21 runs, however the loop widens.
    expect(notes.filter((note) => note === "run")).toHaveLength(21);
    expect(notes.filter((note) => note === "E_EVENT_RATE_LIMITED").length).toBeGreaterThan(0);
    const published = await sql<{ n: string }>`SELECT count(*) AS n FROM ${sql.table(`${t.host.database.schema}.annex_events`)} WHERE source LIKE 'install:%'`.execute(t.host.database.root);
    expect(Number(published.rows[0]!.n)).toBe(20);
  });

  it("loses nothing when the relay dies between the handler's effects and the ack: redelivered with the same key, applied once", async () => {
    const { t, ledger, clock } = await world();
    await t.install(await ordersBundle());
    await t.install(await shippingBundle());
    // The database refuses the first ack: as if the process died right after the handler ran.
    const schema = t.host.database.schema!;
    const root = t.host.database.root;
    // A sequence, because it counts outside the transaction the exception rolls back.
    await sql`CREATE SEQUENCE ${sql.id(schema, "acks")}`.execute(root);
    await sql.raw(`CREATE FUNCTION "${schema}".refuse_first_ack() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.state = 'done' AND nextval('"${schema}".acks') = 1 THEN
          RAISE EXCEPTION 'relay died before the ack';
        END IF;
        RETURN NEW;
      END $$`).execute(root);
    await sql.raw(`CREATE TRIGGER refuse_first_ack BEFORE UPDATE ON "${schema}".annex_event_deliveries FOR EACH ROW EXECUTE FUNCTION "${schema}".refuse_first_ack()`).execute(root);
    await t.events.publish("order.created", { n: 5, ship: true });
    await t.relay.drain();
    // The handler ran (its effect applied); the ack (and the event it published) did not make it.
    expect(ledger.calls.map((c) => c.note)).toEqual(["order:5"]);
    expect(await t.relay.drain()).toMatchObject({ sent: 0 }); // still leased
    clock.advance(60_000); // the lease runs out
    await t.relay.drain();
    const orders = ledger.calls.filter((c) => c.note === "order:5");
    expect(orders).toHaveLength(2);
    expect(orders[0]!.key).toBe(orders[1]!.key); // the same ctx.event.id
    expect(ledger.notes()).toEqual(["order:5", "shipped:5:ext.acme.orders.shipped"]); // applied once; published once
    expect(ledger.calls.filter((c) => c.note.startsWith("shipped:"))).toHaveLength(1);
  });
});
