export type RedisStoreErrorCode = "E_REDIS_OPTIONS";

/** A Redis store or bus was given options it cannot work with; `details.field` names the option. */
export class RedisStoreError extends Error {
  override readonly name = "RedisStoreError";

  constructor(
    readonly code: RedisStoreErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}
