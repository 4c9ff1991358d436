import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { signWebhook } from "@annex/host";
import { createTestHost, type TestHost } from "@annex/host/testing";
import { afterEach, describe, expect, it } from "vitest";
import { createRedisReplayStore } from "../src/index.js";
import { REDIS_URL, redisAvailable, SKIPPED, testRedis } from "./support/redis.js";
import { redisVia, replyCutProxy } from "./support/reply-cut.js";

const available = await redisAvailable();

/** An extension folder (what the test host packs): one webhook the gateway verifies. */
async function hooksExtension(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "annex-hooks-"));
  await mkdir(join(dir, "server"));
  const manifest = {
    manifestVersion: 2,
    id: "acme.hooks",
    name: "Hooks",
    version: "1.0.0",
    publisher: "acme",
    description: "Receives webhooks.",
    engines: { annex: "^0.1.0" },
    runtime: { class: "service", entry: "server/index.js" },
    capabilities: [],
    endpoints: [{ class: "webhook", method: "POST", path: "/incoming", handler: "incoming", verify: "annex" }],
  };
  await writeFile(join(dir, "annex.json"), JSON.stringify(manifest));
  await writeFile(join(dir, "server", "index.js"), "export async function incoming(request) { return { received: request.body }; }\n");
  return dir;
}

/**
 * A webhook delivery's claim ran on Redis, but the gateway never saw its answer: the connection was reset after
 * the script ran (ioredis then sends it again, which found the claim and answered "replayed"), or the answer came
 * after stores.timeoutMs (503 E_STORE_UNAVAILABLE, a retry invitation). Nothing gave such a claim back, so the
 * delivery, which never ran, was refused as E_WEBHOOK_REPLAYED on every retry, on every host, for the whole
 * tolerance window. Claims now carry the request's own claimant.
 */
describe.skipIf(!available)(`webhook deliveries whose claim answer was lost, on the Redis replay store ${available ? "" : SKIPPED}`, () => {
  const closing: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const close of closing.splice(0).reverse()) await close();
  });

  async function world() {
    const redis = testRedis();
    closing.push(() => redis.dispose());
    const url = new URL(REDIS_URL);
    // A claim's answer is an integer reply (":1").
    const proxy = await replyCutProxy({ host: url.hostname, port: Number(url.port || 6379) }, { reply: /^:1\r\n/ });
    closing.push(() => proxy.close());
    const client = redisVia(proxy.port);
    closing.push(() => client.disconnect());
    const t: TestHost = await createTestHost({ stores: { replays: createRedisReplayStore({ redis: client, prefix: redis.prefix }) } });
    closing.push(() => t.close());
    const folder = await hooksExtension();
    closing.push(() => rm(folder, { recursive: true, force: true }));
    await t.install(folder);
    const body = JSON.stringify({ order: 42 });
    const headers = { "content-type": "application/json", ...signWebhook(await t.webhookSecret("acme.hooks"), body).headers };
    const deliver = async () => {
      const response = await t.request("POST", "/ext/acme.hooks/hooks/incoming", { body, headers });
      const text = await response.text();
      return `${response.status} ${/"code":"(\w+)"/.exec(text)?.[1] ?? ""}`.trim();
    };
    return { proxy, deliver };
  }

  it("runs a delivery whose claim reply was lost to a connection reset, and only once", async () => {
    const { proxy, deliver } = await world();
    proxy.arm();
    const first = await deliver();
    expect(proxy.cuts).toBe(1);
    // Sent again on reconnect, the claim finds its own claimant: the delivery runs.
    expect(first).toBe("200");
    expect(await deliver()).toBe("409 E_WEBHOOK_REPLAYED");
  }, 30_000);

  it("lets the sender's retry run a delivery refused with 503 because Redis answered its claim late", async () => {
    const { proxy, deliver } = await world();
    proxy.delay(1500); // past stores.timeoutMs (1000 ms)
    expect(await deliver()).toBe("503 E_STORE_UNAVAILABLE");
    await new Promise((resolve) => setTimeout(resolve, 1000)); // Retry-After: 1
    expect(await deliver()).toBe("200");
    expect(await deliver()).toBe("409 E_WEBHOOK_REPLAYED");
  }, 30_000);
});
