// Writes packages/manifest/annex.schema.json from the zod schema (run `pnpm schema` at the root).
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { renderManifestJsonSchema } from "../src/manifest/json-schema.js";

const target = fileURLToPath(new URL("../annex.schema.json", import.meta.url));
const next = renderManifestJsonSchema();
const previous = await readFile(target, "utf8").catch(() => undefined);

if (previous === next) {
  console.log(`annex.schema.json is up to date (${next.length} bytes)`);
} else {
  await writeFile(target, next);
  console.log(`wrote ${target} (${next.length} bytes)`);
}
