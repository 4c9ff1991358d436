import type { TarEntry } from "modern-tar";
import { describe, expect, it } from "vitest";
import { DEFAULT_BUNDLE_LIMITS, packBundle } from "../../src/bundle/index.js";
import {
  READER_CASES,
  SERVICE_MANIFEST,
  bundleEntries,
  canonicalIndex,
  zeroBomb,
  concat,
  fileEntry,
  gunzip,
  gzip,
  indexEntries,
  json,
  rawEntry,
  rawHeader,
  rawTar,
  rejectsWith,
  serviceFiles,
  tarGz,
  text,
} from "./support.js";

/**
 * A corpus of hostile archives, each built here, each refused with its own
 * code and reason. Where modern-tar's packer can write the entry it does;
 * the rest (bad checksums, names that are not UTF-8) are written by hand.
 * The whole corpus runs once per decompressor (READER_CASES).
 */

const withExtra = (...extra: TarEntry[]) => tarGz(bundleEntries(serviceFiles(), { extra }));

/** PAX records ("<length> <key>=<value>\n", the length counting itself) as the body of an 'x' or 'g' entry. */
function paxRecords(...records: [string, string][]): Uint8Array {
  return text(
    records
      .map(([key, value]) => {
        const rest = ` ${key}=${value}\n`;
        const restBytes = text(rest).length;
        let length = restBytes + 1;
        while (String(length).length + restBytes !== length) length = String(length).length + restBytes;
        return `${length}${rest}`;
      })
      .join(""),
  );
}

/** The service bundle written by hand, with raw tar pieces (metadata entries) in front of README.md, or at the end. */
function bundleWith(options: { beforeReadme?: Uint8Array[]; atEnd?: Uint8Array[] }): Uint8Array {
  const files = serviceFiles();
  const pieces = [rawEntry({ name: "annex.index.json" }, canonicalIndex(indexEntries(files)))];
  for (const [name, bytes] of files) {
    if (name === "README.md") pieces.push(...(options.beforeReadme ?? []));
    pieces.push(rawEntry({ name }, bytes));
  }
  return gzip(rawTar(...pieces, ...(options.atEnd ?? [])));
}

/** 8 MiB of "5 a=\n": the most modern-tar would parse as one PAX header, one tiny record at a time. */
const PAX_BOMB = bundleWith({
  beforeReadme: [rawEntry({ name: "PaxHeader", typeflag: "x" }, text("5 a=\n".repeat((8 * 1024 * 1024 - 16) / 5)))],
});

