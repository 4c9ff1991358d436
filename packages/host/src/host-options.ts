import { AnnexError } from "@annex/manifest";
import type { EgressOptions } from "@annex/runner";
import type { BlobStore } from "./blobs/blob-store.js";
import { EventsError } from "./events/errors.js";
import type { EventsOptions } from "./events/runtime.js";
import { GatewayError } from "./gateway/errors.js";
import type { GatewayOptions, HostStores } from "./gateway/types.js";
import type { HostOptions } from "./host.js";
import { JobsError } from "./jobs/errors.js";
import type { JobsOptions } from "./jobs/runtime.js";
import type { HostMetricsOptions } from "./observability/metrics.js";
import type { BundleLoadLimits } from "./registry/bundle-cache.js";
import type { TrustOptions } from "./registry/registry.js";
import type { SecretsKeyringOptions } from "./secrets/keyring.js";
import { SqlStorageError } from "./storage/sql/errors.js";
import type { SqlLimits } from "./storage/sql/sql-storage.js";
import { KvError } from "./storage/kv/errors.js";
import type { KvOptions } from "./storage/kv/storage.js";
import { kindOf } from "./value-kind.js";

export type HostOptionsErrorCode =
  /** `createHost(options)` was given an option it does not know, or one of a shape it cannot use (`details.field` names it). */
  "E_HOST_OPTIONS";

/**
 * `createHost` (or `createTestHost`) refused its options before opening anything. The message
 * names the option (`details.field`, a dotted path such as `trust.mode`) and
 * what to pass instead. Options of one area keep that area's code
 * (`E_GATEWAY_OPTIONS`, `E_EVENTS_OPTIONS`, `E_JOBS_OPTIONS`, `E_KV_OPTIONS`,
 * `E_SQL_OPTIONS`, `E_DATABASE_CONFIG`).
 */
export class HostOptionsError extends AnnexError {
  declare readonly code: HostOptionsErrorCode;

  constructor(code: HostOptionsErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
  }
}

/** Every key of T, once: the compiler refuses a list that misses an option or names one T does not have. */
export type KeySet<T> = { readonly [K in keyof Required<T>]: true };
export const keysOf = <T>(set: KeySet<T>): readonly string[] => Object.freeze(Object.keys(set));

const HOST_KEYS = keysOf<HostOptions>({
  database: true,
  schema: true,
  poolSize: true,
  trust: true,
  capabilities: true,
  secrets: true,
  blobs: true,
  bundleCacheSize: true,
  bundleCacheBytes: true,
  bundleLoads: true,
  bundleLimits: true,
  kv: true,
  dataHooks: true,
  sql: true,
  migrate: true,
  maintenanceIntervalMs: true,
  runner: true,
  egress: true,
  onExecute: true,
  logger: true,
  metrics: true,
  now: true,
  gateway: true,
  stores: true,
  notifications: true,
  events: true,
  jobs: true,
});

type MakeError = (message: string, details: Record<string, unknown>) => AnnexError;
const hostError: MakeError = (message, details) => new HostOptionsError("E_HOST_OPTIONS", message, details);

