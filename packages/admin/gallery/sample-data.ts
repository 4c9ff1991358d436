/** Sample data for the gallery: what a host's admin API would hand the components. */
import { parseManifest, type Manifest } from "@annex/manifest";
import type { AdminAuditEntry, AdminInstall, AdminVersion, UsageRecord } from "../src/index.js";

function manifest(overrides: Record<string, unknown>): Manifest {
  return parseManifest({
    manifestVersion: 2,
    engines: { annex: "^0.1.0" },
    runtime: { class: "service", entry: "server/index.js" },
    endpoints: [{ class: "api", method: "GET", path: "/stats", handler: "stats" }],
    ui: { pages: [{ slot: "app", path: "/", entry: "ui/index.html", title: "Dashboard" }] },
    ...overrides,
  });
}

const hash = (n: number) => `sha256:${n.toString(16).padStart(2, "0").repeat(32)}`;

export const analytics1 = manifest({
  id: "acme.analytics",
  name: "Acme Analytics",
  version: "1.4.0",
  publisher: "acme",
  description: "Charts of requests, errors and revenue per tenant.",
  capabilities: [
    { name: "log", reason: "Writes request logs for debugging." },
    { name: "http.fetch", hosts: ["api.acme.example"], reason: "Fetches the charts from Acme's API." },
    { name: "secrets.read", names: ["ACME_API_TOKEN"], reason: "Signs its calls to Acme's API." },
  ],
  secrets: ["ACME_API_TOKEN", "WEBHOOK_SECRET"],
  config: {
    apiBaseUrl: { type: "url", required: true, description: "Where Acme's API lives." },
    days: { type: "integer", min: 1, max: 90, default: 30, description: "How many days the charts cover." },
    currency: { type: "enum", values: ["EUR", "USD", "GBP"], default: "EUR" },
    weeklyDigest: { type: "boolean", default: false, description: "Email admins a weekly digest." },
  },
});

export const analytics2 = manifest({
  ...analytics1,
  version: "2.0.0",
  capabilities: [
    { name: "log", reason: "Writes request logs for debugging." },
    { name: "http.fetch", hosts: ["api.acme.example", "export.acme.example"], reason: "Fetches charts and sends exports to Acme." },
    { name: "secrets.read", names: ["ACME_API_TOKEN"], reason: "Signs its calls to Acme's API." },
    { name: "user.read", reason: "Shows who created each report." },
    { name: "ui.toast", reason: "Says when an export is ready." },
  ],
});

const crm = manifest({
  id: "globex.crm-sync",
  name: "CRM sync",
  version: "0.9.2",
  publisher: "globex",
  description: "Keeps contacts in step with your CRM.",
  capabilities: [{ name: "host:crm.contacts.read", params: { fields: ["name", "email"] }, reason: "Reads contacts to match them with CRM records." }],
});

const notes = manifest({ id: "initech.notes", name: "Team notes", version: "1.0.0", publisher: "initech", description: "Shared notes on any record.", capabilities: [{ name: "storage.kv", reason: "Keeps the notes." }], storage: { kind: "kv" } });

const provenance = (trustClass: string) => ({ signed: true, mode: "strict" as const, keyId: `${trustClass}-1`, trustClass });

export const versions: AdminVersion[] = [
  { extensionId: analytics1.id, version: "1.4.0", publisher: "acme", contentHash: hash(1), manifest: analytics1, provenance: provenance("verified"), publishedAt: "2026-02-01T09:00:00Z" },
  { extensionId: analytics2.id, version: "2.0.0", publisher: "acme", contentHash: hash(2), manifest: analytics2, provenance: provenance("verified"), publishedAt: "2026-03-01T09:00:00Z" },
  { extensionId: crm.id, version: "0.9.2", publisher: "globex", contentHash: hash(3), manifest: crm, provenance: provenance("first-party"), publishedAt: "2026-01-10T09:00:00Z" },
  { extensionId: notes.id, version: "1.0.0", publisher: "initech", contentHash: hash(4), manifest: notes, provenance: provenance("community"), publishedAt: "2026-01-20T09:00:00Z" },
];

const grantsOf = (m: Manifest) => m.capabilities.map(({ reason: _reason, ...grant }) => grant) as AdminInstall["grants"];

export const installs: AdminInstall[] = [
  { id: "i-1", tenant: "acme-corp", extensionId: analytics1.id, version: "1.4.0", contentHash: hash(1), state: "active", targetVersion: null, grants: grantsOf(analytics1), config: { apiBaseUrl: "https://api.acme.example", days: 30, currency: "EUR", weeklyDigest: true }, revision: 3 },
  { id: "i-2", tenant: "acme-corp", extensionId: crm.id, version: "0.9.2", contentHash: hash(3), state: "disabled", targetVersion: null, grants: grantsOf(crm), config: {}, revision: 5 },
];

export const audit: AdminAuditEntry[] = [
  { id: "101", at: "2026-03-02T10:15:00Z", actor: "user:ada", tenant: "acme-corp", action: "install.create", target: "acme.analytics@1.4.0", decision: "allow", details: { grants: ["log", "http.fetch", "secrets.read"] } },
  { id: "102", at: "2026-03-02T10:16:30Z", actor: "user:ada", tenant: "acme-corp", action: "install.configure", target: "install:i-1", decision: "allow", details: {} },
  { id: "103", at: "2026-03-02T11:02:10Z", actor: "user:bob", tenant: "acme-corp", action: "gateway.request", target: "acme.analytics", decision: "deny", details: { code: "E_RATE_LIMITED", route: "/stats" } },
  { id: "104", at: "2026-03-02T12:40:00Z", actor: "user:ada", tenant: "acme-corp", action: "install.disable", target: "install:i-2", decision: "allow", details: {} },
  { id: "105", at: "2026-03-02T13:05:45Z", actor: "system", tenant: null, action: "registry.publish", target: "acme.analytics@2.0.0", decision: "allow", details: { trustClass: "verified" } },
];

/** A day of executions, deterministic (no Math.random): a diurnal curve with a few timeouts and denials. */
export function usageRecords(): UsageRecord[] {
  const start = Date.UTC(2026, 2, 2, 0, 0, 0);
  const records: UsageRecord[] = [];
  for (let hour = 0; hour < 24; hour++) {
    const count = 20 + Math.round(40 * Math.sin((Math.PI * hour) / 24));
    for (let i = 0; i < count; i++) {
      const n = hour * 100 + i;
      const failed = n % 97 === 0 ? "E_TIMEOUT" : n % 61 === 0 ? "E_CAPABILITY_DENIED" : undefined;
      records.push({ at: start + hour * 3_600_000 + i * 60_000, ok: failed === undefined, errorCode: failed, wallMs: failed === "E_TIMEOUT" ? 5000 : 12 + (n % 37) + hour, cpuMs: 2 + (n % 9), memoryPeakBytes: 3_500_000 + (n % 13) * 120_000 });
    }
  }
  return records;
}
