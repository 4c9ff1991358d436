import { afterAll, beforeAll, expect, it } from "vitest";
import { createMemoryRateLimitStore, createMemoryReplayStore, type Host, type RateLimitStore, type ReplayStore } from "../../src/index.js";
import { signWebhook } from "../../src/gateway/webhook-signature.js";
import { describeBackends } from "../support/backends.js";
import { bearer, gatewayWorld, problemOf, req, scriptedRunner, type GatewayWorld, type WorldOptions } from "./support.js";

const NOW = 1_750_000_000_000;

// Two hosts over one database stand for two host processes; what they share is only what they are given.
describeBackends("gateway stores shared by several hosts", (backend) => {
  let world: GatewayWorld;
  let clock = NOW;
  let secret: string;

  beforeAll(async () => {
    world = await gatewayWorld(backend, { now: () => clock });
    secret = world.webhookSecrets.set((await world.installFor("t1")).id);
    await world.installFor("t2");
  });
  afterAll(() => world.close());

  const hello = (host: Host) => host.handle(req("GET", "/api/ext/acme.gw/hello/x", { headers: bearer("ada", "t2") }));
  const deliver = (host: Host, body: string, ts = Math.floor(clock / 1000)) =>
    host.handle(req("POST", "/ext/acme.gw/hooks/events", { tenant: "t1", headers: { "content-type": "application/json", ...signWebhook(secret, body, ts).headers }, body }));
  const pair = (options: WorldOptions) => Promise.all([world.hostWith(options), world.hostWith(options)]);

  it("keeps one budget across hosts given one rate-limit store, and one per host by default", async () => {
    const policy = { rateLimits: { api: { requests: 3, perSeconds: 60 } } };
    const rateLimits = createMemoryRateLimitStore({ now: () => clock });
    const [a, b] = await pair({ policy, stores: { rateLimits } });
    const shared = [await hello(a), await hello(b), await hello(a), await hello(b)].map((response) => response.status);
    expect(shared).toEqual([200, 200, 200, 429]);
    const [c, d] = await pair({ policy });
    const apart = [await hello(c), await hello(d), await hello(c), await hello(d), await hello(c), await hello(d)].map((response) => response.status);
    expect(apart).toEqual([200, 200, 200, 200, 200, 200]);
  });

  it("refuses a delivery replayed to another host that shares the replay store; by default the other host accepts it", async () => {
    const replays = createMemoryReplayStore();
    const [a, b] = await pair({ stores: { replays } });
    const body = JSON.stringify({ id: "evt_shared" });
    expect((await deliver(a, body)).status).toBe(200);
    const replayed = await deliver(b, body);
    expect(replayed.status).toBe(409);
    expect((await problemOf(replayed)).code).toBe("E_WEBHOOK_REPLAYED");
    const [c, d] = await pair({});
    const apart = JSON.stringify({ id: "evt_apart" });
    expect((await deliver(c, apart)).status).toBe(200);
    expect((await deliver(d, apart)).status).toBe(200);
  });

  it("lets a delivery refused with 429 be sent again once the budget is back (the claim is released)", async () => {
    const replays = createMemoryReplayStore();
    const rateLimits = createMemoryRateLimitStore({ now: () => clock });
    const [a, b] = await pair({ stores: { replays, rateLimits }, policy: { rateLimits: { webhook: { requests: 1, perSeconds: 60 } } } });
    expect((await deliver(a, '{"n":1}')).status).toBe(200);
    const refused = await deliver(b, '{"n":2}');
    expect(refused.status).toBe(429);
    clock += 60_000;
    try {
      expect((await deliver(a, '{"n":2}', Math.floor((clock - 60_000) / 1000))).status).toBe(200);
      expect((await deliver(b, '{"n":2}', Math.floor((clock - 60_000) / 1000))).status).toBe(409);
    } finally {
      clock = NOW;
    }
  });

  it("refuses with 503 E_STORE_UNAVAILABLE, before anything runs, when a store fails or does not answer in time", async () => {
    const runner = scriptedRunner(world.runner, (envelope) => world.runner.execute(envelope));
    const failing: RateLimitStore = {
      take: () => Promise.reject(new Error("ECONNREFUSED 127.0.0.1:6379")),
      refund: () => {},
    };
    const hanging: ReplayStore = { claim: () => new Promise<boolean>(() => {}), release: () => {} };
    const [down] = await Promise.all([world.hostWith({ runner, stores: { rateLimits: failing } })]);
    const response = await hello(down);
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("1");
    expect((await problemOf(response)).code).toBe("E_STORE_UNAVAILABLE");
    const slow = await world.hostWith({ runner, stores: { replays: hanging, timeoutMs: 50 } });
    const late = await deliver(slow, '{"slow":true}');
    expect(late.status).toBe(503);
    expect((await problemOf(late)).code).toBe("E_STORE_UNAVAILABLE");
    expect(runner.envelopes).toHaveLength(0);
    await down.gateway!.drain();
    const [line] = await down.audit.list({ tenant: "t2", action: "gateway.request", order: "desc", limit: 1 });
    expect(line).toMatchObject({ decision: "error", details: { code: "E_STORE_UNAVAILABLE", reason: expect.stringMatching(/^rate-limit store: .*ECONNREFUSED/) } });
  });

  it("refuses a store timeout that is not a positive number", async () => {
    await expect(world.hostWith({ stores: { timeoutMs: 0 } })).rejects.toMatchObject({ code: "E_GATEWAY_OPTIONS", details: { field: "stores.timeoutMs" } });
  });
});
