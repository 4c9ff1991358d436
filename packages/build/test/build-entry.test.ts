import { describe, expect, it } from "vitest";
import { buildEntry } from "../src/build-entry.js";
import { tempDir, writeTree } from "./helpers.js";

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

async function build(files: Record<string, string>, source = "src/server.ts") {
  const dir = await tempDir();
  await writeTree(dir, files);
  return { dir, result: buildEntry({ dir, source, entry: "server/index.js" }) };
}

describe("buildEntry", () => {
  it("bundles a TypeScript source and its imports into one ES module with a linked source map", async () => {
    const { result } = await build({
      "src/server.ts": 'import { greeting } from "./greeting.js";\nimport type { X } from "./types.js";\nexport const hello = (x: X) => greeting(x.name);\nexport function other() { return 1; }\n',
      "src/greeting.ts": "export const greeting = (name: string): string => `Hello, ${name}!`;\n",
      "src/types.ts": "export interface X { name: string }\n",
    });
    const built = await result;
    const code = decode(built.code);
    expect(code).toContain("Hello, ${name}!");
    expect(code).not.toMatch(/^\s*import\s/m);
    expect(code.trimEnd().endsWith("//# sourceMappingURL=index.js.map")).toBe(true);
    const map = JSON.parse(decode(built.map)) as { version: number; sources: string[]; sourcesContent: string[] };
    expect(map.version).toBe(3);
    expect(map.sources.sort()).toEqual(["../src/greeting.ts", "../src/server.ts"]);
    expect(map.sourcesContent.join("")).toContain("greeting");
    expect(built.exports.sort()).toEqual(["hello", "other"]);
    expect(built.inputs.sort()).toEqual(["src/greeting.ts", "src/server.ts"]);
  });

  it("inlines a package from node_modules", async () => {
    const { result } = await build({
      "src/server.ts": 'import pad from "tiny-pad";\nexport const hello = () => pad("x");\n',
      "node_modules/tiny-pad/package.json": JSON.stringify({ name: "tiny-pad", version: "1.0.0", main: "index.js" }),
      "node_modules/tiny-pad/index.js": "module.exports = function pad(s) { return '  ' + s; };\n",
    });
    const code = decode((await result).code);
    expect(code).toContain("return \"  \" + s");
    expect(code).not.toMatch(/from\s*["']tiny-pad["']/);
  });

  it("produces the same bytes twice", async () => {
    const files = { "src/server.ts": 'import { a } from "./a.js";\nexport const hello = () => a;\n', "src/a.ts": "export const a = 1;\n" };
    const first = await (await build(files)).result;
    const dir2 = await build(files);
    const second = await dir2.result;
    expect(decode(second.code)).toBe(decode(first.code));
    expect(decode(second.map)).toBe(decode(first.map));
  });

  it("refuses a Node built-in, naming it and saying the sandbox has none", async () => {
    const { result } = await build({ "src/server.ts": 'import { readFileSync } from "node:fs";\nexport const hello = () => readFileSync("/etc/passwd");\n' });
    await expect(result).rejects.toMatchObject({
      code: "E_BUILD_IMPORT",
      message: expect.stringMatching(/"node:fs"[\s\S]*no Node built-ins[\s\S]*src\/server\.ts:1:\d+/),
      details: { imports: ["node:fs"] },
    });
  });

  it("refuses a bare built-in name too (fs)", async () => {
    const { result } = await build({ "src/server.ts": 'import fs from "fs";\nexport const hello = () => fs;\n' });
    const error = (await result.catch((caught: unknown) => caught)) as Error;
    expect(error).toMatchObject({ code: "E_BUILD_IMPORT", message: expect.stringContaining("no Node built-ins"), details: { imports: ["fs"] } });
    // Not esbuild's own way out (platform "node", or leaving the import external): the sandbox could load neither.
    expect(error.message).not.toMatch(/platform|external/);
  });

  it("refuses a package that is not installed, naming it", async () => {
    const { result } = await build({ "src/server.ts": 'import x from "left-pad";\nexport const hello = () => x;\n' });
    const error = (await result.catch((caught: unknown) => caught)) as Error;
    expect(error).toMatchObject({ code: "E_BUILD_IMPORT", message: expect.stringContaining('"left-pad"'), details: { imports: ["left-pad"] } });
    expect(error.message).not.toMatch(/external/);
  });

  it("refuses a computed import() that esbuild would leave in the output", async () => {
    const { result } = await build({ "src/server.ts": "export const hello = (r: { path: string }) => import(r.path);\n" });
    await expect(result).rejects.toMatchObject({ code: "E_BUILD_IMPORT", message: expect.stringContaining("import(r.path)") });
  });

  it("refuses a computed require() that esbuild would leave to run time", async () => {
    const { result } = await build({ "src/server.js": "export const hello = (r) => require(r.path);\n" }, "src/server.js");
    await expect(result).rejects.toMatchObject({ code: "E_BUILD_IMPORT", message: expect.stringContaining("require(r.path)") });
  });

  it("bundles a literal dynamic import instead of leaving it", async () => {
    const { result } = await build({
      "src/server.ts": 'export const hello = async () => (await import("./lazy.js")).value;\n',
      "src/lazy.ts": "export const value = 42;\n",
    });
    const code = decode((await result).code);
    expect(code).toContain("42");
    expect(code).not.toMatch(/\bimport\(/);
  });

  it("reports a syntax error as E_BUILD with file:line:column", async () => {
    const { result } = await build({ "src/server.ts": "export function hello( {\n  return 1\n}\n" });
    await expect(result).rejects.toMatchObject({ code: "E_BUILD", message: expect.stringMatching(/src\/server\.ts:\d+:\d+: /) });
  });

  it("says when the source does not exist or lies outside the folder", async () => {
    const dir = await tempDir();
    await writeTree(dir, { "annex.json": "{}" });
    await expect(buildEntry({ dir, source: "src/server.ts", entry: "server/index.js" })).rejects.toMatchObject({
      code: "E_FILE_NOT_FOUND",
      message: expect.stringContaining("runtime.source"),
    });
    await expect(buildEntry({ dir, source: "../outside.ts", entry: "server/index.js" })).rejects.toMatchObject({ code: "E_PACK_PATH" });
  });

  it("reports progress on stderr-bound lines", async () => {
    const dir = await tempDir();
    await writeTree(dir, { "src/server.ts": "export const hello = () => 1;\n" });
    const lines: string[] = [];
    await buildEntry({ dir, source: "src/server.ts", entry: "server/index.js", onProgress: (line) => lines.push(line) });
    expect(lines[0]).toBe("bundling src/server.ts with esbuild…");
    expect(lines[1]).toMatch(/^bundled server\/index\.js \(\d+ B, 1 source file\) in \d+ ms$/);
  });
});
