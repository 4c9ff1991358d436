export { createNatsBus } from "./nats-bus.js";
export type { NatsBusOptions } from "./nats-bus.js";
export { NatsBusError } from "./errors.js";
export type { NatsBusErrorCode } from "./errors.js";
