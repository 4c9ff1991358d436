import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The reference host's folder, whether running from src/ (tests) or dist/ (the demo). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, "package.json");
    if (existsSync(file) && (JSON.parse(readFileSync(file, "utf8")) as { name?: string }).name === "@annex-examples/reference-host") return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error("reference host: cannot find its own package.json above " + fileURLToPath(import.meta.url));
    dir = parent;
  }
}
