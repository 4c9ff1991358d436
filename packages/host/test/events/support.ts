import { z } from "zod";
import { createInProcessBus, defineHostCapability, type Bus, type BusMessage } from "../../src/index.js";
import { makeBundle, serviceManifest } from "../support/fixtures.js";

/**
 * A ledger the extensions under test write their effects to, through a host
 * capability: each effect names the key it applies under (the handler passes
 * ctx.event.id), and an effect whose key was seen is not applied again, as an
 * idempotent consumer would do in its own store.
 */
/** `delayMs`: each effect takes this long (a handler that works), so that one relay cannot finish a round of many before another starts. */
/**
 * Records every `ledger.apply` call and applies each key once. `capabilityOf(relay)` is the same
 * capability for one of several hosts: with `shareAmong: n`, the first calls wait (at most
 * `shareWaitMs`) until n hosts have made one, so that "the relays share the work" holds by
 * construction and not by the scheduler's luck (one relay used to finish every delivery before the
 * other's first lease under CI's load).
 */
export function createLedger(options: { delayMs?: number; shareAmong?: number; shareWaitMs?: number } = {}) {
  const calls: Array<{ key: string; note: string; tenant: string; install: string }> = [];
  const applied = new Map<string, string>();
  const hostsSeen = new Set<number>();
  let allSeen!: () => void;
  const shared = new Promise<void>((resolve) => (allSeen = resolve));
  let gaveUp = false;
  const capabilityOf = (relay: number) =>
    defineHostCapability({
      name: "ledger.apply",
      description: "Applies an effect once per key",
      args: z.object({ key: z.string(), note: z.string() }),
      result: z.object({ applied: z.boolean() }),
      handler: async ({ key, note }, { install }) => {
        hostsSeen.add(relay);
        if (hostsSeen.size >= (options.shareAmong ?? 1)) allSeen();
        // Below the execution's 5 s wall limit: a relay that never gets work fails the test's own assertion, not a
        // timeout; and only once, so that the test then ends in seconds (it ran 150 s, every call waiting 3 s).
        else if (!gaveUp) gaveUp = await Promise.race([shared.then(() => false), new Promise<boolean>((resolve) => setTimeout(() => resolve(true), options.shareWaitMs ?? 3000))]);
        if (options.delayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, options.delayMs));
        calls.push({ key, note, tenant: install.tenant, install: install.id });
        if (applied.has(key)) return { applied: false };
        applied.set(key, note);
        return { applied: true };
      },
    });
  return {
    capability: capabilityOf(0),
    capabilityOf,
    calls,
    applied,
    /** Notes applied, in order. */
    notes: () => [...applied.values()],
  };
}

/** Handles order events: applies an effect, fails on demand, publishes `shipped`. */
export const ORDERS_SERVER = `
export async function onOrder(event, ctx) {
  const p = event.payload ?? {};
  await ctx.host.call("ledger.apply", { key: event.id, note: "order:" + p.n });
  if (p.poison) throw new Error("cannot handle order " + p.n);
  if (p.ship) await ctx.events.publish("shipped", { n: p.n, by: ctx.install.tenant });
  return { handled: p.n, id: event.id, type: event.type, occurredAt: event.occurredAt, ctxEventId: ctx.event ? ctx.event.id : null };
}
export async function onRefund(event, ctx) {
  await ctx.host.call("ledger.apply", { key: event.id, note: "refund:" + event.payload.n });
}
export async function publishUngranted(event, ctx) {
  await ctx.events.publish("not-declared", {});
}
`;

export function ordersManifest(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return serviceManifest({
    id: "acme.orders",
    name: "Orders",
    endpoints: [],
    capabilities: [
      { name: "events.subscribe", types: ["order.*"], reason: "Reacts to orders." },
      { name: "events.publish", types: ["shipped"], reason: "Says when an order shipped." },
      { name: "host:ledger.apply", reason: "Books orders." },
    ],
    events: {
      publishes: [{ type: "shipped" }],
      subscribes: [
        { type: "order.created", handler: "onOrder" },
        { type: "order.refunded", handler: "onRefund" },
      ],
    },
    ...overrides,
  });
}

export function ordersBundle(version = "1.0.0", server = ORDERS_SERVER, overrides: Record<string, unknown> = {}): Promise<Uint8Array> {
  return makeBundle(ordersManifest({ version, ...overrides }), { "server/index.js": server });
}

/** Subscribes to what acme.orders publishes. */
export const SHIPPING_SERVER = `
export async function onShipped(event, ctx) {
  await ctx.host.call("ledger.apply", { key: event.id, note: "shipped:" + event.payload.n + ":" + event.type });
}
`;

export function shippingBundle(): Promise<Uint8Array> {
  return makeBundle(
    serviceManifest({
      id: "acme.shipping",
      name: "Shipping",
      endpoints: [],
      capabilities: [
        { name: "events.subscribe", types: ["ext.acme.orders.shipped"], reason: "Ships orders." },
        { name: "host:ledger.apply", reason: "Books shipments." },
      ],
      events: { subscribes: [{ type: "ext.acme.orders.shipped", handler: "onShipped" }] },
    }),
    { "server/index.js": SHIPPING_SERVER },
  );
}

/** A clock tests move by hand. */
export function manualClock(start = Date.UTC(2026, 0, 1, 12, 0, 0)) {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

/**
 * The in-process bus, with every message the relay sent, in the order it sent them. What a claim leased is sent
 * in one go, so the first `batchSize` messages are the first claim, and each claim's messages carry its lease;
 * the order the handlers finish in says nothing of it (the relay leases again as some of a batch finish, and a
 * fresh install's first run compiles its bundle).
 */
export function tappedBus(): { bus: Bus; sent: BusMessage[] } {
  const inner = createInProcessBus();
  const sent: BusMessage[] = [];
  const bus: Bus = {
    name: inner.name,
    send(message) {
      sent.push(message);
      return inner.send(message);
    },
    consume: (handler, options) => inner.consume(handler, options),
    close: () => inner.close(),
  };
  return { bus, sent };
}

/** The in-process bus, losing the messages `lose` picks, as a broker may: the delivery's lease runs out and it goes again. */
export function lossyBus(lose: (message: BusMessage) => boolean): { bus: Bus; lost: BusMessage[] } {
  const inner = createInProcessBus();
  const lost: BusMessage[] = [];
  const bus: Bus = {
    name: "lossy",
    async send(message) {
      if (lose(message)) {
        lost.push(message);
        return;
      }
      return inner.send(message);
    },
    consume: (handler, options) => inner.consume(handler, options),
    close: () => inner.close(),
  };
  return { bus, lost };
}
