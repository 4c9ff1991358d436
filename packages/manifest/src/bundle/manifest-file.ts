import { decodeUtf8 } from "../crypto/bytes.js";
import { ManifestError } from "../manifest/errors.js";
import { type ParseManifestOptions, parseManifestText } from "../manifest/parse.js";
import type { Manifest } from "../manifest/schema.js";
import { BundleError } from "./errors.js";
import { MANIFEST_PATH } from "./paths.js";

export type { ParseManifestOptions };

/** `annex.json` from a bundle's files, parsed (ManifestError E_MANIFEST when it is not a valid manifest). */
export function manifestFromFiles(files: ReadonlyMap<string, Uint8Array>, options: ParseManifestOptions): Manifest {
  const bytes = files.get(MANIFEST_PATH);
  if (bytes === undefined) {
    throw new BundleError("E_BUNDLE_FORMAT", `The bundle has no ${MANIFEST_PATH} at its root; every bundle needs its manifest there.`, {
      reason: "missing-manifest",
      path: MANIFEST_PATH,
    });
  }
  let text: string;
  try {
    text = decodeUtf8(bytes);
  } catch (cause) {
    throw new ManifestError([{ path: "", message: "the manifest is not valid UTF-8 text; save annex.json as UTF-8 and pack again" }], { cause });
  }
  // The text parser, not JSON.parse: it refuses duplicate keys, which would
  // let a reviewer read one value while Annex used another.
  const manifest = parseManifestText(text, options);
  checkEntriesPresent(manifest, files);
  return manifest;
}

/** The files the manifest points at (the server entry, the UI pages) must be in the bundle, or nothing could load them. */
function checkEntriesPresent(manifest: Manifest, files: ReadonlyMap<string, Uint8Array>): void {
  const wanted: { field: string; path: string }[] = [];
  if (manifest.runtime.entry !== undefined) wanted.push({ field: "runtime.entry", path: manifest.runtime.entry });
  manifest.ui.pages.forEach((page, i) => wanted.push({ field: `ui.pages[${i}].entry`, path: page.entry }));
  for (const { field, path } of wanted) {
    if (!files.has(path)) {
      throw new BundleError(
        "E_BUNDLE_FORMAT",
        `${MANIFEST_PATH} ${field} names ${JSON.stringify(path)}, which is not in the bundle; add the file or fix the path.`,
        { reason: "missing-entry", path, field },
      );
    }
  }
  // An owned schema no migration creates would install "ready" with no table (handlers failing with "relation
  // does not exist"): `annex pack` refuses such a bundle, and so does every reader.
  if (manifest.storage.kind === "owned-schema") {
    const folder = `${manifest.storage.migrations}/`;
    if (![...files.keys()].some((path) => path.startsWith(folder) && path.endsWith(".sql"))) {
      throw new BundleError(
        "E_BUNDLE_FORMAT",
        `${MANIFEST_PATH} storage.migrations names ${JSON.stringify(manifest.storage.migrations)}, which holds no .sql migration in the bundle; add one (NNNN_name.sql) or fix the path.`,
        { reason: "missing-entry", path: manifest.storage.migrations, field: "storage.migrations" },
      );
    }
  }
}
