import { generateSecretsKey, type Host, type HostOptions, type PublishResult } from "../../src/index.js";
import type { TestDatabaseBackend } from "../../src/testing/index.js";
import { hostOn } from "./backends.js";
import { makePublisher, serviceManifest, signedBundle, type Publisher } from "./fixtures.js";

export const LOG = { name: "log", reason: "Writes request logs for debugging." };
export const FETCH_V2 = { name: "http.fetch", hosts: ["api.example.com"], reason: "Calls the example API." };
export const FETCH_V21 = { name: "http.fetch", hosts: ["api.example.com", "*.example.org"], reason: "Calls the example APIs." };

export const CONFIG = {
  greeting: { type: "string", default: "Hello", maxLength: 40 },
  retries: { type: "integer", min: 0, max: 5, default: 2 },
  region: { type: "enum", values: ["eu", "us"], required: true },
  endpoint: { type: "url" },
};

/** acme.hello in several versions: 1.x asks for log, 2.0 adds egress (consent), 2.1 widens it. */
export const VERSIONS: Record<string, Record<string, unknown>> = {
  "1.0.0": serviceManifest({ version: "1.0.0", config: CONFIG, secrets: ["API_TOKEN", "WEBHOOK_SECRET"] }),
  "1.1.0": serviceManifest({ version: "1.1.0", config: CONFIG, secrets: ["API_TOKEN", "WEBHOOK_SECRET"] }),
  "2.0.0": serviceManifest({ version: "2.0.0", config: CONFIG, secrets: ["API_TOKEN"], capabilities: [LOG, FETCH_V2] }),
  "2.1.0": serviceManifest({ version: "2.1.0", config: CONFIG, secrets: ["API_TOKEN"], capabilities: [LOG, FETCH_V21] }),
};

export interface World {
  host: Host;
  acme: Publisher;
  published: Record<string, PublishResult>;
  secretsKey: { id: string; key: string };
}

let publisher: Publisher | undefined;

/** A host in a fresh schema with every version of acme.hello published. */
export async function world(backend: TestDatabaseBackend, options: Omit<HostOptions, "database" | "schema" | "trust"> = {}): Promise<World> {
  publisher ??= await makePublisher("acme", "community");
  const secretsKey = { id: "k1", key: generateSecretsKey() };
  const host = await hostOn(backend, { trust: { store: publisher.trustStore }, secrets: { keys: [secretsKey] }, ...options });
  const published: Record<string, PublishResult> = {};
  for (const [version, manifest] of Object.entries(VERSIONS)) {
    const { bytes, signature } = await signedBundle(publisher, manifest);
    published[version] = await host.publish(bytes, signature, { actor: "publisher" });
  }
  return { host, acme: publisher, published, secretsKey };
}

/** Replaces a published blob with other bytes, as an attacker with write access to the blob store would. */
export async function tamperBlob(host: Host, contentHash: string): Promise<void> {
  await host.database.db
    .updateTable("annex_blobs")
    .set({ bytes: new TextEncoder().encode("not a bundle any more") })
    .where("hash", "=", contentHash)
    .execute();
  host.registry.clearBundleCache();
}
