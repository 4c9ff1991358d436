import semver from "semver";

/** Semver precedence; the manifest schema only admits strict versions, so both sides always parse. */
export function compareVersions(a: string, b: string): number {
  return semver.compare(a, b);
}
