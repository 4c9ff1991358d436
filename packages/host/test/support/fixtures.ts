import {
  generateKeyPair,
  packBundle,
  parseTrustStore,
  readBundle,
  signBundle,
  trustedKeyFromPublicKey,
  type BundleSignature,
  type ContentHash,
  type KeyPair,
  type TrustStore,
} from "@annex/manifest";

/** The canonical service example of the brief, as a starting point for variations. */
export function serviceManifest(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    manifestVersion: 2,
    id: "acme.hello",
    name: "Hello",
    version: "1.0.0",
    publisher: "acme",
    description: "Says hello.",
    engines: { annex: "^0.1.0" },
    runtime: { class: "service", entry: "server/index.js" },
    capabilities: [{ name: "log", reason: "Writes request logs for debugging." }],
    endpoints: [{ class: "api", method: "GET", path: "/hello/:name", handler: "hello" }],
    ...overrides,
  };
}

export const SERVER_SOURCE = `export function hello(request) { return { hello: request.params.name }; }\n`;

export async function makeBundle(manifest: Record<string, unknown>, extra: Record<string, string> = {}): Promise<Uint8Array> {
  const encoder = new TextEncoder();
  const files: Record<string, Uint8Array> = {
    "annex.json": encoder.encode(JSON.stringify(manifest, null, 2)),
    "server/index.js": encoder.encode(SERVER_SOURCE),
  };
  for (const [path, text] of Object.entries(extra)) files[path] = encoder.encode(text);
  return packBundle(files);
}

export interface Publisher {
  key: KeyPair;
  trustStore: TrustStore;
  sign(bytes: Uint8Array): Promise<BundleSignature>;
}

export async function makePublisher(publisher = "acme", trustClass = "community"): Promise<Publisher> {
  const key = await generateKeyPair({ publisher });
  const trustStore = parseTrustStore({ trustStoreVersion: 1, keys: [trustedKeyFromPublicKey(key, trustClass)] });
  return {
    key,
    trustStore,
    async sign(bytes) {
      const { contentHash } = await readBundle(bytes);
      return signBundle(contentHash as ContentHash, key);
    },
  };
}

/** A signed bundle of `manifest`, ready for publish. */
export async function signedBundle(publisher: Publisher, manifest: Record<string, unknown>, extra?: Record<string, string>) {
  const bytes = await makeBundle(manifest, extra);
  return { bytes, signature: await publisher.sign(bytes) };
}
