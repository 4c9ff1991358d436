import { isHostCapabilityName, type CapabilityGrant, type CapabilityRequest } from "./capabilities.js";
import { canonicalJson, eventTypeCovers, hostCovers } from "./coverage.js";
import { diffExposure, type ExposureDiff } from "./exposure.js";
import type { Manifest } from "./schema.js";

/**
 * Comparing what an extension asks for with what it was granted: at install
 * (`missingGrants`: what the admin must consent to) and at upgrade
 * (`diffUpgrade`: does the new version ask for more capabilities, or expose
 * the install to more callers?). `diffCapabilities` compares capabilities
 * alone; both it and `missingGrants` take a parsed manifest or a list of
 * grants as the host stored them.
 */

/** The list-valued parameters of built-in capabilities, and how one item covers another. */
const LIST_PARAMS = {
  "http.fetch": { key: "hosts", covers: hostCovers },
  "secrets.read": { key: "names", covers: (a: string, b: string) => a === b },
  "events.publish": { key: "types", covers: eventTypeCovers },
  "events.subscribe": { key: "types", covers: eventTypeCovers },
} as const;

type ListParamCapability = keyof typeof LIST_PARAMS;

/** What grew (or shrank) in one capability. */
export interface CapabilityParamsChange {
  hosts?: string[];
  names?: string[];
  types?: string[];
  /** Host capabilities: the new params (any change of params counts as widening). */
  params?: unknown;
}

export interface WidenedCapability {
  name: string;
  added: CapabilityParamsChange;
}

export interface NarrowedCapability {
  name: string;
  removed: CapabilityParamsChange;
}

export interface CapabilityDiff {
  /** Capabilities `to` has and `from` does not (as `to` lists them, with reason when it has one). */
  added: Array<CapabilityGrant & { reason?: string }>;
  /** Capabilities `from` has and `to` does not. */
  removed: Array<CapabilityGrant & { reason?: string }>;
  /** Capabilities in both whose parameters now allow more: new egress hosts (or a wider wildcard), secret names, event types, changed host params. */
  widened: WidenedCapability[];
  /** Capabilities in both whose parameters now allow less. */
  narrowed: NarrowedCapability[];
  /** True when `to` needs an admin's consent that `from` did not have: anything added or widened. Capabilities only: an upgrade also asks `diffUpgrade`, which counts exposure. */
  requiresConsent: boolean;
}

/** What an upgrade changes that an admin may have to consent to: the capability diff, and the exposure diff beside it. */
export interface UpgradeDiff extends CapabilityDiff {
  /** Who can reach the install: public and webhook endpoints, public pages, endpoint classes and slots (see exposure.ts). */
  exposure: ExposureDiff;
  /** True when capabilities were added or widened, or the exposure widened: the upgrade needs an admin's consent. */
  requiresConsent: boolean;
}

type Entry = CapabilityGrant & { reason?: string };

function entriesOf(source: Manifest | readonly Entry[]): Entry[] {
  return Array.isArray(source) ? [...source] : [...(source as Manifest).capabilities];
}

function listParam(name: string): (typeof LIST_PARAMS)[ListParamCapability] | undefined {
  return Object.hasOwn(LIST_PARAMS, name) ? LIST_PARAMS[name as ListParamCapability] : undefined;
}

function itemsOf(entry: Entry, key: string): string[] {
  const value = (entry as unknown as Record<string, unknown>)[key];
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
}

/** Every item of each list parameter, merged across entries with the same name. */
function mergedItems(entries: readonly Entry[], name: string, key: string): string[] {
  return [...new Set(entries.filter((entry) => entry.name === name).flatMap((entry) => itemsOf(entry, key)))];
}

function paramsKey(entry: Entry): string {
  return canonicalJson((entry as { params?: unknown }).params ?? null);
}

