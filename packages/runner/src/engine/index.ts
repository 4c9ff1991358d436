export type { EngineVariant } from "./wasm.js";
export type { EngineStats } from "./engine.js";
export type { EffectiveGrants } from "./grants.js";
export { computeEffectiveGrants } from "./grants.js";
