import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { buildEntry, packExtension } from "../src/index.js";
import { decode, mkfifo, serviceFolder, serviceManifest, settleBeforeHang, tempDir, uiManifest, writeTree } from "./helpers.js";

const SECRET = "SECRET-OUTSIDE-THE-EXTENSION-7f3a";

/** A folder outside the extension, with files a build must never read. */
async function outside(): Promise<{ dir: string; txt: string; json: string; svg: string; ts: string }> {
  const dir = await tempDir("annex-build-outside-");
  await writeTree(dir, {
    "secret.txt": `token=${SECRET}\n`,
    "secret.json": JSON.stringify({ token: SECRET }),
    "logo.svg": `<svg xmlns="http://www.w3.org/2000/svg"><!-- ${SECRET} --></svg>`,
    "server.ts": `export function hello() { return { body: ${JSON.stringify(SECRET)} }; }\n`,
  });
  return { dir, txt: join(dir, "secret.txt"), json: join(dir, "secret.json"), svg: join(dir, "logo.svg"), ts: join(dir, "server.ts") };
}

const STYLED_PAGE = '<!doctype html><title>x</title><link rel="stylesheet" href="style.css"><p>x</p>\n';

describe("what the server build may read", () => {
  it("refuses an import that leaves the folder through a link in a hidden folder readFolder never looks into, naming the importer, the import and the link", async () => {
    const secret = await outside();
    const dir = await serviceFolder(await tempDir());
    await mkdir(join(dir, ".cache"));
    await symlink(secret.txt, join(dir, ".cache/creds.txt"));
    await writeFile(join(dir, "src/server.ts"), 'import creds from "../.cache/creds.txt";\nexport function hello() { return { body: creds }; }\n');
    const error = await packExtension(dir).catch((caught: unknown) => caught);
    expect(error).toMatchObject({
      name: "BuildError",
      code: "E_PACK_PATH",
      message: expect.stringMatching(
        /^src\/server\.ts imports "\.\.\/\.cache\/creds\.txt", which resolves through the symbolic link \.cache\/creds\.txt to \/.*secret\.txt, outside the extension folder and its repository; .*: copy the file into the folder in place of the link/,
      ),
      details: { importer: "src/server.ts", path: "../.cache/creds.txt", link: ".cache/creds.txt" },
    });
  });

  it("refuses an absolute or ../ import of a file outside the folder, link or no link", async () => {
    const secret = await outside();
    const dir = await serviceFolder(await tempDir());
    await writeFile(join(dir, "src/server.ts"), `import s from ${JSON.stringify(secret.json)};\nexport function hello() { return { body: s.token }; }\n`);
    await expect(packExtension(dir)).rejects.toMatchObject({
      code: "E_PACK_PATH",
      message: expect.stringContaining(`src/server.ts imports "${secret.json}", which resolves to ${secret.json}, outside the extension folder`),
    });
    const up = relative(join(dir, "src"), secret.json);
    await writeFile(join(dir, "src/server.ts"), `import s from ${JSON.stringify(up)};\nexport function hello() { return { body: s.token }; }\n`);
    await expect(buildEntry({ dir, source: "src/server.ts", entry: "server/index.js" })).rejects.toMatchObject({ code: "E_PACK_PATH", details: { resolved: secret.json } });
  });

  it("builds code its repository shares (../../shared in a workspace or a git checkout), but nothing outside the repository", async () => {
    const secret = await outside();
    for (const marker of ["pnpm-workspace.yaml", ".git/HEAD"]) {
      const repo = await tempDir("annex-build-repo-");
      await writeTree(repo, { [marker]: marker.endsWith("HEAD") ? "ref: refs/heads/main\n" : "packages: []\n", "shared/greet.ts": 'export const greet = (name: string) => `hi ${name}`;\n' });
      const dir = await serviceFolder(join(repo, "extensions", "hello"));
      await writeFile(join(dir, "src/server.ts"), 'import { greet } from "../../../shared/greet.js";\nexport function hello() { return { body: greet("x") }; }\n');
      const packed = await packExtension(dir);
      expect(decode(packed.files.get("server/index.js")!)).toContain("hi ${name}");
      // The same repository reaching past itself is refused as before.
      await writeFile(join(dir, "src/server.ts"), `import s from ${JSON.stringify(secret.json)};\nexport function hello() { return { body: s.token }; }\n`);
      await expect(packExtension(dir)).rejects.toMatchObject({ code: "E_PACK_PATH", details: { resolved: secret.json } });
      // And a link in the repository pointing out of it.
      await symlink(secret.txt, join(repo, "shared", "creds.txt"));
      await writeFile(join(dir, "src/server.ts"), 'import c from "../../../shared/creds.txt";\nexport function hello() { return { body: c }; }\n');
      await expect(packExtension(dir)).rejects.toMatchObject({ code: "E_PACK_PATH" });
    }
  });

  it("refuses code shared from outside the folder through a tsconfig.json path", async () => {
    const secret = await outside();
    const dir = await serviceFolder(await tempDir());
    await writeTree(dir, { "tsconfig.json": JSON.stringify({ compilerOptions: { baseUrl: ".", paths: { "@shared/*": [`${relative(dir, secret.dir)}/*`] } } }) });
    await writeFile(join(dir, "src/server.ts"), 'import s from "@shared/secret.json";\nexport function hello() { return { body: s.token }; }\n');
    await expect(packExtension(dir)).rejects.toMatchObject({
      code: "E_PACK_PATH",
      message: expect.stringContaining(`src/server.ts imports "@shared/secret.json", which resolves to ${secret.json}, outside the extension folder`),
    });
  });

  it("refuses runtime.source, or its folder, as a link out of the folder even when .annexignore lists it", async () => {
    const secret = await outside();
    const dir = await tempDir();
    await writeTree(dir, { "annex.json": JSON.stringify(serviceManifest()), ".annexignore": "src/\n" });
    await mkdir(join(dir, "src"));
    await symlink(secret.ts, join(dir, "src/server.ts"));
    await expect(packExtension(dir)).rejects.toMatchObject({
      code: "E_PACK_PATH",
      message: expect.stringMatching(/^runtime\.source "src\/server\.ts" goes through the symbolic link src\/server\.ts; .*: replace the link with a copy of its target\.$/),
    });

    const linkedFolder = await tempDir();
    await writeTree(linkedFolder, { "annex.json": JSON.stringify(serviceManifest()), ".annexignore": "src\n" });
    await symlink(secret.dir, join(linkedFolder, "src"), "dir");
    await expect(packExtension(linkedFolder)).rejects.toMatchObject({ code: "E_PACK_PATH", details: { link: "src" } });
  });

  it("refuses a link that stays in the folder too, as readFolder would, even where esbuild adds the extension", async () => {
    const dir = await serviceFolder(await tempDir());
    await writeTree(dir, { "lib/helper.ts": "export const helper = 1;\n" });
    await mkdir(join(dir, ".shared"));
    await symlink("../lib/helper.ts", join(dir, ".shared/helper.ts"));
    await writeFile(join(dir, "src/server.ts"), 'import { helper } from "../.shared/helper";\nexport function hello() { return { body: helper }; }\n');
    await expect(packExtension(dir)).rejects.toMatchObject({
      code: "E_PACK_PATH",
      message: expect.stringMatching(/^src\/server\.ts imports "\.\.\/\.shared\/helper" through the symbolic link \.shared\/helper\.ts; /),
    });

    await symlink("lib", join(dir, ".vendor"), "dir");
    await writeFile(join(dir, "src/server.ts"), 'import { helper } from "../.vendor/helper.js";\nexport function hello() { return { body: helper }; }\n');
    await expect(packExtension(dir)).rejects.toMatchObject({ code: "E_PACK_PATH", details: { link: ".vendor" } });
  });

  it("bundles packages as pnpm installs them in a workspace: links to the workspace's node_modules/.pnpm, to a workspace package, and a package hoisted above the folder", async () => {
    const workspace = await tempDir();
    const store = "node_modules/.pnpm";
    await writeTree(workspace, {
      [`${store}/left-pad@1.0.0/node_modules/left-pad/package.json`]: JSON.stringify({ name: "left-pad", version: "1.0.0", main: "index.js" }),
      [`${store}/left-pad@1.0.0/node_modules/left-pad/index.js`]: 'const dep = require("tiny-dep");\nmodule.exports = (s) => dep.pad + s;\n',
      [`${store}/tiny-dep@2.0.0/node_modules/tiny-dep/package.json`]: JSON.stringify({ name: "tiny-dep", version: "2.0.0", main: "lib/index.js" }),
      [`${store}/tiny-dep@2.0.0/node_modules/tiny-dep/lib/index.js`]: 'exports.pad = require("./pad.js");\n',
      [`${store}/tiny-dep@2.0.0/node_modules/tiny-dep/lib/pad.js`]: 'module.exports = "PAD-FROM-TINY-DEP:";\n',
      "node_modules/hoisted/package.json": JSON.stringify({ name: "hoisted", version: "1.0.0", type: "module", exports: "./index.js" }),
      "node_modules/hoisted/index.js": 'export const hoisted = "FROM-HOISTED";\n',
      "packages/shared/package.json": JSON.stringify({ name: "@acme/shared", version: "0.0.0", type: "module", exports: { ".": "./src/index.js" } }),
      "packages/shared/src/index.js": 'export { shared } from "./more.js";\n',
      "packages/shared/src/more.js": 'export const shared = "FROM-WORKSPACE-PACKAGE";\n',
    });
    await symlink("../../tiny-dep@2.0.0/node_modules/tiny-dep", join(workspace, store, "left-pad@1.0.0/node_modules/tiny-dep"), "dir");
    const dir = await serviceFolder(join(workspace, "extensions/hello"));
    await mkdir(join(dir, "node_modules/@acme"), { recursive: true });
    await symlink(`../../../${store}/left-pad@1.0.0/node_modules/left-pad`, join(dir, "node_modules/left-pad"), "dir");
    await symlink("../../../../packages/shared", join(dir, "node_modules/@acme/shared"), "dir");
    await writeFile(
      join(dir, "src/server.ts"),
      'import pad from "left-pad";\nimport { shared } from "@acme/shared";\nimport { hoisted } from "hoisted";\nexport function hello() { return { body: pad(shared) + hoisted }; }\n',
    );
    const packed = await packExtension(dir);
    const entry = decode(packed.files.get("server/index.js"));
    expect(entry).toContain("PAD-FROM-TINY-DEP:");
    expect(entry).toContain("FROM-WORKSPACE-PACKAGE");
    expect(entry).toContain("FROM-HOISTED");
    expect([...packed.files.keys()]).toEqual(["annex.json", "server/index.js", "server/index.js.map", "ui/index.html"]);
  });

  it("bundles packages as pnpm installs them in the folder itself (links into its own node_modules/.pnpm)", async () => {
    const dir = await serviceFolder(await tempDir());
    await writeTree(dir, {
      "node_modules/.pnpm/left-pad@1.0.0/node_modules/left-pad/package.json": JSON.stringify({ name: "left-pad", version: "1.0.0", main: "index.js" }),
      "node_modules/.pnpm/left-pad@1.0.0/node_modules/left-pad/index.js": 'module.exports = (s) => "LOCAL-PAD:" + s;\n',
    });
    await symlink(".pnpm/left-pad@1.0.0/node_modules/left-pad", join(dir, "node_modules/left-pad"), "dir");
    await writeFile(join(dir, "src/server.ts"), 'import pad from "left-pad";\nexport function hello() { return { body: pad("x") }; }\n');
    expect(decode((await packExtension(dir)).files.get("server/index.js"))).toContain("LOCAL-PAD:");
  });

  it("refuses a node_modules link to a folder that is no package (no package.json): links there are trusted only as package installs", async () => {
    const secret = await outside();
    const dir = await serviceFolder(await tempDir());
    await mkdir(join(dir, "node_modules"));
    await symlink(secret.dir, join(dir, "node_modules/config"), "dir");
    await writeFile(join(dir, "src/server.ts"), 'import s from "config/secret.json";\nexport function hello() { return { body: s.token }; }\n');
    await expect(packExtension(dir)).rejects.toMatchObject({
      code: "E_PACK_PATH",
      message: expect.stringContaining(`src/server.ts imports "config/secret.json", which resolves to ${secret.json}, outside the extension folder`),
    });
  });
});

