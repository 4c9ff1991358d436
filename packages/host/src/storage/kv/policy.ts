import type { Manifest } from "@annex/manifest";
import { KvError } from "./errors.js";

/** The quotas of one install's kv. Sizes are UTF-8 bytes; a key's bytes count towards `totalBytes` with its value's. */
export interface KvLimits {
  /** Longest key. */
  keyBytes: number;
  /** Largest value, as JSON text. */
  valueBytes: number;
  /** Most keys (live or expired but not yet swept). */
  keys: number;
  /** Most bytes of keys and values together. */
  totalBytes: number;
}

/** Deepest nesting of arrays and objects a value may have. */
export const KV_MAX_DEPTH = 64;

/** Limits on keys and list cursors that no policy raises: the runner passes keys of up to 512 characters. */
export const KV_MAX_KEY_BYTES = 512;

/** The host's kv policy when `createHost({ kv })` says nothing: each is also the cap on what a manifest may ask. */
export const DEFAULT_KV_LIMITS: Readonly<KvLimits> = Object.freeze({
  keyBytes: KV_MAX_KEY_BYTES,
  valueBytes: 256 * 1024,
  keys: 10_000,
  totalBytes: 64 * 1024 * 1024,
});

const LIMIT_NAMES = ["keyBytes", "valueBytes", "keys", "totalBytes"] as const;

/** The most keys an install's quota can count: PostgreSQL's integer. */
export const KV_MAX_KEYS = 2_147_483_647;

/** The host's policy: defaults overlaid with `createHost({ kv: { limits } })`, each checked. */
export function resolveKvPolicy(limits: Partial<KvLimits> | undefined): Readonly<KvLimits> {
  const resolved: KvLimits = { ...DEFAULT_KV_LIMITS };
  if (limits === undefined) return Object.freeze(resolved);
  if (typeof limits !== "object" || limits === null) throw new KvError("E_KV_OPTIONS", "createHost({ kv: { limits } }): limits must be an object");
  for (const [name, value] of Object.entries(limits)) {
    if (!(LIMIT_NAMES as readonly string[]).includes(name)) {
      throw new KvError("E_KV_OPTIONS", `createHost({ kv: { limits } }): unknown kv limit "${name}"; the limits are ${LIMIT_NAMES.join(", ")}`, { field: `kv.limits.${name}` });
    }
    if (value === undefined) continue;
    // keys is counted in an integer column (annex_kv_usage.keys): a policy above it made every write fail.
    const max = name === "keyBytes" ? KV_MAX_KEY_BYTES : name === "keys" ? KV_MAX_KEYS : Number.MAX_SAFE_INTEGER;
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1 || value > max) {
      throw new KvError("E_KV_OPTIONS", `createHost({ kv: { limits } }): ${name} must be a whole number from 1 to ${max}`, { field: `kv.limits.${name}` });
    }
    resolved[name as keyof KvLimits] = value;
  }
  return Object.freeze(resolved);
}

/**
 * An install's quotas: what its manifest asks for (`storage.limits`), each
 * capped by the host's policy; the policy where the manifest is silent.
 */
export function installKvLimits(manifest: Manifest, policy: Readonly<KvLimits>): KvLimits {
  const requested: Partial<KvLimits> = manifest.storage.kind === "kv" ? (manifest.storage.limits ?? {}) : {};
  const limits = { ...policy };
  for (const name of LIMIT_NAMES) {
    const asked = requested[name];
    if (typeof asked === "number") limits[name] = Math.min(asked, policy[name]);
  }
  return limits;
}
