import { createHash } from "node:crypto";
import { cp, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { readBundle } from "@annex/manifest";
import { init, parse } from "es-module-lexer";
import { beforeAll, describe, expect, it } from "vitest";
import { packExtension } from "../src/index.js";
import { decode, ensureUiPackagesBuilt, linkPackages, tempDir, uiManifest, writeTree } from "./helpers.js";

beforeAll(() => {
  ensureUiPackagesBuilt();
}, 180_000);

/** An extension folder with @annex/ui-kit and @annex/iframe-bridge installed, and the given files. */
async function folder(files: Record<string, string>, manifest: Record<string, unknown> = uiManifest(["ui/index.html"])): Promise<string> {
  const dir = await tempDir();
  await linkPackages(dir);
  await writeTree(dir, { "annex.json": JSON.stringify(manifest), ...files });
  return dir;
}

const page = (head: string, body = "<main></main>") => `<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n${head}\n</head>\n<body>\n${body}\n</body>\n</html>\n`;

const KIT_PAGE = {
  "ui/index.html": page('<link rel="stylesheet" href="style.css">\n<script type="module" src="main.ts"></script>', '<annex-card heading="Hi"><annex-button id="b">Go</annex-button></annex-card>'),
  "ui/style.css": '@import "@annex/ui-kit/base.css";\nmain { padding: var(--annex-space-4); }\n',
  "ui/main.ts":
    'import { connect } from "@annex/iframe-bridge/client";\nimport { defineAll, type AnnexButton } from "@annex/ui-kit";\nimport { label } from "./lib/label.js";\ndefineAll();\nconst button = document.getElementById("b") as AnnexButton;\nbutton.textContent = label("go");\nvoid connect({ timeoutMs: 5_000 });\n',
  "ui/lib/label.ts": "export const label = (text: string): string => text.toUpperCase();\n",
};

/** The relative URLs a page's src and href attributes load. */
function pageUrls(html: string): string[] {
  return [...html.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((match) => match[1]!);
}

describe("UI pages: what is built", () => {
  it("bundles a page's TypeScript module (with @annex/ui-kit and the bridge client) and its stylesheet (with the kit's base.css) into files of ui.root", async () => {
    const dir = await folder(KIT_PAGE);
    const packed = await packExtension(dir);
    const paths = [...packed.files.keys()];
    expect(paths.filter((path) => path.startsWith("ui/") && !path.startsWith("ui/assets/"))).toEqual([
      "ui/index.html",
      "ui/main.js",
      "ui/main.js.map",
      "ui/style.css",
      "ui/style.css.map",
    ]);
    // TypeScript sources are bundled, not packed: the browser could not run them.
    expect(paths).not.toContain("ui/main.ts");
    expect(paths).not.toContain("ui/lib/label.ts");

    const html = decode(packed.files.get("ui/index.html"));
    expect(html).toContain('<script type="module" src="main.js"></script>');
    expect(html).toContain('<link rel="stylesheet" href="style.css">');
    expect(html).not.toContain("node_modules");

    const css = decode(packed.files.get("ui/style.css"));
    expect(css).not.toContain("@import");
    expect(css).toContain("--annex-color-surface:");
    expect(css).toContain("--annex-space-4");

    // The script imports nothing but other built files of the bundle.
    await init;
    for (const path of paths.filter((p) => p.endsWith(".js"))) {
      const code = decode(packed.files.get(path));
      for (const imported of parse(code)[0]) {
        if (imported.n === undefined) continue;
        expect(imported.n, `${path} imports ${imported.n}`).toMatch(/^\.\.?\//);
        const target = new URL(imported.n, `https://b.test/${path}`).pathname.slice(1);
        expect(packed.files.has(target), `${path} imports ${target}`).toBe(true);
      }
    }
    const main = decode(packed.files.get("ui/main.js"));
    expect(main).toContain("annex-button"); // the kit is in the bundle …
    expect(main).toContain("GO".toLowerCase()); // … and so is the page's own module.
    expect(main.trimEnd().endsWith("//# sourceMappingURL=main.js.map")).toBe(true);
  });

  it("links the stylesheet a script imports (import \"@annex/ui-kit/base.css\") next to its script", async () => {
    const dir = await folder({
      "ui/index.html": page('<script type="module" src="app/main.ts"></script>'),
      "ui/app/main.ts": 'import "@annex/ui-kit/base.css";\nimport "./local.css";\ndocument.body.dataset.ready = "1";\n',
      "ui/app/local.css": "body { margin: 0 }\n",
    });
    const packed = await packExtension(dir);
    const html = decode(packed.files.get("ui/index.html"));
    expect(html).toContain('<link rel="stylesheet" href="app/main.css"><script type="module" src="app/main.js"></script>');
    const css = decode(packed.files.get("ui/app/main.css"));
    expect(css).toContain("--annex-color-surface:");
    expect(css).toContain("margin:0");
  });

  it("turns inline module scripts and <style> into built files, and writes inline classic scripts as they are, so the page needs no 'unsafe-inline'", async () => {
    const dir = await folder({
      "ui/index.html": page(
        '<style media="screen">@import "@annex/ui-kit/base.css"; p { color: red }</style>\n<script>window.answer = 42;</script>',
        '<script type="module">import { defineAll } from "@annex/ui-kit";\ndefineAll();</script>',
      ),
    });
    const packed = await packExtension(dir);
    const html = decode(packed.files.get("ui/index.html"));
    expect(html).toContain('<link rel="stylesheet" media="screen" href="index.inline-1.css">');
    expect(html).toContain('<script src="index.inline-2.js"></script>');
    expect(html).toContain('<script type="module" src="index.inline-3.js"></script>');
    expect(html).not.toMatch(/<script[^>]*>[^<]+<\/script>|<style/);
    expect(decode(packed.files.get("ui/index.inline-1.css"))).toContain("--annex-color-surface:");
    expect(decode(packed.files.get("ui/index.inline-2.js"))).toBe("window.answer = 42;");
    expect(decode(packed.files.get("ui/index.inline-3.js"))).toContain("annex-button");
  });

  it("leaves an inline script in place when ui.csp.scriptHashes allows it by hash", async () => {
    const code = "window.allowed = true;";
    const hash = `sha256-${createHash("sha256").update(code).digest("base64")}`;
    const dir = await folder(
      { "ui/index.html": page(`<script>${code}</script>`, "<script>window.other = 1;</script>") },
      uiManifest(["ui/index.html"], { csp: { scriptHashes: [hash] } }),
    );
    const html = decode((await packExtension(dir)).files.get("ui/index.html"));
    expect(html).toContain(`<script>${code}</script>`);
    expect(html).toContain('<script src="index.inline-1.js"></script>');
  });

  it("copies what a stylesheet's url() names into ui.root/assets under a content-hashed name", async () => {
    const dir = await folder({
      "ui/index.html": page('<link rel="stylesheet" href="style.css">', '<img src="img/logo.svg" alt="">'),
      "ui/style.css": "body { background: url(img/logo.svg) }\n",
      "ui/img/logo.svg": '<svg xmlns="http://www.w3.org/2000/svg"/>',
    });
    const packed = await packExtension(dir);
    const asset = [...packed.files.keys()].find((path) => /^ui\/assets\/logo-[A-Z0-9]+\.svg$/.test(path));
    expect(asset).toBeDefined();
    expect(decode(packed.files.get("ui/style.css"))).toContain(`url("./${asset!.slice("ui/".length)}")`);
    expect(packed.files.has("ui/img/logo.svg")).toBe(true);
  });

  it("builds shared code once for several pages, and rewrites pages in subfolders with paths relative to them", async () => {
    const dir = await folder(
      {
        "ui/index.html": page('<script type="module" src="main.ts"></script>'),
        "ui/admin/index.html": page('<script type="module" src="../admin.ts"></script><link rel="stylesheet" href="../style.css">'),
        "ui/main.ts": 'import { defineAll } from "@annex/ui-kit";\ndefineAll();\n',
        "ui/admin.ts": 'import { defineAll } from "@annex/ui-kit";\ndefineAll();\nexport {};\n',
        "ui/style.css": "p { color: blue }\n",
      },
      uiManifest(["ui/index.html", "ui/admin/index.html"]),
    );
    const packed = await packExtension(dir);
    const admin = decode(packed.files.get("ui/admin/index.html"));
    expect(admin).toContain('<script type="module" src="../admin.js"></script><link rel="stylesheet" href="../style.css">');
    const chunks = [...packed.files.keys()].filter((path) => /^ui\/assets\/chunk-[A-Z0-9]+\.js$/.test(path));
    expect(chunks).toHaveLength(1);
    expect(decode(packed.files.get("ui/main.js"))).toContain(`./${chunks[0]!.slice("ui/".length)}`);
  });

  it("packs the same folder into the same bytes, here and in a copy elsewhere", async () => {
    const dir = await folder(KIT_PAGE);
    const first = await packExtension(dir);
    const second = await packExtension(dir);
    expect(Buffer.compare(first.bytes, second.bytes)).toBe(0);
    const copy = await tempDir();
    await cp(dir, copy, { recursive: true, verbatimSymlinks: true });
    expect((await packExtension(copy)).contentHash).toBe(first.contentHash);
    expect((await readBundle(first.bytes)).contentHash).toBe(first.contentHash);
  });

  it("packs a page with nothing to build as it is", async () => {
    const html = page("<title>Docs</title>", '<a href="#top">top</a> <a href="https://example.com/">out</a> <a href="other.html?x=1#y">other</a>');
    const dir = await folder({ "ui/index.html": html, "ui/other.html": "<p>other</p>" });
    const lines: string[] = [];
    const packed = await packExtension(dir, { onProgress: (line) => lines.push(line) });
    expect(decode(packed.files.get("ui/index.html"))).toBe(html);
    expect(lines.some((line) => line.includes("esbuild"))).toBe(false);
  });
});

describe("UI pages: what is refused", () => {
  const refused = async (files: Record<string, string>, expected: { code: string; message: RegExp | string }) => {
    const dir = await folder(files);
    const error = await packExtension(dir).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error, "packing should have failed").toMatchObject({ name: "BuildError", code: expected.code });
    expect((error as Error).message).toMatch(expected.message);
  };

  it("a stylesheet or script linked from node_modules, naming the page, line and what to do", async () => {
    await refused(
      { "ui/index.html": page('<link rel="stylesheet" href="../node_modules/@annex/ui-kit/dist/base.css">') },
      { code: "E_UI_REFERENCE", message: /^ui\/index\.html:5:1: <link href> "\.\.\/node_modules\/@annex\/ui-kit\/dist\/base\.css" points into node_modules.*@import "@annex\/ui-kit\/base\.css"/ },
    );
    await refused({ "ui/index.html": page('<link rel="stylesheet" href="./node_modules/@annex/ui-kit/dist/base.css">') }, { code: "E_UI_REFERENCE", message: /points into node_modules/ });
    await refused({ "ui/index.html": page('<script type="module" src="node_modules/@annex/ui-kit/dist/index.js"></script>') }, { code: "E_UI_REFERENCE", message: /points into node_modules/ });
    await refused({ "ui/index.html": page('<img src="n%6fde_modules/x.png">'.replace("%6f", "o").replace("node", "%6eode")) }, { code: "E_UI_REFERENCE", message: /points into node_modules/ });
  });

  it("any path out of ui.root: ../, encoded dots and slashes, backslashes, root-relative paths", async () => {
    const outside = { "secret.txt": "s", "src/server.ts": "export {};" };
    for (const ref of ["../secret.txt", "./../secret.txt", "%2e%2e/secret.txt", "..\\secret.txt", "a/../../secret.txt"]) {
      await refused({ ...outside, "ui/index.html": page(`<img src="${ref}">`) }, { code: "E_UI_REFERENCE", message: /leaves ui\.root \("ui\/"\)/ });
    }
    await refused({ ...outside, "ui/index.html": page('<script type="module" src="../src/server.ts"></script>') }, { code: "E_UI_REFERENCE", message: /leaves ui\.root/ });
    await refused({ ...outside, "ui/index.html": page('<link rel="stylesheet" href="/styles/app.css">') }, { code: "E_UI_REFERENCE", message: /relative to the host's root/ });
    for (const ref of ["x%2F..%2F..%2Fsecret.txt", "..%5csecret.txt"]) {
      await refused({ ...outside, "ui/index.html": page(`<img src="${ref}">`) }, { code: "E_UI_REFERENCE", message: /not a plain path/ });
    }
    await refused({ ...outside, "ui/index.html": page('<img srcset="ok.png 1x, ../secret.txt 2x">'), "ui/ok.png": "" }, { code: "E_UI_REFERENCE", message: /"\.\.\/secret\.txt" leaves ui\.root/ });
  });

  it("scripts and stylesheets from other origins", async () => {
    await refused({ "ui/index.html": page('<script type="module" src="https://cdn.example.com/lib.js"></script>') }, { code: "E_UI_REFERENCE", message: /loads a script from elsewhere/ });
    await refused({ "ui/index.html": page('<script src="//cdn.example.com/lib.js"></script>') }, { code: "E_UI_REFERENCE", message: /loads a script from elsewhere/ });
    await refused({ "ui/index.html": page('<link rel="stylesheet" href="https://cdn.example.com/x.css">') }, { code: "E_UI_REFERENCE", message: /loads a stylesheet from elsewhere/ });
  });

  it("inline code the frame's CSP would block: handlers, style attributes, javascript: URLs, <base>, import maps", async () => {
    await refused({ "ui/index.html": page("", '<button onclick="go()">Go</button>') }, { code: "E_UI_INLINE", message: /^ui\/index\.html:8:1: <button onclick> is an inline event handler/ });
    await refused({ "ui/index.html": page("", '<svg><a onClick="go()"></a></svg>') }, { code: "E_UI_INLINE", message: /inline event handler/ });
    await refused({ "ui/index.html": page("", '<p style="color:red">x</p>') }, { code: "E_UI_INLINE", message: /<p style> is an inline style/ });
    await refused({ "ui/index.html": page("", '<a href=" javascript:alert(1)">x</a>') }, { code: "E_UI_INLINE", message: /javascript: URL/ });
    await refused({ "ui/index.html": page("", '<a href="java&#x09;script:alert(1)">x</a>') }, { code: "E_UI_INLINE", message: /javascript: URL/ });
    await refused({ "ui/index.html": page('<base href="/">') }, { code: "E_UI_INLINE", message: /<base>/ });
    await refused({ "ui/index.html": page('<script type="importmap">{"imports":{}}</script>') }, { code: "E_UI_INLINE", message: /import map/ });
    await refused({ "ui/index.html": page("", "<svg><style>rect{fill:red}</style></svg>") }, { code: "E_UI_INLINE", message: /SVG <style>/ });
  });

  it("a TypeScript classic script, a missing script source, a missing file a page names, a stale build output the build would replace", async () => {
    await refused({ "ui/index.html": page('<script src="main.ts"></script>'), "ui/main.ts": "" }, { code: "E_UI_REFERENCE", message: /add type="module"/ });
    await refused({ "ui/index.html": page('<script type="module" src="main.ts"></script>') }, { code: "E_UI_REFERENCE", message: /^ui\/index\.html loads "ui\/main\.ts", which does not exist/ });
    await refused({ "ui/index.html": page("", '<img src="logo.png">') }, { code: "E_UI_REFERENCE", message: /<img src> names "ui\/logo\.png", which is not in the packed files/ });
    await refused(
      { "ui/index.html": page('<script type="module" src="main.ts"></script>'), "ui/main.ts": "export {};", "ui/main.js": "old" },
      { code: "E_UI_BUILD", message: /writes "ui\/main\.js", which is also a file of the folder/ },
    );
  });

  it("a page whose script does not build, naming the page and the file", async () => {
    await refused(
      { "ui/index.html": page('<script type="module" src="main.ts"></script>'), "ui/main.ts": 'import "./broken.js";\n', "ui/broken.ts": "export const x = ;\n" },
      { code: "E_UI_BUILD", message: /^UI page ui\/index\.html did not build: esbuild could not build ui\/broken\.ts; fix the errors below[\s\S]*ui\/broken\.ts:1:/ },
    );
    await refused(
      { "ui/index.html": page('<script type="module" src="main.ts"></script>'), "ui/main.ts": 'import "left-pad";\n' },
      { code: "E_UI_BUILD", message: /^UI page ui\/index\.html did not build: .*install "left-pad" in the extension's folder/ },
    );
    await refused(
      { "ui/index.html": page("", '<script type="module">import "nope";</script>') },
      { code: "E_UI_BUILD", message: /ui\/index\.html \(inline code #1\)/ },
    );
  });

  it("names only the page that fails when several pages build together", async () => {
    const dir = await folder(
      {
        "ui/a.html": page('<script type="module" src="a.ts"></script>'),
        "ui/b.html": page('<script type="module" src="b.ts"></script>'),
        "ui/a.ts": "export const a = 1;\n",
        "ui/b.ts": "export const b = ;\n",
      },
      uiManifest(["ui/a.html", "ui/b.html"]),
    );
    await expect(packExtension(dir)).rejects.toMatchObject({ code: "E_UI_BUILD", message: expect.stringMatching(/^UI page ui\/b\.html did not build/), details: { pages: ["ui/b.html"] } });
  });

  it("leaves the folder as it was: nothing is written", async () => {
    const dir = await folder(KIT_PAGE);
    await writeFile(join(dir, "ui/main.ts"), "export const broken = ;\n");
    await expect(packExtension(dir)).rejects.toMatchObject({ code: "E_UI_BUILD" });
    const { readdir } = await import("node:fs/promises");
    expect((await readdir(join(dir, "ui"))).sort()).toEqual(["index.html", "lib", "main.ts", "style.css"]);
  });
});
