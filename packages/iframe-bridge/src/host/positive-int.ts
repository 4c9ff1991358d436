import { BridgeError } from "../errors.js";

/**
 * An integer option in [min, max], or `fallback` when absent. Checked, never
 * coerced: NaN, Infinity, 1.5 or "3" is E_BRIDGE_ARGS naming the field, so a
 * typo cannot quietly turn a limit into no limit.
 */
export function positiveInt(value: unknown, field: string, fallback: number, max: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new BridgeError("E_BRIDGE_ARGS", `${field} must be an integer from ${min} to ${max}`, { field });
  }
  return value;
}
