import { BundleError } from "../bundle/errors.js";
import { type ReadBundleOptions, readBundle } from "../bundle/read.js";
import type { BundleSignature, Provenance, VerifiedBundle } from "../bundle/types.js";
import { fromBase64 } from "../crypto/bytes.js";
import { ed25519Verify } from "../crypto/ed25519.js";
import { notAfterInstant } from "./dates.js";
import { SignatureError } from "./errors.js";
import { markVerified } from "./verified-brand.js";
import { signedMessage } from "./message.js";
import { parseSignature } from "./signature.js";
import { type TrustStore, type TrustedKey, parseTrustStore } from "./trust-store.js";

export interface VerifyBundleOptions extends ReadBundleOptions {
  /** "strict" (default) requires a trusted signature; "dev" also accepts an unsigned bundle and says so in the provenance. */
  mode?: "strict" | "dev";
  /** The time to check key expiry against; defaults to now. */
  now?: Date;
}


/** The signature vouches for `signed`, and the bundle's content hash is `actual`. */
function wrongBundle(signed: string, actual: string): SignatureError {
  return new SignatureError(
    "E_SIGNATURE_INVALID",
    `The signature is for content hash ${signed}, but this bundle's is ${actual}; it belongs to another bundle, or the bundle changed.`,
    { expected: actual, actual: signed },
  );
}

function untrusted(message: string, details: Record<string, unknown>): SignatureError {
  return new SignatureError("E_SIGNATURE_UNTRUSTED", message, details);
}

function trustedKeyFor(signature: BundleSignature, store: TrustStore, now: Date): TrustedKey {
  const key = store.keys.find((candidate) => candidate.keyId === signature.keyId);
  const details = { keyId: signature.keyId, publisher: signature.publisher };
  if (!key) {
    throw untrusted(`Key ${JSON.stringify(signature.keyId)} is not in the trust store; add the publisher's public key (annex trust add) if you trust it.`, details);
  }
  if (key.publisher !== signature.publisher) {
    throw untrusted(
      `Key ${JSON.stringify(key.keyId)} belongs to publisher ${JSON.stringify(key.publisher)} and cannot sign for ${JSON.stringify(signature.publisher)}.`,
      { ...details, keyPublisher: key.publisher },
    );
  }
  if (key.revoked === true) {
    throw untrusted(`Key ${JSON.stringify(key.keyId)} has been revoked in the trust store; ask ${key.publisher} for a bundle signed with a current key.`, {
      ...details,
      revoked: true,
    });
  }
  // Revoking is of the key pair, not of a name for it: the same public key listed again under another id (what a
  // renamed .pub file would make) must not let the compromised private key sign again.
  const revokedAs = store.keys.find((candidate) => candidate.revoked === true && candidate.publicKey === key.publicKey);
  if (revokedAs !== undefined) {
    throw untrusted(
      `Key ${JSON.stringify(key.keyId)} has the public key of ${JSON.stringify(revokedAs.keyId)}, which has been revoked in the trust store; a revoked key is revoked under every key id. Ask ${key.publisher} for a bundle signed with a current key.`,
      { ...details, revoked: true, revokedKeyId: revokedAs.keyId },
    );
  }
  if (key.notAfter !== undefined && now.getTime() > notAfterInstant(key.notAfter)) {
    throw new SignatureError(
      "E_SIGNATURE_EXPIRED",
      `Key ${JSON.stringify(key.keyId)} expired (notAfter ${key.notAfter}); ask ${key.publisher} to sign with a current key, or extend notAfter in the trust store.`,
      { ...details, notAfter: key.notAfter },
    );
  }
  return key;
}

/** The trusted key that made `signature`: listed, of the signature's publisher, not revoked or expired, and the ed25519 signature verifies. */
async function checkSignature(signature: BundleSignature, store: TrustStore, now: Date): Promise<TrustedKey> {
  const key = trustedKeyFor(signature, store, now);
  const ok = await ed25519Verify(
    fromBase64(key.publicKey)!,
    signedMessage(signature.publisher, signature.keyId, signature.contentHash),
    fromBase64(signature.signature)!,
  );
  if (!ok) {
    throw new SignatureError(
      "E_SIGNATURE_INVALID",
      `The ed25519 signature does not verify with key ${JSON.stringify(key.keyId)}; the signature was altered or made with another key.`,
      { keyId: key.keyId },
    );
  }
  return key;
}

