export { KvError } from "./errors.js";
export type { KvErrorCode } from "./errors.js";
export { DEFAULT_KV_LIMITS, KV_MAX_DEPTH, KV_MAX_KEY_BYTES } from "./policy.js";
export type { KvLimits } from "./policy.js";
export type { KvOptions } from "./storage.js";
export type { KvDeleteOptions, KvEntry, KvExportEntry, KvListOptions, KvPage, KvSetOptions, KvUsage } from "./store.js";
export type { HostKv, InstallKv } from "./install-kv.js";
