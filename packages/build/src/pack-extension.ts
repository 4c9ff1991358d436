import { lstat, readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { packBundle, parseManifestText, type Manifest } from "@annex/manifest";
import { readBundleNode } from "@annex/manifest/node";
import { buildEntry } from "./build-entry.js";
import { checkHandlersExported, checkReferencedFiles } from "./checks.js";
import { BuildError } from "./errors.js";
import { formatBytes } from "./format-bytes.js";
import { isUnder, sortedFiles } from "./paths.js";
import { readFolder } from "./read-folder.js";
import { buildUiPages } from "./ui/build-pages.js";

export interface PackExtensionOptions {
  /** Progress lines (what is being built, read, packed), for a terminal or a log. */
  onProgress?: ((message: string) => void) | undefined;
  /** How messages name the folder, e.g. relative to the user's working folder. Default: `dir` as given. */
  displayDir?: string | undefined;
  /**
   * Pack under this version instead of annex.json's: the bundle's annex.json
   * says it (checked like any version). `annex dev` publishes each build as a
   * pre-release of its own, since a published version never changes; doing it
   * here packs and hashes once per build, not twice.
   */
  version?: string | undefined;
}

export interface PackedExtension {
  /** The .annex bundle: deterministic (the same folder gives the same bytes). */
  bytes: Uint8Array;
  /** The manifest read from the folder's annex.json. */
  manifest: Manifest;
  /** `sha256:<hex>` of the bundle's canonical index: what a host verifies, signs and serves UI files under. */
  contentHash: string;
  /** Every packed file by bundle path (sorted), as the bundle holds it. */
  files: ReadonlyMap<string, Uint8Array>;
}

/**
 * Turns an extension folder into bundle bytes, in memory: reads annex.json,
 * builds the server entry from `runtime.source`, reads the folder with the
 * ignore rules, builds the UI pages, checks that every handler is exported
 * and every file annex.json names is there, packs, and reads the bundle back
 * as every host will. `annex pack` writes these bytes to a file; the test
 * host installs them; so a test runs exactly what ships.
 */
export async function packExtension(dir: string, options: PackExtensionOptions = {}): Promise<PackedExtension> {
  const absolute = resolve(dir);
  const shown = options.displayDir ?? dir;
  const progress = options.onProgress;
  let manifest = await readManifest(absolute, shown);

  const roots = neededRoots(manifest);
  const { entry, source } = manifest.runtime;
  const built =
    manifest.runtime.class === "service" && source !== undefined && entry !== undefined
      ? await buildEntry({ dir: absolute, source, entry, onProgress: progress })
      : null;

  progress?.(`reading ${shown}…`);
  const files = await readFolder(absolute, { keep: roots, onProgress: progress });
  if (built !== null && source !== undefined && entry !== undefined) {
    checkHandlersExported(manifest, built.exports, source);
    const left = dropSources(files, source, built.inputs, roots);
    if (left > 0) progress?.(`left out ${left} source file${left === 1 ? "" : "s"} (${sourceFolder(source) ?? source}): bundled into ${entry}`);
    files.set(entry, built.code);
    files.set(`${entry}.map`, built.map);
  }
  if (options.version !== undefined) manifest = withVersion(files, options.version, shown);
  checkReferencedFiles(manifest, files);

  if (manifest.ui.pages.length > 0) {
    const ui = await buildUiPages({ dir: absolute, manifest, files, onProgress: progress });
    for (const path of ui.bundledSources) files.delete(path);
    for (const [path, bytes] of ui.outputs) files.set(path, bytes);
    if (ui.bundledSources.length > 0) {
      progress?.(`left out ${ui.bundledSources.length} UI source file${ui.bundledSources.length === 1 ? "" : "s"}: bundled into the pages' scripts`);
    }
  }

  const packed = sortedFiles(files);
  const total = [...packed.values()].reduce((sum, bytes) => sum + bytes.byteLength, 0);
  progress?.(`packing ${packed.size} files (${formatBytes(total)})…`);
  const bytes = await packBundle(packed);
  progress?.("hashing and checking the bundle…");
  // Reading our own output back proves it is a bundle every host will accept, and yields its content hash.
  const bundle = await readBundleNode(bytes);
  return { bytes, manifest, contentHash: bundle.contentHash, files: packed };
}

async function readManifest(dir: string, shown: string): Promise<Manifest> {
  const path = join(dir, "annex.json");
  const label = join(shown, "annex.json");
  let text: string;
  try {
    // Looked at before it is opened: reading a FIFO would wait forever. A link is refused
    // here as readFolder would refuse it, since annex.json is packed as it is.
    const info = await lstat(path);
    if (!info.isFile()) {
      const what = info.isSymbolicLink()
        ? "a symbolic link; bundles hold regular files only: replace it with a copy of its target"
        : "not a regular file (a folder, FIFO, socket or device): make it the extension's manifest, a JSON file";
      throw new BuildError("E_PACK_PATH", `${label} is ${what}.`, { path: label });
    }
    text = await readFile(path, "utf8");
  } catch (error) {
    if (error instanceof BuildError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") {
      const folder = await stat(dir).catch(() => null);
      if (folder === null) throw new BuildError("E_FILE_NOT_FOUND", `folder ${shown} does not exist: check the path.`, { path: shown }, { cause: error });
      if (!folder.isDirectory()) {
        throw new BuildError("E_IO", `${shown} is not a folder: pass the extension's folder (the one holding annex.json).`, { path: shown }, { cause: error });
      }
      throw new BuildError(
        "E_FILE_NOT_FOUND",
        `${label} does not exist: an extension folder has annex.json at its root (annex init <dir> creates one).`,
        { path: label },
        { cause: error },
      );
    }
    const message = error instanceof Error ? error.message : String(error);
    throw new BuildError("E_IO", `cannot read ${label}: ${message}`, { path: label }, { cause: error });
  }
  return parseManifestText(text, { source: label });
}

/**
 * The folder's annex.json as the author wrote it, but for its version, put
 * back into `files`; parsed again so that the version is checked as any
 * annex.json's would be.
 */
function withVersion(files: Map<string, Uint8Array>, version: string, shown: string): Manifest {
  const json = JSON.parse(new TextDecoder().decode(files.get("annex.json"))) as Record<string, unknown>;
  const text = `${JSON.stringify({ ...json, version }, null, 2)}\n`;
  const manifest = parseManifestText(text, { source: `${join(shown, "annex.json")} (packed as version ${JSON.stringify(version)})` });
  files.set("annex.json", new TextEncoder().encode(text));
  return manifest;
}

/** Files under the folders the manifest needs are packed even from dist/ and even when they sit in the source folder. */
function neededRoots(manifest: Manifest): string[] {
  const roots: string[] = [];
  if (manifest.ui.pages.length > 0) roots.push(manifest.ui.root);
  if (manifest.storage.kind === "owned-schema") roots.push(manifest.storage.migrations);
  const { entry, source } = manifest.runtime;
  if (entry !== undefined && source === undefined) roots.push(entry, `${entry}.map`);
  return roots;
}

function sourceFolder(source: string): string | null {
  return source.includes("/") ? source.slice(0, source.lastIndexOf("/")) : null;
}

/** The server's source tree is bundled into the entry, not packed; returns how many files were left out. */
function dropSources(files: Map<string, Uint8Array>, source: string, inputs: readonly string[], roots: readonly string[]): number {
  const folder = sourceFolder(source);
  const sourceFiles = new Set(inputs);
  let left = 0;
  for (const path of [...files.keys()]) {
    const isSource = sourceFiles.has(path) || (folder !== null && isUnder(path, folder));
    if (isSource && path !== "annex.json" && !roots.some((root) => isUnder(path, root))) {
      files.delete(path);
      left++;
    }
  }
  return left;
}
