export type * from "./envelope.js";
export type * from "./runner.js";
export * from "./engine/index.js";
export * from "./pool/index.js";
export * from "./remote/index.js";