/** The nested option objects whose keys are checked too, and the error each area refuses its options with. */
const NESTED: Record<string, { keys: readonly string[]; error: MakeError }> = {
  gateway: {
    keys: keysOf<GatewayOptions>({ authenticate: true, authorize: true, resolveTenant: true, origins: true, prefixes: true, policy: true, webhookSecrets: true, assets: true }),
    error: (message, details) => new GatewayError("E_GATEWAY_OPTIONS", message, details),
  },
  events: {
    keys: keysOf<EventsOptions>({
      bus: true,
      relay: true,
      batchSize: true,
      maxAttempts: true,
      backoff: true,
      leaseMs: true,
      pollIntervalMs: true,
      concurrency: true,
      perInstall: true,
      limits: true,
      timeoutMs: true,
      retentionMs: true,
      deadLetterRetentionMs: true,
      maxDepth: true,
      publishRate: true,
      outboxBytes: true,
    }),
    error: (message, details) => new EventsError("E_EVENTS_OPTIONS", message, details),
  },
  jobs: {
    keys: keysOf<JobsOptions>({ scheduler: true, pollIntervalMs: true, leaseMs: true, limits: true, timeoutMs: true, concurrency: true, perInstall: true, historyMs: true }),
    error: (message, details) => new JobsError("E_JOBS_OPTIONS", message, details),
  },
  kv: {
    keys: keysOf<KvOptions>({ limits: true, sweepIntervalMs: true }),
    error: (message, details) => new KvError("E_KV_OPTIONS", message, details),
  },
  sql: {
    keys: keysOf<NonNullable<HostOptions["sql"]>>({ limits: true, roles: true }),
    error: (message, details) => new SqlStorageError("E_SQL_OPTIONS", message, details),
  },
  "sql.limits": {
    keys: keysOf<SqlLimits>({
      timeoutMs: true,
      maxRows: true,
      maxBytes: true,
      maxParams: true,
      maxParamBytes: true,
      maxTextLength: true,
      checkedTextPerSecond: true,
      migrationTimeoutMs: true,
      maxPlannerCost: true,
      maxConcurrent: true,
      maxQueued: true,
      maxConcurrentTotal: true,
      maxSchemaBytes: true,
      maxSchemaRelations: true,
    }),
    error: (message, details) => new SqlStorageError("E_SQL_OPTIONS", message, details),
  },
  trust: { keys: keysOf<TrustOptions>({ store: true, mode: true, policy: true }), error: hostError },
  secrets: { keys: keysOf<SecretsKeyringOptions>({ keys: true, current: true }), error: hostError },
  metrics: { keys: keysOf<HostMetricsOptions>({ registry: true }), error: hostError },
  stores: { keys: keysOf<HostStores>({ rateLimits: true, replays: true, timeoutMs: true }), error: hostError },
  egress: {
    keys: keysOf<EgressOptions>({
      allowAddresses: true,
      lookup: true,
      maxRedirects: true,
      maxResponseBytes: true,
      maxRequestBytes: true,
      timeoutMs: true,
      userAgent: true,
      maxConcurrent: true,
    }),
    error: hostError,
  },
  bundleLoads: { keys: keysOf<BundleLoadLimits>({ concurrent: true, queued: true, retryAfterSeconds: true }), error: hostError },
  bundleLimits: {
    keys: keysOf<NonNullable<HostOptions["bundleLimits"]>>({ maxCompressedBytes: true, maxUncompressedBytes: true, maxFiles: true, maxFileBytes: true, maxPathLength: true }),
    error: hostError,
  },
};

const BLOB_STORE_METHODS = ["put", "get", "has", "delete"] as const satisfies readonly (keyof BlobStore)[];
const BLOB_STORES = "createFilesystemBlobStore({ directory }) or createDatabaseBlobStore(db) from @annex/host, or your own";

/**
 * What `createHost` can tell about its options before it opens anything: an
 * option it does not know (a misspelt `databse` would otherwise leave the host
 * on an in-memory database), a trust option it would read as an empty store,
 * a blob store without the methods publish needs.
 */
export function checkHostOptions(options: unknown): void {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw hostError(
      `createHost(options): options must be an object such as createHost({ database: "postgres://…", trust: { store } }), got ${kindOf(options)}`,
      { field: "options" },
    );
  }
  const given = options as Record<string, unknown>;
  checkKeys(given, HOST_KEYS, "", hostError);
  checkTrust(given["trust"]);
  checkBlobs(given["blobs"]);
  checkBundleLoads(given["bundleLoads"]);
  checkMaintenance(given["maintenanceIntervalMs"]);
  for (const [path, { keys, error }] of Object.entries(NESTED)) {
    const value = path.split(".").reduce<unknown>((at, key) => (isObject(at) ? at[key] : undefined), given);
    // Other shapes (false, a string) are each area's to refuse.
    if (isObject(value) && !Array.isArray(value)) checkKeys(value, keys, `${path}.`, error);
  }
  checkBundleLimits(given["bundleLimits"]);
}

/**
 * Another function's options, refused the way createHost refuses its own:
 * `createTestHost` passes most of its options through, and one it does not
 * know (`databse`) would otherwise leave the test on an in-memory database.
 * Nested objects it passes through are createHost's to check.
 */
