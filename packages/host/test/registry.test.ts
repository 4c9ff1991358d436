import { createHash } from "node:crypto";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { generateKeyPair, isVerifiedBundle, parseTrustStore, readBundle, signBundle, trustedKeyFromPublicKey, type ContentHash } from "@annex/manifest";
import { afterAll, expect, it } from "vitest";
import { z } from "zod";
import { createFilesystemBlobStore, createHost, defineHostCapability, RegistryError, type BlobStore, type Host } from "../src/index.js";
import { describeBackends, hostOn } from "./support/backends.js";
import { makeBundle, makePublisher, serviceManifest, signedBundle, type Publisher } from "./support/fixtures.js";

/**
 * A bundle whose annex.json says `replacement` where it said `placeholder`
 * (same length), as a hostile publisher's own packer would write it: the
 * annex packer refuses such manifests. The tar's headers keep their
 * checksums (they do not cover contents); the index gets the new digest.
 */
async function withManifestText(bundle: Uint8Array, placeholder: string, replacement: string): Promise<Uint8Array> {
  if (placeholder.length !== replacement.length) throw new Error("same length only");
  const tar = Buffer.from(gunzipSync(bundle));
  const before = tar.indexOf(`"description": "Says ${placeholder}`);
  const oldHex = createHash("sha256").update(manifestBytes(tar)).digest("hex");
  tar.write(replacement, tar.indexOf(placeholder, before), "latin1");
  const newManifest = manifestBytes(tar);
  tar.write(createHash("sha256").update(newManifest).digest("hex"), tar.indexOf(oldHex), "latin1");
  return new Uint8Array(gzipSync(tar));
}

