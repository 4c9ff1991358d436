/**
 * An extension's test suite that turns on vitest's fake timers (its defaults
 * fake setTimeout, setInterval, setImmediate and Date) must not freeze the
 * host under test: Annex's own waits (the audit writer's batching, the
 * worker pool's dispatch, deadlines) run on Node's real timers, and time as
 * the extension sees it is the test host's `now`. Before, the audit writer's
 * batch waited on a faked setImmediate forever, and every later request and
 * `t.close()` with it, even after `vi.useRealTimers()`.
 */
import { createWorkerPoolRunner } from "@annex/runner";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createTestHost, type TestHost } from "../../src/testing/index.js";
import { makeBundle, serviceManifest } from "../support/fixtures.js";

const SERVER = `
export function hello(request, ctx) { return { hello: request.params.name }; }
export async function ping(job, ctx) { await ctx.events.publish("pinged", { at: 1 }); return { pinged: true }; }
export async function onPing(event, ctx) { await ctx.kv.set("last", event.payload); }
`;

async function extension(): Promise<Uint8Array> {
  return makeBundle(
    serviceManifest({
      id: "acme.timers",
      capabilities: [
        { name: "events.publish", types: ["pinged"], reason: "Says it was pinged." },
        { name: "events.subscribe", types: ["ext.acme.timers.pinged"], reason: "Hears it." },
        { name: "storage.kv", reason: "Keeps the last ping." },
      ],
      storage: { kind: "kv" },
      endpoints: [{ class: "api", method: "GET", path: "/hello/:name", handler: "hello" }],
      jobs: [{ name: "ping", cron: "*/5 * * * *", handler: "ping" }],
      events: { publishes: [{ type: "pinged" }], subscribes: [{ type: "ext.acme.timers.pinged", handler: "onPing" }] },
    }),
    { "server/index.js": SERVER },
  );
}

describe("createTestHost under vi.useFakeTimers()", () => {
  let t: TestHost | undefined;
  afterEach(async () => {
    vi.useRealTimers();
    await t?.close();
  });

  for (const [name, runner] of [
    ["the default runner", () => undefined],
    ["the worker pool", () => createWorkerPoolRunner({ workers: 1 })],
  ] as const) {
    it(`answers requests, runs jobs and delivers events, and closes, with ${name}`, async () => {
      const pool = runner();
      t = await createTestHost(pool === undefined ? {} : { runner: pool });
      const install = await t.install(await extension());
      vi.useFakeTimers();
      const response = await t.request("GET", "/api/ext/acme.timers/hello/Ada", { as: "u1" });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ hello: "Ada" });
      expect(await t.jobs.run(install.id, "ping")).toMatchObject({ outcome: "ok", output: { pinged: true } });
      expect(await t.relay.drain()).toMatchObject({ sent: 1 });
      expect(await t.kv(install.id).get("last")).toEqual({ at: 1 });
      vi.useRealTimers();
      expect((await t.request("GET", "/api/ext/acme.timers/hello/Gus", { as: "u1" })).status).toBe(200);
      await t.close();
      t = undefined;
      await pool?.close();
    }, 60_000);
  }
});