export function checkOptionNames(options: unknown, known: readonly string[], fn: string): void {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw hostError(`${fn}(options): options must be an object, got ${kindOf(options)}`, { field: "options" });
  }
  checkKeys(options as Record<string, unknown>, known, "", hostError, fn);
}

/**
 * Bundle limits are only read at publish and load, where a bad one would fail
 * every bundle with E_BUNDLE_LIMIT long after start: refused here, naming the field.
 */
function checkBundleLimits(limits: unknown): void {
  if (limits === undefined) return;
  if (!isObject(limits) || Array.isArray(limits)) {
    throw hostError(
      `createHost({ bundleLimits }): bundleLimits must be { maxCompressedBytes?, maxUncompressedBytes?, maxFiles?, maxFileBytes?, maxPathLength? }, got ${kindOf(limits)}`,
      { field: "bundleLimits" },
    );
  }
  // Unknown names were refused by the nested check, with a did-you-mean. The values are numbers, never secrets: shown.
  for (const [key, value] of Object.entries(limits)) {
    if (value !== undefined && (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1)) {
      throw hostError(`createHost({ bundleLimits }): bundleLimits.${key} must be a whole number of at least 1 (or left out for the default), got ${typeof value === "number" ? String(value) : kindOf(value)}`, {
        field: `bundleLimits.${key}`,
      });
    }
  }
}

/** A PGlite host's maintenance interval: a pass every millisecond would hold the database's one thread. */
function checkMaintenance(value: unknown): void {
  if (value === undefined || value === false) return;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 100) {
    throw hostError(`createHost({ maintenanceIntervalMs }): maintenanceIntervalMs must be false or a whole number of milliseconds of at least 100, got ${kindOf(value)}`, {
      field: "maintenanceIntervalMs",
    });
  }
}

/** A limit of 0 concurrent loads would wait forever, and a fraction or NaN would make the gate count wrong: refused here, naming the field. */
function checkBundleLoads(loads: unknown): void {
  if (loads === undefined) return;
  if (!isObject(loads) || Array.isArray(loads)) {
    throw hostError(`createHost({ bundleLoads }): bundleLoads must be { concurrent?, queued?, retryAfterSeconds? }, got ${kindOf(loads)}`, { field: "bundleLoads" });
  }
  const minimum = { concurrent: 1, queued: 0, retryAfterSeconds: 1 } as const;
  for (const [key, least] of Object.entries(minimum)) {
    const value = loads[key];
    if (value !== undefined && (typeof value !== "number" || !Number.isSafeInteger(value) || value < least)) {
      throw hostError(`createHost({ bundleLoads }): bundleLoads.${key} must be a whole number of at least ${least}, got ${kindOf(value)}`, {
        field: `bundleLoads.${key}`,
      });
    }
  }
}

function checkTrust(trust: unknown): void {
  if (trust === undefined) return;
  if (typeof trust === "string") {
    throw hostError(
      'createHost({ trust }): trust is { store, mode?, policy? } with the trust store itself, not a file name: read the file and pass the parsed trust store, e.g. trust: { store: parseTrustStore(JSON.parse(readFileSync("trust.json", "utf8"))) } (parseTrustStore from @annex/manifest)',
      { field: "trust" },
    );
  }
  if (!isObject(trust) || Array.isArray(trust)) {
    throw hostError(`createHost({ trust }): trust must be { store, mode?, policy? }, got ${kindOf(trust)}`, { field: "trust" });
  }
  if ("trustStoreVersion" in trust && !("store" in trust)) {
    throw hostError("createHost({ trust }): this is a trust store; trust is { store, mode?, policy? }: pass trust: { store: trustStore }", { field: "trust" });
  }
  const { store, mode } = trust;
  if (typeof store === "string" && !store.trimStart().startsWith("{")) {
    throw hostError(
      'createHost({ trust: { store } }): store is the trust store itself (an object, or its JSON text), not a file name: read the file and pass the parsed trust store, e.g. store: parseTrustStore(JSON.parse(readFileSync("trust.json", "utf8")))',
      { field: "trust.store" },
    );
  }
  if (mode !== undefined && mode !== "strict" && mode !== "dev") {
    throw hostError(
      `createHost({ trust: { mode } }): mode must be "strict" (the default: only bundles signed by a key of the trust store) or "dev" (unsigned bundles too, recorded as unsigned), got ${typeof mode === "string" ? JSON.stringify(mode.slice(0, 40)) : kindOf(mode)}`,
      { field: "trust.mode" },
    );
  }
}

