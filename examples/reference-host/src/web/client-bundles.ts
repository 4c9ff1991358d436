import { join } from "node:path";
import { build } from "esbuild";

export interface ClientBundles {
  get(name: string): string | undefined;
}

/** The browser scripts of the product's pages (src/client/*.ts), bundled once at start, in memory. */
export async function buildClientBundles(root: string, names: readonly string[]): Promise<ClientBundles> {
  const result = await build({
    entryPoints: Object.fromEntries(names.map((name) => [name, join(root, "src/client", `${name}.ts`)])),
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: "es2022",
    // The workspace packages' sources: the same code whether or not they were built.
    conditions: ["source"],
    outdir: "/assets",
    minify: true,
    legalComments: "none",
    logLevel: "silent",
  });
  const files = new Map<string, string>();
  for (const file of result.outputFiles) files.set(file.path.replace(/^.*\//, ""), file.text);
  return { get: (name) => files.get(name) };
}
