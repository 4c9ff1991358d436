import { readFile, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { packFolder } from "@annex/host/testing";
import { readBundle } from "@annex/manifest";
import { describe, expect, it } from "vitest";
import { run, serviceFolder, serviceManifest, tempDir, writeTree } from "./helpers.js";

const decode = (bytes: Uint8Array | undefined) => new TextDecoder().decode(bytes);

async function packed(path: string) {
  return readBundle(new Uint8Array(await readFile(path)));
}

describe("annex pack", () => {
  it("bundles runtime.source into runtime.entry with its map, leaves the source tree out, and prints hash, count and size", async () => {
    const cwd = await tempDir();
    await serviceFolder(join(cwd, "ext"));
    const { code, stdout, stderr } = await run(cwd, "pack", "ext", "-o", "out.annex");
    expect(code).toBe(0);
    const bundle = await packed(join(cwd, "out.annex"));
    expect([...bundle.files.keys()].sort()).toEqual(["annex.json", "server/index.js", "server/index.js.map", "ui/index.html"]);
    const entry = decode(bundle.files.get("server/index.js"));
    expect(entry).toContain("Hello, ${name}!");
    expect(entry).toContain("//# sourceMappingURL=index.js.map");
    expect(JSON.parse(decode(bundle.files.get("server/index.js.map"))).sources).toEqual(["../src/greeting.ts", "../src/server.ts"]);

    const size = (await stat(join(cwd, "out.annex"))).size;
    expect(stdout).toContain("packed acme.hello@1.0.0 → out.annex\n");
    expect(stdout).toContain(`content hash: ${bundle.contentHash}\n`);
    expect(stdout).toContain("files: 4\n");
    expect(stdout).toMatch(/^size: [\d.]+ k?B \([\d.]+ k?B uncompressed\)$/m);
    expect(size).toBeGreaterThan(0);
    expect(stderr).toContain("bundling src/server.ts with esbuild…");
    expect(stderr).toContain("left out 2 source files (src): bundled into server/index.js");
  });

  it("writes <id>-<version>.annex in the working folder by default", async () => {
    const cwd = await tempDir();
    await serviceFolder(join(cwd, "ext"));
    expect((await run(cwd, "pack", "ext")).code).toBe(0);
    expect((await packed(join(cwd, "acme.hello-1.0.0.annex"))).manifest.id).toBe("acme.hello");
  });

  it("packs the same folder into identical bytes twice", async () => {
    const cwd = await tempDir();
    await serviceFolder(join(cwd, "ext"));
    await run(cwd, "pack", "ext", "-o", "a.annex");
    await run(cwd, "pack", "ext", "-o", "b.annex");
    expect(Buffer.compare(await readFile(join(cwd, "a.annex")), await readFile(join(cwd, "b.annex")))).toBe(0);
  });

  it("leaves out what the defaults and .annexignore say, and never packs keys, secrets or old bundles", async () => {
    const cwd = await tempDir();
    const dir = await serviceFolder(join(cwd, "ext"));
    await writeTree(dir, {
      ".annexignore": "test/\npackage.json\n*.md\n!KEEP.md\n",
      "test/server.test.ts": "",
      "package.json": "{}",
      "README.md": "",
      "KEEP.md": "kept",
      "node_modules/dep/index.js": "",
      ".env": "SECRET=1",
      "acme_1.key": "{}",
      "old.annex": "",
      "old.annex.sig": "",
      "dist/stale.js": "",
      "assets/logo.svg": "<svg/>",
    });
    expect((await run(cwd, "pack", "ext", "-o", "out.annex")).code).toBe(0);
    const bundle = await packed(join(cwd, "out.annex"));
    expect([...bundle.files.keys()].sort()).toEqual(["KEEP.md", "annex.json", "assets/logo.svg", "server/index.js", "server/index.js.map", "ui/index.html"]);
  });

  it("packs a prebuilt runtime.entry from dist/ when there is no runtime.source, and nothing else from dist/", async () => {
    const cwd = await tempDir();
    const dir = join(cwd, "ext");
    await writeTree(dir, {
      "annex.json": JSON.stringify(serviceManifest({ runtime: { class: "service", entry: "dist/server.js" } })),
      "dist/server.js": "export function hello() { return 1; }\n",
      "dist/server.js.map": "{}",
      "dist/other.js": "",
    });
    expect((await run(cwd, "pack", "ext", "-o", "out.annex")).code).toBe(0);
    expect([...(await packed(join(cwd, "out.annex"))).files.keys()].sort()).toEqual(["annex.json", "dist/server.js", "dist/server.js.map"]);
  });

  it("packs a bundle-class extension as it is", async () => {
    const cwd = await tempDir();
    const dir = join(cwd, "docs");
    await writeTree(dir, {
      "annex.json": JSON.stringify({
        manifestVersion: 2,
        id: "acme.docs",
        name: "Docs",
        version: "1.0.0",
        publisher: "acme",
        description: "Static help pages.",
        engines: { annex: "^0.1.0" },
        runtime: { class: "bundle" },
        ui: { pages: [{ slot: "app", path: "/", entry: "ui/index.html", title: "Docs" }] },
      }),
      "ui/index.html": "<p>docs</p>",
      "ui/style.css": "p{}",
    });
    const { code, stderr } = await run(cwd, "pack", "docs", "-o", "docs.annex");
    expect(code).toBe(0);
    expect(stderr).not.toContain("esbuild");
    expect([...(await packed(join(cwd, "docs.annex"))).files.keys()].sort()).toEqual(["annex.json", "ui/index.html", "ui/style.css"]);
  });

  it("refuses a server import that cannot be bundled, naming it, and writes no bundle", async () => {
    const cwd = await tempDir();
    const dir = await serviceFolder(join(cwd, "ext"));
    await writeFile(join(dir, "src/server.ts"), 'import { request } from "node:http";\nexport const hello = () => request;\n');
    const { code, stderr } = await run(cwd, "pack", "ext", "-o", "out.annex");
    expect(code).toBe(1);
    expect(stderr).toMatch(/^E_BUILD_IMPORT: src\/server\.ts has an import that cannot be bundled: "node:http"/m);
    await expect(stat(join(cwd, "out.annex"))).rejects.toThrow();
  });

  it("refuses a manifest handler that the built entry does not export", async () => {
    const cwd = await tempDir();
    const dir = await serviceFolder(join(cwd, "ext"));
    await writeFile(join(dir, "src/server.ts"), "export const helo = () => 1;\n");
    const { code, stderr } = await run(cwd, "pack", "ext");
    expect(code).toBe(1);
    expect(stderr).toMatch(/^E_BUILD: src\/server\.ts does not export "hello" \(endpoints\[0\]\.handler\)/m);
  });

  it("refuses a UI page that is not in the packed files, naming the field", async () => {
    const cwd = await tempDir();
    const dir = await serviceFolder(join(cwd, "ext"));
    await writeFile(join(dir, ".annexignore"), "ui/\n");
    const { code, stderr } = await run(cwd, "pack", "ext");
    expect(code).toBe(1);
    expect(stderr).toMatch(/^E_PACK_MISSING_FILE: ui\.pages\[0\]\.entry names "ui\/index\.html", which is not in the packed files/m);
  });

  it("reports an invalid manifest with every issue and points at annex lint", async () => {
    const cwd = await tempDir();
    const dir = await serviceFolder(join(cwd, "ext"));
    await writeFile(join(dir, "annex.json"), JSON.stringify(serviceManifest({ version: "1.0", endpoints: [{ class: "api", method: "get", path: "/x", handler: "hello" }] })));
    const { code, stderr } = await run(cwd, "pack", "ext");
    expect(code).toBe(1);
    expect(stderr).toMatch(/^E_MANIFEST: ext\/annex\.json is not a valid Annex manifest \(2 problems\)/);
    expect(stderr).toContain("- version:");
    expect(stderr).toContain("- endpoints[0].method:");
    expect(stderr).toContain("next: run `annex lint <dir>`");
  });

  it("says how to create annex.json when the folder has none", async () => {
    const cwd = await tempDir();
    await writeTree(cwd, { "ext/readme.txt": "" });
    const { code, stderr } = await run(cwd, "pack", "ext");
    expect(code).toBe(1);
    expect(stderr).toBe("E_FILE_NOT_FOUND: ext/annex.json does not exist: an extension folder has annex.json at its root (annex init <dir> creates one).\n");
  });

  it("refuses a symlink in the folder", async () => {
    const cwd = await tempDir();
    const dir = await serviceFolder(join(cwd, "ext"));
    await symlink("/etc/passwd", join(dir, "ui", "passwd"));
    const { code, stderr } = await run(cwd, "pack", "ext");
    expect(code).toBe(1);
    expect(stderr).toMatch(/^E_PACK_PATH: "ui\/passwd" is a symbolic link/m);
  });

  it("prints a UI page's refusal with its code and exits 1, writing no bundle", async () => {
    const cwd = await tempDir();
    const dir = await serviceFolder(join(cwd, "ext"));
    await writeFile(join(dir, "ui/index.html"), '<!doctype html><link rel="stylesheet" href="../node_modules/@annex/ui-kit/dist/base.css">');
    const { code, stderr } = await run(cwd, "pack", "ext", "-o", "out.annex");
    expect(code).toBe(1);
    expect(stderr).toMatch(/^E_UI_REFERENCE: ui\/index\.html:1:16: <link href> "\.\.\/node_modules\/@annex\/ui-kit\/dist\/base\.css" points into node_modules/m);
    await expect(stat(join(cwd, "out.annex"))).rejects.toThrow();
  });

  it("writes the very bundle the test host installs for the same folder (one packing path)", async () => {
    const cwd = await tempDir();
    const dir = await serviceFolder(join(cwd, "ext"));
    await writeTree(dir, {
      "ui/index.html": '<!doctype html><link rel="stylesheet" href="style.css"><script type="module" src="main.ts"></script><p>Hello</p>',
      "ui/style.css": "p { color: blue }\n",
      "ui/main.ts": 'import { label } from "./label.js";\ndocument.title = label;\n',
      "ui/label.ts": 'export const label: string = "Hello";\n',
      "README.md": "packed too",
    });
    const { code, stdout } = await run(cwd, "pack", "ext", "-o", "out.annex");
    expect(code).toBe(0);
    const written = await readFile(join(cwd, "out.annex"));
    const fromTestHost = await packFolder(dir);
    expect(Buffer.compare(written, fromTestHost)).toBe(0);
    const bundle = await packed(join(cwd, "out.annex"));
    expect(stdout).toContain(`content hash: ${bundle.contentHash}\n`);
    expect((await readBundle(fromTestHost)).contentHash).toBe(bundle.contentHash);
    expect([...bundle.files.keys()]).toEqual(
      expect.arrayContaining(["README.md", "ui/index.html", "ui/main.js", "ui/style.css"]),
    );
  });
});