function checkBlobs(blobs: unknown): void {
  if (blobs === undefined) return;
  const fix = `pass blobs: { directory: "<path>" } to keep bundles as files, a BlobStore (${BLOB_STORES}), or nothing to keep them in the database`;
  if (!isObject(blobs) || Array.isArray(blobs)) {
    throw hostError(`createHost({ blobs }): got ${kindOf(blobs)}; ${fix}`, { field: "blobs" });
  }
  const missing = BLOB_STORE_METHODS.filter((method) => typeof blobs[method] !== "function");
  if (missing.length === 0) return;
  if (missing.length < BLOB_STORE_METHODS.length) {
    throw hostError(`createHost({ blobs }): a BlobStore needs put, get, has and delete methods; this one has no ${missing.join(", ")}; ${fix}`, {
      field: "blobs",
      missing,
    });
  }
  if ("directory" in blobs) {
    if (typeof blobs["directory"] !== "string" || blobs["directory"] === "") {
      throw hostError(`createHost({ blobs: { directory } }): directory must be the path of a folder, got ${kindOf(blobs["directory"])}`, { field: "blobs.directory" });
    }
    checkKeys(blobs, ["directory"], "blobs.", hostError);
    return;
  }
  const keys = Object.keys(blobs);
  // `{ dir }`, `{ path }`, `{ folder }`: a folder under another name.
  const hint = keys.some((key) => withinTwo(key, "directory")) || (keys.length === 1 && typeof blobs[keys[0]!] === "string") ? ' (for a folder, name it "directory")' : "";
  throw hostError(
    `createHost({ blobs }): got an object with ${keys.length === 0 ? "no keys" : keys.map((key) => `"${key}"`).join(", ")}${hint}, which is neither { directory } nor a BlobStore (no put, get, has, delete); ${fix}`,
    { field: "blobs" },
  );
}

/** Refuses keys not in `known`, suggesting the known key within two edits of each. */
function checkKeys(value: Record<string, unknown>, known: readonly string[], prefix: string, error: MakeError, fn = "createHost"): void {
  const unknown = Object.keys(value).filter((key) => !known.includes(key));
  if (unknown.length === 0) return;
  const suggestions: Record<string, string> = {};
  const named = unknown.map((key) => {
    const suggestion = closest(key, known);
    if (suggestion !== undefined) suggestions[`${prefix}${key}`] = `${prefix}${suggestion}`;
    return `"${prefix}${key}"${suggestion === undefined ? "" : ` (did you mean "${prefix}${suggestion}"?)`}`;
  });
  // "sql.limits." → createHost({ sql: { limits } })
  const where = prefix === "" ? fn : `${fn}(${prefix.slice(0, -1).split(".").reduceRight((inner, key) => `{ ${key}${inner === "" ? "" : `: ${inner}`} }`, "")})`;
  const list = Object.keys(suggestions).length === unknown.length ? "" : `; ${where} knows: ${known.join(", ")}`;
  throw error(
    `${where}: unknown option${unknown.length === 1 ? "" : "s"} ${named.join(", ")}: an option Annex does not know would be ignored; correct its name or remove it${list}`,
    { field: `${prefix}${unknown[0]}`, unknown: unknown.map((key) => `${prefix}${key}`), suggestions },
  );
}

function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase(), bestDistance);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function withinTwo(a: string, b: string): boolean {
  return editDistance(a.toLowerCase(), b.toLowerCase(), 3) <= 2;
}

/** Insertions, deletions, substitutions and swaps of neighbours (optimal string alignment); `cap` once it is at least that. */
export function editDistance(a: string, b: string, cap = Number.POSITIVE_INFINITY): number {
  if (Math.abs(a.length - b.length) >= cap) return cap;
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      current.push(d);
      rowMin = Math.min(rowMin, d);
    }
    if (rowMin >= cap) return cap;
    before = previous;
    previous = current;
  }
  return Math.min(previous[b.length]!, cap);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}
