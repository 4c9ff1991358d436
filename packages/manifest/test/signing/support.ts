import { packBundle, readBundle } from "../../src/bundle/index.js";
import { type KeyPair, type TrustStore, type TrustedKey, generateKeyPair, parseTrustStore, trustedKeyFromPublicKey } from "../../src/signing/index.js";
import { serviceFiles, text } from "../bundle/support.js";

export async function packedService(readme = "# Hello\n"): Promise<{ bytes: Uint8Array; contentHash: `sha256:${string}` }> {
  const files = serviceFiles();
  files.set("README.md", text(readme));
  const bytes = await packBundle(files);
  return { bytes, contentHash: (await readBundle(bytes)).contentHash };
}

export function storeOf(...keys: TrustedKey[]): TrustStore {
  return parseTrustStore({ trustStoreVersion: 1, keys });
}

export async function acmeKey(keyId?: string): Promise<KeyPair> {
  return generateKeyPair(keyId === undefined ? { publisher: "acme" } : { publisher: "acme", keyId });
}

export function trusted(key: KeyPair, trustClass = "partner", extra: Partial<TrustedKey> = {}): TrustedKey {
  return { ...trustedKeyFromPublicKey(key, trustClass), ...extra };
}
