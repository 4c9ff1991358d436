import { mkdir, symlink, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { packExtension } from "../src/pack-extension.js";
import { DEFAULT_IGNORES, readFolder } from "../src/read-folder.js";
import { serviceFolder, tempDir, writeTree } from "./helpers.js";

/** A file of `size` bytes that takes no disk space and is never read: sparse. */
async function sparse(path: string, size: number): Promise<void> {
  await writeFile(path, "");
  await truncate(path, size);
}

const MiB = 1024 * 1024;

const text = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : new TextDecoder().decode(bytes));

describe("readFolder", () => {
  it("reads every file as POSIX paths relative to the folder, sorted, with their bytes", async () => {
    const dir = await tempDir();
    await writeTree(dir, { "b.txt": "b", "a/z.txt": "z", "a/b/c.txt": "c", "annex.json": "{}" });
    const files = await readFolder(dir);
    expect([...files.keys()]).toEqual(["a/b/c.txt", "a/z.txt", "annex.json", "b.txt"]);
    expect(text(files.get("a/b/c.txt"))).toBe("c");
    for (const path of files.keys()) expect(path).not.toMatch(/\\|^\.?\//);
  });

  it("leaves out node_modules at any depth, hidden files and folders, bundles, signatures and key files", async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      "keep.js": "",
      "node_modules/x/index.js": "",
      "sub/node_modules/y/index.js": "",
      ".git/HEAD": "",
      ".env": "SECRET=1",
      "sub/.hidden": "",
      "old.annex": "",
      "old.annex.sig": "",
      "keys/acme_1.key": "private",
      "keys/acme_1.pub": "public",
      "cert.pem": "",
      ".annexignore": "",
    });
    expect([...(await readFolder(dir)).keys()]).toEqual(["keep.js"]);
  });

  it("honours .annexignore patterns (folders, globs, anchored paths, negation) in .gitignore syntax", async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      ".annexignore": "# comment\ntest/\n*.log\n/root-only.txt\ndocs/*.md\n!docs/keep.md\n",
      "test/a.test.ts": "",
      "src/test/inner.ts": "",
      "debug.log": "",
      "deep/trace.log": "",
      "root-only.txt": "",
      "deep/root-only.txt": "",
      "docs/drop.md": "",
      "docs/keep.md": "",
      "main.js": "",
    });
    expect([...(await readFolder(dir)).keys()]).toEqual(["deep/root-only.txt", "docs/keep.md", "main.js"]);
  });

  it("never lets a negation in .annexignore bring back a default exclusion", async () => {
    const dir = await tempDir();
    await writeTree(dir, { ".annexignore": "!*.key\n!.env\n!node_modules/\n", "a.key": "private", ".env": "x", "node_modules/m/i.js": "", "ok.js": "" });
    expect([...(await readFolder(dir)).keys()]).toEqual(["ok.js"]);
  });

  it("takes extra patterns from options and can skip the ignore file", async () => {
    const dir = await tempDir();
    await writeTree(dir, { ".annexignore": "a.txt\n", "a.txt": "", "b.txt": "", "c.txt": "" });
    expect([...(await readFolder(dir, { ignore: ["b.txt"] })).keys()]).toEqual(["c.txt"]);
    expect([...(await readFolder(dir, { ignoreFile: false, ignore: ["c.txt"] })).keys()]).toEqual(["a.txt", "b.txt"]);
  });

  it("leaves out dist/ except the files and folders `keep` names", async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      "dist/server.js": "s",
      "dist/server.js.map": "m",
      "dist/other.js": "o",
      "dist/ui/index.html": "i",
      "dist/ui/a/b.css": "b",
      "sub/dist/x.js": "kept: only the top-level dist is build output",
    });
    expect([...(await readFolder(dir)).keys()]).toEqual(["sub/dist/x.js"]);
    const kept = await readFolder(dir, { keep: ["dist/server.js", "dist/ui"] });
    expect([...kept.keys()]).toEqual(["dist/server.js", "dist/ui/a/b.css", "dist/ui/index.html", "sub/dist/x.js"]);
  });

  it("normalises names to Unicode NFC", async () => {
    const dir = await tempDir();
    const decomposed = "cafe\u0301.txt";
    await writeFile(join(dir, decomposed), "x");
    const files = await readFolder(dir);
    expect([...files.keys()]).toEqual(["caf\u00e9.txt"]);
  });

  it("refuses two names that differ only by case, naming both", async () => {
    const dir = await tempDir();
    await writeTree(dir, { "Readme.md": "", "README.md": "" });
    await expect(readFolder(dir)).rejects.toMatchObject({ code: "E_PACK_PATH", message: expect.stringMatching(/Readme\.md.*README\.md|README\.md.*Readme\.md/) });
  });

  it("refuses names that differ only by Unicode normalisation", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "caf\u00e9.txt"), "");
    await writeFile(join(dir, "cafe\u0301.txt"), "");
    await expect(readFolder(dir)).rejects.toMatchObject({ code: "E_PACK_PATH" });
  });

  it("refuses a symlink with advice, unless it is ignored", async () => {
    const dir = await tempDir();
    await writeTree(dir, { "real.txt": "x" });
    await symlink(join(dir, "real.txt"), join(dir, "link.txt"));
    await expect(readFolder(dir)).rejects.toMatchObject({ code: "E_PACK_PATH", message: expect.stringContaining('"link.txt" is a symbolic link') });
    expect([...(await readFolder(dir, { ignore: ["link.txt"] })).keys()]).toEqual(["real.txt"]);
  });

  it("leaves out a node_modules that is a link (a workspace's), as any folder a pattern of folders names", async () => {
    const dir = await tempDir();
    const outside = await tempDir();
    await writeTree(dir, { "real.txt": "x" });
    await writeTree(outside, { "pkg/index.js": "x" });
    await symlink(outside, join(dir, "node_modules"));
    await symlink(outside, join(dir, "cache"));
    await writeFile(join(dir, ".annexignore"), "cache/\n");
    expect([...(await readFolder(dir)).keys()]).toEqual(["real.txt"]);
  });

  it("refuses a symlinked folder (a path out of the extension)", async () => {
    const dir = await tempDir();
    const outside = await tempDir();
    await writeTree(outside, { "secret.txt": "x" });
    await symlink(outside, join(dir, "escape"));
    await expect(readFolder(dir)).rejects.toMatchObject({ code: "E_PACK_PATH", message: expect.stringContaining("escape") });
  });

  it("refuses backslashes and control characters in names", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "a\\b.txt"), "");
    await expect(readFolder(dir)).rejects.toMatchObject({ code: "E_PACK_PATH", message: expect.stringContaining("backslash") });
    const dir2 = await tempDir();
    await writeFile(join(dir2, "tab\there.txt"), "");
    await expect(readFolder(dir2)).rejects.toMatchObject({ code: "E_PACK_PATH", message: expect.stringContaining("control character") });
  });

  it("says which folder is missing, or that a file is not a folder", async () => {
    const dir = await tempDir();
    await expect(readFolder(join(dir, "nope"))).rejects.toMatchObject({ code: "E_FILE_NOT_FOUND" });
    await writeFile(join(dir, "file"), "");
    await expect(readFolder(join(dir, "file"))).rejects.toMatchObject({ code: "E_IO", message: expect.stringContaining("not a folder") });
  });

  it("reports progress on big folders", async () => {
    const dir = await tempDir();
    await mkdir(join(dir, "many"));
    await Promise.all(Array.from({ length: 1000 }, (_, i) => writeFile(join(dir, "many", `f${i}.txt`), "x")));
    const lines: string[] = [];
    const files = await readFolder(dir, { onProgress: (line) => lines.push(line) });
    expect(files.size).toBe(1000);
    expect(lines).toEqual([expect.stringMatching(/^read 500 files/), expect.stringMatching(/^read 1000 files/)]);
  });

  it("leaves out private keys, key stores, environment files and cloud credentials that are not hidden, and keeps certificates and look-alike names", async () => {
    const dir = await tempDir();
    const secrets = [
      "id_rsa",
      "id_ed25519",
      "keys/id_ecdsa",
      "id_dsa",
      "cert.p12",
      "cert.PFX",
      "putty.ppk",
      "store.jks",
      "release.keystore",
      "ACME.KEY",
      "acme.key.json",
      "keys/acme_1.key.bak",
      "prod.env",
      "config/staging.env",
      "env.local",
      "app.env.local",
      "credentials.json",
      "service-account.json",
      "service-account-prod.json",
      "client_secret_123.apps.googleusercontent.com.json",
      "sub/.ssh/id_rsa",
      "ui/.env",
    ];
    const kept = ["server.crt", "ca.cer", "src/env.ts", "environment.json", "id_rsa_check.md", "monkey.ts", "keyboard.key-map.json"];
    await writeTree(dir, Object.fromEntries([...secrets, ...kept].map((path) => [path, "x"])));
    expect([...(await readFolder(dir)).keys()]).toEqual([...kept].sort());
  });

  it("refuses a file over the per-file limit from its size, before reading it, naming it (E_BUNDLE_LIMIT, not a RangeError past 2 GiB)", async () => {
    const dir = await serviceFolder(await tempDir());
    await sparse(join(dir, "video.bin"), 2 ** 31 + 1);
    await expect(packExtension(dir)).rejects.toMatchObject({
      name: "BundleError",
      code: "E_BUNDLE_LIMIT",
      message: expect.stringMatching(/^"video\.bin" is 2048\.0 MB, over the limit of 64\.0 MB for one file of a bundle \(maxFileBytes\): add it to \.annexignore/),
      details: { reason: "file-too-large", path: "video.bin", limit: "maxFileBytes", actual: 2 ** 31 + 1 },
    });
    await sparse(join(dir, "video.bin"), 64 * MiB + 1);
    await expect(readFolder(dir)).rejects.toMatchObject({ code: "E_BUNDLE_LIMIT", details: { path: "video.bin", limit: "maxFileBytes" } });
    expect((await readFolder(dir, { ignore: ["video.bin"] })).has("video.bin")).toBe(false);
  });

  it("refuses files that add up to more than the bundle's total limit at the first one over it, before reading it", async () => {
    const dir = await tempDir();
    for (const name of ["a", "b", "c", "d", "e"]) await sparse(join(dir, `${name}.bin`), 52 * MiB);
    // Not `rejects`: a failure would print the 260 MB it read.
    const outcome = await readFolder(dir).then(
      (files) => `read ${files.size} files`,
      (error: unknown) => error,
    );
    expect(outcome).toMatchObject({
      code: "E_BUNDLE_LIMIT",
      message: expect.stringContaining('(maxUncompressedBytes) at "e.bin": add large files to .annexignore'),
      details: { reason: "too-many-bytes", path: "e.bin", limit: "maxUncompressedBytes" },
    });
  });

  it("documents its defaults", () => {
    expect(DEFAULT_IGNORES).toEqual(expect.arrayContaining(["node_modules/", ".*", "*.annex", "*.annex.sig", "*.key", "*.key.*", "id_rsa", "*.p12", "*.pfx", "*.env", "credentials.json"]));
  });
});
