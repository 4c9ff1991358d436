import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * A hash of the files under `dir` that `ignored` lets through, paths and
 * contents: equal fingerprints, same sources. `ignored` gets the path below
 * `dir` with its leading separator, as the watcher's filter does. A file that
 * goes away while it is read is left out (the next fingerprint differs).
 */
export async function folderFingerprint(dir: string, ignored: (pathBelowDir: string) => boolean): Promise<string> {
  const hash = createHash("sha256");
  const walk = async (folder: string): Promise<void> => {
    const entries = await readdir(folder, { withFileTypes: true }).catch(() => []);
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const path = join(folder, entry.name);
      const below = path.slice(dir.length);
      if (ignored(below)) continue;
      if (entry.isDirectory()) {
        hash.update(`d ${below}\0`);
        await walk(path);
      } else if (entry.isFile()) {
        const bytes = await readFile(path).catch(() => null);
        if (bytes === null) continue;
        hash.update(`f ${below} ${bytes.byteLength}\0`);
        hash.update(bytes);
      }
    }
  };
  await walk(dir);
  return hash.digest("hex");
}
