import { z } from "zod";
import { capabilityRequestSchema, eventTypePatternSchema, eventTypeSchema, secretNameSchema } from "./capabilities.js";
import { configSchema } from "./config.js";
import { endpointSchema } from "./endpoints.js";
import { jobSchema } from "./jobs.js";
import {
  bundlePath,
  extensionIdSchema,
  handlerNameSchema,
  publisherSchema,
  routePathSchema,
  semverRangeSchema,
  text,
  versionSchema,
} from "./primitives.js";
import { checkManifestRules } from "./rules.js";

/**
 * Manifest v2: the single source of truth for `annex.json`. Types are inferred
 * from it and the committed JSON Schema is generated from it. Every object is
 * strict (unknown fields are errors, never dropped); rules that span fields
 * live in rules.ts and are reported together with shape problems.
 */

export const RUNTIME_CLASSES = ["bundle", "service"] as const;
export type RuntimeClass = (typeof RUNTIME_CLASSES)[number];

export const runtimeSchema = z.strictObject({
  /** `bundle`: declarative and UI only, no server code. `service`: handlers, jobs and event consumers. */
  class: z.enum(RUNTIME_CLASSES, { error: 'runtime.class must be "bundle" (UI only) or "service" (server code)' }),
  /** The single ES module the sandbox loads, a path inside the bundle. Required for service, absent for bundle. */
  entry: bundlePath("entry", [".js", ".mjs"]).optional(),
  /** Source that `annex pack` bundles into `entry` (service only; not part of the bundle). */
  source: bundlePath("source", [".ts", ".mts", ".js", ".mjs"]).optional(),
  /** Allow the runner to serve requests from a pooled warm context instead of a fresh one per request (service only). */
  warmContext: z.boolean().default(false),
});

export const UI_SLOTS = ["app", "admin", "settings", "public", "dashboard.widget"] as const;
export type UiSlot = (typeof UI_SLOTS)[number];

export const uiPageSchema = z.strictObject({
  slot: z.enum(UI_SLOTS, { error: `slot must be one of ${UI_SLOTS.join(", ")}` }),
  /** Route of the page inside its slot, e.g. "/" or "/reports/:id". */
  path: routePathSchema,
  /** The page's HTML file: a bundle path under `ui.root`. */
  entry: bundlePath("entry", [".html"]),
  title: text("title", 80),
});

export const SCRIPT_HASH_PATTERN = /^sha(?:256-[A-Za-z0-9+/]{43}=|384-[A-Za-z0-9+/]{64}|512-[A-Za-z0-9+/]{86}==)$/;

export const uiSchema = z.strictObject({
  /** Folder of the bundle that holds every UI file. */
  root: bundlePath("root").default("ui"),
  pages: z.array(uiPageSchema).max(32, "at most 32 pages").default(() => []),
  /** Extra Content-Security-Policy allowances for the extension's iframe. */
  csp: z
    .strictObject({
      /** Inline scripts allowed by hash, e.g. "sha256-<base64>". */
      scriptHashes: z
        .array(z.string().regex(SCRIPT_HASH_PATTERN, 'script hashes are "sha256-<base64>" (or sha384-/sha512-) of the inline script'))
        .max(64, "at most 64 script hashes"),
    })
    .optional(),
});

export const STORAGE_KINDS = ["none", "kv", "owned-schema"] as const;
export type StorageKind = (typeof STORAGE_KINDS)[number];

/**
 * The most a manifest may ask for in `storage.limits`; the host caps each
 * again by its own policy (`createHost({ kv: { limits } })`, `createHost({ sql:
 * { limits } })`), whose names these mirror.
 */
export const STORAGE_LIMIT_MAXIMA = {
  kv: {
    /** The runner passes keys of at most 512 characters; no policy allows longer. */
    keyBytes: 512,
    valueBytes: 32 * 1024 * 1024,
    keys: 100_000_000,
    totalBytes: 2 ** 40,
  },
  sql: {
    timeoutMs: 300_000,
    maxRows: 1_000_000,
    maxBytes: 32 * 1024 * 1024,
  },
} as const;