/** Differences between two capability sets, e.g. an installed version's grants and an upgrade's manifest. */
export function diffCapabilities(from: Manifest | readonly CapabilityGrant[], to: Manifest | readonly CapabilityGrant[]): CapabilityDiff {
  const before = entriesOf(from);
  const after = entriesOf(to);
  const namesBefore = new Set(before.map((entry) => entry.name));
  const namesAfter = new Set(after.map((entry) => entry.name));

  const added = dedupeByName(after.filter((entry) => !namesBefore.has(entry.name)), isHostCapabilityName);
  const removed = dedupeByName(before.filter((entry) => !namesAfter.has(entry.name)), isHostCapabilityName);
  const widened: WidenedCapability[] = [];
  const narrowed: NarrowedCapability[] = [];

  const seen = new Set<string>();
  for (const entry of after) {
    if (!namesBefore.has(entry.name)) continue;
    if (isHostCapabilityName(entry.name)) {
      const known = new Set(before.filter((old) => old.name === entry.name).map(paramsKey));
      const key = `${entry.name}\u0000${paramsKey(entry)}`;
      if (!known.has(paramsKey(entry)) && !seen.has(key)) {
        seen.add(key);
        widened.push({ name: entry.name, added: { params: (entry as { params?: unknown }).params } });
      }
      continue;
    }
    if (seen.has(entry.name)) continue;
    seen.add(entry.name);
    const spec = listParam(entry.name);
    if (spec === undefined) continue;
    const oldItems = mergedItems(before, entry.name, spec.key);
    const newItems = mergedItems(after, entry.name, spec.key);
    const grown = newItems.filter((item) => !oldItems.some((old) => spec.covers(old, item)));
    const shrunk = oldItems.filter((item) => !newItems.some((next) => spec.covers(next, item)));
    if (grown.length > 0) widened.push({ name: entry.name, added: { [spec.key]: grown } });
    if (shrunk.length > 0) narrowed.push({ name: entry.name, removed: { [spec.key]: shrunk } });
  }

  return { added, removed, widened, narrowed, requiresConsent: added.length > 0 || widened.length > 0 };
}

/**
 * Everything an upgrade from `installed` to `target` widens, in one answer:
 * the capability diff (against `grants` when given, i.e. what the admin
 * consented to, else against the installed manifest's requests) and the
 * exposure diff (always manifest to manifest). `requiresConsent` is true
 * when either widens; a caller that decides whether an upgrade may happen
 * without an admin asks this, not `diffCapabilities` alone.
 */
export function diffUpgrade(installed: Manifest, target: Manifest, grants?: readonly CapabilityGrant[]): UpgradeDiff {
  const capabilities = diffCapabilities(grants ?? installed, target);
  const exposure = diffExposure(installed, target);
  return { ...capabilities, exposure, requiresConsent: capabilities.requiresConsent || exposure.requiresConsent };
}

/** Keep the first entry per name, except that host capabilities keep one entry per distinct params. */
function dedupeByName(entries: Entry[], keepVariants: (name: string) => boolean): Entry[] {
  const seen = new Set<string>();
  return entries.filter((entry) => {
    const key = keepVariants(entry.name) ? `${entry.name}\u0000${paramsKey(entry)}` : entry.name;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * What `requested` asks for that `grants` do not cover, as requests the admin
 * can be shown (reason kept, list parameters cut down to the uncovered
 * items). Empty when everything is granted. Deny by default: a capability
 * without a grant of the same name is missing whole, and host capabilities
 * are covered only by a grant with identical params.
 */
export function missingGrants(requested: readonly CapabilityRequest[] | Manifest, grants: readonly CapabilityGrant[]): CapabilityRequest[] {
  const wanted = (Array.isArray(requested) ? [...requested] : [...(requested as Manifest).capabilities]) as CapabilityRequest[];
  const missing: CapabilityRequest[] = [];
  for (const request of wanted) {
    const granted = grants.filter((grant) => grant.name === request.name);
    if (granted.length === 0) {
      missing.push(request);
      continue;
    }
    if (isHostCapabilityName(request.name)) {
      const wantedParams = paramsKey(request);
      if (!granted.some((grant) => paramsKey(grant) === wantedParams)) missing.push(request);
      continue;
    }
    const spec = listParam(request.name);
    if (spec === undefined) continue;
    const have = mergedItems(granted, request.name, spec.key);
    const uncovered = itemsOf(request, spec.key).filter((item) => !have.some((grant) => spec.covers(grant, item)));
    if (uncovered.length > 0) missing.push({ ...request, [spec.key]: uncovered } as CapabilityRequest);
  }
  return missing;
}
