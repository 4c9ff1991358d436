import { createHash } from "node:crypto";
import { lstat, readFile } from "node:fs/promises";
import { join } from "node:path";
import { packExtension } from "@annex/build";
import { signBundle, type BundleSignature, type Manifest, type PrivateKey } from "@annex/manifest";

export interface DevBundle {
  manifest: Manifest;
  /** The version the bundle was given: the folder's, plus `-dev.<n>` (or `.dev.<n>` after a pre-release). */
  version: string;
  bytes: Uint8Array;
  contentHash: string;
  signature: BundleSignature | null;
  /**
   * What the bundle holds apart from its dev version: equal for two builds of
   * the same sources, so a round that would publish the same code again is
   * skipped (a file the bundle leaves out, such as a log written into the
   * folder, changes on every round and would otherwise publish forever).
   */
  sameness: string;
}

/** `1.2.0` → `1.2.0-dev.<stamp>`; `1.2.0-beta.1` → `1.2.0-beta.1.dev.<stamp>`. */
export function devVersion(version: string, stamp: number): string {
  return `${version}${version.includes("-") ? "." : "-"}dev.${stamp}`;
}

/**
 * The folder packed as `annex pack` packs it, under a dev version of its own.
 * A published version is immutable on a host, so each rebuild is a new
 * pre-release of the folder's version; pre-releases sort below the release,
 * so a host's latest release (and its automatic upgrades) never moves to one.
 */
export async function buildDevBundle(dir: string, stamp: number, key: PrivateKey | undefined, onProgress?: (line: string) => void): Promise<DevBundle> {
  let base: unknown;
  try {
    // Only a regular file: reading a FIFO named annex.json would wait forever. packExtension refuses anything else.
    const path = join(dir, "annex.json");
    if ((await lstat(path)).isFile()) base = (JSON.parse(await readFile(path, "utf8")) as { version?: unknown }).version;
  } catch {
    base = undefined; // packExtension reports a missing or broken annex.json precisely
  }
  const version = typeof base === "string" ? devVersion(base, stamp) : undefined;
  const packed = await packExtension(dir, { version, ...(onProgress === undefined ? {} : { onProgress }) });
  const signature = key === undefined ? null : await signBundle(packed.contentHash as `sha256:${string}`, key);
  return { manifest: packed.manifest, version: packed.manifest.version, bytes: packed.bytes, contentHash: packed.contentHash, signature, sameness: samenessOf(packed.files, packed.manifest) };
}

function samenessOf(files: ReadonlyMap<string, Uint8Array>, manifest: Manifest): string {
  const hash = createHash("sha256");
  hash.update(JSON.stringify({ ...manifest, version: null }));
  for (const [path, bytes] of files) {
    if (path === "annex.json") continue;
    hash.update(`\0${path}\0${bytes.byteLength}\0`);
    hash.update(bytes);
  }
  return hash.digest("hex");
}
