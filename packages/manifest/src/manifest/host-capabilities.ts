import type { z } from "zod";
import { HOST_CAPABILITY_PATTERN } from "./capabilities.js";
import { fromZodIssues, manifestErrorMap, type RawIssue } from "./issues.js";

/**
 * A capability the embedding product offers to extensions (contacts,
 * invoices, tickets …), named `host:<name>` in manifests.
 */
export interface HostCapabilityDefinition {
  /** The name without "host:", e.g. "crm.contacts.read"; the registry's key. */
  name: string;
  /** Shown to the admin next to the extension's reason. */
  description?: string;
  /** Schema of the manifest entry's `params`. Without one, the capability takes no params. */
  params?: z.ZodType;
}

/** Host capabilities by name (without "host:"). */
export type HostCapabilityRegistry = ReadonlyMap<string, HostCapabilityDefinition> | Readonly<Record<string, HostCapabilityDefinition>>;

export function lookupHostCapability(registry: HostCapabilityRegistry, name: string): HostCapabilityDefinition | undefined {
  if (registry instanceof Map) return registry.get(name);
  const record = registry as Readonly<Record<string, HostCapabilityDefinition>>;
  return Object.hasOwn(record, name) ? record[name] : undefined;
}

function registeredNames(registry: HostCapabilityRegistry): string[] {
  const names = registry instanceof Map ? [...registry.keys()] : Object.keys(registry);
  return names.map((name) => `host:${name}`).sort();
}

/**
 * Checks each `host:` entry of `capabilities` against the registry: unknown
 * names and params the registered schema refuses are issues. Returns the
 * params as the schema parsed them (defaults applied), by entry index.
 */
export function checkHostCapabilities(
  capabilities: unknown,
  registry: HostCapabilityRegistry,
): { issues: RawIssue[]; params: Map<number, unknown> } {
  const issues: RawIssue[] = [];
  const params = new Map<number, unknown>();
  if (!Array.isArray(capabilities)) return { issues, params };
  capabilities.forEach((entry: unknown, index) => {
    if (typeof entry !== "object" || entry === null || !Object.hasOwn(entry, "name")) return;
    const name = (entry as { name: unknown }).name;
    if (typeof name !== "string" || !HOST_CAPABILITY_PATTERN.test(name)) return;
    const definition = lookupHostCapability(registry, name.slice("host:".length));
    if (definition === undefined) {
      const offered = registeredNames(registry);
      issues.push({
        path: ["capabilities", index, "name"],
        message: `this host offers no capability "${name}"; ${offered.length === 0 ? "it registers no host capabilities" : `it offers ${offered.join(", ")}`}`,
      });
      return;
    }
    const hasParams = Object.hasOwn(entry, "params");
    const value = hasParams ? (entry as { params: unknown }).params : undefined;
    if (definition.params === undefined) {
      if (hasParams) issues.push({ path: ["capabilities", index, "params"], message: `${name} takes no params; remove them` });
      return;
    }
    let result: ReturnType<z.ZodType["safeParse"]>;
    try {
      result = definition.params.safeParse(value, { error: manifestErrorMap });
    } catch (error) {
      // An async or throwing schema is the host's bug, but the manifest still may not pass unchecked.
      issues.push({ path: ["capabilities", index, "params"], message: `the host could not check params of ${name}: ${(error as Error).message}` });
      return;
    }
    if (result.success) params.set(index, result.data);
    else issues.push(...fromZodIssues(result.error.issues, value, []).map((issue) => ({ ...issue, path: ["capabilities", index, "params", ...issue.path] })));
  });
  return { issues, params };
}
