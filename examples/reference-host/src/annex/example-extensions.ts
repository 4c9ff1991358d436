import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { packExtension } from "@annex/build";
import type { Host } from "@annex/host";
import { signBundle, type PrivateKey } from "@annex/manifest";
import type { Logger } from "@annex/host";

export interface ExampleFolder {
  dir: string;
  id: string;
  version: string;
  publisher: string;
}

/** The example extension folders (each with an annex.json), sorted by folder name. */
export async function findExamples(extensionsDir: string): Promise<ExampleFolder[]> {
  let names: string[];
  try {
    names = (await readdir(extensionsDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  return findExampleFolders(names.map((name) => join(extensionsDir, name)));
}

/** Those of `dirs` that hold an annex.json with an id, a version and a publisher. */
export async function findExampleFolders(dirs: readonly string[]): Promise<ExampleFolder[]> {
  const found: ExampleFolder[] = [];
  for (const dir of dirs) {
    let manifest: { id?: unknown; version?: unknown; publisher?: unknown };
    try {
      manifest = JSON.parse(await readFile(join(dir, "annex.json"), "utf8")) as typeof manifest;
    } catch {
      continue;
    }
    if (typeof manifest.id === "string" && typeof manifest.version === "string" && typeof manifest.publisher === "string") {
      found.push({ dir, id: manifest.id, version: manifest.version, publisher: manifest.publisher });
    }
  }
  return found;
}

export interface PublishExamplesResult {
  published: string[];
  skipped: string[];
  failed: { id: string; error: string }[];
}

/**
 * Packs, signs and publishes the examples whose id@version the registry
 * does not hold yet, exactly as `annex pack` + `annex sign` would. Versions
 * already published are left alone (versions are immutable; packing is the
 * slow part, so it is skipped). One failing example does not stop the rest.
 */
export async function publishExamples(host: Host, examples: readonly ExampleFolder[], keys: Map<string, PrivateKey>, logger: Logger): Promise<PublishExamplesResult> {
  const result: PublishExamplesResult = { published: [], skipped: [], failed: [] };
  for (const example of examples) {
    const name = `${example.id}@${example.version}`;
    if ((await host.registry.getVersion(example.id, example.version)) !== null) {
      result.skipped.push(name);
      continue;
    }
    try {
      const key = keys.get(example.publisher);
      if (key === undefined) throw new Error(`no demo key for publisher ${example.publisher}`);
      const packed = await packExtension(example.dir);
      const signature = await signBundle(packed.contentHash as `sha256:${string}`, key);
      await host.publish(packed.bytes, signature, { actor: "system:demo-publisher" });
      result.published.push(name);
    } catch (error) {
      const message = error instanceof Error ? `${(error as { code?: string }).code ?? error.name}: ${error.message}` : String(error);
      logger.warn({ extensionId: example.id, version: example.version }, `reference host: could not publish ${name}: ${message}`);
      result.failed.push({ id: name, error: message });
    }
  }
  return result;
}
