import { describe, expect, it } from "vitest";
import { computeContentHash, DEFAULT_BUNDLE_LIMITS, packBundle, readBundle } from "../../src/bundle/index.js";
import {
  BUNDLE_MANIFEST,
  SERVICE_MANIFEST,
  docsFiles,
  gunzip,
  json,
  rejectsWith,
  serviceFiles,
  sha256Hex,
  text,
  untar,
} from "./support.js";

describe("packBundle", () => {
  it("is deterministic: the same files give identical bytes, whatever their input order", async () => {
    const files = serviceFiles();
    const reversed = new Map([...files].reverse());
    const asRecord = Object.fromEntries(files);
    const a = await packBundle(files);
    const b = await packBundle(reversed);
    const c = await packBundle(asRecord);
    expect(Buffer.from(b).equals(Buffer.from(a))).toBe(true);
    expect(Buffer.from(c).equals(Buffer.from(a))).toBe(true);
  });

  it("writes a gzip header with mtime 0", async () => {
    const bytes = await packBundle(serviceFiles());
    expect([...bytes.subarray(0, 3)]).toEqual([0x1f, 0x8b, 8]);
    expect([...bytes.subarray(4, 8)]).toEqual([0, 0, 0, 0]);
  });

  it("writes the index first, then the files sorted by path, with fixed metadata and no directories", async () => {
    const entries = await untar(gunzip(await packBundle(serviceFiles())));
    expect(entries.map((e) => e.header.name)).toEqual(["annex.index.json", "README.md", "annex.json", "server/index.js", "ui/index.html"]);
    for (const { header } of entries) {
      expect(header).toMatchObject({ type: "file", mode: 0o644, uid: 0, gid: 0, uname: "", gname: "" });
      expect(header.mtime?.getTime()).toBe(0);
    }
  });

  it("writes the canonical index: fixed key order, sorted by path, no whitespace, correct sizes and hashes", async () => {
    const files = serviceFiles();
    const entries = await untar(gunzip(await packBundle(files)));
    const indexText = new TextDecoder().decode(entries[0]!.data);
    const expected = {
      indexVersion: 1,
      files: [...files.keys()].sort().map((path) => ({ path, size: files.get(path)!.length, sha256: sha256Hex(files.get(path)!) })),
    };
    expect(indexText).toBe(JSON.stringify(expected));
    expect(indexText.startsWith('{"indexVersion":1,"files":[{"path":"README.md","size":')).toBe(true);
  });

  it("round-trips: readBundle returns the same files, the index and the manifest", async () => {
    const files = serviceFiles();
    const bundle = await readBundle(await packBundle(files));
    expect([...bundle.files.keys()].sort()).toEqual([...files.keys()].sort());
    for (const [path, bytes] of files) expect(Buffer.from(bundle.files.get(path)!).equals(Buffer.from(bytes))).toBe(true);
    expect(bundle.manifest).toMatchObject({ id: SERVICE_MANIFEST.id, publisher: "acme", runtime: SERVICE_MANIFEST.runtime });
    expect(bundle.contentHash).toBe(await computeContentHash(bundle.index));
    expect(bundle.contentHash).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it("round-trips the bundle-class example, empty files, binary files, deep and long paths", async () => {
    const files = docsFiles();
    files.set("ui/empty.css", new Uint8Array(0));
    files.set("ui/img/logo.bin", Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7919) % 256));
    const deep = `ui/${"a".repeat(90)}/${"b".repeat(90)}/c.txt`; // needs the ustar prefix field
    const long = `ui/${"x".repeat(200)}.txt`; // no split fits: needs a PAX header
    files.set(deep, text("deep"));
    files.set(long, text("long"));
    files.set("ui/café ünïcode.txt", text("unicode"));
    const bundle = await readBundle(await packBundle(files));
    expect(bundle.manifest.id).toBe(BUNDLE_MANIFEST.id);
    expect(new Map([...bundle.files].map(([k, v]) => [k, Buffer.from(v).toString("hex")]))).toEqual(
      new Map([...files].map(([k, v]) => [k, Buffer.from(v).toString("hex")])),
    );
  });

  it("gives the content hash of the files, independent of compression", async () => {
    const files = serviceFiles();
    const a = await readBundle(await packBundle(files));
    files.set("README.md", text("# Changed\n"));
    const b = await readBundle(await packBundle(files));
    expect(b.contentHash).not.toBe(a.contentHash);
    // The content hash is sha256 of the canonical index bytes, nothing else.
    const indexBytes = text(JSON.stringify(a.index));
    expect(a.contentHash).toBe(`sha256:${sha256Hex(indexBytes)}`);
  });

  it("requires annex.json", async () => {
    const files = serviceFiles();
    files.delete("annex.json");
    const error = await rejectsWith(packBundle(files), "E_BUNDLE_FORMAT");
    expect(error.details).toMatchObject({ reason: "missing-manifest", path: "annex.json" });
  });

  it("refuses an invalid manifest with E_MANIFEST", async () => {
    const files = serviceFiles();
    files.set("annex.json", json({ ...SERVICE_MANIFEST, publisher: "Not Valid" }));
    const error = await rejectsWith(packBundle(files), "E_MANIFEST");
    expect((error as unknown as { issues: { path: string }[] }).issues.map((i) => i.path)).toContain("publisher");
  });

  it("refuses annex.json that is not JSON, or has duplicate keys, with E_MANIFEST", async () => {
    const files = serviceFiles();
    files.set("annex.json", text("{ not json"));
    await rejectsWith(packBundle(files), "E_MANIFEST");
    files.set("annex.json", text(JSON.stringify(SERVICE_MANIFEST).replace('"name":"Hello"', '"name":"Hello","name":"Other"')));
    await rejectsWith(packBundle(files), "E_MANIFEST");
  });

  it("requires the files the manifest names: runtime.entry and every UI page entry", async () => {
    const files = serviceFiles();
    files.delete("server/index.js");
    const error = await rejectsWith(packBundle(files), "E_BUNDLE_FORMAT");
    expect(error.details).toMatchObject({ reason: "missing-entry", path: "server/index.js", field: "runtime.entry" });
    const docs = docsFiles();
    docs.delete("ui/index.html");
    const uiError = await rejectsWith(packBundle(docs), "E_BUNDLE_FORMAT");
    expect(uiError.details).toMatchObject({ path: "ui/index.html", field: "ui.pages[0].entry" });
  });

  it("refuses a file named like the index it writes itself", async () => {
    const files = serviceFiles();
    files.set("annex.index.json", text("{}"));
    const error = await rejectsWith(packBundle(files), "E_BUNDLE_PATH");
    expect(error.details).toMatchObject({ reason: "reserved" });
  });

  it.each([
    ["/etc/passwd", "absolute"],
    ["../escape.js", "dot-segment"],
    ["ui/./x", "dot-segment"],
    ["ui\\x.js", "backslash"],
    ["C:/x.js", "absolute"],
    ["ui//x.js", "empty-segment"],
    ["ui/x\u0007.js", "control-character"],
    ["ui/x.", "trailing-dot-or-space"],
  ])("validates paths with the reader's rules: %j", async (path, reason) => {
    const files = serviceFiles();
    files.set(path, text("x"));
    const error = await rejectsWith(packBundle(files), "E_BUNDLE_PATH");
    expect(error.details).toMatchObject({ reason, path });
  });

  it("refuses a path that is not NFC (alone or beside its NFC spelling), and paths that collide after case folding", async () => {
    const files = serviceFiles();
    files.set("ui/cafe\u0301.txt", text("nfd"));
    const nfd = await rejectsWith(packBundle(files), "E_BUNDLE_PATH");
    expect(nfd.details).toMatchObject({ reason: "not-nfc", path: "ui/cafe\u0301.txt", nfc: "ui/caf\u00e9.txt" });
    expect(nfd.message).toMatch(/normalize\("NFC"\)/);
    files.set("ui/caf\u00e9.txt", text("nfc"));
    expect((await rejectsWith(packBundle(files), "E_BUNDLE_PATH")).details).toMatchObject({ reason: "not-nfc" });
    const cased = serviceFiles();
    cased.set("readme.md", text("lower"));
    expect((await rejectsWith(packBundle(cased), "E_BUNDLE_PATH")).details).toMatchObject({ reason: "duplicate" });
  });

  it("applies the limits, and accepts raised ones", async () => {
    const files = serviceFiles();
    files.set("ui/big.bin", new Uint8Array(4096));
    const error = await rejectsWith(packBundle(files, { limits: { maxFileBytes: 1024 } }), "E_BUNDLE_LIMIT");
    expect(error.details).toMatchObject({ limit: "maxFileBytes", path: "ui/big.bin", max: 1024 });
    const count = await rejectsWith(packBundle(files, { limits: { maxFiles: 3 } }), "E_BUNDLE_LIMIT");
    expect(count.details).toMatchObject({ limit: "maxFiles" });
    await rejectsWith(packBundle(files, { limits: { maxCompressedBytes: 100 } }), "E_BUNDLE_LIMIT");
    expect(DEFAULT_BUNDLE_LIMITS.maxFileBytes).toBeGreaterThan(4096);
    await expect(packBundle(files, { limits: { maxFileBytes: 8192 } })).resolves.toBeInstanceOf(Uint8Array);
  });

  it("refuses values that are not bytes", async () => {
    const error = await rejectsWith(packBundle({ "annex.json": "text" as unknown as Uint8Array }), "E_BUNDLE_FORMAT");
    expect(error.details).toMatchObject({ reason: "not-bytes", path: "annex.json" });
  });
});
