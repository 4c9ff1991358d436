export type NatsBusErrorCode = "E_NATS_OPTIONS" | "E_NATS_STREAM";

/**
 * The NATS bus was given options it cannot work with (`E_NATS_OPTIONS`), or
 * the stream it was told to use exists with subjects that do not cover its
 * subject (`E_NATS_STREAM`); `details.field` names the option.
 */
export class NatsBusError extends Error {
  override readonly name = "NatsBusError";

  constructor(
    readonly code: NatsBusErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}