function storageLimit(kind: "kv" | "sql", name: string, max: number) {
  const path = `storage.limits.${name}`;
  return z
    .int(`${path} must be a whole number`)
    .min(1, `${path} must be at least 1`)
    .max(max, `${path} must be at most ${max}`)
    .optional()
    .describe(`Asked for by the extension (${kind}); the host caps it by its policy.`);
}

/** Quotas of a kv store the extension asks for: per install, sizes in UTF-8 bytes. */
export const kvStorageLimitsSchema = z.strictObject({
  /** Longest key. */
  keyBytes: storageLimit("kv", "keyBytes", STORAGE_LIMIT_MAXIMA.kv.keyBytes),
  /** Largest value, as JSON text. */
  valueBytes: storageLimit("kv", "valueBytes", STORAGE_LIMIT_MAXIMA.kv.valueBytes),
  /** Most keys held. */
  keys: storageLimit("kv", "keys", STORAGE_LIMIT_MAXIMA.kv.keys),
  /** Most bytes of keys and values together. */
  totalBytes: storageLimit("kv", "totalBytes", STORAGE_LIMIT_MAXIMA.kv.totalBytes),
});

/** Limits of `ctx.sql.query` in an owned schema the extension asks for. */
export const sqlStorageLimitsSchema = z.strictObject({
  /** Statement and lock timeout of one query, ms. */
  timeoutMs: storageLimit("sql", "timeoutMs", STORAGE_LIMIT_MAXIMA.sql.timeoutMs),
  /** Rows one query may return. */
  maxRows: storageLimit("sql", "maxRows", STORAGE_LIMIT_MAXIMA.sql.maxRows),
  /** Bytes (as JSON) one query's rows may take. */
  maxBytes: storageLimit("sql", "maxBytes", STORAGE_LIMIT_MAXIMA.sql.maxBytes),
});

export type KvStorageLimits = z.output<typeof kvStorageLimitsSchema>;
export type SqlStorageLimits = z.output<typeof sqlStorageLimitsSchema>;

export const storageSchema = z.discriminatedUnion(
  "kind",
  [
    z.strictObject({ kind: z.literal("none") }),
    z.strictObject({
      kind: z.literal("kv"),
      limits: kvStorageLimitsSchema.optional().describe("Quotas the kv store asks for (keyBytes, valueBytes, keys, totalBytes); the host caps each by its policy."),
    }),
    z.strictObject({
      kind: z.literal("owned-schema"),
      /** Folder of forward-only SQL migrations inside the bundle, applied in file-name order. */
      migrations: bundlePath("migrations"),
      limits: sqlStorageLimitsSchema.optional().describe("Limits of ctx.sql.query the extension asks for (timeoutMs, maxRows, maxBytes); the host caps each by its policy."),
    }),
  ],
  {
    error: (issue) => {
      const kind = (issue.input as { kind?: unknown } | undefined)?.kind;
      return `storage.kind must be one of ${STORAGE_KINDS.join(", ")}${kind === undefined ? "" : ` (got ${JSON.stringify(kind)})`}`;
    },
  },
);

export const eventsSchema = z.strictObject({
  /** Event types this extension emits, without namespace: the core publishes them as `ext.<id>.<type>`. */
  publishes: z
    .array(z.strictObject({ type: eventTypeSchema, description: text("description", 500).optional() }))
    .max(128, "at most 128 published events")
    .default(() => []),
  /** Full event types (or `prefix.*` patterns) this extension handles, each with the handler that receives them. */
  subscribes: z
    .array(z.strictObject({ type: eventTypePatternSchema, handler: handlerNameSchema }))
    .max(128, "at most 128 subscriptions")
    .default(() => []),
});