describe("what the UI build may read", () => {
  it("refuses a stylesheet url() of a file outside the folder, directly, through a link in a hidden folder, or from an inline <style>", async () => {
    const secret = await outside();
    const dir = await tempDir();
    await writeTree(dir, {
      "annex.json": JSON.stringify(uiManifest(["ui/index.html"])),
      "ui/index.html": STYLED_PAGE,
      "ui/style.css": `body { background: url(${JSON.stringify(secret.svg)}); }\n`,
    });
    await expect(packExtension(dir)).rejects.toMatchObject({
      code: "E_PACK_PATH",
      message: expect.stringContaining(`ui/style.css refers to "${secret.svg}", which resolves to ${secret.svg}, outside the extension folder`),
    });

    await mkdir(join(dir, "ui/.icons"));
    await symlink(secret.svg, join(dir, "ui/.icons/logo.svg"));
    await writeFile(join(dir, "ui/style.css"), "body { background: url(.icons/logo.svg); }\n");
    await expect(packExtension(dir)).rejects.toMatchObject({
      code: "E_PACK_PATH",
      message: expect.stringContaining('ui/style.css refers to ".icons/logo.svg", which resolves through the symbolic link ui/.icons/logo.svg to'),
    });

    await writeFile(join(dir, "ui/index.html"), "<!doctype html><title>x</title><style>body { background: url(.icons/logo.svg) }</style><p>x</p>\n");
    await expect(packExtension(dir)).rejects.toMatchObject({ code: "E_PACK_PATH", details: { importer: "ui/index.html#1", link: "ui/.icons/logo.svg" } });
  });

  it("refuses a page's script that is a link out of the folder, even when .annexignore lists it", async () => {
    const secret = await outside();
    const dir = await tempDir();
    await writeTree(dir, {
      "annex.json": JSON.stringify(uiManifest(["ui/index.html"])),
      ".annexignore": "ui/main.ts\n",
      "ui/index.html": '<!doctype html><title>x</title><script type="module" src="main.ts"></script>\n',
    });
    await symlink(secret.ts, join(dir, "ui/main.ts"));
    await expect(packExtension(dir)).rejects.toMatchObject({
      code: "E_PACK_PATH",
      message: expect.stringMatching(/^ui\/index\.html loads "ui\/main\.ts", which goes through the symbolic link ui\/main\.ts; /),
    });
  });
});

