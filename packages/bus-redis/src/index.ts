export { createRedisRateLimitStore } from "./rate-limit-store.js";
export type { RedisRateLimitStoreOptions } from "./rate-limit-store.js";
export { createRedisReplayStore } from "./replay-store.js";
export type { RedisReplayStoreOptions } from "./replay-store.js";
export { RedisStoreError } from "./errors.js";
export type { RedisStoreErrorCode } from "./errors.js";
export { createRedisBus } from "./redis-bus.js";
export type { RedisBusOptions } from "./redis-bus.js";
