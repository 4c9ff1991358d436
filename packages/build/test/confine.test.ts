import { mkdir, readFile, realpath, rm, stat, symlink, utimes, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { Confinement } from "../src/confine-plugin.js";
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

/** A token each outside file below holds where a parser stops, so an error quoting what it found would show it. */
const LEAK = "LEAKED_SECRET_7f3a";

/** Files outside the extension that a build must refuse without reading: their content, once read, would show. */
async function secrets() {
  const dir = await tempDir("annex-build-secrets-");
  await writeTree(dir, {
    "secret.json": `{"token": ${LEAK}}\n`,
    "secret.js": `export const token = "x" ${LEAK};\n`,
    "secret.css": `p { color: red } /* ${LEAK} */\n`,
    "logo.png": `PNG ${LEAK}`,
    ".aws/credentials": `${LEAK} = 1\n`,
    ".ssh/id_rsa": `-----BEGIN ${LEAK}-----\n`,
    "app.js.map": JSON.stringify({ version: 3, sources: ["private.ts"], sourcesContent: [`export const ${LEAK} = 1;`], mappings: "AAAA", names: [] }),
    "bad.map": `${LEAK} = 1\n`,
    "base.json": `{ "compilerOptions": ${LEAK} }\n`,
  });
  const at = (path: string) => join(dir, path);
  return {
    dir,
    json: at("secret.json"),
    js: at("secret.js"),
    css: at("secret.css"),
    png: at("logo.png"),
    credentials: at(".aws/credentials"),
    key: at(".ssh/id_rsa"),
    map: at("app.js.map"),
    badMap: at("bad.map"),
    tsconfig: at("base.json"),
  };
}

/** Whether an error, as a log would print it (message, details, stack, cause), shows any of what the secrets hold. */
function leaks(error: unknown): boolean {
  return `${inspect(error, { depth: null })}${JSON.stringify(error)}`.includes(LEAK);
}

const LONG_AGO = new Date("2001-01-01T00:00:00Z");
let atimeShowsReads: Promise<boolean> | undefined;

/**
 * Sets the files' access time long ago (their modification time kept): on a
 * relatime mount, the usual one, reading a file moves it to now. The returned
 * function lists those read since. On a noatime mount nothing shows, and the
 * check passes without proving anything.
 */
async function watchReads(...paths: string[]): Promise<() => Promise<string[]>> {
  atimeShowsReads ??= (async () => {
    const probe = join(await tempDir(), "probe");
    await writeFile(probe, "x");
    await utimes(probe, LONG_AGO, (await stat(probe)).mtime);
    await readFile(probe);
    return (await stat(probe)).atimeMs > LONG_AGO.getTime();
  })();
  for (const path of paths) await utimes(path, LONG_AGO, (await stat(path)).mtime);
  const visible = await atimeShowsReads;
  return async () => {
    const read = await Promise.all(paths.map(async (path) => ((await stat(path)).atimeMs > LONG_AGO.getTime() ? path : null)));
    return visible ? read.filter((path): path is string => path !== null) : [];
  };
}

describe("files outside the folder are refused before they are read", () => {
  it("refuses an import of a file outside without reading it: malformed JSON or JS there never reaches the error", async () => {
    const secret = await secrets();
    const read = await watchReads(secret.json, secret.js, secret.credentials);
    const dir = await serviceFolder(await tempDir());
    const cases = [
      { line: `import x from ${JSON.stringify(secret.json)};`, path: secret.json, file: secret.json },
      { line: `import * as x from ${JSON.stringify(relative(join(dir, "src"), secret.js))};`, path: relative(join(dir, "src"), secret.js), file: secret.js },
      { line: `import x from ${JSON.stringify(secret.credentials)} with { type: "json" };`, path: secret.credentials, file: secret.credentials },
    ];
    for (const { line, path, file } of cases) {
      await writeFile(join(dir, "src/server.ts"), `${line}\nexport function hello() { return { body: JSON.stringify(x) }; }\n`);
      const error = await packExtension(dir).catch((caught: unknown) => caught);
      expect(error).toMatchObject({
        code: "E_PACK_PATH",
        message: expect.stringContaining(`src/server.ts imports ${JSON.stringify(path)}, which resolves to ${file}, outside the extension folder and its repository`),
        details: { importer: "src/server.ts", path, resolved: file },
      });
      expect(leaks(error)).toBe(false);
    }
    expect(await read()).toEqual([]);
  });

  it("reports the refusal, not esbuild's errors, when the build also fails for another reason", async () => {
    const secret = await secrets();
    const dir = await serviceFolder(await tempDir());
    await writeTree(dir, {
      "src/broken.ts": "export const broken = ;\n",
      "src/server.ts": `import s from ${JSON.stringify(secret.json)};\nimport { broken } from "./broken.js";\nexport function hello() { return { body: JSON.stringify([s, broken]) }; }\n`,
    });
    const error = await packExtension(dir).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: "E_PACK_PATH", details: { importer: "src/server.ts", path: secret.json, resolved: secret.json } });
    expect(leaks(error)).toBe(false);
  });

  it("refuses the build all the same when the check of its imports lets through a file kept unread: nothing is built with a file emptied", async () => {
    const secret = await secrets();
    const dir = await realpath(await serviceFolder(await tempDir()));
    await writeFile(join(dir, "src/server.ts"), `import s from ${JSON.stringify(secret.json)};\nexport const token = s;\n`);
    const confinement = await Confinement.create(dir);
    const { build } = await import("esbuild");
    const result = await build({ absWorkingDir: dir, entryPoints: [join(dir, "src/server.ts")], bundle: true, format: "esm", write: false, metafile: true, logLevel: "silent", plugins: [confinement.plugin()] });
    await expect(confinement.checkBuild(result.metafile)).rejects.toMatchObject({ code: "E_PACK_PATH", details: { importer: "src/server.ts", resolved: secret.json } });
    // As if checkInputs had found nothing wrong with the import.
    const server = result.metafile.inputs["src/server.ts"]!;
    const metafile = { ...result.metafile, inputs: { "src/server.ts": { ...server, imports: [] } } };
    await expect(confinement.checkBuild(metafile)).rejects.toMatchObject({
      code: "E_PACK_PATH",
      message: expect.stringMatching(/^\/.*secret\.json, which the build was to read, is outside the extension folder and its repository, and no installed package's file; it was not read/),
      details: { path: secret.json },
    });
  });

  it("refuses a text or bytes import (with { type: \"text\" }) of a key outside, named by its own path, without reading it", async () => {
    const secret = await secrets();
    const read = await watchReads(secret.key);
    const dir = await serviceFolder(await tempDir());
    const up = relative(join(dir, "src"), secret.key);
    for (const type of ["text", "bytes"]) {
      await writeFile(join(dir, "src/server.ts"), `import key from ${JSON.stringify(up)} with { type: "${type}" };\nexport function hello() { return { body: String(key) }; }\n`);
      const error = await buildEntry({ dir, source: "src/server.ts", entry: "server/index.js" }).catch((caught: unknown) => caught);
      expect(error).toMatchObject({
        code: "E_PACK_PATH",
        message: expect.stringContaining(`src/server.ts imports ${JSON.stringify(up)}, which resolves to ${secret.key}, outside the extension folder`),
        details: { path: up, resolved: secret.key },
      });
      expect(leaks(error)).toBe(false);
    }
    expect(await read()).toEqual([]);
  });

  it("refuses a FIFO outside the folder as a file outside, without opening it: imported, or as the package.json of a folder an import goes into", async () => {
    const elsewhere = await tempDir("annex-build-outside-");
    const pipe = join(elsewhere, "pipe.txt");
    mkfifo(pipe);
    const dir = await serviceFolder(await tempDir());
    await writeFile(join(dir, "src/server.ts"), `import p from ${JSON.stringify(pipe)} with { type: "text" };\nexport function hello() { return { body: p }; }\n`);
    const first = await settleBeforeHang(packExtension(dir), pipe);
    expect(first).toMatchObject({
      hung: false,
      result: { status: "rejected", reason: { code: "E_PACK_PATH", message: expect.stringContaining(`src/server.ts imports "${pipe}", which resolves to ${pipe}, outside the extension folder`) } },
    });

    await writeTree(elsewhere, { "lib/x.js": "export const x = 1;\n" });
    mkfifo(join(elsewhere, "lib/package.json"));
    const up = relative(join(dir, "src"), join(elsewhere, "lib/x.js"));
    await writeFile(join(dir, "src/server.ts"), `import { x } from ${JSON.stringify(up)};\nexport function hello() { return { body: String(x) }; }\n`);
    const second = await settleBeforeHang(packExtension(dir), join(elsewhere, "lib/package.json"));
    expect(second).toMatchObject({ hung: false, result: { status: "rejected", reason: { code: "E_PACK_PATH", details: { path: up, resolved: join(elsewhere, "lib/x.js") } } } });
  });

  it("refuses a sourceMappingURL naming a file outside before esbuild reads it into the bundle's map, and still composes a package's own map", async () => {
    const secret = await secrets();
    const read = await watchReads(secret.map, secret.badMap);
    const dir = await serviceFolder(await tempDir());
    await writeTree(dir, {
      "node_modules/mapped/package.json": JSON.stringify({ name: "mapped", version: "1.0.0", main: "index.js" }),
      "node_modules/mapped/index.js": 'exports.mapped = () => "mapped";\n//# sourceMappingURL=index.js.map\n',
      "node_modules/mapped/index.js.map": JSON.stringify({ version: 3, sources: ["index.ts"], sourcesContent: ["export const mapped = () => 'FROM-THE-PACKAGE-MAP';"], mappings: "AAAA", names: [] }),
      "src/server.ts": 'import { mapped } from "mapped";\nimport { lib } from "./lib.js";\nexport function hello() { return { body: mapped() + lib }; }\n',
      "src/lib.js": 'export const lib = "lib";\n',
    });
    expect(decode((await packExtension(dir)).files.get("server/index.js.map"))).toContain("FROM-THE-PACKAGE-MAP");

    for (const [url, file] of [
      [relative(join(dir, "src"), secret.map), secret.map],
      [pathToFileURL(secret.badMap).href, secret.badMap],
    ] as const) {
      await writeFile(join(dir, "src/lib.js"), `export const lib = "lib";\n//# sourceMappingURL=${url}\n`);
      const error = await packExtension(dir).catch((caught: unknown) => caught);
      expect(error).toMatchObject({
        code: "E_PACK_PATH",
        message: expect.stringContaining(`src/lib.js names the source map ${JSON.stringify(url)} (sourceMappingURL), which resolves to ${file}, outside the extension folder and its repository`),
        details: { path: "src/lib.js", sourceMappingURL: url, resolved: file },
      });
      expect(leaks(error)).toBe(false);
    }
    expect(await read()).toEqual([]);

    const pipe = join(secret.dir, "pipe.map");
    mkfifo(pipe);
    await writeFile(join(dir, "src/lib.js"), `export const lib = "lib";\n/*# sourceMappingURL=${relative(join(dir, "src"), pipe)} */\n`);
    const piped = await settleBeforeHang(packExtension(dir), pipe);
    expect(piped).toMatchObject({ hung: false, result: { status: "rejected", reason: { code: "E_PACK_PATH", details: { resolved: pipe } } } });
  });

  it("follows a tsconfig.json's extends only inside the repository or to an installed package: one reaching outside, a link out or a FIFO is refused before esbuild reads it", async () => {
    const secret = await secrets();
    const read = await watchReads(secret.tsconfig);
    const dir = await serviceFolder(await tempDir());
    await writeTree(dir, {
      "tsconfig.base.json": JSON.stringify({ compilerOptions: { strict: true } }),
      "node_modules/@tsconfig/strictest/package.json": JSON.stringify({ name: "@tsconfig/strictest", version: "1.0.0" }),
      "node_modules/@tsconfig/strictest/tsconfig.json": JSON.stringify({ compilerOptions: { strict: true } }),
      "tsconfig.json": JSON.stringify({ extends: ["./tsconfig.base.json", "@tsconfig/strictest/tsconfig.json"] }),
    });
    expect((await packExtension(dir)).files.has("server/index.js")).toBe(true);

    const up = relative(dir, secret.tsconfig);
    await writeFile(join(dir, "tsconfig.json"), `// tsconfig.json may hold comments and trailing commas\n{ "compilerOptions": {}, "extends": ${JSON.stringify(up)}, }\n`);
    const error = await packExtension(dir).catch((caught: unknown) => caught);
    expect(error).toMatchObject({
      code: "E_PACK_PATH",
      message: expect.stringContaining(`tsconfig.json extends ${JSON.stringify(up)}, which resolves to ${secret.tsconfig}, outside the extension folder and its repository`),
      details: { path: "tsconfig.json", extends: up, resolved: secret.tsconfig },
    });
    expect(leaks(error)).toBe(false);
    expect(await read()).toEqual([]);

    // A configuration file esbuild looks for (tsconfig.json, package.json) that is a link out of the folder.
    await rm(join(dir, "tsconfig.json"));
    for (const name of ["tsconfig.json", "package.json"]) {
      await symlink(secret.tsconfig, join(dir, "src", name));
      const linked = await packExtension(dir).catch((caught: unknown) => caught);
      expect(linked).toMatchObject({ code: "E_PACK_PATH", details: { path: `src/${name}`, resolved: secret.tsconfig } });
      expect(leaks(linked)).toBe(false);
      await rm(join(dir, "src", name));
    }
    expect(await read()).toEqual([]);

    // And a FIFO where esbuild would read one, in a folder an import goes into.
    await writeTree(dir, { "src/lib/x.ts": "export const x = 1;\n", "src/server.ts": 'import { x } from "./lib/x.js";\nexport function hello() { return { body: String(x) }; }\n' });
    mkfifo(join(dir, "src/lib/tsconfig.json"));
    const piped = await settleBeforeHang(packExtension(dir), join(dir, "src/lib/tsconfig.json"));
    expect(piped).toMatchObject({ hung: false, result: { status: "rejected", reason: { code: "E_PACK_PATH", details: { path: "src/lib/tsconfig.json" } } } });
  });

  it("refuses, without reading them, files outside that a page's script imports (JSON, JS, text) or its stylesheet @imports or url() names", async () => {
    const secret = await secrets();
    const read = await watchReads(secret.json, secret.js, secret.key, secret.css, secret.png);
    const dir = await tempDir();
    const ui = join(dir, "ui");
    const harmless = { "ui/main.ts": "console.log(1);\n", "ui/style.css": "p { color: red; }\n" };
    await writeTree(dir, {
      "annex.json": JSON.stringify(uiManifest(["ui/index.html"])),
      "ui/index.html": '<!doctype html><title>x</title><link rel="stylesheet" href="style.css"><script type="module" src="main.ts"></script><p>x</p>\n',
      ...harmless,
    });
    const cases = [
      { file: "ui/main.ts", text: `import s from ${JSON.stringify(secret.json)};\nconsole.log(s);\n`, importer: "ui/main.ts imports", path: secret.json, resolved: secret.json },
      { file: "ui/main.ts", text: `import * as s from ${JSON.stringify(relative(ui, secret.js))};\nconsole.log(s);\n`, importer: "ui/main.ts imports", path: relative(ui, secret.js), resolved: secret.js },
      { file: "ui/main.ts", text: `import k from ${JSON.stringify(relative(ui, secret.key))} with { type: "text" };\nconsole.log(k);\n`, importer: "ui/main.ts imports", path: relative(ui, secret.key), resolved: secret.key },
      { file: "ui/style.css", text: `@import ${JSON.stringify(relative(ui, secret.css))};\n`, importer: "ui/style.css @imports", path: relative(ui, secret.css), resolved: secret.css },
      { file: "ui/style.css", text: `p { background: url(${relative(ui, secret.png)}); }\n`, importer: "ui/style.css refers to", path: relative(ui, secret.png), resolved: secret.png },
    ];
    for (const { file, text, importer, path, resolved } of cases) {
      await writeTree(dir, { ...harmless, [file]: text });
      const error = await packExtension(dir).catch((caught: unknown) => caught);
      expect(error).toMatchObject({
        code: "E_PACK_PATH",
        message: expect.stringContaining(`${importer} ${JSON.stringify(path)}, which resolves to ${resolved}, outside the extension folder`),
      });
      expect(leaks(error)).toBe(false);
    }
    await writeTree(dir, { ...harmless, "ui/index.html": `<!doctype html><title>x</title><script type="module">import s from ${JSON.stringify(secret.json)}; console.log(s);</script><p>x</p>\n` });
    const inline = await packExtension(dir).catch((caught: unknown) => caught);
    expect(inline).toMatchObject({ code: "E_PACK_PATH", details: { importer: "ui/index.html#1", resolved: secret.json } });
    expect(leaks(inline)).toBe(false);
    expect(await read()).toEqual([]);
  });

  it("refuses a page's stylesheet or inline script naming a source map outside (sourceMappingURL), before esbuild reads it", async () => {
    const secret = await secrets();
    const read = await watchReads(secret.map);
    const dir = await tempDir();
    const url = pathToFileURL(secret.map).href;
    await writeTree(dir, {
      "annex.json": JSON.stringify(uiManifest(["ui/index.html"])),
      "ui/index.html": STYLED_PAGE,
      "ui/style.css": `p { color: red; }\n/*# sourceMappingURL=${relative(join(dir, "ui"), secret.map)} */\n`,
    });
    const styled = await packExtension(dir).catch((caught: unknown) => caught);
    expect(styled).toMatchObject({ code: "E_PACK_PATH", details: { path: "ui/style.css", resolved: secret.map } });
    expect(leaks(styled)).toBe(false);

    await writeTree(dir, { "ui/index.html": `<!doctype html><title>x</title><script type="module">console.log(1);\n//# sourceMappingURL=${url}\n</script><p>x</p>\n` });
    const inline = await packExtension(dir).catch((caught: unknown) => caught);
    expect(inline).toMatchObject({
      code: "E_PACK_PATH",
      message: expect.stringContaining(`ui/index.html#1 names the source map ${JSON.stringify(url)} (sourceMappingURL), which resolves to ${secret.map}, outside`),
    });
    expect(leaks(inline)).toBe(false);
    expect(await read()).toEqual([]);
  });
});
