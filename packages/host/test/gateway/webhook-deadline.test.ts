import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createWorkerPoolRunner, type Runner } from "@annex/runner";
import { afterAll, beforeAll, expect, it } from "vitest";
import { signWebhook } from "../../src/gateway/webhook-signature.js";
import { createTestHost, type TestHost } from "../../src/testing/test-host.js";
import { makeBundle, serviceManifest } from "../support/fixtures.js";

/**
 * A delivery "counts as accepted once its handler may have had an effect" (docs/gateway.md, Webhooks), and that must
 * hold when the runner has not answered by the gateway's deadline (policy.timeoutMs, default wallMs + 1 s, timed from
 * when the executor starts, queueing included). Here the only worker is busy, so the delivery starts late, charges a
 * card, and is still running when the gateway answers 504: the executor's own E_TIMEOUT result must carry the host
 * calls it dispatched (the claim stays, a retry is 409), and the execution the host gave up on may no longer act
 * (http.fetch included, which does not go through the storage calls' live-execution lookup).
 * Worker pool of one worker without extra ones; wallMs 2000 only to keep the test short. (Found by a red-team pass.)
 */
const SERVER = `
export async function block(request, ctx) { await ctx.http.fetch(request.body.slow); return "never"; }
export async function hook(request, ctx) {
  await ctx.http.fetch(request.body.charge);   // the effect: e.g. a call to a payment API
  await ctx.http.fetch(request.body.slow);     // then a slow call, until its wall limit
  return { ok: true };
}
export async function lateHook(request, ctx) {
  await ctx.http.fetch(request.body.hold);     // 1.5 s: it is still waiting when the gateway gives up on it
  await ctx.http.fetch(request.body.charge);   // after the sender was told 504 and the delivery was forgotten
  return { ok: true };
}`;

let partner: Server;
let partnerPort = 0;
const charges: string[] = [];
let runner: Runner;
let t: TestHost;

beforeAll(async () => {
  partner = createServer((request, response) => {
    if (request.url === "/slow") return void setTimeout(() => response.end("late"), 20_000).unref();
    if (request.url === "/hold") return void setTimeout(() => response.end("held"), 1500).unref();
    charges.push(request.url ?? "");
    response.end("charged");
  });
  await new Promise<void>((resolve) => partner.listen(0, "127.0.0.1", resolve));
  partnerPort = (partner.address() as AddressInfo).port;
  // One worker, as a small host has per core, and no extra one while it waits (`overflowWorkers` would run the
  // delivery at once): the delivery must wait in the pool's queue past the gateway's deadline.
  runner = createWorkerPoolRunner({ workers: 1, overflowWorkers: 0 });
  t = await createTestHost({
    runner,
    egress: { lookup: async () => [{ address: "127.0.0.1", family: 4 }], allowAddresses: ["127.0.0.1/32"] },
    // Default gateway deadline: wallMs + 1000 = 3000 ms.
    policy: { limits: { wallMs: 2000 } },
  });
  const manifest = serviceManifest({
    id: "acme.payments",
    capabilities: [{ name: "http.fetch", hosts: [`pay.test:${partnerPort}`], reason: "Charges cards through the payment provider's API." }],
    endpoints: [
      { class: "api", method: "POST", path: "/block", handler: "block" },
      { class: "webhook", method: "POST", path: "/order", handler: "hook", verify: "annex" },
      { class: "webhook", method: "POST", path: "/late", handler: "lateHook", verify: "annex" },
    ],
  });
  await t.install(await makeBundle(manifest, { "server/index.js": SERVER }));
}, 60_000);

afterAll(async () => {
  await t?.close();
  await runner?.close();
  await new Promise((resolve) => partner?.close(resolve));
});

it("never forgets a webhook delivery whose handler made host calls, even when the runner answers after the gateway's deadline", async () => {
  const secret = await t.webhookSecret("acme.payments");
  const body = JSON.stringify({ event: "order.paid", id: "ord_1", charge: `http://pay.test:${partnerPort}/charge?order=ord_1`, slow: `http://pay.test:${partnerPort}/slow` });
  const { headers } = signWebhook(secret, body);
  const deliver = () => t.request("POST", "/ext/acme.payments/hooks/order", { body, headers: { "content-type": "application/json", ...headers } });

  // The only worker is busy for its whole wall limit (another tenant's request, a slow handler …): the delivery waits in the pool's queue.
  const busy = t.request("POST", "/api/ext/acme.payments/block", { as: "u1", body: { slow: `http://pay.test:${partnerPort}/slow` } });
  await new Promise((resolve) => setTimeout(resolve, 50));
  const first = await deliver();
  await busy;
  // The handler ran and charged the card once.
  expect(charges).toEqual(["/charge?order=ord_1"]);
  expect(first.status).toBeGreaterThanOrEqual(500);

  // The same delivery again (the sender's retry, or anyone who captured it within the 5 minutes): already accepted.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const replay = await deliver();
  await new Promise((resolve) => setTimeout(resolve, 2500));
  expect({ status: replay.status, charges }).toEqual({ status: 409, charges: ["/charge?order=ord_1"] });
}, 60_000);

it("makes no host call (ctx.http.fetch included) for an execution once the gateway has answered for it and forgotten its delivery", async () => {
  await new Promise((resolve) => setTimeout(resolve, 2500));
  charges.length = 0;
  const secret = await t.webhookSecret("acme.payments");
  const body = JSON.stringify({ event: "order.paid", id: "ord_2", hold: `http://pay.test:${partnerPort}/hold`, charge: `http://pay.test:${partnerPort}/charge?order=ord_2` });
  const { headers } = signWebhook(secret, body);
  const busy = t.request("POST", "/api/ext/acme.payments/block", { as: "u1", body: { slow: `http://pay.test:${partnerPort}/slow` } });
  await new Promise((resolve) => setTimeout(resolve, 50));
  const answered = await t.request("POST", "/ext/acme.payments/hooks/late", { body, headers: { "content-type": "application/json", ...headers } });
  await busy;
  expect(answered.status).toBe(504);
  const chargesWhenAnswered = [...charges];
  // The execution goes on in its worker; wait past its own wall limit.
  await new Promise((resolve) => setTimeout(resolve, 2500));
  expect({ chargesWhenAnswered, chargesAfter: charges }).toEqual({ chargesWhenAnswered: [], chargesAfter: [] });
}, 60_000);
