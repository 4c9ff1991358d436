import { packExtension } from "@annex/build";
import { packBundle, readBundle, signBundle, type PrivateKey } from "@annex/manifest";

/**
 * Another version of an extension folder, as its publisher would release
 * it: the folder packed as `annex pack` packs it, with annex.json changed
 * by `change`, packed again and signed.
 */
export async function releaseVariant(dir: string, key: PrivateKey, change: (manifest: Record<string, unknown>) => void) {
  const packed = await packExtension(dir);
  const files: Record<string, Uint8Array> = Object.fromEntries(packed.files);
  const manifest = JSON.parse(new TextDecoder().decode(files["annex.json"])) as Record<string, unknown>;
  change(manifest);
  files["annex.json"] = new TextEncoder().encode(JSON.stringify(manifest, null, 2));
  const bytes = await packBundle(files);
  const signature = await signBundle((await readBundle(bytes)).contentHash, key);
  return { bytes, signature };
}
