import type { AdminVersion } from "../types.js";

/**
 * Whether `value` has what the components read of a published version: its
 * identity, a manifest with a name, an id, a version, a list of capability
 * requests (each named) and an optional description, and a provenance. Data
 * from an admin API arrives as JSON: one missing field used to throw a raw
 * TypeError half-way through a render.
 */
export function isAdminVersion(value: unknown): value is AdminVersion {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Partial<AdminVersion>;
  const manifest = v.manifest as Partial<AdminVersion["manifest"]> | undefined;
  return (
    typeof v.extensionId === "string" &&
    typeof v.version === "string" &&
    typeof v.publisher === "string" &&
    typeof v.provenance === "object" &&
    v.provenance !== null &&
    typeof v.provenance.signed === "boolean" &&
    typeof manifest === "object" &&
    manifest !== null &&
    typeof manifest.id === "string" &&
    typeof manifest.name === "string" &&
    typeof manifest.version === "string" &&
    (manifest.description === undefined || typeof manifest.description === "string") &&
    Array.isArray(manifest.capabilities) &&
    manifest.capabilities.every((request) => typeof request === "object" && request !== null && typeof request.name === "string")
  );
}
