import type { RateDecision, RateLimit, RateLimitStore } from "@annex/host";
import type { Redis } from "ioredis";
import { RedisStoreError } from "./errors.js";
import { LuaScript, isRedisClient } from "./script.js";

export interface RedisRateLimitStoreOptions {
  /** An ioredis client; the store never closes it. */
  redis: Redis;
  /** Prefix of the store's keys. Default "annex:". */
  prefix?: string | undefined;
  /**
   * Clock in ms. Default: the Redis server's own (`TIME`), so that processes
   * whose clocks disagree still refill one bucket at one rate. Tests pass a fake.
   */
  now?: (() => number) | undefined;
}

// A bucket is a hash: t tokens, u updated at (ms), a last audited refusal (ms), s refusals since.
// It expires once it would have refilled completely (plus the audit second): a missing bucket is a full one.
const CLOCK = `
local now = tonumber(ARGV[3])
if now == nil then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end`;

const TAKE = new LuaScript(`
local capacity = tonumber(ARGV[1])
local perMs = tonumber(ARGV[2])
${CLOCK}
local bucket = redis.call('HMGET', KEYS[1], 't', 'u', 'a', 's')
local tokens = capacity
local lastAudit = nil
local suppressed = 0
if bucket[1] then
  tokens = math.min(capacity, tonumber(bucket[1]) + math.max(0, now - tonumber(bucket[2])) * perMs)
  lastAudit = tonumber(bucket[3])
  suppressed = tonumber(bucket[4]) or 0
end
local ttl = math.ceil(capacity / perMs) + 1000
if tokens >= 1 then
  redis.call('HSET', KEYS[1], 't', tostring(tokens - 1), 'u', tostring(now))
  redis.call('PEXPIRE', KEYS[1], ttl)
  return {1}
end
local retry = math.max(1, math.ceil((1 - tokens) / perMs / 1000))
local audit = 0
local reported = suppressed
if lastAudit == nil or now - lastAudit >= 1000 then
  audit = 1
  lastAudit = now
  suppressed = 0
else
  suppressed = suppressed + 1
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'u', tostring(now), 'a', tostring(lastAudit), 's', tostring(suppressed))
redis.call('PEXPIRE', KEYS[1], ttl)
return {0, retry, audit, reported}
`);

const REFUND = new LuaScript(`
local capacity = tonumber(ARGV[1])
local tokens = redis.call('HGET', KEYS[1], 't')
if not tokens then return 0 end
redis.call('HSET', KEYS[1], 't', tostring(math.min(capacity, tonumber(tokens) + 1)))
return 1
`);

/**
 * Token buckets in Redis, shared by every host process given the same
 * server and prefix: `createHost({ stores: { rateLimits } })`. Each take is
 * one Lua script, atomic on the server, so N processes keep one budget.
 */
export function createRedisRateLimitStore(options: RedisRateLimitStoreOptions): RateLimitStore {
  const { redis, now } = checkOptions(options);
  const prefix = `${options.prefix ?? "annex:"}rate:`;
  const clock = (): string => (now === undefined ? "" : String(now()));
  return {
    async take(key: string, limit: RateLimit): Promise<RateDecision> {
      const perMs = limit.requests / (limit.perSeconds * 1000);
      const reply = (await TAKE.run(redis, [prefix + key], [limit.requests, perMs, clock()])) as number[];
      if (reply[0] === 1) return { ok: true };
      return { ok: false, retryAfterSeconds: reply[1]!, audit: reply[2] === 1, suppressed: reply[3]! };
    },
    async refund(key: string, limit: RateLimit): Promise<void> {
      await REFUND.run(redis, [prefix + key], [limit.requests]);
    },
  };
}

export function checkOptions<T extends { redis: Redis; prefix?: string | undefined; now?: (() => number) | undefined }>(options: T): T {
  if (typeof options !== "object" || options === null || !isRedisClient(options.redis)) {
    throw new RedisStoreError("E_REDIS_OPTIONS", "redis must be an ioredis client: new Redis(\"redis://127.0.0.1:6379\")", { field: "redis" });
  }
  if (options.prefix !== undefined && typeof options.prefix !== "string") {
    throw new RedisStoreError("E_REDIS_OPTIONS", "prefix must be a string (e.g. \"annex:\")", { field: "prefix" });
  }
  if (options.now !== undefined && typeof options.now !== "function") {
    throw new RedisStoreError("E_REDIS_OPTIONS", "now must be a function returning ms since the epoch", { field: "now" });
  }
  return options;
}