describe.each(READER_CASES)("hostile bundles read with %s", (_, readBundle) => {
  describe("readBundle refuses entries that are not regular files (E_BUNDLE_PATH)", () => {
    it.each([
      ["symlink", { name: "ui/link", size: 0, type: "symlink", linkname: "/etc/passwd" }],
      ["link", { name: "ui/hard", size: 0, type: "link", linkname: "annex.json" }],
      ["character-device", { name: "ui/tty", size: 0, type: "character-device" }],
      ["block-device", { name: "ui/sda", size: 0, type: "block-device" }],
      ["fifo", { name: "ui/pipe", size: 0, type: "fifo" }],
    ] as const)("%s", async (entryType, header) => {
      const error = await rejectsWith(readBundle(await withExtra({ header: { ...header } })), "E_BUNDLE_PATH");
      expect(error.details).toMatchObject({ reason: "entry-type", entryType, path: header.name });
      expect(error.message).toContain(header.name);
    });

    // modern-tar reads any other type flag as a file with a body; GNU tar does not (a dumpdir's body is a
    // listing, a sparse file's a map, a volume label has none): the two would disagree on what the bundle holds.
    it.each(["D", "S", "V", "M", "A", "K".toLowerCase(), "\u0001"])("a tar type flag %j that is not a regular file", async (typeflag) => {
      const bundle = bundleWith({ beforeReadme: [rawEntry({ name: "ui/odd", typeflag }, text("body"))] });
      const error = await rejectsWith(readBundle(bundle), "E_BUNDLE_PATH");
      expect(error.details).toMatchObject({ reason: "entry-type", entryType: typeflag, path: "ui/odd" });
    });

    it("reads type flags 0, NUL and 7 (contiguous) as the regular files they are", async () => {
      for (const typeflag of ["0", "\u0000", "7"]) {
        const files = serviceFiles();
        const pieces = [rawEntry({ name: "annex.index.json" }, canonicalIndex(indexEntries(files)))];
        for (const [name, bytes] of files) pieces.push(rawEntry({ name, typeflag }, bytes));
        const bundle = await readBundle(gzip(rawTar(...pieces)));
        expect([...bundle.files.keys()].sort()).toEqual([...files.keys()].sort());
      }
    });

    it("a symlink that comes before the files it would shadow", async () => {
      const entries = bundleEntries();
      entries.splice(1, 0, { header: { name: "server", size: 0, type: "symlink", linkname: "/" } });
      await rejectsWith(readBundle(await tarGz(entries)), "E_BUNDLE_PATH");
    });
  });

  describe("readBundle refuses unsafe paths (E_BUNDLE_PATH)", () => {
    it.each([
      ["/etc/passwd", "absolute"],
      ["../../etc/passwd", "dot-segment"],
      ["ui/../../x", "dot-segment"],
      ["./ui/x", "dot-segment"],
      ["ui\\..\\x", "backslash"],
      ["C:\\Windows\\x", "backslash"],
      ["C:/Windows/x", "absolute"],
      ["ui//x", "empty-segment"],
      ["ui/x\ny", "control-character"],
      ["ui/x\u009by", "control-character"],
      ["ui/con.", "trailing-dot-or-space"],
      ["ui/x ", "trailing-dot-or-space"],
      [`${"d/".repeat(40)}x`, "too-deep"],
    ])("%j", async (name, reason) => {
      const error = await rejectsWith(readBundle(await withExtra(fileEntry(name, "x"))), "E_BUNDLE_PATH");
      expect(error.details).toMatchObject({ reason });
    });

    it("a NUL inside a PAX path (a ustar name simply ends at NUL)", async () => {
      const bundle = await withExtra({ header: { name: "ui/ok.txt", size: 1, pax: { path: "ui/x\u0000y" } }, body: "x" });
      expect((await rejectsWith(readBundle(bundle), "E_BUNDLE_PATH")).details).toMatchObject({ reason: "control-character" });
    });

    it("a directory entry with a bad path (valid directory entries are ignored)", async () => {
      const ok = await withExtra({ header: { name: "ui/", size: 0, type: "directory" } });
      await expect(readBundle(ok)).resolves.toMatchObject({ manifest: { id: "acme.hello" } });
      const bad = await withExtra({ header: { name: "../outside/", size: 0, type: "directory" } });
      expect((await rejectsWith(readBundle(bad), "E_BUNDLE_PATH")).details).toMatchObject({ reason: "dot-segment" });
    });

    it("a name that is not UTF-8 (hand-written header)", async () => {
      const tar = concat(rawEntry({ name: new Uint8Array([0x75, 0x69, 0x2f, 0xff, 0xfe]) }, text("x")));
      const error = await rejectsWith(readBundle(gzip(rawTar(tar))), "E_BUNDLE_PATH");
      expect(error.details).toMatchObject({ reason: "control-character" });
    });

    it("a PAX header that renames an innocent entry to ../", async () => {
      const bundle = await withExtra({ header: { name: "ui/ok.txt", size: 1, pax: { path: "../evil.txt" } }, body: "x" });
      expect((await rejectsWith(readBundle(bundle), "E_BUNDLE_PATH")).details).toMatchObject({ reason: "dot-segment", path: "../evil.txt" });
    });

    it("a GNU long-name entry that renames the next entry to an absolute path (hand-written)", async () => {
      const longName = text("/tmp/evil.txt\0");
      const tar = concat(rawEntry({ name: "././@LongLink", typeflag: "L" }, longName), rawEntry({ name: "ui/ok.txt" }, text("x")));
      expect((await rejectsWith(readBundle(gzip(rawTar(tar))), "E_BUNDLE_PATH")).details).toMatchObject({ reason: "absolute" });
    });

    it("a path over maxPathLength is a limit (E_BUNDLE_LIMIT)", async () => {
      const bundle = await withExtra(fileEntry(`ui/${"a".repeat(300)}`, "x"));
      expect((await rejectsWith(readBundle(bundle), "E_BUNDLE_LIMIT")).details).toMatchObject({ limit: "maxPathLength", max: 255 });
    });
  });

  describe("readBundle bounds tar metadata (PAX and GNU headers) before anything parses it (E_BUNDLE_FORMAT)", () => {
    const metadataError = async (bundle: Uint8Array, message: RegExp | string) => {
      const error = await rejectsWith(readBundle(bundle), "E_BUNDLE_FORMAT");
      expect(error.details).toMatchObject({ reason: "tar-metadata" });
      expect(error.message).toMatch(message);
      return error;
    };

    it("a PAX header holding just a path, and a GNU long name, are read as before", async () => {
      const pax = rawEntry({ name: "PaxHeader/README.md", typeflag: "x" }, paxRecords(["path", "README.md"]));
      await expect(readBundle(bundleWith({ beforeReadme: [pax] }))).resolves.toMatchObject({ manifest: { id: "acme.hello" } });
      const gnu = rawEntry({ name: "././@LongLink", typeflag: "L" }, text("README.md\0"));
      await expect(readBundle(bundleWith({ beforeReadme: [gnu, pax] }))).resolves.toMatchObject({ manifest: { id: "acme.hello" } });
      const long = `ui/${"x".repeat(240)}.txt`;
      const files = serviceFiles();
      files.set(long, text("x"));
      await expect(readBundle(await tarGz(bundleEntries(files)))).resolves.toMatchObject({ index: { files: expect.arrayContaining([expect.objectContaining({ path: long })]) } });
    });

    it("a PAX bomb (8 MiB of tiny records in one header) is refused at its header, without parsing it", async () => {
      const started = performance.now();
      const error = await metadataError(PAX_BOMB, /"PaxHeader".*\d+ bytes/);
      expect(error.details).toMatchObject({ entry: "PaxHeader", entryType: "x", max: DEFAULT_BUNDLE_LIMITS.maxPathLength + 1024 });
      expect(performance.now() - started).toBeLessThan(1000);
    });

    it("a GNU long name over the metadata limit", async () => {
      const gnu = rawEntry({ name: "././@LongLink", typeflag: "L" }, text(`${"a/".repeat(1000)}x\0`));
      await metadataError(bundleWith({ beforeReadme: [gnu] }), /"\.\/\.\/@LongLink"/);
    });

    it("a PAX global header, however small", async () => {
      const global = rawEntry({ name: "pax_global_header", typeflag: "g" }, paxRecords(["comment", "hi"]));
      await metadataError(bundleWith({ beforeReadme: [global] }), /"pax_global_header".*global/);
    });

    it("a GNU long link name (bundles hold no links)", async () => {
      const link = rawEntry({ name: "././@LongLink", typeflag: "K" }, text("target\0"));
      await metadataError(bundleWith({ beforeReadme: [link] }), /"\.\/\.\/@LongLink"/);
    });

    it.each(["size", "mtime", "linkpath", "uname", "SCHILY.xattr.user.x", "comment"])("a PAX key other than path: %s", async (key) => {
      const pax = rawEntry({ name: "PaxHeader/README.md", typeflag: "x" }, paxRecords(["path", "README.md"], [key, "1"]));
      const error = await metadataError(bundleWith({ beforeReadme: [pax] }), new RegExp(`"PaxHeader/README\\.md".*"${key.replace(/\./g, "\\.")}"`));
      expect(error.details).toMatchObject({ entry: "PaxHeader/README.md", key });
    });

    it("a PAX header with a path twice, or records that do not parse", async () => {
      const twice = rawEntry({ name: "PaxHeader", typeflag: "x" }, paxRecords(["path", "README.md"], ["path", "README.md"]));
      await metadataError(bundleWith({ beforeReadme: [twice] }), /"PaxHeader"/);
      for (const body of ["9 path=README.md\n", "15 path=README.md", "x path=README.md\n", "14 README.md\n"]) {
        await metadataError(bundleWith({ beforeReadme: [rawEntry({ name: "PaxHeader", typeflag: "x" }, text(body))] }), /"PaxHeader"/);
      }
    });

    it("two metadata entries of one kind for one file, or one with no file after it", async () => {
      const pax = rawEntry({ name: "PaxHeader/README.md", typeflag: "x" }, paxRecords(["path", "README.md"]));
      await metadataError(bundleWith({ beforeReadme: [pax, pax] }), /"PaxHeader\/README\.md"/);
      const gnu = rawEntry({ name: "././@LongLink", typeflag: "L" }, text("README.md\0"));
      await metadataError(bundleWith({ beforeReadme: [gnu, gnu] }), /"\.\/\.\/@LongLink"/);
      await metadataError(bundleWith({ atEnd: [pax] }), /"PaxHeader\/README\.md"/);
    });

    it("a bodyless entry whose size field would hide the next header from a scanner that trusted it", async () => {
      // modern-tar gives directories (and links, devices, FIFOs) no body whatever their size field says,
      // so the header right after is the next entry: the bomb there must not be skipped over.
      const directory = rawHeader({ name: "ui/", typeflag: "5", size: 8 * 1024 * 1024 + 512 });
      const bomb = rawEntry({ name: "PaxHeader", typeflag: "x" }, text("5 a=\n".repeat(1000)));
      await metadataError(bundleWith({ beforeReadme: [directory, bomb] }), /"PaxHeader"/);
    });
  });

  describe("readBundle refuses a file named like a folder that has a body (E_BUNDLE_FORMAT)", () => {
    // modern-tar reads a file entry whose name ends in "/" as a folder and skips its body unread:
    // bytes in the archive that no signature covers. A folder's name on an empty entry is still a folder.
    const hidden = text("bytes outside the signature");
    const folderWithBody = async (bundle: Uint8Array, path: string) => {
      const error = await rejectsWith(readBundle(bundle), "E_BUNDLE_FORMAT");
      expect(error.details).toMatchObject({ reason: "folder-with-body", path, size: hidden.length });
      expect(error.message).toContain(JSON.stringify(path));
    };

    it("named so in its own header", async () => {
      await folderWithBody(bundleWith({ beforeReadme: [rawEntry({ name: "ui/hidden/" }, hidden)] }), "ui/hidden/");
    });

    it("named so by a ustar prefix and an empty name", async () => {
      await folderWithBody(bundleWith({ beforeReadme: [rawEntry({ name: "", prefix: "ui/hidden" }, hidden)] }), "ui/hidden/");
    });

    it("renamed so by a PAX path or a GNU long name", async () => {
      const pax = rawEntry({ name: "PaxHeader/x", typeflag: "x" }, paxRecords(["path", "ui/hidden/"]));
      await folderWithBody(bundleWith({ beforeReadme: [pax, rawEntry({ name: "ui/plain.txt" }, hidden)] }), "ui/hidden/");
      const gnu = rawEntry({ name: "././@LongLink", typeflag: "L" }, text("ui/hidden/\0"));
      await folderWithBody(bundleWith({ beforeReadme: [gnu, rawEntry({ name: "ui/plain.txt" }, hidden)] }), "ui/hidden/");
    });

    it("an empty file entry named like a folder is a folder, and read as before", async () => {
      await expect(readBundle(bundleWith({ beforeReadme: [rawEntry({ name: "ui/empty/" })] }))).resolves.toMatchObject({
        manifest: { id: "acme.hello" },
      });
    });
  });

  describe("readBundle refuses duplicate paths (E_BUNDLE_PATH)", () => {
    it.each([
      ["the same path twice", "README.md", "README.md"],
      ["case variants", "README.md", "readme.MD"],
      ["case variants of a folder", "ui/index.html", "UI/index.html"],
      // Lower-casing alone leaves these apart; case-insensitive filesystems fold them together.
      ["long s and s", "ui/s.txt", "ui/\u017f.txt"],
      ["dotless i and i", "ui/i.txt", "ui/\u0131.txt"],
      ["micro sign and mu", "ui/\u03bc.txt", "ui/\u00b5.txt"],
      ["final sigma and sigma", "ui/\u03c3.txt", "ui/\u03c2.txt"],
    ])("%s", async (_, first, second) => {
      const files = serviceFiles();
      files.set(first, text("first"));
      const bundle = await tarGz(bundleEntries(files, { extra: [fileEntry(second, "second")] }));
      expect((await rejectsWith(readBundle(bundle), "E_BUNDLE_PATH")).details).toMatchObject({ reason: "duplicate", path: second });
    });

    it("an NFD spelling, alone or beside its NFC one: bundle paths are NFC (E_BUNDLE_PATH, not-nfc)", async () => {
      for (const files of [serviceFiles(), new Map([...serviceFiles(), ["ui/caf\u00e9.txt", text("nfc")]])]) {
        const bundle = await tarGz(bundleEntries(files, { extra: [fileEntry("ui/cafe\u0301.txt", "nfd")] }));
        const error = await rejectsWith(readBundle(bundle), "E_BUNDLE_PATH");
        expect(error.details).toMatchObject({ reason: "not-nfc", path: "ui/cafe\u0301.txt" });
      }
    });

    it("the index itself twice (a second index would be a second opinion)", async () => {
      const entries = bundleEntries();
      entries.push(entries[0]!);
      await rejectsWith(readBundle(await tarGz(entries)), "E_BUNDLE_PATH");
    });

    it.each([
      ["a folder entry, then a file of its name", ["annex.json/"], "after"],
      ["a file, then a folder entry of its name", ["server/index.js/"], "after"],
      ["a folder entry of a file's name, before it", ["README.md/"], "before"],
    ])("%s: two things at one path (E_BUNDLE_PATH, file-folder-clash)", async (_, folders, where) => {
      const files = serviceFiles();
      const pieces = [rawEntry({ name: "annex.index.json" }, canonicalIndex(indexEntries(files)))];
      const dirs = folders.map((name) => rawEntry({ name, typeflag: "5" }));
      if (where === "before") pieces.push(...dirs);
      for (const [name, bytes] of files) pieces.push(rawEntry({ name }, bytes));
      if (where === "after") pieces.push(...dirs);
      const error = await rejectsWith(readBundle(gzip(rawTar(...pieces))), "E_BUNDLE_PATH");
      expect(error.details).toMatchObject({ reason: "file-folder-clash" });
    });

    it("folder entries for the folders the files are in", async () => {
      const files = serviceFiles();
      const pieces = [rawEntry({ name: "annex.index.json" }, canonicalIndex(indexEntries(files))), rawEntry({ name: "server/", typeflag: "5" }), rawEntry({ name: "ui/", typeflag: "5" })];
      for (const [name, bytes] of files) pieces.push(rawEntry({ name }, bytes));
      expect((await readBundle(gzip(rawTar(...pieces)))).files.size).toBe(files.size);
    });

    it("a file where another entry needs a folder", async () => {
      const bundle = await withExtra(fileEntry("server", "not a folder"));
      expect((await rejectsWith(readBundle(bundle), "E_BUNDLE_PATH")).details).toMatchObject({ reason: "file-folder-clash" });
    });
  });

  describe("readBundle checks every file against the index (E_HASH_MISMATCH)", () => {
    it("a file that is not in the index", async () => {
      const error = await rejectsWith(readBundle(await withExtra(fileEntry("ui/extra.js", "alert(1)"))), "E_HASH_MISMATCH");
      expect(error.details).toMatchObject({ reason: "not-in-index", path: "ui/extra.js" });
    });

    it("an index entry without its file", async () => {
      const files = serviceFiles();
      const index = canonicalIndex(indexEntries(files));
      files.delete("README.md");
      const error = await rejectsWith(readBundle(await tarGz(bundleEntries(files, { index }))), "E_HASH_MISMATCH");
      expect(error.details).toMatchObject({ reason: "missing-file", path: "README.md" });
    });

    it("a file whose size differs from the index", async () => {
      const files = serviceFiles();
      const index = canonicalIndex(indexEntries(files));
      files.set("README.md", text("# Hello, longer\n"));
      const error = await rejectsWith(readBundle(await tarGz(bundleEntries(files, { index }))), "E_HASH_MISMATCH");
      expect(error.details).toMatchObject({ reason: "size", path: "README.md" });
    });

    it("a file whose bytes differ from the index (same size)", async () => {
      const files = serviceFiles();
      const index = canonicalIndex(indexEntries(files));
      files.set("server/index.js", text(new TextDecoder().decode(files.get("server/index.js")).replace("hello", "HELLO")));
      const error = await rejectsWith(readBundle(await tarGz(bundleEntries(files, { index }))), "E_HASH_MISMATCH");
      expect(error.details).toMatchObject({ reason: "sha256", path: "server/index.js" });
    });

    it("a tampered file in a bundle made by packBundle", async () => {
      const tar = gunzip(await packBundle(serviceFiles()));
      const at = Buffer.from(tar).indexOf("# Hello");
      tar[at + 2] = "J".charCodeAt(0);
      expect((await rejectsWith(readBundle(gzip(tar)), "E_HASH_MISMATCH")).details).toMatchObject({ path: "README.md" });
    });
  });

  describe("readBundle refuses a missing or non-canonical index (E_BUNDLE_FORMAT)", () => {
    const files = serviceFiles();
    const entries = indexEntries(files);
    it.each([
      ["pretty-printed", text(JSON.stringify({ indexVersion: 1, files: entries }, null, 2))],
      ["unsorted", text(JSON.stringify({ indexVersion: 1, files: [...entries].reverse() }))],
      ["keys in another order", text(JSON.stringify({ files: entries, indexVersion: 1 }))],
      ["an extra field", text(JSON.stringify({ indexVersion: 1, files: entries, note: "hi" }))],
      ["an extra field in an entry", text(JSON.stringify({ indexVersion: 1, files: entries.map((e) => ({ ...e, mode: 420 })) }))],
      ["uppercase hex", text(JSON.stringify({ indexVersion: 1, files: entries.map((e) => ({ ...e, sha256: e.sha256.toUpperCase() })) }))],
      ["version 2", text(JSON.stringify({ indexVersion: 2, files: entries }))],
      ["not JSON", text("indexVersion=1")],
      ["a trailing newline", text(`${JSON.stringify({ indexVersion: 1, files: entries })}\n`)],
      ["an escaped character that need not be", text(JSON.stringify({ indexVersion: 1, files: entries }).replace("README", "\\u0052EADME"))],
    ])("%s", async (_, index) => {
      const error = await rejectsWith(readBundle(await tarGz(bundleEntries(files, { index }))), "E_BUNDLE_FORMAT");
      expect(error.details).toMatchObject({ path: "annex.index.json" });
    });

    it("an index that lists itself", async () => {
      const withSelf = [...entries, { path: "annex.index.json", size: 1, sha256: "0".repeat(64) }].sort((a, b) => (a.path < b.path ? -1 : 1));
      await rejectsWith(readBundle(await tarGz(bundleEntries(files, { index: canonicalIndex(withSelf) }))), "E_BUNDLE_FORMAT");
    });

    it("an index that lists a path twice", async () => {
      const twice = [...entries, entries[0]!].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
      await rejectsWith(readBundle(await tarGz(bundleEntries(files, { index: canonicalIndex(twice) }))), "E_BUNDLE_FORMAT");
    });

    it("no index at all", async () => {
      const error = await rejectsWith(readBundle(await tarGz(bundleEntries().slice(1))), "E_BUNDLE_FORMAT");
      expect(error.details).toMatchObject({ reason: "missing-index" });
    });
  });

  describe("readBundle refuses corrupt archives (E_BUNDLE_FORMAT)", () => {
    it("a header with a bad checksum (hand-written)", async () => {
      const tar = rawTar(rawEntry({ name: "annex.json", checksum: 1234 }, text("{}")));
      expect((await rejectsWith(readBundle(gzip(tar)), "E_BUNDLE_FORMAT")).details).toMatchObject({ reason: "bad-tar" });
    });

    it("a packBundle bundle with one byte of a header flipped", async () => {
      const tar = gunzip(await packBundle(serviceFiles()));
      const secondHeader = 1024; // the index header, then its body, which fits one block
      expect(new TextDecoder().decode(tar.subarray(secondHeader, secondHeader + 9))).toBe("README.md");
      tar[secondHeader + 2]! ^= 0x01;
      expect((await rejectsWith(readBundle(gzip(tar)), "E_BUNDLE_FORMAT")).details).toMatchObject({ reason: "bad-tar" });
    });

    it("a tar without its end-of-archive marker", async () => {
      const tar = gunzip(await tarGz(bundleEntries()));
      await rejectsWith(readBundle(gzip(tar.subarray(0, tar.length - 1024))), "E_BUNDLE_FORMAT");
    });

    it("non-zero bytes after the end-of-archive marker", async () => {
      const tar = gunzip(await tarGz(bundleEntries()));
      await rejectsWith(readBundle(gzip(concat(tar, text("smuggled")))), "E_BUNDLE_FORMAT");
    });

    it("zeros after the end-of-archive marker: a record's padding is read, 16 MiB of ballast is refused", async () => {
      const tar = gunzip(await tarGz(bundleEntries()));
      // GNU tar pads to a 10 KiB record by default, more with a larger blocking factor.
      expect((await readBundle(gzip(concat(tar, new Uint8Array(64 * 1024))))).files.size).toBe(serviceFiles().size);
      const error = await rejectsWith(readBundle(zeroBomb(16 * 1024 * 1024, tar)), "E_BUNDLE_FORMAT");
      expect(error.details).toMatchObject({ reason: "bad-tar" });
      expect(error.details["padding"]).toBeGreaterThan(1024 * 1024);
      expect(error.details["padding"]).toBeLessThanOrEqual(16 * 1024 * 1024 + tar.length - (error.details["end"] as number));
      expect(error.message).toMatch(/bytes follow it/);
    });

    it("an uncompressed tar", async () => {
      const tar = gunzip(await packBundle(serviceFiles()));
      expect((await rejectsWith(readBundle(tar), "E_BUNDLE_FORMAT")).details).toMatchObject({ reason: "bad-gzip" });
    });

    it("garbage after the gzip stream", async () => {
      await rejectsWith(readBundle(concat(await packBundle(serviceFiles()), text("garbage"))), "E_BUNDLE_FORMAT");
    });

    it("an empty input and a value that is not bytes", async () => {
      await rejectsWith(readBundle(new Uint8Array(0)), "E_BUNDLE_FORMAT");
      await rejectsWith(readBundle("not bytes" as unknown as Uint8Array), "E_BUNDLE_FORMAT");
    });
  });

  describe("readBundle checks the manifest", () => {
    it("an invalid manifest is E_MANIFEST", async () => {
      const files = serviceFiles();
      files.set("annex.json", json({ ...SERVICE_MANIFEST, capabilities: [{ name: "root.shell", reason: "Wants everything." }] }));
      await rejectsWith(readBundle(await tarGz(bundleEntries(files))), "E_MANIFEST");
    });

    it("annex.json that is not UTF-8 is E_MANIFEST", async () => {
      const files = serviceFiles();
      files.set("annex.json", new Uint8Array([0x7b, 0xff, 0x7d]));
      await rejectsWith(readBundle(await tarGz(bundleEntries(files))), "E_MANIFEST");
    });

    it("a bundle without annex.json is E_BUNDLE_FORMAT", async () => {
      const files = serviceFiles();
      files.delete("annex.json");
      expect((await rejectsWith(readBundle(await tarGz(bundleEntries(files))), "E_BUNDLE_FORMAT")).details).toMatchObject({
        reason: "missing-manifest",
      });
    });

    it("a runtime.entry that is not in the bundle is E_BUNDLE_FORMAT naming the field", async () => {
      const files = serviceFiles();
      files.delete("server/index.js");
      const error = await rejectsWith(readBundle(await tarGz(bundleEntries(files))), "E_BUNDLE_FORMAT");
      expect(error.details).toMatchObject({ reason: "missing-entry", field: "runtime.entry", path: "server/index.js" });
    });

    it("an owned schema whose migrations folder holds no .sql file is E_BUNDLE_FORMAT naming storage.migrations", async () => {
      const manifest = {
        ...SERVICE_MANIFEST,
        capabilities: [{ name: "storage.sql", reason: "Keeps orders in its own tables." }],
        storage: { kind: "owned-schema", migrations: "migrations" },
      };
      const files = serviceFiles();
      files.set("annex.json", json(manifest));
      // A README in the folder, or a migration beside it: still nothing creates the schema's tables.
      files.set("migrations/README.md", text("# Migrations\n"));
      files.set("migrations-old/0001_init.sql", text("CREATE TABLE t (id int);\n"));
      const error = await rejectsWith(readBundle(await tarGz(bundleEntries(files))), "E_BUNDLE_FORMAT");
      expect(error.details).toMatchObject({ reason: "missing-entry", field: "storage.migrations", path: "migrations" });
      files.set("migrations/0001_init.sql", text("CREATE TABLE t (id int);\n"));
      expect((await readBundle(await tarGz(bundleEntries(files)))).manifest.storage).toMatchObject({ kind: "owned-schema" });
    });
  });

  describe("what readBundle returns", () => {
    it("is frozen: the manifest, the index and the file map cannot be changed", async () => {
      const bundle = await readBundle(await packBundle(serviceFiles()));
      expect(Object.isFrozen(bundle)).toBe(true);
      expect(Object.isFrozen(bundle.manifest)).toBe(true);
      expect(Object.isFrozen(bundle.manifest.runtime)).toBe(true);
      expect(Object.isFrozen(bundle.index.files[0])).toBe(true);
      const files = bundle.files as Map<string, Uint8Array>;
      expect(() => files.set("evil.js", new Uint8Array(1))).toThrow(TypeError);
      expect(() => files.delete("annex.json")).toThrow(TypeError);
      expect(() => files.clear()).toThrow(TypeError);
      expect(files.has("annex.json")).toBe(true);
    });

    it("survives structuredClone (the way a bundle travels to a worker) as a plain Map", async () => {
      const bundle = await readBundle(await packBundle(serviceFiles()));
      const copy = structuredClone({ files: bundle.files, manifest: bundle.manifest });
      expect(copy.files).toBeInstanceOf(Map);
      expect([...copy.files.keys()]).toEqual([...bundle.files.keys()]);
    });
  });
});
