import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";

export const REDIS_URL = process.env["ANNEX_TEST_REDIS_URL"] ?? "redis://127.0.0.1:6379";

/**
 * Whether the Redis server the adapter tests need answers. Where it does not,
 * the suites are skipped and say why in their name; under CI (`.ci/run`
 * starts Redis) an absent server fails the run instead of skipping it.
 */
export async function redisAvailable(): Promise<boolean> {
  const probe = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  probe.on("error", () => {});
  try {
    await probe.connect();
    await probe.ping();
    return true;
  } catch {
    if (process.env["CI"] === "true") throw new Error(`CI: no Redis at ${REDIS_URL}; .ci/run starts redis-server, check that it is installed`);
    return false;
  } finally {
    probe.disconnect();
  }
}

export const SKIPPED = `(skipped: no Redis at ${REDIS_URL}; start redis-server or set ANNEX_TEST_REDIS_URL)`;

/** A client for one test, with a key prefix no other run shares; `dispose` deletes the prefix's keys and disconnects. */
export function testRedis(): { prefix: string; client(): Redis; dispose(): Promise<void> } {
  const prefix = `annex-test:${randomUUID()}:`;
  const clients: Redis[] = [];
  return {
    prefix,
    client() {
      const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
      clients.push(redis);
      return redis;
    },
    async dispose() {
      const redis = clients[0] ?? new Redis(REDIS_URL);
      if (clients.length === 0) clients.push(redis);
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
        if (keys.length > 0) await redis.del(...keys);
        cursor = next;
      } while (cursor !== "0");
      await Promise.all(clients.map((client) => client.quit()));
    },
  };
}
