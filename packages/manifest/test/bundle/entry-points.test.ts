import { existsSync, readFileSync } from "node:fs";
import { isBuiltin } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import * as mainEntry from "../../src/index.js";
import * as runtimeEntry from "../../src/runtime.js";
import { packedService } from "../signing/support.js";

/**
 * The main entry runs in browsers, so nothing it reaches may import a Node
 * built-in; node:zlib and node:crypto live behind "@annex/manifest/node"
 * only. "@annex/manifest/runtime" is what a runner's worker imports: nothing
 * it reaches may build the schema (zod). Checked on the source import graph,
 * which is what tsup bundles.
 */

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
// `import type` / `export type` are left out: the build erases them, so they load nothing.
const IMPORT = /(?:^|[\s;])(?:import|export)\s(?!type\s)[^'"]*?from\s*["']([^"']+)["']|(?:^|[\s;])import\s*["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/g;

function specifiers(file: string): string[] {
  const source = readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\/|(?<![:"'])\/\/[^\n]*/g, "");
  return [...source.matchAll(IMPORT)].map((match) => match[1] ?? match[2] ?? match[3]!);
}

/** Every module reachable from `entry` through relative imports, and every bare specifier they import. */
function graph(entry: string): { files: Set<string>; external: Map<string, string> } {
  const files = new Set<string>();
  const external = new Map<string, string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    for (const specifier of specifiers(file)) {
      if (!specifier.startsWith(".")) {
        external.set(specifier, file);
        continue;
      }
      const target = resolve(dirname(file), specifier.replace(/\.js$/, ".ts"));
      if (!existsSync(target)) throw new Error(`${file} imports ${specifier}, which does not exist`);
      visit(target);
    }
  };
  visit(entry);
  return { files, external };
}

describe("entry points", () => {
  const main = graph(join(root, "src/index.ts"));
  const node = graph(join(root, "src/node.ts"));
  const runtime = graph(join(root, "src/runtime.ts"));

  it("the import scanner sees what it should (node.ts imports node:zlib)", () => {
    expect([...node.external.keys()]).toEqual(expect.arrayContaining(["node:zlib", "node:crypto", "fflate", "modern-tar"]));
    expect(main.files.has(join(root, "src/bundle/read.ts"))).toBe(true);
  });

  it("nothing the main entry reaches imports a Node built-in", () => {
    const builtins = [...main.external].filter(([specifier]) => specifier.startsWith("node:") || isBuiltin(specifier));
    expect(builtins.map(([specifier, file]) => `${specifier} (from ${file.slice(root.length + 1)})`)).toEqual([]);
  });

  it("the main entry does not reach src/node.ts", () => {
    expect(main.files.has(join(root, "src/node.ts"))).toBe(false);
  });

  it("the runtime entry imports no package at all (no zod), no Node built-in, and not the schema", () => {
    expect([...runtime.external.keys()]).toEqual([]);
    expect(runtime.files.has(join(root, "src/signing/verified-brand.ts"))).toBe(true);
    expect(runtime.files.has(join(root, "src/manifest/schema.ts"))).toBe(false);
    expect(runtime.files.has(join(root, "src/manifest/capabilities.ts"))).toBe(false);
  });

  it("the runtime entry exports a subset of the main entry, as the same values", () => {
    const names = Object.keys(runtimeEntry);
    expect(names).toEqual(expect.arrayContaining(["AnnexError", "isVerifiedBundle", "eventTypeCovers", "isUiPath"]));
    for (const name of names) expect((mainEntry as Record<string, unknown>)[name], name).toBe((runtimeEntry as Record<string, unknown>)[name]);
  });

  it("a bundle from the main entry's verifyBundle passes the runtime entry's isVerifiedBundle; a copy does not", async () => {
    const { bytes } = await packedService();
    const verified = await mainEntry.verifyBundle(bytes, null, mainEntry.parseTrustStore({ trustStoreVersion: 1, keys: [] }), { mode: "dev" });
    expect(runtimeEntry.isVerifiedBundle(verified)).toBe(true);
    expect(runtimeEntry.isVerifiedBundle({ ...verified })).toBe(false);
  });

  it("package.json exports ./node and ./runtime beside . and tsup builds the three entries", () => {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { exports: Record<string, unknown>; publishConfig: { exports: Record<string, unknown> } };
    expect(pkg.exports["./node"]).toEqual({ source: "./src/node.ts", types: "./dist/node.d.ts", import: "./dist/node.js" });
    expect(pkg.exports["./runtime"]).toEqual({ source: "./src/runtime.ts", types: "./dist/runtime.d.ts", import: "./dist/runtime.js" });
    // What the published package.json says (pack replaces exports with these): every entry but the source condition.
    expect(pkg.publishConfig.exports["./runtime"]).toEqual({ types: "./dist/runtime.d.ts", import: "./dist/runtime.js" });
    expect(pkg.publishConfig.exports["./node"]).toEqual({ types: "./dist/node.d.ts", import: "./dist/node.js" });
    expect(pkg.exports["."]).toEqual({ source: "./src/index.ts", types: "./dist/index.d.ts", import: "./dist/index.js" });
    expect(readFileSync(join(root, "tsup.config.ts"), "utf8")).toMatch(/entry:\s*\["src\/index\.ts",\s*"src\/node\.ts",\s*"src\/runtime\.ts"\]/);
  });
});
