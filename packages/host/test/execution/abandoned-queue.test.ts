import { createWorkerPoolRunner, type WorkerPoolRunner } from "@annex/runner";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestHost, type TestHost } from "../../src/testing/test-host.js";
import { makeBundle, serviceManifest } from "../support/fixtures.js";

/**
 * When the gateway stops waiting (policy.timeoutMs, counted from the queue) for an execution that is still queued in
 * a busy pool, the execution never starts: it would only burn the worker's time for a caller already answered 504,
 * and delay everything queued behind it. Worker pool, one worker, through createTestHost.
 */
const SERVER = `
export function spin(request) { const end = Date.now() + Number(request.query.ms); while (Date.now() < end) {} return { spun: true }; }
export function quick() { return { quick: true }; }`;

let runner: WorkerPoolRunner;
let t: TestHost;

beforeAll(async () => {
  runner = createWorkerPoolRunner({ workers: 1 });
  t = await createTestHost({
    runner,
    policy: { limits: { wallMs: 2000 }, timeoutMs: 400 },
  });
  const manifest = serviceManifest({
    id: "acme.queue",
    endpoints: [
      { class: "api", method: "GET", path: "/spin", handler: "spin" },
      { class: "api", method: "GET", path: "/quick", handler: "quick" },
    ],
  });
  await t.install(await makeBundle(manifest, { "server/index.js": SERVER }));
}, 60_000);

afterAll(async () => {
  await t?.close();
  await runner?.close();
});

it("never starts an execution the gateway answered 504 for while it waited in the pool's queue", async () => {
  // The only worker computes for 1.5 s (no host call to cancel); the gateway answers that request 504 at 400 ms, and it runs on.
  const busy = t.request("GET", "/api/ext/acme.queue/spin?ms=1500", { as: "u1" });
  await new Promise((resolve) => setTimeout(resolve, 50));
  const queued = await t.request("GET", "/api/ext/acme.queue/spin?ms=800", { as: "u1" });
  expect(queued.status).toBe(504);
  // Answered: it no longer waits in the pool, and the execution under way is undisturbed.
  expect(runner.stats()).toMatchObject({ queued: 0, inFlight: 1 });
  expect((await busy).status).toBe(504);
  // Once the busy execution ends, the worker has nothing left to run: the spin never started.
  for (let i = 0; i < 100 && runner.stats().inFlight > 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  expect(runner.stats()).toMatchObject({ queued: 0, inFlight: 0 });
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(runner.stats()).toMatchObject({ queued: 0, inFlight: 0 });
  const next = await t.request("GET", "/api/ext/acme.queue/quick", { as: "u1" });
  expect({ status: next.status, body: await next.json() }).toEqual({ status: 200, body: { quick: true } });
}, 60_000);
