import { existsSync, readFileSync } from "node:fs";
import { isBuiltin } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * The main entry runs in browsers, so nothing it reaches may import a Node
 * built-in; node:zlib and node:crypto live behind "@annex/manifest/node"
 * only. Checked on the source import graph, which is what tsup bundles.
 */

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const IMPORT = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|(?:^|[\s;])import\s*["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/g;

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

  it("package.json exports ./node beside . and tsup builds both entries", () => {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { exports: Record<string, unknown> };
    expect(pkg.exports["./node"]).toEqual({ source: "./src/node.ts", types: "./dist/node.d.ts", import: "./dist/node.js" });
    expect(pkg.exports["."]).toEqual({ source: "./src/index.ts", types: "./dist/index.d.ts", import: "./dist/index.js" });
    expect(readFileSync(join(root, "tsup.config.ts"), "utf8")).toMatch(/entry:\s*\["src\/index\.ts",\s*"src\/node\.ts"\]/);
  });
});
