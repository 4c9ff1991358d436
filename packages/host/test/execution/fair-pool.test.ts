/**
 * Through the host and its default runner, the worker pool: one install's
 * burst of requests that sit awaiting a slow host call does not keep another
 * install's request waiting behind the whole burst (the red team's F7 of
 * stop 29: 40 of 67 of a bystander's requests ended 504). The pool serves
 * installs in turn (packages/runner/src/pool/fair-queue.ts).
 */
import { createWorkerPoolRunner } from "@annex/runner";
import { afterAll, beforeAll, expect, it } from "vitest";
import { z } from "zod";
import { defineHostCapability } from "../../src/index.js";
import { createTestHost, type TestHost } from "../../src/testing/index.js";
import { describeBackends } from "../support/backends.js";
import { makeBundle, serviceManifest } from "../support/fixtures.js";

let started = 0;
const slow = defineHostCapability({
  name: "slow.wait",
  description: "Answers after a while, as a slow partner API would",
  args: z.object({}),
  result: z.object({ waited: z.boolean() }),
  handler: async () => {
    started++;
    // Long enough that the first is still waiting when the bystander comes, however late the poll wakes under load.
    await new Promise((resolve) => setTimeout(resolve, 300));
    return { waited: true };
  },
});

describeBackends("the host's worker pool serves installs in turn", (backend) => {
  const runner = createWorkerPoolRunner({ workers: 1 });
  let t: TestHost;

  beforeAll(async () => {
    t = await createTestHost({ runner, capabilities: [slow], database: await backend.connect(), schema: backend.freshSchema("annex_fair") });
    const hog = serviceManifest({
      id: "acme.hog",
      capabilities: [{ name: "host:slow.wait", reason: "Asks a slow partner." }],
      endpoints: [{ class: "api", method: "GET", path: "/wait", handler: "wait" }],
    });
    await t.install(await makeBundle(hog, { "server/index.js": `export async function wait(request, ctx) { return await ctx.host.call("slow.wait", {}); }` }));
    const bystander = serviceManifest({ id: "acme.bystander", endpoints: [{ class: "api", method: "GET", path: "/ping", handler: "ping" }] });
    await t.install(await makeBundle(bystander, { "server/index.js": `export function ping() { return { pong: true }; }` }));
  });
  afterAll(async () => {
    await t?.close();
    await runner.close();
  });

  it("answers a bystander after at most the hog's execution under way and the next, not after its whole burst", async () => {
    const order: string[] = [];
    started = 0;
    const hogs = Array.from({ length: 8 }, (_, i) =>
      t.request("GET", "/api/ext/acme.hog/wait", { as: "u1" }).then(async (response) => {
        expect(await response.json()).toEqual({ waited: true });
        order.push(`hog${i}`);
      }),
    );
    // The first of the burst is running (awaiting its host call); the others wait in the pool or in the worker.
    while (started === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const ping = await t.request("GET", "/api/ext/acme.bystander/ping", { as: "u2" });
    order.push("bystander");
    expect(await ping.json()).toEqual({ pong: true });
    await Promise.all(hogs);
    expect(order.indexOf("bystander")).toBeLessThanOrEqual(2);
    expect(order).toHaveLength(9);
  });
});
