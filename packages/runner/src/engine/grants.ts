import type { CapabilityGrant } from "@annex/manifest";
import { eventTypeCovers } from "@annex/manifest/runtime";

/**
 * What one execution may actually use: the envelope's grants (the admin's
 * consent, from the host's registry) intersected with the capabilities the
 * loaded, verified manifest requests. A grant the manifest never requested is
 * ignored, so a caller that forges an envelope cannot widen an extension's
 * reach beyond what its signed manifest declared. Plain data, so it can cross
 * a worker or process boundary.
 */
export interface EffectiveGrants {
  log: boolean;
  /** user.read: ctx.principal carries the user's identity. */
  user: boolean;
  kv: boolean;
  sql: boolean;
  /** null: http.fetch not granted. Otherwise both lists must match a host. */
  fetch: { granted: string[]; requested: string[] } | null;
  /** Secret names both granted and requested. */
  secrets: string[];
  /**
   * Event types and `prefix.*` patterns for publishing, each covered by both
   * the grant and the request (the narrower of two nested patterns).
   */
  publish: string[];
  /** Host capabilities by name without `host:`, with the admin's grant parameters. */
  host: Record<string, { params?: unknown }>;
}

export const NO_GRANTS: EffectiveGrants = Object.freeze({
  log: false,
  user: false,
  kv: false,
  sql: false,
  fetch: null,
  secrets: [],
  publish: [],
  host: {},
}) as EffectiveGrants;

type Loose = { name?: unknown; hosts?: unknown; names?: unknown; types?: unknown; params?: unknown };

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
}

function byName(list: readonly unknown[]): Map<string, Loose> {
  const out = new Map<string, Loose>();
  for (const item of list) {
    if (item === null || typeof item !== "object") continue;
    const name = (item as Loose).name;
    if (typeof name === "string" && !out.has(name)) out.set(name, item as Loose);
  }
  return out;
}

export function computeEffectiveGrants(
  grants: readonly CapabilityGrant[] | readonly unknown[],
  requested: readonly unknown[],
): EffectiveGrants {
  const granted = byName(grants);
  const manifest = byName(requested);
  const both = (name: string) => granted.has(name) && manifest.has(name);
  const intersect = (name: string, field: "names" | "types") => {
    if (!both(name)) return [];
    const wanted = new Set(strings(manifest.get(name)![field]));
    return [...new Set(strings(granted.get(name)![field]))].filter((item) => wanted.has(item));
  };
  const host: Record<string, { params?: unknown }> = {};
  for (const [name, grant] of granted) {
    if (!name.startsWith("host:") || !manifest.has(name)) continue;
    host[name.slice("host:".length)] = grant.params === undefined ? {} : { params: grant.params };
  }
  return {
    log: both("log"),
    user: both("user.read"),
    kv: both("storage.kv"),
    sql: both("storage.sql"),
    fetch: both("http.fetch")
      ? { granted: strings(granted.get("http.fetch")!.hosts), requested: strings(manifest.get("http.fetch")!.hosts) }
      : null,
    secrets: intersect("secrets.read", "names"),
    publish: both("events.publish") ? intersectPatterns(strings(granted.get("events.publish")!.types), strings(manifest.get("events.publish")!.types)) : [],
    host,
  };
}

/**
 * Event type patterns are prefixes, so two of them are either nested or
 * disjoint: their intersection is the narrower one, or nothing.
 */
function intersectPatterns(granted: readonly string[], requested: readonly string[]): string[] {
  const out = new Set<string>();
  for (const g of granted) {
    for (const r of requested) {
      if (eventTypeCovers(g, r)) out.add(r);
      else if (eventTypeCovers(r, g)) out.add(g);
    }
  }
  return [...out];
}
