import type { ReplayStore } from "@annex/host";
import type { Redis } from "ioredis";
import { checkOptions } from "./rate-limit-store.js";
import { LuaScript } from "./script.js";

export interface RedisReplayStoreOptions {
  /** An ioredis client; the store never closes it. */
  redis: Redis;
  /** Prefix of the store's keys. Default "annex:". */
  prefix?: string | undefined;
}

// The value is the delivery's expiry (s), compared with the gateway's clock like the memory store does;
// the key's TTL only cleans up after it.
const CLAIM = new LuaScript(`
local expires = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local seen = redis.call('GET', KEYS[1])
if seen and tonumber(seen) >= now then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', math.max(1, expires - now + 1) * 1000)
return 1
`);

/**
 * Accepted webhook deliveries in Redis, shared by every host process given
 * the same server and prefix: `createHost({ stores: { replays } })`. A claim
 * is one Lua script, atomic on the server: a delivery replayed to two
 * processes at once runs once.
 */
export function createRedisReplayStore(options: RedisReplayStoreOptions): ReplayStore {
  const { redis } = checkOptions(options);
  const prefix = `${options.prefix ?? "annex:"}replay:`;
  // Length-prefixed: no two (install, delivery) pairs share a key.
  const keyOf = (installId: string, delivery: string): string => `${prefix}${installId.length}:${installId}|${delivery}`;
  return {
    async claim(installId, delivery, expiresAtSeconds, nowSeconds) {
      return (await CLAIM.run(redis, [keyOf(installId, delivery)], [expiresAtSeconds, nowSeconds])) === 1;
    },
    async release(installId, delivery) {
      await redis.del(keyOf(installId, delivery));
    },
  };
}
