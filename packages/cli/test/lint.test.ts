import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { run, serviceFolder, tempDir, writeTree } from "./helpers.js";

/** 1-based line and column of the first `needle` on line `line` of `text`. */
function at(text: string, line: number, needle: string): string {
  const column = text.split("\n")[line - 1]!.indexOf(needle) + 1;
  expect(column, `"${needle}" on line ${line}`).toBeGreaterThan(0);
  return `${line}:${column}`;
}

const BAD = `{
  "manifestVersion": 2,
  "id": "acme.hello",
  "name": "Hello",
  "version": "1.0",
  "publisher": "acme",
  "description": "Says hello.",
  "engines": { "annex": "^0.1.0" },
  "runtime": { "class": "service", "entry": "server/index.js", "source": "src/server.ts", "colour": "blue" },
  "capabilities": [
    { "name": "log", "reason": "Writes request logs for debugging." },
    { "name": "http.fetch", "reason": "Calls the API.", "hosts": ["https://api.example.com"] }
  ],
  "endpoints": [
    { "class": "api", "method": "get", "path": "/hello/:name", "handler": "hello" }
  ]
}
`;

describe("annex lint", () => {
  it("prints every schema problem as annex.json:<line>:<col> <path>: message, at the field, and exits 1", async () => {
    const cwd = await tempDir();
    await serviceFolder(join(cwd, "ext"));
    await writeFile(join(cwd, "ext", "annex.json"), BAD);
    const { code, stdout, stderr } = await run(cwd, "lint", "ext");
    expect(code).toBe(1);
    const lines = stdout.trimEnd().split("\n");
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^ext/annex\\.json:${at(BAD, 5, '"version"')} version: `)));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^ext/annex\\.json:${at(BAD, 9, '"colour"')} runtime\\.colour: `)));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^ext/annex\\.json:${at(BAD, 12, '"https:')} capabilities\\[1\\]\\.hosts\\[0\\]: `)));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^ext/annex\\.json:${at(BAD, 15, '"method"')} endpoints\\[0\\]\\.method: `)));
    for (const line of lines) expect(line).toMatch(/^ext\/annex\.json:\d+:\d+ \S+: \S/);
    // Sorted by position in the file.
    const positions = lines.map((line) => /:(\d+):(\d+) /.exec(line)!.slice(1).map(Number) as [number, number]);
    expect(positions).toEqual([...positions].sort((a, b) => a[0] - b[0] || a[1] - b[1]));
    expect(stderr).toMatch(/^E_LINT: \d+ problems in annex\.json \(listed above\): fix them and run annex lint again\.\n$/);
  });

  it("lists the first problems of a manifest with thousands and says how many there are", async () => {
    const cwd = await tempDir();
    const manifest = JSON.parse(BAD.replace('"version": "1.0"', '"version": "1.0.0"')) as Record<string, unknown>;
    for (let i = 0; i < 5000; i++) manifest[`extra${i}`] = i;
    await writeFile(join(cwd, "annex.json"), JSON.stringify(manifest, null, 2));
    const { code, stdout, stderr } = await run(cwd, "lint", ".");
    expect(code).toBe(1);
    const lines = stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(101);
    expect(lines.at(-1)).toMatch(/^… and \d+ more$/);
    expect(stderr).toMatch(/^E_LINT: 50\d\d problems in annex\.json \(the first 100 listed above\)/);
  });

  it("prints `annex.json:` with no folder prefix when run inside the extension", async () => {
    const cwd = await tempDir();
    await writeFile(join(cwd, "annex.json"), BAD);
    const { stdout } = await run(cwd, "lint", ".");
    expect(stdout).toMatch(new RegExp(`^annex\\.json:${at(BAD, 5, '"version"')} version: `, "m"));
  });

  it("points a missing field at the object that should hold it", async () => {
    const cwd = await tempDir();
    const text = '{\n  "manifestVersion": 2,\n  "id": "acme.hello",\n  "version": "1.0.0",\n  "publisher": "acme",\n  "description": "x",\n  "engines": { "annex": "^0.1.0" },\n  "runtime": {}\n}\n';
    await writeFile(join(cwd, "annex.json"), text);
    const { code, stdout } = await run(cwd, "lint", ".");
    expect(code).toBe(1);
    expect(stdout).toMatch(/^annex\.json:1:1 name: /m);
    expect(stdout).toMatch(new RegExp(`^annex\\.json:${at(text, 8, '"runtime"')} runtime\\.class: `, "m"));
  });

  it("reports invalid JSON at its line and column", async () => {
    const cwd = await tempDir();
    await writeFile(join(cwd, "annex.json"), '{\n  "id": "acme.hello",\n  "name" "Hello"\n}\n');
    const { code, stdout } = await run(cwd, "lint", ".");
    expect(code).toBe(1);
    expect(stdout).toMatch(/^annex\.json:3:10 \(manifest\): invalid JSON/);
  });

  it("reports a duplicate key at its second occurrence", async () => {
    const cwd = await tempDir();
    await serviceFolder(cwd);
    const text = await readFile(join(cwd, "annex.json"), "utf8");
    const duplicated = text.replace('"name": "Hello",', '"name": "Hello",\n  "name": "Other",');
    await writeFile(join(cwd, "annex.json"), duplicated);
    const { code, stdout } = await run(cwd, "lint", ".");
    expect(code).toBe(1);
    expect(stdout).toMatch(new RegExp(`^annex\\.json:${at(duplicated, 5, '"name"')} name: duplicate key "name"`, "m"));
  });

  it("checks that the files annex.json names exist, pointing at the field", async () => {
    const cwd = await tempDir();
    await serviceFolder(cwd);
    await rm(join(cwd, "src/server.ts"));
    await rm(join(cwd, "ui/index.html"));
    const text = await readFile(join(cwd, "annex.json"), "utf8");
    const { code, stdout } = await run(cwd, "lint", ".");
    expect(code).toBe(1);
    const lines = text.split("\n");
    const sourceLine = lines.findIndex((line) => line.includes('"source"')) + 1;
    const entryLine = lines.findIndex((line) => line.includes('"entry": "ui/index.html"')) + 1;
    expect(stdout).toBe(
      `annex.json:${at(text, sourceLine, '"source"')} runtime.source: server source "src/server.ts" does not exist in the extension folder\n` +
        `annex.json:${at(text, entryLine, '"entry"')} ui.pages[0].entry: UI page "ui/index.html" does not exist in the extension folder\n`,
    );
  });

  it("accepts a valid extension, a path to annex.json itself, and exits 0", async () => {
    const cwd = await tempDir();
    await serviceFolder(join(cwd, "ext"));
    expect(await run(cwd, "lint", "ext")).toEqual({ code: 0, stdout: "ext/annex.json: ok (acme.hello@1.0.0, service)\n", stderr: "" });
    expect((await run(cwd, "lint", "ext/annex.json")).code).toBe(0);
  });

  it("says how to create annex.json when there is none", async () => {
    const cwd = await tempDir();
    await writeTree(cwd, { "x.txt": "" });
    expect(await run(cwd, "lint", ".")).toMatchObject({ code: 1, stderr: expect.stringMatching(/^E_FILE_NOT_FOUND: annex\.json does not exist.*annex init/) });
  });
});
