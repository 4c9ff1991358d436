import { createHash } from "node:crypto";
import type { Redis } from "ioredis";

/**
 * A Lua script run with EVALSHA, loaded with EVAL the first time a server
 * does not know it (after a restart, or on a new replica): the app's client is
 * used as it is, without defining commands on it.
 */
export class LuaScript {
  readonly #source: string;
  readonly #sha: string;

  constructor(source: string) {
    this.#source = source;
    this.#sha = createHash("sha1").update(source).digest("hex");
  }

  async run(redis: Redis, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    try {
      return await redis.evalsha(this.#sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      return redis.eval(this.#source, keys.length, ...keys, ...args);
    }
  }
}

/** Checks that `redis` is an ioredis client (or something that scripts like one). */
export function isRedisClient(value: unknown): value is Redis {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as Redis).evalsha === "function" &&
    typeof (value as Redis).eval === "function"
  );
}
