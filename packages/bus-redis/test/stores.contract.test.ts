import { rateLimitStoreContract, replayStoreContract } from "@annex/host/testing/store-contracts";
import { describe, it } from "vitest";
import { createRedisRateLimitStore, createRedisReplayStore } from "../src/index.js";
import { SKIPPED, redisAvailable, testRedis } from "./support/redis.js";

const available = await redisAvailable();

if (available) {
  // Two clients on one server and prefix: two host processes sharing the store.
  rateLimitStoreContract("redis", async ({ now }) => {
    const redis = testRedis();
    const stores = [redis.client(), redis.client()].map((client) => createRedisRateLimitStore({ redis: client, prefix: redis.prefix, now })) as [
      ReturnType<typeof createRedisRateLimitStore>,
      ReturnType<typeof createRedisRateLimitStore>,
    ];
    return { stores, dispose: redis.dispose };
  });

  replayStoreContract("redis", async () => {
    const redis = testRedis();
    const stores = [redis.client(), redis.client()].map((client) => createRedisReplayStore({ redis: client, prefix: redis.prefix })) as [
      ReturnType<typeof createRedisReplayStore>,
      ReturnType<typeof createRedisReplayStore>,
    ];
    return { stores, dispose: redis.dispose };
  });
} else {
  describe.skip(`Redis stores ${SKIPPED}`, () => {
    it("runs the store contracts against a real Redis", () => {});
  });
}
