import { readFile, readdir, stat, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { parseManifest } from "@annex/manifest";
import { describe, expect, it } from "vitest";
import { slugify } from "../src/commands/init.js";
import { run, tempDir } from "./helpers.js";

async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) out.push(...(await listFiles(join(dir, entry.name), path)));
    else out.push(path);
  }
  return out.sort();
}

describe("annex init", () => {
  it("writes the page script of examples/extensions/hello, whose page is clicked through in Chromium (admin and console e2e)", async () => {
    // The template's page once waited for a form submit a sandboxed frame never fires; the example caught it in a browser.
    const template = await readFile(new URL("../templates/service/ui/main.ts", import.meta.url), "utf8");
    const example = await readFile(new URL("../../../examples/extensions/hello/ui/main.ts", import.meta.url), "utf8");
    expect(template.replaceAll("{{id}}", "acme.hello")).toBe(example);
  });

  it("creates a service extension whose manifest parses, with server code, a UI page, a test and an ignore file", async () => {
    const cwd = await tempDir();
    const { code, stdout } = await run(cwd, "init", "hello", "--id", "acme.hello");
    expect(code).toBe(0);
    const dir = join(cwd, "hello");
    expect(await listFiles(dir)).toEqual([
      ".annexignore",
      ".gitignore",
      "README.md",
      "annex.json",
      "package.json",
      "src/server.ts",
      "test/server.test.ts",
      "tsconfig.json",
      "ui/index.html",
      "ui/main.ts",
      "ui/style.css",
      "vitest.config.ts",
    ]);
    const manifest = parseManifest(JSON.parse(await readFile(join(dir, "annex.json"), "utf8")));
    expect(manifest).toMatchObject({
      id: "acme.hello",
      publisher: "acme",
      name: "Hello",
      runtime: { class: "service", entry: "server/index.js", source: "src/server.ts" },
      endpoints: [{ method: "GET", path: "/hello/:name", handler: "hello" }],
    });
    expect(await readFile(join(dir, "src/server.ts"), "utf8")).toContain('import type { Ctx, GuestRequest, HandlerResult } from "@annex/runner/guest";');
    expect(JSON.parse(await readFile(join(dir, "package.json"), "utf8"))).toMatchObject({ name: "hello", private: true, scripts: { test: "vitest run" } });
    expect(stdout).toContain("Created service extension acme.hello in hello:");
    expect(stdout).toContain("npm exec -- annex keygen --publisher acme");
    expect(stdout).not.toMatch(/npx annex\b/); // an unrelated package of that name is on the registry
    expect(await readFile(join(dir, "README.md"), "utf8")).not.toMatch(/\{\{\w+\}\}/);
  });

  it("creates a bundle extension with pages only", async () => {
    const cwd = await tempDir();
    expect((await run(cwd, "init", "docs", "--template", "bundle", "--id", "acme.docs")).code).toBe(0);
    const dir = join(cwd, "docs");
    const files = await listFiles(dir);
    expect(files).toContain("ui/index.html");
    expect(files).toContain("test/ui.test.ts");
    expect(files.some((file) => file.startsWith("src/"))).toBe(false);
    const manifest = parseManifest(JSON.parse(await readFile(join(dir, "annex.json"), "utf8")));
    expect(manifest.runtime).toEqual({ class: "bundle", warmContext: false });
    expect(manifest.endpoints).toEqual([]);
    expect(manifest.ui.pages).toEqual([{ slot: "app", path: "/", entry: "ui/index.html", title: "Docs" }]);
  });

  it("derives id and name from the folder when --id is not given, and says the publisher needs changing", async () => {
    const cwd = await tempDir();
    const { code, stdout } = await run(cwd, "init", "My Cool_Extension");
    expect(code).toBe(0);
    const manifest = JSON.parse(await readFile(join(cwd, "My Cool_Extension", "annex.json"), "utf8")) as { id: string; name: string };
    expect(manifest.id).toBe("example.my-cool-extension");
    expect(manifest.name).toBe("My Cool Extension");
    expect(stdout).toContain('The publisher is "example"');
  });

  it("escapes --name and --description for each file's syntax", async () => {
    const cwd = await tempDir();
    const name = 'Quote " <b>&';
    expect((await run(cwd, "init", "x", "--id", "acme.x", "--name", name, "--description", "Says </p> */ hi.")).code).toBe(0);
    const manifest = JSON.parse(await readFile(join(cwd, "x", "annex.json"), "utf8")) as { name: string; description: string };
    expect(manifest.name).toBe(name);
    const html = await readFile(join(cwd, "x", "ui/index.html"), "utf8");
    expect(html).toContain("<title>Quote &quot; &lt;b&gt;&amp;</title>");
    expect(html).toContain("Says &lt;/p&gt; */ hi.");
    expect(await readFile(join(cwd, "x", "src/server.ts"), "utf8")).not.toContain("*/ hi");
  });

  it("accepts an existing empty folder", async () => {
    const cwd = await tempDir();
    await mkdir(join(cwd, "empty"));
    expect((await run(cwd, "init", "empty", "--id", "acme.empty")).code).toBe(0);
  });

  it("refuses a folder that is not empty, and leaves it untouched", async () => {
    const cwd = await tempDir();
    await mkdir(join(cwd, "busy"));
    await writeFile(join(cwd, "busy", "notes.txt"), "mine");
    const { code, stderr } = await run(cwd, "init", "busy");
    expect(code).toBe(1);
    expect(stderr).toMatch(/^E_INIT_NOT_EMPTY: busy is not empty \(1 entries\); annex init never overwrites files/);
    expect(await readdir(join(cwd, "busy"))).toEqual(["notes.txt"]);
  });

  it("refuses a path that is a file", async () => {
    const cwd = await tempDir();
    await writeFile(join(cwd, "file"), "");
    expect(await run(cwd, "init", "file")).toMatchObject({ code: 1, stderr: expect.stringMatching(/^E_INIT_NOT_EMPTY: file is a file/) });
  });

  it("refuses an unknown template as a usage error", async () => {
    const cwd = await tempDir();
    const { code, stderr } = await run(cwd, "init", "x", "--template", "worker");
    expect(code).toBe(2);
    expect(stderr).toContain("E_USAGE: annex init: --template must be one of service, bundle");
    await expect(stat(join(cwd, "x"))).rejects.toThrow();
  });

  it("refuses a bad --id or --name as a usage error naming the option, writes nothing, and does not send the user to lint a folder that is not there", async () => {
    const cwd = await tempDir();
    const { code, stderr } = await run(cwd, "init", "x", "--id", "Acme.X");
    expect(code).toBe(2);
    expect(stderr).toMatch(/^E_USAGE: annex init wrote nothing: --id: id must be "<publisher>\.<name>"/);
    expect(stderr).toContain("Run it again with a valid value.");
    expect(stderr).not.toContain("annex lint");
    await expect(stat(join(cwd, "x"))).rejects.toThrow();
    const named = await run(cwd, "init", "x", "--id", "acme.x", "--name", " ");
    expect(named.stderr).toMatch(/^E_USAGE: annex init wrote nothing: --name: name must not be empty; --name: title must not be empty\./);
  });
});

describe("slugify", () => {
  it.each([
    ["hello", "hello"],
    ["My Extension", "my-extension"],
    ["123-start", "start"],
    ["--x--", "x"],
    ["Ünïcode Ñame", "unicode-name"],
    ["!!!", "extension"],
    ["a".repeat(40), "a".repeat(32)],
  ])("%j → %j", (input, expected) => {
    expect(slugify(input)).toBe(expected);
  });
});
