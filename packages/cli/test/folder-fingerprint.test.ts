import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { folderFingerprint } from "../src/dev/folder-fingerprint.js";

// What `annex dev` compares after each round to notice saves the watcher raised no event for.
describe("folderFingerprint", () => {
  let dir: string;
  const ignored = (below: string) => /(^|[/\\])(node_modules|\.[^/\\]+)([/\\]|$)/.test(below);
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "annex-fingerprint-"));
    await mkdir(join(dir, "src"));
    await writeFile(join(dir, "annex.json"), "{}");
    await writeFile(join(dir, "src/server.ts"), "export const a = 1;\n");
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("is the same for the same files, and changes with a content of the same size, a new file, a rename or a deletion", async () => {
    const first = await folderFingerprint(dir, ignored);
    expect(await folderFingerprint(dir, ignored)).toBe(first);
    await writeFile(join(dir, "src/server.ts"), "export const a = 2;\n");
    const changed = await folderFingerprint(dir, ignored);
    expect(changed).not.toBe(first);
    await writeFile(join(dir, "src/server.ts"), "export const a = 1;\n");
    expect(await folderFingerprint(dir, ignored)).toBe(first);
    await writeFile(join(dir, "src/other.ts"), "");
    const added = await folderFingerprint(dir, ignored);
    expect(added).not.toBe(first);
    await rm(join(dir, "src/other.ts"));
    await writeFile(join(dir, "src/renamed.ts"), "");
    expect(await folderFingerprint(dir, ignored)).not.toBe(added);
    await rm(join(dir, "src/renamed.ts"));
    expect(await folderFingerprint(dir, ignored)).toBe(first);
  });

  it("leaves out what the watcher ignores", async () => {
    const first = await folderFingerprint(dir, ignored);
    await mkdir(join(dir, "node_modules"));
    await writeFile(join(dir, "node_modules/x.js"), "x");
    await writeFile(join(dir, ".env"), "SECRET=1");
    expect(await folderFingerprint(dir, ignored)).toBe(first);
  });
});
