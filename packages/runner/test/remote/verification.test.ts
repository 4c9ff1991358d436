import { request } from "node:http";
import {
  generateKeyPair,
  packBundle,
  parseTrustStore,
  readBundle,
  signBundle,
  trustedKeyFromPublicKey,
  verifyBundle,
  type TrustStore,
  type VerifiedBundle,
} from "@annex/manifest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HostApis } from "../../src/host-apis.js";
import { signRequest, toKeyBytes } from "../../src/remote/auth.js";
import { createInMemoryRunnerWithDispatch } from "../../src/in-memory-runner.js";
import { createRemoteRunner, createRunnerServer, type RemoteRunner, type RunnerServer } from "../../src/index.js";
import { buildBundle, envelopeFor, manifestFor } from "../support/fixtures.js";

const KEY = "verification-key-0123456789abcdef0123456789";
const enc = new TextEncoder();

interface Signed {
  bundle: VerifiedBundle;
  trustStore: TrustStore;
}

async function signedBundle(source: string, capabilities: unknown[] = []): Promise<Signed> {
  const kv = capabilities.some((c) => (c as { name: string }).name === "storage.kv");
  const manifest = manifestFor({ source, id: "acme.signed", capabilities: capabilities as never, ...(kv ? { storage: { kind: "kv" as const } } : {}) });
  const bytes = await packBundle({ "annex.json": enc.encode(JSON.stringify(manifest)), "server/index.js": enc.encode(source) });
  const key = await generateKeyPair({ publisher: "acme" });
  const signature = await signBundle((await readBundle(bytes)).contentHash, key);
  const trustStore = parseTrustStore({ trustStoreVersion: 1, keys: [trustedKeyFromPublicKey(key, "partner")] });
  return { bundle: await verifyBundle(bytes, signature, trustStore, { mode: "strict" }), trustStore };
}

let signed: Signed;
let server: RunnerServer;
let url: string;
let client: RemoteRunner;
const kvReads: string[] = [];

const hostApis: HostApis = {
  kv: {
    get: (key) => {
      kvReads.push(key);
      return "v";
    },
    set: () => {},
    delete: () => true,
    list: async () => ({ keys: [] }),
  },
  secrets: { get: () => "should-not-be-read" },
};

beforeAll(async () => {
  signed = await signedBundle(
    `export async function probe(request, ctx) {
       const out = {};
       for (const [name, fn] of [["kv", () => ctx.kv.get("k")], ["secret", () => ctx.secrets.get("ROOT")]]) {
         try { out[name] = { value: await fn() }; } catch (e) { out[name] = { code: e.code }; }
       }
       return out;
     }`,
    [{ name: "storage.kv", reason: "Keeps notes between requests." }],
  );
  // A strict server with its own trust store; an in-memory runner inside keeps this file fast
  // (the pool inside a server is covered by the contract and hostile suites).
  server = createRunnerServer({ key: KEY, trustStore: signed.trustStore, runner: (hostDispatch) => createInMemoryRunnerWithDispatch({}, hostDispatch) });
  url = await server.listen(0);
  client = createRemoteRunner({ url, key: KEY, hostApis });
});

afterAll(async () => {
  await client.close();
  await server.close();
});

function rawLoad(body: string): Promise<{ status: number; code: string | undefined }> {
  const headers = signRequest(toKeyBytes(KEY), "POST", "/v1/load", body);
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/load`, { method: "POST", headers: { ...headers, "content-type": "application/json" } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, code: (JSON.parse(text) as { error?: { code?: string } }).error?.code }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("the runner server verifies every bundle itself", () => {
  it("loads a bundle signed by a key in its own trust store", async () => {
    const loaded = await client.load(signed.bundle);
    expect(loaded.contentHash).toBe(signed.bundle.contentHash);
  });

  it("refuses an unsigned bundle in strict mode, though the host verified it in dev mode", async () => {
    const unsigned = await buildBundle({ source: "export function x() { return 1 }" });
    await expect(client.load(unsigned)).rejects.toMatchObject({ code: "E_SIGNATURE_MISSING", status: 422 });
  });

  it("refuses a bundle signed by a key the server does not trust, though the host trusted it", async () => {
    const other = await signedBundle("export function y() { return 2 }");
    await expect(client.load(other.bundle)).rejects.toMatchObject({ code: "E_SIGNATURE_UNTRUSTED" });
  });

  it("refuses tampered bytes sent by an authenticated host", async () => {
    const bytes = Buffer.from(signed.bundle.bytes);
    // Flip one byte inside the archive's data: the index or the hashes no longer match.
    const at = Math.floor(bytes.length / 2);
    bytes[at] = bytes[at]! ^ 0xff;
    const answer = await rawLoad(JSON.stringify({ bundle: bytes.toString("base64"), signature: signed.bundle.signature }));
    expect(answer.status).toBe(422);
    expect(answer.code).toMatch(/^E_(BUNDLE_FORMAT|HASH_MISMATCH|SIGNATURE_INVALID|MANIFEST)$/);
  });

  it("refuses a valid bundle presented with another bundle's signature", async () => {
    const other = await signedBundle("export function z() { return 3 }");
    const answer = await rawLoad(JSON.stringify({ bundle: Buffer.from(other.bundle.bytes).toString("base64"), signature: signed.bundle.signature }));
    expect(answer.status).toBe(422);
    expect(answer.code).toMatch(/^E_SIGNATURE_(INVALID|UNTRUSTED)$/);
  });

  it("refuses a load body that is not a bundle envelope", async () => {
    const answer = await rawLoad(JSON.stringify({ nope: true }));
    expect(answer.status).toBe(400);
    expect(answer.code).toBe("E_BAD_REQUEST");
  });

  it("a capability in the envelope that the manifest never requested is not usable", async () => {
    await client.load(signed.bundle);
    kvReads.length = 0;
    const envelope = envelopeFor(signed.bundle, "probe", {
      grants: [{ name: "storage.kv" }, { name: "secrets.read", names: ["ROOT"] }],
    });
    const result = await client.execute(envelope);
    expect(result.ok).toBe(true);
    expect(result.response?.body).toEqual({ kv: { value: "v" }, secret: { code: "E_CAPABILITY_DENIED" } });
    // Only the granted-and-requested call reached the host.
    expect(kvReads).toEqual(["k"]);
  });
});
