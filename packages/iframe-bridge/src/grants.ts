import { BridgeError } from "./errors.js";

/**
 * The capabilities of the Annex vocabulary that the bridge itself enforces
 * (names as in @annex/manifest, which the bridge does not import: it runs in
 * extension pages and must stay small).
 *
 * - `ui.toast`: `toast()` reaches the host's handler only with it.
 * - `user.read`: `getContext()` (and `connect()`'s `context`) carries the
 *   signed-in user only with it.
 */
export const BRIDGE_CAPABILITIES = Object.freeze(["ui.toast", "user.read"] as const);

export type BridgeCapability = (typeof BRIDGE_CAPABILITIES)[number];

/**
 * One grant of an install, as the host's registry stores it. Structurally a
 * `CapabilityGrant` of @annex/manifest, so `install.grants` can be passed as
 * is; only `name` is read, and names the bridge does not enforce are ignored.
 */
export interface BridgeGrant {
  readonly name: string;
}

/** More than the manifest allows (64 capabilities); a bound on what a host can hand in by mistake. */
const MAX_GRANTS = 256;

/**
 * The bridge capabilities among an install's grants. Deny by default: no
 * grants (undefined) grants nothing. Malformed input is an error rather than
 * "nothing granted", so a host that passes the wrong value finds out at mount.
 */
export function parseBridgeGrants(value: unknown, field = "grants"): ReadonlySet<BridgeCapability> {
  const granted = new Set<BridgeCapability>();
  if (value === undefined) return granted;
  if (!Array.isArray(value) || value.length > MAX_GRANTS) {
    throw new BridgeError("E_BRIDGE_ARGS", `${field} must be an array of at most ${MAX_GRANTS} grants such as { name: "ui.toast" } (pass the install's grants)`, {
      field,
    });
  }
  value.forEach((grant: unknown, index) => {
    const name = typeof grant === "object" && grant !== null ? (grant as { name?: unknown }).name : undefined;
    if (typeof name !== "string" || name === "" || name.length > 128) {
      throw new BridgeError("E_BRIDGE_ARGS", `${field}[${index}] must be a grant object with a capability "name", e.g. { name: "ui.toast" }`, {
        field: `${field}[${index}]`,
      });
    }
    if ((BRIDGE_CAPABILITIES as readonly string[]).includes(name)) granted.add(name as BridgeCapability);
  });
  return granted;
}
