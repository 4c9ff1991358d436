import { busContract } from "@annex/host/testing/bus-contract";
import { describe, it } from "vitest";
import { createRedisBus } from "../src/index.js";
import { SKIPPED, redisAvailable, testRedis } from "./support/redis.js";

const available = await redisAvailable();

if (available) {
  // Each connect() is one host process: its own client, on the world's stream and group.
  busContract(
    "redis streams",
    () => {
      const redis = testRedis();
      return {
        connect: () => createRedisBus({ redis: redis.client(), stream: `${redis.prefix}bus`, blockMs: 200 }),
        dispose: redis.dispose,
      };
    },
    { shared: true },
  );
} else {
  describe.skip(`Redis Streams bus ${SKIPPED}`, () => {
    it("runs the bus contract against a real Redis", () => {});
  });
}
