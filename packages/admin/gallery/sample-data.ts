/** Sample data for the gallery: what a host's admin API would hand the components. */
import { parseManifest, type Manifest } from "@annex/manifest";
import type { AdminAuditEntry, AdminDeadLetter, AdminInstall, AdminInstallStorage, AdminJob, AdminJobRun, AdminVersion, UsageRecord } from "../src/index.js";

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

/** Background jobs as `host.jobs.list({ tenant })` lists them: one with a failed last run, one paused. */
export const jobs: AdminJob[] = [
  {
    installId: "i-analytics",
    tenant: "acme",
    extensionId: "acme.analytics",
    name: "rollup",
    cron: "5 * * * *",
    timezone: "UTC",
    nextRunAt: "2026-01-02T13:05:00.000Z",
    running: false,
    lastRun: { runId: "r-41", scheduledAt: "2026-01-02T12:05:00.000Z", startedAt: "2026-01-02T12:05:00.012Z", finishedAt: "2026-01-02T12:05:00.054Z", outcome: "ok" },
  },
  {
    installId: "i-analytics",
    tenant: "acme",
    extensionId: "acme.analytics",
    name: "digest",
    cron: "0 8 * * 1",
    timezone: "Europe/Paris",
    nextRunAt: "2026-01-05T07:00:00.000Z",
    running: false,
    lastRun: {
      runId: "r-40",
      scheduledAt: "2025-12-29T07:00:00.000Z",
      startedAt: "2025-12-29T07:00:00.020Z",
      finishedAt: "2025-12-29T07:00:06.020Z",
      outcome: "error",
      error: { code: "E_TIMEOUT", message: "the execution exceeded its wall limit of 6000 ms" },
    },
  },
  { installId: "i-crm", tenant: "acme", extensionId: "acme.crm-sync", name: "sync", cron: "*/15 * * * *", timezone: "UTC", nextRunAt: null, running: false },
];

/** The recent runs of acme.analytics' rollup, newest first. */
export const jobRuns: AdminJobRun[] = [41, 40, 39].map((n, i) => ({
  runId: `r-${n}`,
  installId: "i-analytics",
  extensionId: "acme.analytics",
  version: "1.4.0",
  name: "rollup",
  trigger: i === 1 ? "manual" : "schedule",
  actor: i === 1 ? "ada@acme.test" : "system",
  scheduledAt: `2026-01-02T${String(12 - i).padStart(2, "0")}:05:00.000Z`,
  startedAt: `2026-01-02T${String(12 - i).padStart(2, "0")}:05:00.012Z`,
  finishedAt: `2026-01-02T${String(12 - i).padStart(2, "0")}:05:00.054Z`,
  durationMs: 42,
  outcome: "ok",
}));

/** Event deliveries parked after their last attempt. */
export const deadLetters: AdminDeadLetter[] = [
  {
    deliveryId: "d-7",
    eventId: "e-7",
    tenant: "acme",
    type: "order.created",
    installId: "i-analytics",
    extensionId: "acme.analytics",
    attempts: 8,
    lastError: { code: "E_HANDLER_FAILED", message: "Error: Acme's API answered 503" },
    payload: { orderId: "o-1042", total: 129.9, currency: "EUR" },
    occurredAt: "2026-01-02T09:14:00.000Z",
    failedAt: "2026-01-02T11:02:00.000Z",
  },
  {
    deliveryId: "d-9",
    eventId: "e-9",
    tenant: "acme",
    type: "customer.deleted",
    installId: "i-gone",
    extensionId: null,
    attempts: 1,
    lastError: { code: "E_INSTALL_GONE", message: "the install was purged" },
    payload: { customerId: "c-77" },
    occurredAt: "2026-01-02T10:00:00.000Z",
    failedAt: "2026-01-02T10:00:01.000Z",
  },
];

/** Each install's kv usage against its quotas and its owned schema. */
export const storage: AdminInstallStorage[] = [
  {
    installId: "i-analytics",
    extensionId: "acme.analytics",
    version: "1.4.0",
    state: "active",
    sql: {
      schema: "ext_acme_analytics_3f9a1c2d4e5b",
      version: "0002",
      status: "ready",
      migrations: [
        { version: "0001", name: "0001_page_views.sql", checksum: "sha256:a3f1c2d4e5b6978812345678deadbeef", appliedAt: "2025-12-01T12:00:00.000Z", durationMs: 42 },
        { version: "0002", name: "0002_hourly.sql", checksum: "sha256:b4e2d3c4f5a6070912345678cafebabe", appliedAt: "2025-12-20T12:00:00.000Z", durationMs: 1500 },
      ],
      lastError: null,
    },
  },
  {
    installId: "i-crm",
    extensionId: "acme.crm-sync",
    version: "0.9.2",
    state: "disabled",
    kv: { usage: { keys: 8_600, bytes: 21 * 1024 * 1024 }, limits: { keys: 10_000, totalBytes: 64 * 1024 * 1024, keyBytes: 512, valueBytes: 262_144 } },
  },
];