/** The annex.json entry of an uncompressed bundle tar (512-byte headers; name at 0, size in octal at 124). */
function manifestBytes(tar: Buffer): Buffer {
  for (let offset = 0; offset + 512 <= tar.length; ) {
    const name = tar.subarray(offset, offset + 100).toString("latin1").replace(/\0.*$/s, "");
    const size = Number.parseInt(tar.subarray(offset + 124, offset + 136).toString("latin1").replace(/\0.*$/s, "").trim() || "0", 8);
    if (name === "annex.json") return tar.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error("no annex.json in the bundle");
}

/** Everything the registry holds: what a rejected publish must leave exactly as it was. */
async function registrySnapshot(host: Host) {
  const db = host.database.db;
  return {
    extensions: await db.selectFrom("annex_extensions").select(["id", "publisher"]).orderBy("id").execute(),
    versions: await db
      .selectFrom("annex_extension_versions")
      .select(["extension_id", "version", "content_hash", "manifest", "signature", "published_by"])
      .orderBy("extension_id")
      .orderBy("version")
      .execute(),
    blobs: await db.selectFrom("annex_blobs").select(["hash", "size_bytes"]).orderBy("hash").execute(),
  };
}

const contacts = defineHostCapability({
  name: "crm.contacts.read",
  description: "Read contacts",
  args: z.object({ query: z.string() }),
  result: z.array(z.object({ id: z.string() })),
  handler: () => [],
});

describeBackends("registry", (backend) => {
  let acme: Publisher;
  const hostFor = async (options: Parameters<typeof hostOn>[1] = {}) => {
    acme ??= await makePublisher("acme", "community");
    return hostOn(backend, { trust: { store: acme.trustStore }, ...options });
  };

  it("publishes a signed bundle: version recorded, blob stored by content hash, audit written", async () => {
    const host = await hostFor();
    const { bytes, signature } = await signedBundle(acme, serviceManifest());
    const published = await host.publish(bytes, signature, { actor: "admin@acme" });

    expect(published).toMatchObject({ extensionId: "acme.hello", version: "1.0.0", publisher: "acme", created: true, publishedBy: "admin@acme" });
    expect(published.contentHash).toBe(signature.contentHash);
    expect(published.provenance).toMatchObject({ signed: true, keyId: acme.key.keyId, trustClass: "community" });
    expect(published.manifest.capabilities).toEqual([{ name: "log", reason: "Writes request logs for debugging." }]);

    expect(await host.registry.getVersion("acme.hello", "1.0.0")).toMatchObject({ contentHash: published.contentHash });
    expect((await host.database.db.selectFrom("annex_blobs").select("hash").execute()).map((row) => row.hash)).toEqual([published.contentHash]);

    const audit = await host.audit.list({ action: "registry.publish" });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor: "admin@acme", target: "acme.hello@1.0.0", decision: "allow", tenant: null });
    expect(audit[0]!.details).toMatchObject({ contentHash: published.contentHash, keyId: acme.key.keyId });
    await host.close();
  });

  it("is idempotent for identical content and refuses other content under the same version", async () => {
    const host = await hostFor();
    const first = await signedBundle(acme, serviceManifest());
    await host.publish(first.bytes, first.signature);
    const again = await host.publish(first.bytes, first.signature);
    expect(again.created).toBe(false);
    expect((await host.registry.listVersions("acme.hello")).length).toBe(1);

    const before = await registrySnapshot(host);
    const other = await signedBundle(acme, serviceManifest({ description: "Says hello, differently." }));
    const error = await host.publish(other.bytes, other.signature).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RegistryError);
    expect(error).toMatchObject({ code: "E_VERSION_CONFLICT" });
    expect((error as Error).message).toContain("acme.hello@1.0.0");
    expect((error as Error).message).toContain("bump the version");
    expect(await registrySnapshot(host)).toEqual(before);
    expect(await host.audit.list({ action: "registry.publish", decision: "deny" })).toHaveLength(1);
    await host.close();
  });

  it("lets exactly one of two concurrent publishes of one version with different content win, leaving no stray blob", async () => {
    const host = await hostFor();
    const a = await signedBundle(acme, serviceManifest({ description: "Variant A." }));
    const b = await signedBundle(acme, serviceManifest({ description: "Variant B." }));
    const results = await Promise.allSettled([host.publish(a.bytes, a.signature), host.publish(b.bytes, b.signature)]);
    const won = results.filter((result) => result.status === "fulfilled");
    const lost = results.filter((result): result is PromiseRejectedResult => result.status === "rejected");
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.reason).toMatchObject({ code: "E_VERSION_CONFLICT" });
    const snapshot = await registrySnapshot(host);
    expect(snapshot.versions).toHaveLength(1);
    expect(snapshot.blobs.map((blob) => blob.hash)).toEqual([snapshot.versions[0]!.content_hash]);

    // Identical content at once: both succeed, exactly one of them created the version.
    const c = await signedBundle(acme, serviceManifest({ version: "3.0.0" }));
    const same = await Promise.all([host.publish(c.bytes, c.signature), host.publish(c.bytes, c.signature), host.publish(c.bytes, c.signature)]);
    expect(same.map((result) => result.created).sort()).toEqual([false, false, true]);
    expect(new Set(same.map((result) => result.contentHash)).size).toBe(1);
    await host.close();
  });

  it("refuses unsigned bundles in strict mode and accepts them in dev mode, saying so", async () => {
    const strict = await hostFor();
    const bytes = await makeBundle(serviceManifest());
    await expect(strict.publish(bytes, null)).rejects.toMatchObject({ code: "E_SIGNATURE_MISSING" });
    expect(await registrySnapshot(strict)).toEqual({ extensions: [], versions: [], blobs: [] });

    const dev = await hostFor({ trust: { store: acme.trustStore, mode: "dev" } });
    const published = await dev.publish(bytes, null);
    expect(published.provenance).toMatchObject({ signed: false, mode: "dev", keyId: null });
    expect(published.signature).toBeNull();
    await strict.close();
    await dev.close();
  });

  it("refuses tampered bundles and leaves the registry exactly as it was", async () => {
    const host = await hostFor();
    const good = await signedBundle(acme, serviceManifest({ version: "0.9.0" }));
    await host.publish(good.bytes, good.signature);
    const before = await registrySnapshot(host);
    const auditBefore = (await host.audit.list()).length;

    const flipped = good.bytes.slice();
    flipped[Math.floor(flipped.length / 2)]! ^= 0xff;
    const truncated = good.bytes.slice(0, good.bytes.length - 40);
    const changedContent = await makeBundle(serviceManifest(), { "server/extra.js": "export const evil = 1;\n" });
    const otherBundle = await signedBundle(acme, serviceManifest({ version: "2.0.0" }));
    const forged = { ...good.signature, signature: otherBundle.signature.signature };
    const mallory = await generateKeyPair({ publisher: "acme" });
    const malloryHash = (await readBundle(changedContent)).contentHash;

    const attempts: Array<[string, Uint8Array, Parameters<Host["publish"]>[1], string[]]> = [
      ["a flipped byte", flipped, good.signature, ["E_BUNDLE_FORMAT", "E_HASH_MISMATCH", "E_BUNDLE_LIMIT"]],
      ["a truncated archive", truncated, good.signature, ["E_BUNDLE_FORMAT"]],
      ["other content under the first signature", changedContent, good.signature, ["E_SIGNATURE_INVALID"]],
      ["a signature lifted from another bundle", good.bytes, forged, ["E_SIGNATURE_INVALID"]],
      ["a signature by a key the host does not trust", changedContent, await signBundle(malloryHash as ContentHash, mallory), ["E_SIGNATURE_UNTRUSTED"]],
    ];
    for (const [what, bytes, signature, codes] of attempts) {
      const error = await host.publish(bytes, signature).catch((caught: unknown) => caught);
      expect(codes, `${what}: got ${(error as { code?: string }).code}`).toContain((error as { code?: string }).code);
      expect(await registrySnapshot(host), what).toEqual(before);
    }
    const denials = await host.audit.list({ action: "registry.publish", decision: "deny" });
    expect(denials).toHaveLength(attempts.length);
    expect((await host.audit.list()).length).toBe(auditBefore + attempts.length);
    await host.close();
  });

  it("refuses keys of another publisher, revoked keys, and bundles whose key was revoked after publish when loading", async () => {
    const other = await makePublisher("globex", "community");
    const store = parseTrustStore({ trustStoreVersion: 1, keys: [...acme.trustStore.keys, ...other.trustStore.keys] });
    const host = await hostFor({ trust: { store } });
    // globex's key signing an acme bundle.
    const bytes = await makeBundle(serviceManifest());
    const { contentHash } = await readBundle(bytes);
    const crossSigned = await signBundle(contentHash as ContentHash, { ...other.key, publisher: "acme" });
    await expect(host.publish(bytes, crossSigned)).rejects.toMatchObject({ code: "E_SIGNATURE_UNTRUSTED" });

    const good = await signedBundle(acme, serviceManifest());
    const published = await host.publish(good.bytes, good.signature);
    expect(isVerifiedBundle(await host.registry.loadBundle(published.contentHash))).toBe(true);

    // The same database seen by a host whose trust store revoked acme's key: the stored bundle no longer loads.
    const revoked = parseTrustStore({ trustStoreVersion: 1, keys: [{ ...acme.trustStore.keys[0]!, revoked: true }] });
    const later = await createHost({ database: await backend.connect(), schema: host.database.schema, trust: { store: revoked } });
    await expect(later.registry.loadBundle(published.contentHash)).rejects.toMatchObject({ code: "E_SIGNATURE_UNTRUSTED" });
    await host.close();
    await later.close();
  });

  it("takes a new signature for the same content once the stored one no longer verifies, and keeps one that still does", async () => {
    acme ??= await makePublisher("acme", "community");
    const rotated = await makePublisher("acme", "community");
    const bothKeys = parseTrustStore({ trustStoreVersion: 1, keys: [...acme.trustStore.keys, ...rotated.trustStore.keys] });
    const host = await hostFor({ trust: { store: bothKeys } });
    const good = await signedBundle(acme, serviceManifest());
    const published = await host.publish(good.bytes, good.signature);
    const newSignature = await rotated.sign(good.bytes);

    // Both keys trusted: the stored signature stands, whichever key signs again.
    const again = await host.publish(good.bytes, newSignature);
    expect(again).toMatchObject({ created: false, signature: { keyId: good.signature.keyId } });
    expect(again.resigned).toBeUndefined();

    // The first key revoked: the version no longer loads, until the same content is published with the new key's signature.
    const revokedFirst = parseTrustStore({ trustStoreVersion: 1, keys: [{ ...acme.trustStore.keys[0]!, revoked: true }, ...rotated.trustStore.keys] });
    const later = await createHost({ database: await backend.connect(), schema: host.database.schema, trust: { store: revokedFirst } });
    await expect(later.registry.loadBundle(published.contentHash)).rejects.toMatchObject({ code: "E_SIGNATURE_UNTRUSTED" });
    await expect(later.publish(good.bytes, good.signature)).rejects.toMatchObject({ code: "E_SIGNATURE_UNTRUSTED" });
    const resigned = await later.publish(good.bytes, newSignature, { actor: "ops@acme" });
    expect(resigned).toMatchObject({ created: false, resigned: true, contentHash: published.contentHash, signature: { keyId: newSignature.keyId } });
    expect(resigned.provenance).toMatchObject({ keyId: newSignature.keyId, signed: true });
    expect(isVerifiedBundle(await later.registry.loadBundle(published.contentHash))).toBe(true);
    expect(await later.registry.getVersion("acme.hello", "1.0.0")).toMatchObject({ signature: { keyId: newSignature.keyId } });
    // The intact blob was left as it was: no restore was audited (its check used the new signature, not the revoked one).
    const restores = (await later.audit.list({ action: "registry.publish" })).filter((line) => (line.details as Record<string, unknown>)["restored"] !== undefined);
    expect(restores).toEqual([]);
    const [entry] = await later.audit.list({ action: "registry.resign" });
    expect(entry).toMatchObject({ actor: "ops@acme", decision: "allow", target: "acme.hello@1.0.0" });
    expect(entry!.details).toMatchObject({ contentHash: published.contentHash, keyId: newSignature.keyId, previousKeyId: good.signature.keyId });
    // Once more with the same signature: nothing changes, nothing more is audited.
    expect((await later.publish(good.bytes, newSignature)).resigned).toBeUndefined();
    expect(await later.audit.list({ action: "registry.resign" })).toHaveLength(1);
    await host.close();
    await later.close();
  });

  it("of two re-signs at once, one replaces the revoked signature and the other finds it replaced: one audit line, naming the revoked key", async () => {
    acme ??= await makePublisher("acme", "community");
    const [second, third] = [await makePublisher("acme", "community"), await makePublisher("acme", "community")];
    const host = await hostFor();
    const good = await signedBundle(acme, serviceManifest());
    await host.publish(good.bytes, good.signature);
    const store = parseTrustStore({ trustStoreVersion: 1, keys: [{ ...acme.trustStore.keys[0]!, revoked: true }, ...second.trustStore.keys, ...third.trustStore.keys] });
    const later = await createHost({ database: await backend.connect(), schema: host.database.schema, trust: { store } });
    const results = await Promise.all([later.publish(good.bytes, await second.sign(good.bytes)), later.publish(good.bytes, await third.sign(good.bytes))]);
    expect(results.filter((result) => result.resigned === true)).toHaveLength(1);
    const winner = results.find((result) => result.resigned === true)!;
    expect((await later.registry.getVersion("acme.hello", "1.0.0"))!.signature).toMatchObject({ keyId: winner.signature!.keyId });
    const lines = await later.audit.list({ action: "registry.resign" });
    expect(lines).toHaveLength(1);
    expect(lines[0]!.details).toMatchObject({ keyId: winner.signature!.keyId, previousKeyId: good.signature.keyId });
    expect(isVerifiedBundle(await later.registry.loadBundle(winner.contentHash))).toBe(true);
    await host.close();
    await later.close();
  });

  it("verifies blobs again at load: a blob altered in the store is refused", async () => {
    const host = await hostFor();
    const good = await signedBundle(acme, serviceManifest());
    const published = await host.publish(good.bytes, good.signature);
    const other = await makeBundle(serviceManifest({ description: "Swapped in the blob store." }));
    await host.database.db.updateTable("annex_blobs").set({ bytes: other }).where("hash", "=", published.contentHash).execute();
    const error = await host.registry.loadBundle(published.contentHash).catch((caught: unknown) => caught);
    expect(["E_SIGNATURE_INVALID", "E_BUNDLE_MISMATCH"]).toContain((error as { code?: string }).code);

    await host.database.db.deleteFrom("annex_blobs").execute();
    await expect(host.registry.loadBundle(published.contentHash)).rejects.toMatchObject({ code: "E_BUNDLE_MISSING" });
    await expect(host.registry.loadBundle(`sha256:${"0".repeat(64)}`)).rejects.toMatchObject({ code: "E_VERSION_NOT_FOUND" });
    await host.close();
  });

  it("refuses manifests asking for host capabilities the host did not register, and accepts registered ones", async () => {
    const manifest = serviceManifest({
      capabilities: [
        { name: "log", reason: "Writes request logs for debugging." },
        { name: "host:crm.contacts.read", reason: "Shows the contact next to each ticket." },
      ],
    });
    const { bytes, signature } = await signedBundle(acme, manifest);

    const bare = await hostFor();
    const error = await bare.publish(bytes, signature).catch((caught: unknown) => caught);
    expect(["E_MANIFEST", "E_HOST_CAPABILITY_UNKNOWN"]).toContain((error as { code?: string }).code);
    expect((error as Error).message).toContain("host:crm.contacts.read");
    expect(await registrySnapshot(bare)).toEqual({ extensions: [], versions: [], blobs: [] });

    const crm = await hostFor({ capabilities: [contacts] });
    const published = await crm.publish(bytes, signature);
    expect(published.manifest.capabilities.map((capability) => capability.name)).toContain("host:crm.contacts.read");
    await bare.close();
    await crm.close();
  });

  it("applies the trust-class policy at publish (deny by default for unlisted classes)", async () => {
    const policy = { community: { capabilities: ["log"], endpointClasses: ["api" as const] } };
    const host = await hostFor({ trust: { store: acme.trustStore, policy } });
    const allowed = await signedBundle(acme, serviceManifest());
    await host.publish(allowed.bytes, allowed.signature);

    const egress = await signedBundle(
      acme,
      serviceManifest({
        version: "1.1.0",
        capabilities: [
          { name: "log", reason: "Writes request logs for debugging." },
          { name: "http.fetch", hosts: ["api.example.com"], reason: "Calls the example API." },
        ],
      }),
    );
    const error = await host.publish(egress.bytes, egress.signature).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: "E_POLICY" });
    expect((error as Error).message).toContain("capabilities[1]");

    const partnerOnly = await hostFor({ trust: { store: acme.trustStore, policy: { partner: { capabilities: ["*"], endpointClasses: ["api"] } } } });
    await expect(partnerOnly.publish(allowed.bytes, allowed.signature)).rejects.toMatchObject({ code: "E_POLICY" });
    await host.close();
    await partnerOnly.close();
  });

  it("applies the trust-class policy again at install, upgrade and load: a key moved to a narrower class stops earlier versions", async () => {
    const policy = {
      partner: { capabilities: ["log", "http.fetch"], endpointClasses: ["api" as const] },
      community: { capabilities: ["log"], endpointClasses: ["api" as const] },
    };
    acme ??= await makePublisher("acme", "community");
    const egress = { name: "http.fetch", hosts: ["api.example.com"], reason: "Calls the example API." };
    const LOG = { name: "log", reason: "Writes request logs for debugging." };
    const asPartner = parseTrustStore({ trustStoreVersion: 1, keys: [{ ...acme.trustStore.keys[0]!, trustClass: "partner" }] });
    const before = await hostFor({ trust: { store: asPartner, policy } });
    const v1 = await signedBundle(acme, serviceManifest({ version: "1.0.0", capabilities: [LOG, egress] }));
    const v2 = await signedBundle(acme, serviceManifest({ version: "2.0.0", capabilities: [LOG, egress] }));
    const quiet = await signedBundle(acme, serviceManifest({ version: "3.0.0" }));
    const grants = [{ name: "log" as const }, { name: "http.fetch" as const, hosts: ["api.example.com"] }];
    const published = await before.publish(v1.bytes, v1.signature);
    await before.publish(v2.bytes, v2.signature);
    await before.publish(quiet.bytes, quiet.signature);
    await before.install("tenant-a", "acme.hello", { version: "1.0.0", grants });
    expect(await before.resolve("tenant-a", "acme.hello")).not.toBeNull();

    // The same database, seen by a host whose trust store now puts acme's key in the community class.
    const after = await createHost({ database: await backend.connect(), schema: before.database.schema, trust: { store: acme.trustStore, policy } });
    await expect(after.registry.loadBundle(published.contentHash)).rejects.toMatchObject({ code: "E_POLICY" });
    await expect(after.resolve("tenant-a", "acme.hello")).rejects.toMatchObject({ code: "E_POLICY" });

    const installed = await after.install("tenant-b", "acme.hello", { version: "1.0.0", grants }).catch((error: unknown) => error);
    expect(installed).toMatchObject({ code: "E_POLICY" });
    expect(await after.getInstall("tenant-b", "acme.hello")).toMatchObject({ state: "failed", lastError: { code: "E_POLICY" } });

    const upgraded = await after.upgrade("tenant-a", "acme.hello", { version: "2.0.0" }).catch((error: unknown) => error);
    expect(upgraded).toMatchObject({ code: "E_POLICY" });
    expect(await after.getInstall("tenant-a", "acme.hello")).toMatchObject({ state: "active", version: "1.0.0", lastError: { code: "E_POLICY" } });

    // What the class may still run installs and serves.
    await after.upgrade("tenant-a", "acme.hello", { version: "3.0.0", grants: [{ name: "log" }] });
    expect((await after.resolve("tenant-a", "acme.hello"))?.install.version).toBe("3.0.0");
    await before.close();
    await after.close();
  });

  // Every parse checks each string for piles of combining marks; the pattern it used backtracked quadratically on runs of
  // zero-width joiners: ~50 s of blocked event loop for this valid manifest, at publish and again at every cold load.
  it("publishes and loads cold a bundle whose string setting defaults to 65,536 zero-width non-joiners", async () => {
    const host = await hostFor();
    const manifest = serviceManifest({ config: { note: { type: "string", default: "\u200c".repeat(65_536) } } });
    const { bytes, signature } = await signedBundle(acme, manifest);
    const { contentHash } = await host.publish(bytes, signature);
    host.registry.clearBundleCache();
    expect((await host.registry.loadBundle(contentHash, { promote: false })).manifest.config["note"]).toMatchObject({ type: "string" });
    await host.close();
  }, 20_000);

  it("refuses a bundle signed by a revoked public key under another key id the trust store also lists it as", async () => {
    const compromised = await generateKeyPair({ publisher: "acme" });
    const renamed = { ...compromised, keyId: "acme:rotated-2026" };
    const store = parseTrustStore({
      trustStoreVersion: 1,
      keys: [{ ...trustedKeyFromPublicKey(compromised, "partner"), revoked: true }, trustedKeyFromPublicKey(renamed, "partner")],
    });
    const host = await hostFor({ trust: { store } });
    const bytes = await makeBundle(serviceManifest());
    const { contentHash } = await readBundle(bytes);
    await expect(host.publish(bytes, await signBundle(contentHash as ContentHash, compromised))).rejects.toMatchObject({ code: "E_SIGNATURE_UNTRUSTED" });
    await expect(host.publish(bytes, await signBundle(contentHash as ContentHash, renamed))).rejects.toMatchObject({
      code: "E_SIGNATURE_UNTRUSTED",
      details: expect.objectContaining({ keyId: "acme:rotated-2026", revokedKeyId: compromised.keyId }),
    });
    expect(await registrySnapshot(host)).toEqual({ extensions: [], versions: [], blobs: [] });
    await host.close();
  });

  it("refuses what verifyBundle refuses with its typed error, audited, however malformed the arguments: no signature given, bytes that are not bytes", async () => {
    const dev = await hostFor({ trust: { store: parseTrustStore({ trustStoreVersion: 1, keys: [] }), mode: "dev" } });
    // Left out (undefined) is no signature: dev mode takes the bundle unsigned.
    expect(await dev.publish(await makeBundle(serviceManifest()), undefined as never)).toMatchObject({ created: true, signature: null });
    await expect(dev.publish(null as never, null)).rejects.toMatchObject({ code: "E_BUNDLE_FORMAT", details: expect.objectContaining({ reason: "not-bytes" }) });
    await expect(dev.publish("not bytes" as never, undefined as never)).rejects.toMatchObject({ code: "E_BUNDLE_FORMAT", details: expect.objectContaining({ reason: "not-bytes" }) });
    await expect(dev.publish({ byteLength: 3 } as never, { contentHash: 42 } as never)).rejects.toMatchObject({ code: "E_SIGNATURE_INVALID" });
    const hostile = Object.defineProperty({}, "contentHash", { enumerable: true, get: () => { throw new TypeError("a getter that throws"); } });
    await expect(dev.publish(await makeBundle(serviceManifest()), hostile as never)).rejects.toMatchObject({ code: "E_SIGNATURE_INVALID" });
    const strict = await hostFor();
    await expect(strict.publish(await makeBundle(serviceManifest()), undefined as never)).rejects.toMatchObject({ code: "E_SIGNATURE_MISSING" });
    const denials = async (host: Host) =>
      (await host.audit.list({ action: "registry.publish", decision: "deny" })).map((line) => [line.target, (line.details["error"] as { code: string }).code, line.details["sizeBytes"]]);
    expect(await denials(dev)).toEqual([
      ["unsigned bundle", "E_BUNDLE_FORMAT", null],
      ["unsigned bundle", "E_BUNDLE_FORMAT", null],
      ["bundle with an unreadable signature", "E_SIGNATURE_INVALID", null],
      ["bundle with an unreadable signature", "E_SIGNATURE_INVALID", expect.any(Number)],
    ]);
    expect(await denials(strict)).toEqual([["unsigned bundle", "E_SIGNATURE_MISSING", expect.any(Number)]]);
    await dev.close();
    await strict.close();
  });

  it("publishes with the signature file parsed or as its text, and refuses its bytes (readFileSync without an encoding) saying to parse them", async () => {
    const host = await hostFor();
    const good = await signedBundle(acme, serviceManifest());
    const fileText = JSON.stringify(good.signature, null, 2);
    const error = await host.publish(good.bytes, Buffer.from(fileText) as never).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: "E_SIGNATURE_INVALID" });
    expect((error as Error).message).toContain('JSON.parse(readFileSync("x.annex.sig", "utf8"))');
    expect((error as Error).message).not.toContain("not a known field");
    expect(await host.publish(good.bytes, fileText as never)).toMatchObject({ created: true });
    expect(await host.publish(good.bytes, JSON.parse(fileText))).toMatchObject({ created: false });
    await host.close();
  });

  it("refuses a manifest holding NUL or an unpaired surrogate with E_MANIFEST, never a database error, and leaves the registry as it was", async () => {
    // Dev mode: the publisher's own tools refuse to sign such a manifest, so it arrives unsigned.
    const host = await hostFor({ trust: { store: (acme ??= await makePublisher("acme", "community")).trustStore, mode: "dev" } });
    for (const [what, description] of [
      ["NUL", "Says \u0000 hello."],
      ["an unpaired surrogate", "Says \ud800 hello."],
    ]) {
      const bytes = await withManifestText(await makeBundle(serviceManifest({ description: "Says XXXXXX hello." })), "XXXXXX", JSON.stringify(description).slice(6, 12));
      const error = await host.publish(bytes, null, { actor: "admin\u0000@acme" }).catch((caught: unknown) => caught);
      expect(error, what).toMatchObject({ code: "E_MANIFEST" });
      expect((error as Error).message).toContain("description");
    }
    expect(await registrySnapshot(host)).toEqual({ extensions: [], versions: [], blobs: [] });
    const denials = await host.audit.list({ action: "registry.publish", decision: "deny" });
    expect(denials.map((line) => [line.actor, (line.details["error"] as { code: string }).code])).toEqual([
      ["admin\ufffd@acme", "E_MANIFEST"],
      ["admin\ufffd@acme", "E_MANIFEST"],
    ]);

    // An actor holding NUL is recorded, made storable, as the version's publisher too.
    const { bytes, signature } = await signedBundle(acme, serviceManifest());
    expect(await host.publish(bytes, signature, { actor: "admin\u0000@acme" })).toMatchObject({ publishedBy: "admin\ufffd@acme" });

    // Lookups by what no published version can be called answer "none", not a database error.
    expect(await host.registry.getVersion("acme.hello\u0000", "1.0.0")).toBeNull();
    expect(await host.registry.getVersion("acme.hello", "1.0.0\u0000")).toBeNull();
    expect(await host.registry.listVersions("acme\u0000")).toEqual([]);
    for (const hash of ["sha256:\u0000", "../../etc/passwd", `sha256:${"A".repeat(64)}`]) {
      await expect(host.registry.loadBundle(hash)).rejects.toMatchObject({ code: "E_VERSION_NOT_FOUND" });
    }
    await host.close();
  });

  it("trusts nothing when given no trust store", async () => {
    const host = await hostOn(backend);
    const { bytes, signature } = await signedBundle(acme ?? (acme = await makePublisher()), serviceManifest());
    await expect(host.publish(bytes, signature)).rejects.toMatchObject({ code: "E_SIGNATURE_UNTRUSTED" });
    await expect(host.publish(bytes, null)).rejects.toMatchObject({ code: "E_SIGNATURE_MISSING" });
    expect(await registrySnapshot(host)).toEqual({ extensions: [], versions: [], blobs: [] });
    await host.close();
  });

  it("lists versions newest first and picks the latest release over a newer pre-release", async () => {
    const host = await hostFor();
    for (const version of ["1.0.0", "1.10.0", "1.2.0", "2.0.0-beta.1"]) {
      const { bytes, signature } = await signedBundle(acme, serviceManifest({ version }));
      await host.publish(bytes, signature);
    }
    expect((await host.registry.listVersions("acme.hello")).map((v) => v.version)).toEqual(["2.0.0-beta.1", "1.10.0", "1.2.0", "1.0.0"]);
    expect((await host.registry.latestVersion("acme.hello"))?.version).toBe("1.10.0");
    expect(await host.registry.listExtensions()).toEqual([{ id: "acme.hello", publisher: "acme", latestVersion: "1.10.0" }]);
    expect(await host.registry.latestVersion("acme.nothing")).toBeNull();
    await host.close();
  });

  const directories: string[] = [];
  afterAll(async () => {
    for (const directory of directories) await rm(directory, { recursive: true, force: true });
  });

  it("works the same with the filesystem blob store, rejected bundles leaving no file", async () => {
    const directory = await mkdtemp(join(tmpdir(), "annex-registry-"));
    directories.push(directory);
    const host = await hostFor({ blobs: { directory } });
    const good = await signedBundle(acme, serviceManifest());
    const published = await host.publish(good.bytes, good.signature);
    const hex = published.contentHash.slice("sha256:".length);
    expect(await readdir(join(directory, "sha256", hex.slice(0, 2)))).toEqual([hex.slice(2)]);
    expect(isVerifiedBundle(await host.registry.loadBundle(published.contentHash))).toBe(true);

    const conflicting = await signedBundle(acme, serviceManifest({ description: "Other content." }));
    await expect(host.publish(conflicting.bytes, conflicting.signature)).rejects.toMatchObject({ code: "E_VERSION_CONFLICT" });
    expect((await readdir(join(directory, "sha256"))).length).toBe(1);
    await host.close();
  });

  it("publishing the same bundle again repairs a blob the store lost or holds damaged, on either store, and audits the repair", async () => {
    const directory = await mkdtemp(join(tmpdir(), "annex-registry-"));
    directories.push(directory);
    const onDisk = await hostFor({ blobs: { directory } });
    const inDatabase = await hostFor();
    const other = await makeBundle(serviceManifest({ description: "Swapped in the blob store." }));
    const cases = [
      // What a power loss after the rename left before the file was flushed: an empty file under the right name.
      ["emptied file", onDisk, (hash: string) => writeFile(join(directory, "sha256", hash.slice(7, 9), hash.slice(9)), new Uint8Array())],
      ["swapped row", inDatabase, (hash: string) => inDatabase.database.db.updateTable("annex_blobs").set({ bytes: other }).where("hash", "=", hash).execute()],
      ["deleted row", inDatabase, (hash: string) => inDatabase.database.db.deleteFrom("annex_blobs").where("hash", "=", hash).execute()],
    ] as const;
    for (const [index, [name, host, damage]] of cases.entries()) {
      const good = await signedBundle(acme, serviceManifest({ version: `3.0.${index}` }));
      const operator = `operator-${index}`;
      const published = await host.publish(good.bytes, good.signature);
      await damage(published.contentHash);
      host.registry.clearBundleCache();
      const broken = await host.registry.loadBundle(published.contentHash).catch((error: unknown) => error);
      expect([name, (broken as { code?: string }).code]).toEqual([name, expect.stringMatching(/^E_(BUNDLE_FORMAT|BUNDLE_MISMATCH|SIGNATURE_INVALID|BUNDLE_MISSING)$/)]);

      const again = await host.publish(good.bytes, good.signature, { actor: operator });
      expect(again.created).toBe(false);
      expect([name, isVerifiedBundle(await host.registry.loadBundle(published.contentHash))]).toEqual([name, true]);
      const lines = await host.audit.list({ action: "registry.publish", actor: operator });
      expect(lines.map((line) => line.details)).toEqual([{ contentHash: published.contentHash, restored: name === "deleted row" ? "missing" : "unverifiable" }]);
      // An intact blob is left alone, and nothing more is audited.
      await host.publish(good.bytes, good.signature, { actor: operator });
      expect(await host.audit.list({ action: "registry.publish", actor: operator })).toHaveLength(1);
    }
    await onDisk.close();
    await inDatabase.close();
  });

  /** A filesystem blob store that records every hash read from it. */
  async function readCountingBlobs(): Promise<{ blobs: BlobStore; reads: string[] }> {
    const directory = await mkdtemp(join(tmpdir(), "annex-registry-"));
    directories.push(directory);
    const files = createFilesystemBlobStore({ directory });
    const reads: string[] = [];
    return { blobs: { ...files, get: (hash) => (reads.push(hash), files.get(hash)) }, reads };
  }

  it("keeps verified bundles cached while strangers look up random hashes and scan other published versions", async () => {
    const { blobs, reads } = await readCountingBlobs();
    const host = await hostFor({ blobs, bundleCacheSize: 4 });
    const serving = await signedBundle(acme, serviceManifest());
    const { contentHash } = await host.publish(serving.bytes, serving.signature);
    const others: string[] = [];
    for (let minor = 1; minor <= 8; minor++) {
      const other = await signedBundle(acme, serviceManifest({ version: `1.${minor}.0` }));
      others.push((await host.publish(other.bytes, other.signature)).contentHash);
    }
    // The serving bundle, as request after request uses it.
    await host.registry.loadBundle(contentHash);
    await host.registry.loadBundle(contentHash);
    reads.length = 0;

    // Hashes nobody published (what /ext-ui/<id>/<random hash>/… asks for) take no place at all.
    for (let i = 0; i < 200; i++) {
      const random = `sha256:${i.toString(16).padStart(64, "f")}`;
      await expect(host.registry.loadBundle(random)).rejects.toMatchObject({ code: "E_VERSION_NOT_FOUND" });
    }
    // One-off loads of real versions churn among themselves.
    for (const other of others) await host.registry.loadBundle(other);
    reads.length = 0;
    await host.registry.loadBundle(contentHash);
    expect(reads).toEqual([]);
    await host.close();
  });

  it("keeps an installed version's bundle cached while a stranger asks twice for the UI files of every old version", async () => {
    const { blobs, reads } = await readCountingBlobs();
    const host = await hostFor({ blobs, bundleCacheSize: 8, gateway: { authenticate: () => null, policy: { auditSampling: false } } });
    const hashes: string[] = [];
    for (let minor = 0; minor <= 20; minor++) {
      const manifest = serviceManifest({ version: `1.${minor}.0`, ui: { root: "ui", pages: [{ slot: "app", path: "/", entry: "ui/index.html", title: "UI" }] } });
      const bundle = await signedBundle(acme, manifest, { "ui/index.html": `<!doctype html><p>v${minor}</p>` });
      hashes.push((await host.publish(bundle.bytes, bundle.signature)).contentHash);
    }
    const serving = hashes.at(-1)!;
    host.registry.clearBundleCache();
    await host.install("t1", "acme.hello", { version: "1.20.0", grants: [{ name: "log" }] });
    const ui = async (hash: string) => (await host.handle(new Request(`http://host.test/ext-ui/acme.hello/${hash}/ui/index.html`))).status;
    // The tenant's pages load the installed version's files, again and again.
    expect([await ui(serving), await ui(serving)]).toEqual([200, 200]);
    reads.length = 0;
    // A stranger: every old version, twice each (what promoted them before), then random hashes.
    for (const old of hashes.slice(0, -1)) expect([await ui(old), await ui(old)]).toEqual([200, 200]);
    expect(reads.length).toBe(20);
    reads.length = 0;
    expect(await ui(serving)).toBe(200);
    expect(reads).toEqual([]);
    await host.close();
  });

  it("charges a client for the UI files it asks of bundles the cache does not hold, and never for the ones it holds", async () => {
    const host = await hostFor({ bundleCacheSize: 2, gateway: { authenticate: () => null, policy: { auditSampling: false, clientRateLimits: { ui: { requests: 3, perSeconds: 60 } } } } });
    const hashes: string[] = [];
    for (let minor = 0; minor < 6; minor++) {
      const manifest = serviceManifest({ version: `1.${minor}.0`, ui: { root: "ui", pages: [{ slot: "app", path: "/", entry: "ui/index.html", title: "UI" }] } });
      const bundle = await signedBundle(acme, manifest, { "ui/index.html": `<!doctype html><p>v${minor}</p>` });
      hashes.push((await host.publish(bundle.bytes, bundle.signature)).contentHash);
    }
    host.registry.clearBundleCache();
    const ui = (hash: string, clientAddress: string) => host.handle(new Request(`http://host.test/ext-ui/acme.hello/${hash}/ui/index.html`), { clientAddress });
    // A stranger cycling through old versions: each is read and verified whole, three of them and no more.
    const statuses = [];
    for (const hash of hashes.slice(0, 4)) statuses.push((await ui(hash, "203.0.113.7")).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const refused = await ui(hashes[4]!, "203.0.113.7");
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    // What the cache holds costs nothing, however often.
    for (let i = 0; i < 10; i++) expect((await ui(hashes[2]!, "203.0.113.7")).status).toBe(200);
    // Another client has its own budget.
    expect((await ui(hashes[5]!, "198.51.100.9")).status).toBe(200);
    await host.close();
  });
});
