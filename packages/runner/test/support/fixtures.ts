import {
  generateKeyPair,
  packBundle,
  parseTrustStore,
  readBundle,
  signBundle,
  trustedKeyFromPublicKey,
  verifyBundle,
  type CapabilityRequest,
  type VerifiedBundle,
} from "@annex/manifest";
import type { ExecuteEnvelope, Invocation } from "../../src/envelope.js";

/**
 * Builds real bundles for runner tests: an inline server entry packed with
 * packBundle and verified with verifyBundle (dev mode by default, or signed
 * with a fresh key and verified strictly), so runners see exactly what a host
 * would hand them.
 */
export interface FixtureOptions {
  /** The server entry (an ES module). */
  source: string;
  id?: string;
  version?: string;
  /** Handler names to declare as api endpoints (POST /<name>). Default: every `export function|const NAME` in source. */
  handlers?: string[];
  capabilities?: CapabilityRequest[];
  warmContext?: boolean;
  limits?: Record<string, number>;
  storage?: { kind: "none" } | { kind: "kv" };
  secrets?: string[];
  publishes?: string[];
  /** The manifest's `ui` block, e.g. `{ root: "web", pages: [] }`. */
  ui?: Record<string, unknown>;
  /** Extra files, e.g. a source map beside the entry or another module. */
  files?: Record<string, string | Uint8Array>;
  /** Sign with a fresh key and verify in strict mode (default: unsigned, dev mode). */
  signed?: boolean;
}

const encoder = new TextEncoder();

function exportedNames(source: string): string[] {
  const names = new Set<string>();
  for (const match of source.matchAll(/export\s+(?:async\s+)?(?:function\s*\*?\s*|const\s+|let\s+)([A-Za-z_$][\w$]*)/g)) {
    names.add(match[1]!);
  }
  return [...names];
}

let counter = 0;

export function manifestFor(options: FixtureOptions): Record<string, unknown> {
  const handlers = options.handlers ?? exportedNames(options.source);
  const id = options.id ?? `acme.fixture${++counter}`;
  const publishes = options.publishes ?? [];
  return {
    manifestVersion: 2,
    id,
    name: "Fixture",
    version: options.version ?? "1.0.0",
    publisher: id.split(".")[0],
    description: "A runner test fixture.",
    engines: { annex: "^0.1.0" },
    runtime: { class: "service", entry: "server/index.js", ...(options.warmContext ? { warmContext: true } : {}) },
    capabilities: options.capabilities ?? [{ name: "log", reason: "Writes request logs for debugging." }],
    endpoints: handlers.map((handler) => ({ class: "api", method: "POST", path: `/${handler.toLowerCase()}`, handler })),
    ...(options.storage ? { storage: options.storage } : {}),
    ...(options.secrets ? { secrets: options.secrets } : {}),
    ...(publishes.length > 0 ? { events: { publishes: publishes.map((type) => ({ type })), subscribes: [] } } : {}),
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.ui ? { ui: options.ui } : {}),
  };
}

export async function buildBundle(options: FixtureOptions): Promise<VerifiedBundle> {
  const manifest = manifestFor(options);
  const files: Record<string, Uint8Array> = {
    "annex.json": encoder.encode(JSON.stringify(manifest, null, 2)),
    "server/index.js": encoder.encode(options.source),
  };
  for (const [path, content] of Object.entries(options.files ?? {})) {
    files[path] = typeof content === "string" ? encoder.encode(content) : content;
  }
  const bytes = await packBundle(files);
  if (!options.signed) {
    return verifyBundle(bytes, null, parseTrustStore({ trustStoreVersion: 1, keys: [] }), { mode: "dev" });
  }
  const publisher = manifest["publisher"] as string;
  const key = await generateKeyPair({ publisher });
  const { contentHash } = await readBundle(bytes);
  const signature = await signBundle(contentHash, key);
  const store = parseTrustStore({ trustStoreVersion: 1, keys: [trustedKeyFromPublicKey(key, "partner")] });
  return verifyBundle(bytes, signature, store, { mode: "strict" });
}

let requestCounter = 0;

/** An envelope for `handler` of a loaded bundle; grants default to exactly what the manifest requests. */
export function envelopeFor(
  bundle: VerifiedBundle,
  handler: string,
  overrides: Partial<Omit<ExecuteEnvelope, "invocation">> & { body?: unknown; invocation?: Invocation } = {},
): ExecuteEnvelope {
  const { body, ...rest } = overrides;
  const manifest = bundle.manifest as unknown as { id: string; version: string; capabilities: (CapabilityRequest & { reason?: string })[] };
  const grants = (manifest.capabilities ?? []).map(({ reason: _reason, ...grant }) => grant);
  return {
    requestId: `req-${++requestCounter}`,
    extension: { id: manifest.id, version: manifest.version, contentHash: bundle.contentHash },
    install: { id: "inst-1", tenant: "tenant-a", config: { greeting: "hello" } },
    grants: grants as ExecuteEnvelope["grants"],
    invocation: {
      kind: "endpoint",
      handler,
      request: {
        method: "POST",
        path: `/${handler.toLowerCase()}`,
        params: {},
        query: {},
        headers: { "content-type": "application/json" },
        body: body ?? null,
      },
    },
    principal: { tenant: "tenant-a", user: { id: "user-1" }, roles: ["admin"] },
    ...rest,
  };
}

/** An in-memory kv that keys by install, as a real host must (the scope comes from the runner, never the guest). */
export function memoryKv() {
  const data = new Map<string, unknown>();
  return {
    data,
    async get(key: string, scope: { installId: string }) {
      return data.get(`${scope.installId}/${key}`);
    },
    async set(key: string, value: unknown, _options: unknown, scope: { installId: string }) {
      data.set(`${scope.installId}/${key}`, value);
    },
    async delete(key: string, scope: { installId: string }) {
      return data.delete(`${scope.installId}/${key}`);
    },
    async list(options: { prefix?: string }, scope: { installId: string }) {
      const prefix = `${scope.installId}/${options.prefix ?? ""}`;
      return { keys: [...data.keys()].filter((key) => key.startsWith(prefix)).map((key) => key.slice(scope.installId.length + 1)) };
    },
  };
}
