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

// The value is the delivery's expiry (s), compared with the gateway's clock like the memory store does, then
// "|" and the claimant; the key's TTL only cleans up after it. A claim found under the caller's own claimant
// answers 1: ioredis sends a command again after a reconnect, and the first run may have been the one that
// landed, its reply lost.
const CLAIM = new LuaScript(`
local expires = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local seen = redis.call('GET', KEYS[1])
if seen then
  local bar = string.find(seen, '|', 1, true)
  local until_ = tonumber(bar and string.sub(seen, 1, bar - 1) or seen)
  if until_ and until_ >= now then
    if ARGV[3] ~= '' and bar and string.sub(seen, bar + 1) == ARGV[3] then return 1 end
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[3], 'PX', math.max(1, expires - now + 1) * 1000)
return 1
`);

// Forgets a claim only if it is the caller's (or, with no claimant given, whoever's).
const RELEASE = new LuaScript(`
if ARGV[1] == '' then return redis.call('DEL', KEYS[1]) end
local seen = redis.call('GET', KEYS[1])
if not seen then return 0 end
local bar = string.find(seen, '|', 1, true)
if bar and string.sub(seen, bar + 1) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
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
    async claim(installId, delivery, expiresAtSeconds, nowSeconds, claimant) {
      return (await CLAIM.run(redis, [keyOf(installId, delivery)], [expiresAtSeconds, nowSeconds, claimant ?? ""])) === 1;
    },
    async release(installId, delivery, claimant) {
      await RELEASE.run(redis, [keyOf(installId, delivery)], [claimant ?? ""]);
    },
  };
}