export const LIMIT_MAXIMA = {
  memoryMb: 1024,
  cpuMs: 60_000,
  wallMs: 300_000,
  requestBytes: 32 * 1024 * 1024,
  responseBytes: 32 * 1024 * 1024,
  hostCalls: 10_000,
  logBytes: 1024 * 1024,
} as const;

function limit(name: keyof typeof LIMIT_MAXIMA) {
  const max = LIMIT_MAXIMA[name];
  return z
    .int(`${name} must be a whole number`)
    .min(1, `${name} must be at least 1`)
    .max(max, `${name} must be at most ${max}`)
    .optional();
}

/** Quotas the extension asks for, per request; the host caps each by its own policy. */
export const limitsSchema = z.strictObject({
  memoryMb: limit("memoryMb"),
  cpuMs: limit("cpuMs"),
  wallMs: limit("wallMs"),
  requestBytes: limit("requestBytes"),
  responseBytes: limit("responseBytes"),
  hostCalls: limit("hostCalls"),
  logBytes: limit("logBytes"),
});

export const manifestShape = z.strictObject({
  /** Editors' pointer to annex.schema.json; ignored by Annex. */
  $schema: z.string().max(1024).optional().describe("Path or URL of annex.schema.json, for editors. Ignored by Annex."),
  manifestVersion: z.literal(2, { error: "manifestVersion must be 2 (this is the manifest v2 format)" }).describe("Always 2."),
  id: extensionIdSchema.describe('"<publisher>.<name>", lowercase, e.g. "acme.hello". Never changes once published.'),
  name: text("name", 64).describe("Display name shown to admins and users."),
  version: versionSchema.describe('Semantic version, e.g. "1.0.0". A published version is immutable.'),
  publisher: publisherSchema.describe("The publisher; the id's first label and the signing key's publisher."),
  description: text("description", 1000).describe("One or two sentences on what the extension does."),
  engines: z.strictObject({ annex: semverRangeSchema.describe('Semver range of the Annex host API this extension needs, e.g. "^0.1.0".') }),
  runtime: runtimeSchema.describe('"bundle": UI only, no server code. "service": handlers, jobs and event consumers in one ES module.'),
  capabilities: z
    .array(capabilityRequestSchema)
    .max(64, "at most 64 capabilities")
    .default(() => [])
    .describe("What the extension may do, each with the reason shown to the admin who consents. Deny by default."),
  endpoints: z
    .array(endpointSchema)
    .max(128, "at most 128 endpoints")
    .default(() => [])
    .describe("HTTP routes the gateway mounts for the extension (service class only)."),
  ui: uiSchema.default(() => ({ root: "ui", pages: [] })).describe("Pages shown in sandboxed iframes in the host's slots."),
  storage: storageSchema
    .default(() => ({ kind: "none" as const }))
    .describe('"none", "kv" (needs storage.kv) or "owned-schema" with migrations (service only, needs storage.sql).'),
  events: eventsSchema
    .default(() => ({ publishes: [], subscribes: [] }))
    .describe("Events the extension publishes (as ext.<id>.<type>) and handles."),
  jobs: z.array(jobSchema).max(32, "at most 32 jobs").default(() => []).describe("Scheduled handlers (service class only)."),
  config: configSchema.default(() => ({})).describe("Install-time settings by key, with types and defaults."),
  secrets: z
    .array(secretNameSchema)
    .max(64, "at most 64 secrets")
    .default(() => [])
    .describe("Names of secrets the admin sets at install (values never live in the manifest)."),
  limits: limitsSchema.default(() => ({})).describe("Requested per-request quotas; the host caps each by its policy."),
});

export const manifestSchema = manifestShape.superRefine(checkManifestRules, { when: () => true });

/** A parsed, valid manifest (defaults filled in). */
export type Manifest = z.output<typeof manifestSchema>;
/** What an author writes in annex.json (defaults optional). */
export type ManifestInput = z.input<typeof manifestSchema>;
