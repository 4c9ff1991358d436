import { parseManifest, type Manifest } from "@annex/manifest";
import type { AdminAuditEntry, AdminInstall, AdminVersion } from "../src/index.js";

export const HASH = (n: number) => `sha256:${n.toString(16).padStart(2, "0").repeat(32)}`;

export function manifestOf(overrides: Record<string, unknown> = {}): Manifest {
  return parseManifest({
    manifestVersion: 2,
    id: "acme.analytics",
    name: "Acme Analytics",
    version: "1.0.0",
    publisher: "acme",
    description: "Charts of your usage.",
    engines: { annex: "^0.1.0" },
    runtime: { class: "service", entry: "server/index.js" },
    capabilities: [
      { name: "log", reason: "Writes request logs for debugging." },
      { name: "http.fetch", hosts: ["api.acme.example"], reason: "Fetches the charts from Acme's API." },
    ],
    secrets: ["API_TOKEN"],
    config: {
      apiBaseUrl: { type: "url", required: true, description: "Where Acme's API lives." },
      days: { type: "integer", min: 1, max: 90, default: 30 },
      theme: { type: "enum", values: ["light", "dark"], default: "light" },
      digest: { type: "boolean", default: false, description: "Send a weekly digest." },
      label: { type: "string", maxLength: 10 },
    },
    endpoints: [{ class: "api", method: "GET", path: "/stats", handler: "stats" }],
    ui: { pages: [{ slot: "app", path: "/", entry: "ui/index.html", title: "Dashboard" }, { slot: "settings", path: "/settings", entry: "ui/settings.html", title: "Settings" }] },
    ...overrides,
  });
}

export function versionOf(manifest: Manifest, n = 1, provenance: Partial<AdminVersion["provenance"]> = {}): AdminVersion {
  return {
    extensionId: manifest.id,
    version: manifest.version,
    publisher: manifest.publisher,
    contentHash: HASH(n),
    manifest,
    provenance: { signed: true, mode: "strict", keyId: "acme-1", trustClass: "verified", ...provenance },
    publishedAt: "2026-01-01T00:00:00.000Z",
  };
}

export function installOf(version: AdminVersion, overrides: Partial<AdminInstall> = {}): AdminInstall {
  return {
    id: "inst-1",
    tenant: "t1",
    extensionId: version.extensionId,
    version: version.version,
    contentHash: version.contentHash,
    state: "active",
    targetVersion: null,
    grants: version.manifest.capabilities.map(({ reason: _r, ...grant }) => grant as AdminInstall["grants"][number]),
    config: {},
    revision: 1,
    lastError: null,
    ...overrides,
  };
}

export function auditOf(id: number, overrides: Partial<AdminAuditEntry> = {}): AdminAuditEntry {
  return { id: String(id), at: new Date(Date.UTC(2026, 0, 1, 12, id)), actor: "user:ada", tenant: "t1", action: "install.create", target: "acme.analytics", decision: "allow", details: {}, ...overrides };
}
