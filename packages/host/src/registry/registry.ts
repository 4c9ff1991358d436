import {
  assertTrustPolicy,
  formatIssueLines,
  type BundleLimits,
  type BundleSignature,
  type Manifest,
  type Provenance,
  type TrustPolicy,
  type TrustStore,
  type VerifiedBundle,
} from "@annex/manifest";
import { verifyBundleNode as verifyBundle } from "@annex/manifest/node";
import { sql, type Kysely } from "kysely";
import { writeAudit } from "../audit/audit-log.js";
import { AUDIT_LIMITS, auditText } from "../audit/audit-text.js";
import type { BlobStore } from "../blobs/blob-store.js";
import type { HostCapabilities } from "../capabilities/host-capabilities.js";
import type { AnnexTables, VersionRow } from "../database/tables.js";
import { errorSummary } from "../errors.js";
import { BundleCache, type BundleLoadLimits } from "./bundle-cache.js";
import { RegistryError } from "./errors.js";
import { compareVersions } from "./versions.js";

export interface TrustOptions {
  /** Keys whose signatures this host accepts. */
  store: TrustStore;
  /** "strict" (default) refuses unsigned bundles; "dev" accepts them and records that they were unsigned. */
  mode?: "strict" | "dev" | undefined;
  /**
   * Which capabilities and endpoint classes each trust class may be granted (deny by default for classes it
   * does not list; unsigned bundles accepted in dev mode have the class "unsigned"). Absent: no class restriction.
   */
  policy?: TrustPolicy | undefined;
}

/** A published, immutable extension version. */
export interface PublishedVersion {
  extensionId: string;
  version: string;
  publisher: string;
  contentHash: string;
  manifest: Manifest;
  provenance: Provenance;
  signature: BundleSignature | null;
  sizeBytes: number;
  publishedBy: string;
  publishedAt: Date;
}

export interface PublishResult extends PublishedVersion {
  /** False when this exact content was already published (publishing is idempotent). */
  created: boolean;
  /**
   * True when this exact content was already published under a signature
   * today's trust store no longer accepts (its key revoked, removed or
   * expired), and the new signature, verified in full, replaced it.
   */
  resigned?: boolean;
}

export interface ActorOptions {
  /** Who is acting, for the audit log. Default "system". */
  actor?: string | undefined;
}

export interface Registry {
  publish(bytes: Uint8Array, signature: BundleSignature | null, options?: ActorOptions): Promise<PublishResult>;
  getVersion(extensionId: string, version: string): Promise<PublishedVersion | null>;
  /** Newest first (semver order). */
  listVersions(extensionId: string): Promise<PublishedVersion[]>;
  /** The highest version, preferring releases over pre-releases. */
  latestVersion(extensionId: string): Promise<PublishedVersion | null>;
  listExtensions(): Promise<Array<{ id: string; publisher: string; latestVersion: string }>>;
  /**
   * The verified bundle of a published content hash: read from the blob store
   * and verified again against the host's current trust store (a key revoked
   * since publish stops it loading) and trust policy (E_POLICY when the key's
   * class may no longer be granted what the manifest asks), then cached by hash.
   * `promote: false` for a use anyone can repeat at will (a stranger asking for
   * UI files by hash): it never moves the bundle into the cache's protected part.
   */
  loadBundle(contentHash: string, options?: { promote?: boolean }): Promise<VerifiedBundle>;
  /** Whether `loadBundle` would answer from the cache (or a load in flight), without reading and verifying the bundle. */
  holdsBundle(contentHash: string): boolean;
  /** Forgets cached bundles, e.g. after the trust store changed. */
  clearBundleCache(): void;
}

export interface RegistryDeps {
  db: Kysely<AnnexTables>;
  blobs: BlobStore;
  trust: TrustOptions;
  capabilities: HostCapabilities;
  /** Verified bundles kept in memory. Default 64. */
  bundleCacheSize?: number | undefined;
  /** Bytes the verified bundles kept in memory may hold: files, archives and a per-file overhead (see bundleWeight). Default 512 MiB. */
  bundleCacheBytes?: number | undefined;
  /** Cold bundle loads running at once and waiting, host-wide (see BundleCache). */
  bundleLoads?: BundleLoadLimits | undefined;
  bundleLimits?: Partial<BundleLimits> | undefined;
}

/** The audit target of a publish: the content hash its signature claims, if it has a readable one. */
function describeClaim(signature: unknown): string {
  if (signature === null || signature === undefined) return "unsigned bundle";
  let contentHash: unknown;
  try {
    // A caller's object may be anything, a getter that throws included: the refusal is audited all the same.
    contentHash = typeof signature === "object" ? (signature as { contentHash?: unknown }).contentHash : undefined;
  } catch {
    contentHash = undefined;
  }
  return typeof contentHash === "string" ? `bundle ${contentHash.slice(0, 80)}` : "bundle with an unreadable signature";
}

