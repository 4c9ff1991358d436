import type { ExecutionLimits } from "./envelope.js";
import { RunnerError } from "./errors.js";

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * The runner's defaults, which are also its maximums: whoever creates a runner
 * may change them; a manifest's `limits` and an envelope's `limits` may only
 * lower them, never raise them.
 *
 * `stackBytes` is 64 KiB because QuickJS checks its stack against the WebAssembly
 * shadow stack while every guest frame also costs native V8 stack: at 128 KiB
 * deep recursion overflowed Node's own stack on the main thread. A worker
 * started with a larger `stackSizeMb` can afford more.
 */
export const DEFAULT_LIMITS: Readonly<ExecutionLimits> = Object.freeze({
  memoryBytes: 64 * MiB,
  cpuMs: 1000,
  wallMs: 5000,
  stackBytes: 64 * KiB,
  requestBytes: 1 * MiB,
  responseBytes: 5 * MiB,
  hostCalls: 1000,
  hostCallBytes: 32 * MiB,
  logBytes: 64 * KiB,
});

const LIMIT_KEYS = Object.keys(DEFAULT_LIMITS) as (keyof ExecutionLimits)[];

/** The `limits` block of a manifest, as far as the runner reads it. */
export interface ManifestLimits {
  memoryMb?: number | undefined;
  cpuMs?: number | undefined;
  wallMs?: number | undefined;
  requestBytes?: number | undefined;
  responseBytes?: number | undefined;
  hostCalls?: number | undefined;
  logBytes?: number | undefined;
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value > 0;
}

/**
 * Checks runner-level limits given by whoever creates the runner and fills in
 * the defaults. Throws E_BAD_OPTIONS naming the field when a value is not a
 * positive integer.
 */
export function resolveRunnerLimits(limits: Partial<ExecutionLimits> | undefined): ExecutionLimits {
  const resolved: ExecutionLimits = { ...DEFAULT_LIMITS };
  if (limits === undefined) return resolved;
  for (const key of Object.keys(limits)) {
    if (!(LIMIT_KEYS as string[]).includes(key)) {
      throw new RunnerError("E_BAD_OPTIONS", `limits.${key} is not a known limit; use one of ${LIMIT_KEYS.join(", ")}`, {
        path: `limits.${key}`,
      });
    }
    const value = (limits as Record<string, unknown>)[key];
    if (value === undefined) continue;
    if (!isPositiveInteger(value)) {
      throw new RunnerError("E_BAD_OPTIONS", `limits.${key} must be a positive integer, got ${String(value)}`, {
        path: `limits.${key}`,
      });
    }
    resolved[key as keyof ExecutionLimits] = value;
  }
  return resolved;
}

/** The manifest's limits in the runner's units; fields the runner does not know are ignored. */
export function manifestLimitsToExecutionLimits(limits: ManifestLimits | undefined): Partial<ExecutionLimits> {
  if (limits === undefined || limits === null || typeof limits !== "object") return {};
  const out: Partial<ExecutionLimits> = {};
  if (isPositiveInteger(limits.memoryMb)) out.memoryBytes = limits.memoryMb * MiB;
  if (isPositiveInteger(limits.cpuMs)) out.cpuMs = limits.cpuMs;
  if (isPositiveInteger(limits.wallMs)) out.wallMs = limits.wallMs;
  if (isPositiveInteger(limits.requestBytes)) out.requestBytes = limits.requestBytes;
  if (isPositiveInteger(limits.responseBytes)) out.responseBytes = limits.responseBytes;
  if (isPositiveInteger(limits.hostCalls)) out.hostCalls = limits.hostCalls;
  if (isPositiveInteger(limits.logBytes)) out.logBytes = limits.logBytes;
  return out;
}

/**
 * The limits one execution runs under: the runner's, lowered (never raised) by
 * the manifest's and then by the envelope's. Non-positive or non-integer
 * envelope values are rejected by envelope validation before this is called.
 */
export function effectiveLimits(
  runner: ExecutionLimits,
  ...lowerings: (Partial<ExecutionLimits> | undefined)[]
): ExecutionLimits {
  const out: ExecutionLimits = { ...runner };
  for (const lower of lowerings) {
    if (lower === undefined) continue;
    for (const key of LIMIT_KEYS) {
      const value = lower[key];
      if (isPositiveInteger(value) && value < out[key]) out[key] = value;
    }
  }
  return out;
}

export { LIMIT_KEYS };
