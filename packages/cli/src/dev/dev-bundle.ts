import { packExtension } from "@annex/build";
import { packBundle, readBundle, signBundle, type BundleSignature, type Manifest, type PrivateKey } from "@annex/manifest";

export interface DevBundle {
  manifest: Manifest;
  /** The version the bundle was given: the folder's, plus `-dev.<n>` (or `.dev.<n>` after a pre-release). */
  version: string;
  bytes: Uint8Array;
  contentHash: string;
  signature: BundleSignature | null;
}

/**
 * The folder packed as `annex pack` packs it, under a dev version of its own.
 * A published version is immutable on a host, so each rebuild is a new
 * pre-release of the folder's version; pre-releases sort below the release,
 * so a host's latest release (and its automatic upgrades) never moves to one.
 */
export async function buildDevBundle(dir: string, stamp: number, key: PrivateKey | undefined, onProgress?: (line: string) => void): Promise<DevBundle> {
  const packed = await packExtension(dir, onProgress === undefined ? {} : { onProgress });
  const files: Record<string, Uint8Array> = Object.fromEntries(packed.files);
  const manifest = JSON.parse(new TextDecoder().decode(files["annex.json"])) as Record<string, unknown>;
  const base = String(manifest["version"]);
  const version = `${base}${base.includes("-") ? "." : "-"}dev.${stamp}`;
  manifest["version"] = version;
  files["annex.json"] = new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`);
  const bytes = await packBundle(files);
  const read = await readBundle(bytes);
  const signature = key === undefined ? null : await signBundle(read.contentHash, key);
  return { manifest: read.manifest, version, bytes, contentHash: read.contentHash, signature };
}