export function createRegistry(deps: RegistryDeps): Registry {
  const { db, blobs, trust, capabilities } = deps;
  const cache = new BundleCache(deps.bundleCacheSize ?? 64, deps.bundleCacheBytes ?? 512 * 1024 * 1024, deps.bundleLoads);
  const mode = trust.mode ?? "strict";
  const hostCapabilities = capabilities.toManifestRegistry();

  const verify = (bytes: Uint8Array, signature: BundleSignature | null) =>
    verifyBundle(bytes, signature, trust.store, {
      mode,
      hostCapabilities,
      ...(deps.bundleLimits === undefined ? {} : { limits: deps.bundleLimits }),
    });

  /**
   * Checks beyond the signature, at publish and again at every load (so at
   * install, upgrade and before serving): host capabilities and trust-class
   * policy. The key's trust class comes from today's trust store, so a key
   * moved to a class that may not run a capability stops versions published
   * earlier from installing and serving.
   */
  const checkPolicy = (bundle: VerifiedBundle): void => {
    const unknown = bundle.manifest.capabilities
      .map((capability, index) => ({ name: capability.name, index }))
      .filter(({ name }) => name.startsWith("host:") && !capabilities.has(name));
    if (unknown.length > 0) {
      throw new RegistryError(
        "E_HOST_CAPABILITY_UNKNOWN",
        `${bundle.manifest.id}@${bundle.manifest.version} asks for host capabilities this host does not offer: ${formatIssueLines(
          unknown,
          ({ name, index }) => `capabilities[${index}] ${name}`,
        ).join(", ")}; register them with createHost({ capabilities }) or remove them from the manifest`,
        { capabilities: unknown.map(({ name }) => name), registered: capabilities.names().map((name) => `host:${name}`) },
      );
    }
    if (trust.policy !== undefined) assertTrustPolicy(bundle.manifest, bundle.provenance.trustClass ?? "unsigned", trust.policy);
  };

  const registry: Registry = {
    async publish(bytes, signature, options = {}) {
      // Stored as the version's published_by as well as in the audit log: the same storable, bounded text.
      const actor = auditText(String(options.actor ?? "system"), AUDIT_LIMITS.column);
      // Read from what the caller passed, before anything is checked: verifyBundle refuses a bad signature or bytes
      // with a typed error, and this refusal is audited like any other, so neither may throw here first.
      const claimed = describeClaim(signature);
      let bundle: VerifiedBundle;
      try {
        bundle = await verify(bytes, signature);
        checkPolicy(bundle);
      } catch (error) {
        await writeAudit(db, {
          actor,
          tenant: null,
          action: "registry.publish",
          target: claimed,
          decision: "deny",
          details: { error: errorSummary(error), sizeBytes: bytes instanceof Uint8Array ? bytes.byteLength : null },
        });
        throw error;
      }

      const { manifest, contentHash } = bundle;
      const target = `${manifest.id}@${manifest.version}`;
      const existing = await selectVersion(db, manifest.id, manifest.version);
      if (existing !== undefined) {
        if (existing.content_hash === contentHash) {
          // Same content again: nothing changes, except that a blob the store lost, or one that no longer verifies as
          // this version (cut short by a crash, altered), is put back: the load errors tell the operator to do this.
          const stored = (existing.signature ?? null) as BundleSignature | null;
          // Checked with the signature just verified when there is one: it covers this same content hash, and the
          // stored one may be the revoked signature a re-sign replaces below (which judged an intact blob unverifiable).
          const damage = await storedBlobDamage(existing, bundle.signature ?? stored);
          if (damage !== null) {
            await blobs.delete(contentHash);
            await blobs.put(contentHash, bundle.bytes);
            cache.delete(contentHash);
            await writeAudit(db, { actor, tenant: null, action: "registry.publish", target, decision: "allow", details: { contentHash, restored: damage } });
          }
          // Signed again, by a key trusted today, while the stored signature no longer is (its key revoked, say): the
          // new one takes its place, so the version loads again without a version bump. A stored signature that still
          // verifies stays, whatever key signed again: which key vouches for a version is not changed in passing.
          const differs = bundle.signature !== null && (stored === null || stored.keyId !== bundle.signature.keyId || stored.signature !== bundle.signature.signature);
          if (differs && (await verify(bundle.bytes, stored).then(() => false, () => true))) {
            const storedProvenance = existing.provenance as Provenance;
            // Compare-and-set on the stored signature: of two re-signs at once, one replaces it and the other finds it
            // replaced, so the audit's previousKeyId is always the signature that was there.
            const row = await db.transaction().execute(async (trx) => {
              const updated = await trx
                .updateTable("annex_extension_versions")
                .set({ signature: JSON.stringify(bundle.signature), provenance: JSON.stringify(bundle.provenance) })
                .where("extension_id", "=", manifest.id)
                .where("version", "=", manifest.version)
                .where("content_hash", "=", contentHash)
                .where(stored === null ? sql<boolean>`signature IS NULL` : sql<boolean>`signature = ${JSON.stringify(stored)}::jsonb`)
                .returningAll()
                .executeTakeFirst();
              if (updated === undefined) return undefined;
              await writeAudit(trx, {
                actor,
                tenant: null,
                action: "registry.resign",
                target,
                decision: "allow",
                details: {
                  contentHash,
                  keyId: bundle.provenance.keyId,
                  trustClass: bundle.provenance.trustClass,
                  previousKeyId: storedProvenance?.keyId ?? null,
                },
              });
              return updated;
            });
            if (row === undefined) {
              const current = await selectVersion(db, manifest.id, manifest.version);
              return { ...toPublished(current ?? existing), created: false };
            }
            cache.delete(contentHash);
            return { ...toPublished(row), created: false, resigned: true };
          }
          return { ...toPublished(existing), created: false };
        }
        const conflict = versionConflict(target, existing.content_hash, contentHash);
        await writeAudit(db, { actor, tenant: null, action: "registry.publish", target, decision: "deny", details: { error: errorSummary(conflict) } });
        throw conflict;
      }

      const storedBlob = await blobs.put(contentHash, bundle.bytes);
      try {
        const row = await db.transaction().execute(async (trx) => {
          await writeAudit(trx, {
            actor,
            tenant: null,
            action: "registry.publish",
            target,
            decision: "allow",
            details: {
              contentHash,
              publisher: manifest.publisher,
              keyId: bundle.provenance.keyId,
              trustClass: bundle.provenance.trustClass,
              signed: bundle.provenance.signed,
              capabilities: manifest.capabilities.map((capability) => capability.name),
            },
          });
          await trx
            .insertInto("annex_extensions")
            .values({ id: manifest.id, publisher: manifest.publisher })
            .onConflict((conflict) => conflict.column("id").doNothing())
            .execute();
          return trx
            .insertInto("annex_extension_versions")
            .values({
              extension_id: manifest.id,
              version: manifest.version,
              content_hash: contentHash,
              manifest: JSON.stringify(manifest),
              signature: bundle.signature === null ? null : JSON.stringify(bundle.signature),
              provenance: JSON.stringify(bundle.provenance),
              size_bytes: bundle.bytes.byteLength,
              published_by: actor,
            })
            .returningAll()
            .executeTakeFirstOrThrow();
        });
        return { ...toPublished(row), created: true };
      } catch (error) {
        // A concurrent publish of the same version got there first: identical content is fine, other content a conflict.
        const raced = await selectVersion(db, manifest.id, manifest.version);
        if (storedBlob && raced?.content_hash !== contentHash) await blobs.delete(contentHash);
        if (raced?.content_hash === contentHash) return { ...toPublished(raced), created: false };
        if (raced !== undefined) throw versionConflict(target, raced.content_hash, contentHash);
        throw error;
      }
    },

    async getVersion(extensionId, version) {
      if (!plainText(extensionId) || !plainText(version)) return null;
      const row = await selectVersion(db, extensionId, version);
      return row === undefined ? null : toPublished(row);
    },

    async listVersions(extensionId) {
      if (!plainText(extensionId)) return [];
      const rows = await db.selectFrom("annex_extension_versions").selectAll().where("extension_id", "=", extensionId).execute();
      return rows.map(toPublished).sort((a, b) => compareVersions(b.version, a.version));
    },

    async latestVersion(extensionId) {
      const versions = await registry.listVersions(extensionId);
      return versions.find((version) => !version.version.includes("-")) ?? versions[0] ?? null;
    },

    async listExtensions() {
      const rows = await db
        .selectFrom("annex_extension_versions")
        .innerJoin("annex_extensions", "annex_extensions.id", "annex_extension_versions.extension_id")
        .select(["annex_extensions.id as id", "annex_extensions.publisher as publisher", "annex_extension_versions.version as version"])
        .orderBy("annex_extensions.id")
        .execute();
      const byId = new Map<string, { id: string; publisher: string; versions: string[] }>();
      for (const row of rows) {
        const entry = byId.get(row.id) ?? { id: row.id, publisher: row.publisher, versions: [] };
        entry.versions.push(row.version);
        byId.set(row.id, entry);
      }
      return [...byId.values()].map(({ id, publisher, versions }) => {
        const sorted = versions.sort((a, b) => compareVersions(b, a));
        return { id, publisher, latestVersion: sorted.find((v) => !v.includes("-")) ?? sorted[0]! };
      });
    },

    async loadBundle(contentHash, options) {
      if (typeof contentHash !== "string" || !CONTENT_HASH.test(contentHash)) {
        // Never a cache key or a query parameter: no published version can have it.
        throw new RegistryError("E_VERSION_NOT_FOUND", `${JSON.stringify(String(contentHash).slice(0, 80))} is not a content hash (sha256: and 64 lowercase hex digits)`, {
          contentHash: String(contentHash).slice(0, 80),
        });
      }
      return cache.get(contentHash, async () => {
        const row = await db.selectFrom("annex_extension_versions").selectAll().where("content_hash", "=", contentHash).executeTakeFirst();
        if (row === undefined) {
          throw new RegistryError("E_VERSION_NOT_FOUND", `no published version has content hash ${contentHash}; publish the bundle first`, {
            contentHash,
          });
        }
        const bytes = await blobs.get(contentHash);
        if (bytes === null) {
          throw new RegistryError(
            "E_BUNDLE_MISSING",
            `the blob store has no bundle for ${row.extension_id}@${row.version} (${contentHash}); publish the same bundle again to restore it`,
            { extensionId: row.extension_id, version: row.version, contentHash },
          );
        }
        const bundle = await verify(bytes, row.signature as BundleSignature | null);
        if (bundle.contentHash !== contentHash || bundle.manifest.id !== row.extension_id || bundle.manifest.version !== row.version) {
          throw new RegistryError(
            "E_BUNDLE_MISMATCH",
            `the blob stored as ${contentHash} verifies as ${bundle.manifest.id}@${bundle.manifest.version} (${bundle.contentHash}); the blob store was altered: publish the original bundle again`,
            { contentHash, found: bundle.contentHash },
          );
        }
        checkPolicy(bundle);
        return bundle;
      }, { promote: options?.promote ?? true });
    },

    holdsBundle(contentHash) {
      return cache.holds(contentHash);
    },

    clearBundleCache() {
      cache.clear();
    },
  };

  /** Why the stored blob of a published version cannot be loaded ("missing", "unverifiable"), or null when it loads. */
  async function storedBlobDamage(row: VersionRow, signature: BundleSignature | null): Promise<"missing" | "unverifiable" | null> {
    const bytes = await blobs.get(row.content_hash);
    if (bytes === null) return "missing";
    try {
      const stored = await verify(bytes, signature);
      const same = stored.contentHash === row.content_hash && stored.manifest.id === row.extension_id && stored.manifest.version === row.version;
      return same ? null : "unverifiable";
    } catch {
      return "unverifiable";
    }
  }

  return registry;
}