describe("special files", () => {
  it("refuses a FIFO the server source imports instead of hanging in esbuild", async () => {
    const dir = await serviceFolder(await tempDir());
    mkfifo(join(dir, "src/data.txt"));
    await writeFile(join(dir, "src/server.ts"), 'import data from "./data.txt";\nexport function hello() { return { body: data }; }\n');
    const { hung, result } = await settleBeforeHang(packExtension(dir), join(dir, "src/data.txt"));
    expect(hung).toBe(false);
    expect(result).toMatchObject({
      status: "rejected",
      reason: { code: "E_PACK_PATH", message: expect.stringMatching(/^src\/data\.txt, which the build was to read, is not a regular file \(a FIFO, socket or device\)/) },
    });
  });

  it("refuses a FIFO as annex.json, .annexignore or runtime.source instead of hanging on it", async () => {
    const manifest = await tempDir();
    mkfifo(join(manifest, "annex.json"));
    const first = await settleBeforeHang(packExtension(manifest, { displayDir: "ext" }), join(manifest, "annex.json"));
    expect(first).toMatchObject({ hung: false, result: { reason: { code: "E_PACK_PATH", message: expect.stringMatching(/^ext\/annex\.json is not a regular file/) } } });

    const ignoreFile = await serviceFolder(await tempDir());
    mkfifo(join(ignoreFile, ".annexignore"));
    const second = await settleBeforeHang(packExtension(ignoreFile), join(ignoreFile, ".annexignore"));
    expect(second).toMatchObject({ hung: false, result: { reason: { code: "E_PACK_PATH", message: expect.stringContaining(".annexignore in") } } });

    const source = await tempDir();
    await writeTree(source, { "annex.json": JSON.stringify(serviceManifest()) });
    await mkdir(join(source, "src"));
    mkfifo(join(source, "src/server.ts"));
    const third = await settleBeforeHang(packExtension(source), join(source, "src/server.ts"));
    expect(third).toMatchObject({ hung: false, result: { reason: { code: "E_PACK_PATH", message: expect.stringMatching(/^runtime\.source "src\/server\.ts" is not a regular file/) } } });
  });

  it("still reads an .annexignore that links to a regular file (.gitignore), and refuses annex.json as a link as readFolder does", async () => {
    const dir = await serviceFolder(await tempDir());
    await writeTree(dir, { ".gitignore": "notes.txt\n", "notes.txt": "x" });
    await symlink(".gitignore", join(dir, ".annexignore"));
    expect((await packExtension(dir)).files.has("notes.txt")).toBe(false);

    const linked = await tempDir();
    await writeTree(linked, { "real.json": JSON.stringify(serviceManifest()) });
    await symlink("real.json", join(linked, "annex.json"));
    await expect(packExtension(linked, { displayDir: "ext" })).rejects.toMatchObject({ code: "E_PACK_PATH", message: expect.stringMatching(/^ext\/annex\.json is a symbolic link/) });
  });
});
