/**
 * What one capability parameter covers. Shared by the manifest rules (does a
 * capability cover what the manifest declares?), `diffCapabilities` (did an
 * upgrade widen a grant?) and `missingGrants` (what has the admin not granted?).
 */

/**
 * Does egress host pattern `granted` allow everything `requested` allows?
 * `*.example.com` covers `api.example.com` and `*.api.example.com` but not
 * `example.com`; a pattern without a port only covers requests without one.
 */
export function hostCovers(granted: string, requested: string): boolean {
  if (granted === requested) return true;
  if (!granted.startsWith("*.")) return false;
  const [gName = "", gPort] = splitPort(granted);
  const [rName = "", rPort] = splitPort(requested);
  if (gPort !== rPort) return false;
  const suffix = gName.slice(1); // ".example.com"
  const rBase = rName.startsWith("*.") ? rName.slice(1) : rName;
  return rBase.endsWith(suffix) && rBase.length > suffix.length;
}

function splitPort(host: string): [string, string | undefined] {
  const colon = host.lastIndexOf(":");
  return colon === -1 ? [host, undefined] : [host.slice(0, colon), host.slice(colon + 1)];
}

/**
 * Does event type pattern `granted` cover `requested` (a type or a pattern)?
 * `order.*` covers `order.created`, `order.line.added` and `order.line.*`.
 */
export function eventTypeCovers(granted: string, requested: string): boolean {
  if (granted === requested) return true;
  if (!granted.endsWith(".*")) return false;
  return requested.startsWith(granted.slice(0, -1));
}

/** Stable JSON for comparing parameter values: object keys sorted, nothing else changed. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value, 0));
}

function sortKeys(value: unknown, depth: number): unknown {
  if (depth > 64) throw new RangeError("parameters nest deeper than 64 levels");
  if (Array.isArray(value)) return value.map((item) => sortKeys(item, depth + 1));
  if (value !== null && typeof value === "object") {
    // A null prototype keeps a "__proto__" key an ordinary key.
    const out = Object.create(null) as Record<string, unknown>;
    for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key], depth + 1);
    return out;
  }
  return value;
}
