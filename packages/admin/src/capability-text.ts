import type { CapabilityGrant } from "@annex/manifest";
import { shownJson } from "./internal/shown-json.js";

/** How one capability is shown to an admin: a plain title, what it allows, and its parameters. */
export interface CapabilityText {
  name: string;
  title: string;
  summary: string;
  /** Parameter lists, e.g. [{ label: "Hosts", items: ["api.example.com"] }]. */
  params: Array<{ label: string; items: string[] }>;
}

const BUILTIN: Record<string, { title: string; summary: string; param?: { key: string; label: string } }> = {
  log: { title: "Write logs", summary: "Writes log lines that operators can read." },
  "storage.kv": { title: "Store data", summary: "Keeps its own key-value data for this install." },
  "storage.sql": { title: "Own a database schema", summary: "Creates and queries tables in a database schema of its own." },
  "http.fetch": { title: "Call external services", summary: "Sends HTTP requests to these hosts only.", param: { key: "hosts", label: "Hosts" } },
  "secrets.read": { title: "Read secrets", summary: "Reads the values of these secrets of this install.", param: { key: "names", label: "Secrets" } },
  "events.publish": { title: "Publish events", summary: "Announces these events to other extensions of the tenant.", param: { key: "types", label: "Event types" } },
  "events.subscribe": { title: "Receive events", summary: "Is told about these events.", param: { key: "types", label: "Event types" } },
  "ui.toast": { title: "Show notifications", summary: "Shows short notifications in this application." },
  "user.read": { title: "See who is signed in", summary: "Learns the signed-in user's id, name and email address." },
};

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
}

/**
 * The admin-facing description of a capability grant or request. Host
 * capabilities (`host:…`) take their description from the host's registry
 * when given (`hostDescriptions`, keyed by name without `host:`).
 */
export function describeCapability(grant: CapabilityGrant | { name: string; [key: string]: unknown }, hostDescriptions: Readonly<Record<string, string>> = {}): CapabilityText {
  const name = grant.name;
  const known = Object.hasOwn(BUILTIN, name) ? BUILTIN[name] : undefined;
  if (known !== undefined) {
    const params = known.param === undefined ? [] : [{ label: known.param.label, items: strings((grant as Record<string, unknown>)[known.param.key]) }];
    return { name, title: known.title, summary: known.summary, params };
  }
  if (name.startsWith("host:")) {
    const bare = name.slice("host:".length);
    const params = (grant as { params?: unknown }).params;
    return {
      name,
      title: `Use ${bare}`,
      summary: hostDescriptions[bare] ?? hostDescriptions[name] ?? "A capability this application offers to extensions.",
      params: params === undefined ? [] : [{ label: "Parameters", items: [shownJson(params)] }],
    };
  }
  return { name, title: name, summary: "A capability this console does not know; check the manifest.", params: [] };
}

/** A manifest's requests as the grants that consent to exactly them (what `host.install` takes). */
export function grantsFor(requests: ReadonlyArray<CapabilityGrant & { reason?: string }>): CapabilityGrant[] {
  return requests.map(({ reason: _reason, ...grant }) => grant as CapabilityGrant);
}
