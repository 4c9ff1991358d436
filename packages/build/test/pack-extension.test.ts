import { readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { readBundle } from "@annex/manifest";
import { describe, expect, it } from "vitest";
import { packExtension } from "../src/index.js";
import { decode, serviceFolder, serviceManifest, tempDir, writeTree } from "./helpers.js";

describe("packExtension", () => {
  it("bundles runtime.source into runtime.entry with its map, leaves the source tree out, and returns what the bundle holds", async () => {
    const dir = await serviceFolder(await tempDir());
    const lines: string[] = [];
    const packed = await packExtension(dir, { onProgress: (line) => lines.push(line), displayDir: "ext" });
    const bundle = await readBundle(packed.bytes);
    expect([...bundle.files.keys()].sort()).toEqual(["annex.json", "server/index.js", "server/index.js.map", "ui/index.html"]);
    expect([...packed.files.keys()]).toEqual(["annex.json", "server/index.js", "server/index.js.map", "ui/index.html"]);
    expect(packed.contentHash).toBe(bundle.contentHash);
    expect(packed.manifest.id).toBe("acme.hello");
    const entry = decode(bundle.files.get("server/index.js"));
    expect(entry).toContain("Hello, ${name}!");
    expect(entry).toContain("//# sourceMappingURL=index.js.map");
    expect(JSON.parse(decode(bundle.files.get("server/index.js.map"))).sources).toEqual(["../src/greeting.ts", "../src/server.ts"]);
    expect(lines).toContain("bundling src/server.ts with esbuild…");
    expect(lines).toContain("reading ext…");
    expect(lines).toContain("left out 2 source files (src): bundled into server/index.js");
    expect(lines.at(-1)).toBe("hashing and checking the bundle…");
  });

  it("packs under another version when asked (annex dev), checking it, and leaves annex.json on disk alone", async () => {
    const dir = await serviceFolder(await tempDir());
    const packed = await packExtension(dir, { version: "1.0.0-dev.42" });
    expect(packed.manifest.version).toBe("1.0.0-dev.42");
    const bundle = await readBundle(packed.bytes);
    expect(bundle.manifest.version).toBe("1.0.0-dev.42");
    expect(JSON.parse(decode(bundle.files.get("annex.json")!))).toEqual({ ...serviceManifest(), ui: expect.anything(), version: "1.0.0-dev.42" });
    expect(bundle.contentHash).not.toBe((await packExtension(dir)).contentHash);
    expect(JSON.parse(await readFile(join(dir, "annex.json"), "utf8")).version).toBe("1.0.0");
    await expect(packExtension(dir, { version: "v2" })).rejects.toMatchObject({ code: "E_MANIFEST" });
  });

  it("packs a file whose name the filesystem lists decomposed (NFD, as macOS may) under its NFC name, which bundles require", async () => {
    const dir = await serviceFolder(await tempDir());
    await writeFile(join(dir, "ui", "cafe\u0301.css"), "body{}");
    const packed = await packExtension(dir);
    const bundle = await readBundle(packed.bytes);
    expect([...bundle.files.keys()]).toContain("ui/caf\u00e9.css");
    expect([...bundle.files.keys()]).not.toContain("ui/cafe\u0301.css");
    expect(decode(bundle.files.get("ui/caf\u00e9.css"))).toBe("body{}");
  });

  it("packs the same folder into identical bytes twice", async () => {
    const dir = await serviceFolder(await tempDir());
    const [a, b] = [await packExtension(dir), await packExtension(dir)];
    expect(Buffer.compare(a.bytes, b.bytes)).toBe(0);
  });

  it("leaves out what the defaults and .annexignore say, and never packs keys, secrets or old bundles", async () => {
    const dir = await serviceFolder(await tempDir());
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
    const packed = await packExtension(dir);
    expect([...packed.files.keys()]).toEqual(["KEEP.md", "annex.json", "assets/logo.svg", "server/index.js", "server/index.js.map", "ui/index.html"]);
  });

  it("packs a prebuilt runtime.entry from dist/ when there is no runtime.source, and nothing else from dist/", async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      "annex.json": JSON.stringify(serviceManifest({ runtime: { class: "service", entry: "dist/server.js" } })),
      "dist/server.js": "export function hello() { return 1; }\n",
      "dist/server.js.map": "{}",
      "dist/other.js": "",
    });
    expect([...(await packExtension(dir)).files.keys()]).toEqual(["annex.json", "dist/server.js", "dist/server.js.map"]);
  });

  it("refuses a server import that cannot be bundled, naming it", async () => {
    const dir = await serviceFolder(await tempDir());
    await writeFile(join(dir, "src/server.ts"), 'import { request } from "node:http";\nexport const hello = () => request;\n');
    await expect(packExtension(dir)).rejects.toMatchObject({ name: "BuildError", code: "E_BUILD_IMPORT", message: expect.stringMatching(/^src\/server\.ts has an import that cannot be bundled: "node:http"/) });
  });

  it("refuses a manifest handler that the built entry does not export, naming the field", async () => {
    const dir = await serviceFolder(await tempDir());
    await writeFile(join(dir, "src/server.ts"), "export const helo = () => 1;\n");
    await expect(packExtension(dir)).rejects.toMatchObject({ code: "E_BUILD", message: expect.stringMatching(/^src\/server\.ts does not export "hello" \(endpoints\[0\]\.handler\)/), details: { handlers: ["hello"] } });
  });

  it("refuses a UI page or a prebuilt entry that is not among the packed files, naming the field and what to do", async () => {
    const dir = await serviceFolder(await tempDir());
    await writeFile(join(dir, ".annexignore"), "ui/\n");
    await expect(packExtension(dir)).rejects.toMatchObject({ code: "E_PACK_MISSING_FILE", message: expect.stringMatching(/^ui\.pages\[0\]\.entry names "ui\/index\.html", which is not in the packed files/) });

    const unbuilt = await tempDir();
    await writeTree(unbuilt, { "annex.json": JSON.stringify(serviceManifest({ runtime: { class: "service", entry: "server/index.js" } })) });
    await expect(packExtension(unbuilt)).rejects.toMatchObject({ code: "E_PACK_MISSING_FILE", message: expect.stringContaining("build it first (or name its source in runtime.source") });
  });

  it("refuses an owned schema whose migrations folder holds no .sql file among the packed files (a typo in its name)", async () => {
    const owned = { storage: { kind: "owned-schema", migrations: "migration" }, capabilities: [{ name: "storage.sql", reason: "Keeps its rows." }] };
    const dir = await serviceFolder(await tempDir(), owned);
    await writeTree(dir, { "migrations/0001_init.sql": "CREATE TABLE notes (id int PRIMARY KEY);\n" });
    await expect(packExtension(dir)).rejects.toMatchObject({
      code: "E_PACK_MISSING_FILE",
      message: expect.stringMatching(/^storage\.migrations names "migration", which holds no \.sql migration among the packed files: create migration\/0001_init\.sql/),
      details: { field: "storage.migrations", path: "migration" },
    });
    // Named right, it packs, migrations and all.
    await writeFile(join(dir, "annex.json"), JSON.stringify(serviceManifest({ ...owned, storage: { kind: "owned-schema", migrations: "migrations" }, ui: { pages: [{ slot: "app", path: "/", entry: "ui/index.html", title: "Hello" }] } })));
    expect([...(await packExtension(dir)).files.keys()]).toContain("migrations/0001_init.sql");
  });

  it("says what is missing: the folder, or annex.json in it; an invalid manifest is E_MANIFEST naming the file", async () => {
    const dir = await tempDir();
    await expect(packExtension(join(dir, "nope"), { displayDir: "nope" })).rejects.toMatchObject({ code: "E_FILE_NOT_FOUND", message: "folder nope does not exist: check the path." });
    await writeTree(dir, { "ext/readme.txt": "", "file.txt": "" });
    await expect(packExtension(join(dir, "ext"), { displayDir: "ext" })).rejects.toMatchObject({
      code: "E_FILE_NOT_FOUND",
      message: "ext/annex.json does not exist: an extension folder has annex.json at its root (annex init <dir> creates one).",
    });
    await expect(packExtension(join(dir, "file.txt"))).rejects.toMatchObject({ code: "E_IO", message: expect.stringContaining("is not a folder") });
    await writeFile(join(dir, "ext/annex.json"), JSON.stringify(serviceManifest({ version: "1.0" })));
    await expect(packExtension(join(dir, "ext"), { displayDir: "ext" })).rejects.toMatchObject({ code: "E_MANIFEST", message: expect.stringContaining("ext/annex.json") });
  });

  it("refuses a symlink in the folder", async () => {
    const dir = await serviceFolder(await tempDir());
    await symlink("/etc/passwd", join(dir, "ui", "passwd"));
    await expect(packExtension(dir)).rejects.toMatchObject({ code: "E_PACK_PATH", message: expect.stringMatching(/^"ui\/passwd" is a symbolic link/) });
  });
});
