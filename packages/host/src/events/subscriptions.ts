import { eventTypeCovers, type CapabilityGrant } from "@annex/manifest";

interface SubscribingManifest {
  capabilities: ReadonlyArray<{ name: string; types?: unknown }>;
  events?: { subscribes?: ReadonlyArray<{ type: string; handler: string }> } | undefined;
}

function patterns(entries: ReadonlyArray<{ name: string; types?: unknown }>): string[] {
  const out: string[] = [];
  for (const entry of entries) {
    if (entry.name !== "events.subscribe" || !Array.isArray(entry.types)) continue;
    for (const type of entry.types) if (typeof type === "string") out.push(type);
  }
  return out;
}

/**
 * The handler an install runs for an event type, or undefined when the
 * event is not for it. `events.subscribe` is enforced here: the type must be
 * covered by a pattern the admin granted and by one the signed manifest
 * requests, and the manifest must subscribe a handler to it. Deny by
 * default: no grant, no delivery.
 */
export function subscribedHandler(manifest: SubscribingManifest, grants: readonly CapabilityGrant[], type: string): string | undefined {
  const subscription = manifest.events?.subscribes?.find((entry) => eventTypeCovers(entry.type, type));
  if (subscription === undefined) return undefined;
  const granted = patterns(grants as ReadonlyArray<{ name: string; types?: unknown }>);
  if (!granted.some((pattern) => eventTypeCovers(pattern, type))) return undefined;
  if (!patterns(manifest.capabilities).some((pattern) => eventTypeCovers(pattern, type))) return undefined;
  return subscription.handler;
}
