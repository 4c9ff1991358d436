import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  generateKeyPair,
  parsePrivateKey,
  parsePublicKey,
  parseTrustStore,
  serializePrivateKey,
  serializePublicKey,
  trustedKeyFromPublicKey,
  type PrivateKey,
  type TrustStore,
} from "@annex/manifest";

/**
 * The demo's key material, made on first start and kept in the data folder
 * (files 0600): a publisher key per example publisher (trusted as
 * first-party), the secrets key that seals install secrets, the session
 * secret, and the shared key of a separate annex-runner. A real deployment
 * takes these from its secret manager instead; never commit them.
 */
export interface DemoKeys {
  trustStore: TrustStore;
  /** Signing keys by publisher id. */
  publisherKeys: Map<string, PrivateKey>;
  secretsKey: string;
  sessionSecret: string;
  runnerKey: string;
  /** Where trust.json and runner.key are, for an annex-runner started beside the host. */
  trustFile: string;
  runnerKeyFile: string;
}

async function readOrCreate(file: string, make: () => string | Promise<string>): Promise<string> {
  try {
    return (await readFile(file, "utf8")).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    const value = await make();
    await writeFile(file, `${value}\n`, { mode: 0o600, flag: "wx" }).catch(async (writeError: NodeJS.ErrnoException) => {
      // Two processes starting at once: the first one's file wins.
      if (writeError.code !== "EEXIST") throw writeError;
    });
    return (await readFile(file, "utf8")).trim();
  }
}

export async function loadDemoKeys(dataDir: string, publishers: readonly string[]): Promise<DemoKeys> {
  const dir = join(dataDir, "keys");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const publisherKeys = new Map<string, PrivateKey>();
  const trusted = [];
  for (const publisher of [...new Set(publishers)].sort()) {
    const privateText = await readOrCreate(join(dir, `${publisher}.key`), async () => {
      const pair = await generateKeyPair({ publisher, keyId: `${publisher}-demo` });
      await writeFile(join(dir, `${publisher}.pub`), serializePublicKey(pair));
      return serializePrivateKey(pair).trim();
    });
    publisherKeys.set(publisher, parsePrivateKey(privateText));
    const publicKey = parsePublicKey(await readFile(join(dir, `${publisher}.pub`), "utf8"));
    trusted.push(trustedKeyFromPublicKey(publicKey, "first-party"));
  }
  const trustStore = parseTrustStore({ trustStoreVersion: 1, keys: trusted });
  const trustFile = join(dir, "trust.json");
  await writeFile(trustFile, `${JSON.stringify(trustStore, null, 2)}\n`, { mode: 0o600 });
  const runnerKeyFile = join(dir, "runner.key");
  return {
    trustStore,
    publisherKeys,
    secretsKey: await readOrCreate(join(dir, "secrets.key"), () => randomBytes(32).toString("base64")),
    sessionSecret: await readOrCreate(join(dir, "session.secret"), () => randomBytes(32).toString("base64url")),
    runnerKey: await readOrCreate(runnerKeyFile, () => randomBytes(32).toString("base64url")),
    trustFile,
    runnerKeyFile,
  };
}