const CONTENT_HASH = /^sha256:[0-9a-f]{64}$/;

/** What can name a published extension or version: ids and versions are plain printable text, never NUL (which PostgreSQL refuses). */
function plainText(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= 256 && !/[\u0000-\u001f\u007f]/.test(value);
}

function versionConflict(target: string, existing: string, attempted: string): RegistryError {
  return new RegistryError(
    "E_VERSION_CONFLICT",
    `${target} is already published with content ${existing}; versions are immutable: bump the version and publish again`,
    { published: existing, attempted },
  );
}

async function selectVersion(db: Kysely<AnnexTables>, extensionId: string, version: string): Promise<VersionRow | undefined> {
  return db
    .selectFrom("annex_extension_versions")
    .selectAll()
    .where("extension_id", "=", extensionId)
    .where("version", "=", version)
    .executeTakeFirst();
}

export function toPublished(row: VersionRow): PublishedVersion {
  const manifest = row.manifest as Manifest;
  return {
    extensionId: row.extension_id,
    version: row.version,
    publisher: manifest.publisher,
    contentHash: row.content_hash,
    manifest,
    provenance: row.provenance as Provenance,
    signature: (row.signature ?? null) as BundleSignature | null,
    sizeBytes: row.size_bytes,
    publishedBy: row.published_by,
    publishedAt: row.published_at,
  };
}

/** One published version, read through `db` (pass the transaction when inside one). */
export async function readVersion(db: Kysely<AnnexTables>, extensionId: string, version: string): Promise<PublishedVersion | null> {
  const row = await selectVersion(db, extensionId, version);
  return row === undefined ? null : toPublished(row);
}
