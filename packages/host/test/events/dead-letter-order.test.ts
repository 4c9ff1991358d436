import { afterAll, beforeAll, expect, it } from "vitest";
import { z } from "zod";
import { defineHostCapability } from "../../src/index.js";
import { createTestHost, type TestHost } from "../../src/testing/index.js";
import { describeBackends } from "../support/backends.js";
import { makeBundle, serviceManifest } from "../support/fixtures.js";
import { manualClock } from "../jobs/support.js";

const SERVER = `
export async function onOrder(event, ctx) {
  const { broken } = await ctx.host.call("fixture.state", { n: event.payload.n });
  if (event.payload.poison && broken) throw new Error("cannot handle order " + event.payload.n);
  await ctx.host.call("fixture.log", { n: event.payload.n });
}
`;

describeBackends("dead letters: where a replay goes in its queue", (backend) => {
  let t: TestHost;
  const clock = manualClock();
  const handled: number[] = [];
  let broken = true;
  const state = defineHostCapability({
    name: "fixture.state",
    description: "Whether poison orders still fail",
    args: z.object({ n: z.number() }),
    result: z.object({ broken: z.boolean() }),
    handler: async () => ({ broken }),
  });
  const log = defineHostCapability({
    name: "fixture.log",
    description: "Records the order in which orders were handled",
    args: z.object({ n: z.number() }),
    result: z.object({ ok: z.boolean() }),
    handler: async ({ n }) => {
      handled.push(n);
      return { ok: true };
    },
  });

  beforeAll(async () => {
    t = await createTestHost({ database: await backend.connect(), schema: backend.freshSchema("dl_order"), capabilities: [state, log], now: clock.now });
  }, 60_000);
  afterAll(() => t?.close());

  async function drainFor(ms: number) {
    for (let waited = 0; waited <= ms; waited += 5000) {
      await t.relay.drain();
      clock.advance(5000);
    }
  }

  it("a replayed dead letter runs after the deliveries that were behind it (events.md), not ahead of them", async () => {
    const tenant = "dl-tenant";
    const bundle = await makeBundle(
      serviceManifest({
        id: "acme.sub",
        name: "Subscriber",
        endpoints: [],
        capabilities: [
          { name: "events.subscribe", types: ["order.created"], reason: "Reacts to new orders." },
          { name: "host:fixture.state", reason: "Reads the fixture state." },
          { name: "host:fixture.log", reason: "Records handled orders." },
        ],
        events: { subscribes: [{ type: "order.created", handler: "onOrder" }] },
      }),
      { "server/index.js": SERVER },
    );
    await t.install(bundle, { tenant });
    await t.events.publish("order.created", { n: 1, poison: true }, { tenant });
    await drainFor(30_000); // three attempts: parked
    const [letter] = await t.deadLetters();
    expect(letter).toMatchObject({ tenant, type: "order.created", payload: { n: 1, poison: true } });

    // The admin pauses the install while fixing the cause; orders 2 and 3 come in behind the parked one.
    await t.disable("acme.sub", { tenant });
    await t.events.publish("order.created", { n: 2 }, { tenant });
    await t.events.publish("order.created", { n: 3 }, { tenant });
    await t.relay.drain();
    broken = false;
    await t.host.events.deadLetters.replay(letter!.deliveryId, { actor: "ops", tenant });
    await t.enable("acme.sub", { tenant });
    await drainFor(10_000);
    // events.md: "A delivery parked in the dead letters no longer blocks the ones behind it; replayed, it runs after them."
    expect(handled).toEqual([2, 3, 1]);
  });
});