/**
 * Verifies a bundle's detached signature against the trust store and reads
 * the bundle (every check of readBundle). The signature's key and ed25519
 * signature are checked first, before the bundle is decompressed: the signature must be for this
 * bundle's content hash and this manifest's publisher, by a listed key of
 * that same publisher that is neither revoked nor past notAfter, and the
 * ed25519 signature must verify. Throws SignatureError (E_SIGNATURE_MISSING,
 * E_SIGNATURE_INVALID, E_SIGNATURE_UNTRUSTED, E_SIGNATURE_EXPIRED),
 * TrustStoreError, BundleError or ManifestError.
 *
 * In "dev" mode an unsigned bundle (signature null) is accepted with
 * `provenance.signed: false`; a signature that is present is checked in full.
 */
export async function verifyBundle(
  bytes: Uint8Array,
  signature: BundleSignature | null,
  trustStore: TrustStore,
  options: VerifyBundleOptions = {},
): Promise<VerifiedBundle> {
  const mode = options.mode ?? "strict";
  if (mode !== "strict" && mode !== "dev") {
    throw new SignatureError("E_SIGNATURE_INVALID", `mode must be "strict" or "dev", got ${JSON.stringify(mode)}.`, { field: "mode" });
  }
  const now = options.now ?? new Date();
  if (signature === null || signature === undefined) {
    if (mode === "strict") {
      throw new SignatureError(
        "E_SIGNATURE_MISSING",
        "The bundle has no signature; sign it with `annex sign` (or, for local development only, verify in dev mode).",
        {},
      );
    }
  }
  const store = parseTrustStore(trustStore);
  const checkedSignature = signature == null ? null : parseSignature(signature);
  // The signature covers publisher, key id and content hash, none of which needs the
  // bundle: so the key is looked up and the signature checked before a byte is
  // decompressed, and an untrusted signer cannot make the host parse anything.
  // What does need the bundle (its content hash and publisher) is compared after.
  const key = checkedSignature === null ? null : await checkSignature(checkedSignature, store, now);
  // A private copy: the caller's buffer could change while (or after) it is
  // checked. Not `bytes.slice()`: on a Node Buffer (what readFile returns) that is a view.
  const own = bytes instanceof Uint8Array ? new Uint8Array(bytes) : bytes;
  const bundle = await readBundle(own, {
    limits: options.limits,
    hostCapabilities: options.hostCapabilities,
    decompress: options.decompress,
    sha256: options.sha256,
    contentHash: checkedSignature?.contentHash,
  }).catch((error: unknown) => {
    // Checked as the index inflates; said as a signature that is not this bundle's, as it always was.
    const details = error instanceof BundleError ? error.details : undefined;
    if (details?.["reason"] === "content-hash") {
      throw wrongBundle(String(details["expected"]), String(details["actual"]));
    }
    throw error;
  });

  let provenance: Provenance;
  if (checkedSignature === null || key === null) {
    provenance = {
      signed: false,
      mode,
      publisher: bundle.manifest.publisher,
      keyId: null,
      trustClass: null,
      contentHash: bundle.contentHash,
      verifiedAt: now.toISOString(),
    };
  } else {
    if (checkedSignature.contentHash !== bundle.contentHash) throw wrongBundle(checkedSignature.contentHash, bundle.contentHash);
    if (checkedSignature.publisher !== bundle.manifest.publisher) {
      throw untrusted(
        `The signature is by publisher ${JSON.stringify(checkedSignature.publisher)}, but annex.json says ${JSON.stringify(bundle.manifest.publisher)}; a publisher signs only its own bundles.`,
        { publisher: checkedSignature.publisher, manifestPublisher: bundle.manifest.publisher },
      );
    }
    provenance = {
      signed: true,
      mode,
      publisher: key.publisher,
      keyId: key.keyId,
      trustClass: key.trustClass,
      contentHash: bundle.contentHash,
      verifiedAt: now.toISOString(),
    };
  }
  const result: VerifiedBundle = Object.freeze({
    ...bundle,
    provenance: Object.freeze(provenance),
    bytes: own,
    signature: checkedSignature,
  });
  markVerified(result);
  return result;
}
