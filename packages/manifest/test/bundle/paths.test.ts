import { describe, expect, it } from "vitest";
import { EntryChecker, MAX_PATH_SEGMENTS, checkBundlePath, collisionKey, comparePaths } from "../../src/bundle/paths.js";
import { DEFAULT_BUNDLE_LIMITS } from "../../src/bundle/index.js";
import { throwsWith } from "./support.js";

describe("checkBundlePath", () => {
  it.each(["annex.json", "ui/index.html", "ui/.well-known/x.json", "a/..b/c..d", "ui/café.txt", "日本語/ファイル.txt", "x-y_z~1.tar.gz", "a b/c d.txt"])(
    "accepts %j",
    (path) => {
      expect(() => checkBundlePath(path, DEFAULT_BUNDLE_LIMITS)).not.toThrow();
    },
  );

  it.each([
    ["", "empty"],
    ["/a", "absolute"],
    ["c:x", "absolute"],
    ["a/", "empty-segment"],
    ["a/../b", "dot-segment"],
    ["..", "dot-segment"],
    [".", "dot-segment"],
    ["a\\b", "backslash"],
    ["a\u0000b", "control-character"],
    ["a\u007fb", "control-character"],
    ["a\ufffdb", "control-character"],
    ["a\ud800b", "control-character"],
    ["a./b", "trailing-dot-or-space"],
    ["ui/cafe\u0301.css", "not-nfc"],
    ["\u212b.txt", "not-nfc"],
  ])("refuses %j (%s)", (path, reason) => {
    expect(throwsWith(() => checkBundlePath(path, DEFAULT_BUNDLE_LIMITS), "E_BUNDLE_PATH").details).toMatchObject({ reason, path });
  });
});

describe("Unicode normalisation", () => {
  it("requires NFC, the form asset requests are looked up in, naming the path and its NFC spelling", () => {
    expect("ui/caf\u00e9.css".normalize("NFC")).toBe("ui/caf\u00e9.css");
    expect(() => checkBundlePath("ui/caf\u00e9.css", DEFAULT_BUNDLE_LIMITS)).not.toThrow();
    const error = throwsWith(() => checkBundlePath("ui/cafe\u0301.css", DEFAULT_BUNDLE_LIMITS), "E_BUNDLE_PATH");
    expect(error.details).toMatchObject({ reason: "not-nfc", path: "ui/cafe\u0301.css", nfc: "ui/caf\u00e9.css" });
    expect(error.message).toContain(JSON.stringify("ui/cafe\u0301.css"));
    expect(error.message).toMatch(/NFC/);
    expect(throwsWith(() => new EntryChecker(DEFAULT_BUNDLE_LIMITS).file("ui/cafe\u0301.css", 1), "E_BUNDLE_PATH").details).toMatchObject({ reason: "not-nfc" });
  });
});

describe("collisions and ordering", () => {
  it("folds NFC/NFD and case to one key", () => {
    expect(collisionKey("Caf\u00e9.TXT")).toBe(collisionKey("cafe\u0301.txt"));
    expect(collisionKey("a.txt")).not.toBe(collisionKey("b.txt"));
  });

  it("folds case fully, not only by lower-casing", () => {
    for (const [a, b] of [["\u017f", "S"], ["\u0131", "I"], ["\u00b5", "\u039c"], ["\u03c2", "\u03a3"], ["stra\u00dfe", "STRASSE"]]) {
      expect(collisionKey(a!), `${a} vs ${b}`).toBe(collisionKey(b!));
    }
    expect(collisionKey("\u00e9")).not.toBe(collisionKey("e"));
  });

  it("sorts by UTF-16 code units of the NFC form", () => {
    const paths = ["b", "B", "a/b", "a", "é", "e\u0301x", "Z"];
    expect([...paths].sort(comparePaths)).toEqual(["B", "Z", "a", "a/b", "b", "é", "e\u0301x"]);
  });

  it("EntryChecker refuses a file under a path that is already a file, in either order", () => {
    const first = new EntryChecker(DEFAULT_BUNDLE_LIMITS);
    first.file("ui/a", 1);
    expect(throwsWith(() => first.file("UI/A/b", 1), "E_BUNDLE_PATH").details).toMatchObject({ reason: "file-folder-clash" });
    const second = new EntryChecker(DEFAULT_BUNDLE_LIMITS);
    second.file("ui/a/b", 1);
    expect(throwsWith(() => second.file("ui/a", 1), "E_BUNDLE_PATH").details).toMatchObject({ reason: "file-folder-clash" });
  });

  it("EntryChecker tells folders of the same name apart by where they are, and names who needed a folder", () => {
    const checker = new EntryChecker(DEFAULT_BUNDLE_LIMITS);
    // "x/a" and "a" are different folders: a file may sit at one and a folder at the other.
    checker.file("x/a/b", 1);
    checker.file("a", 1);
    checker.file("a.txt", 1);
    checker.file("x/ab/c", 1);
    expect(throwsWith(() => checker.file("x/a", 1), "E_BUNDLE_PATH").details).toMatchObject({ reason: "file-folder-clash", other: "x/a/b" });
    expect(throwsWith(() => checker.file("a/b", 1), "E_BUNDLE_PATH").details).toMatchObject({ reason: "file-folder-clash", other: "a" });
    expect(throwsWith(() => checker.file("X/A/B", 1), "E_BUNDLE_PATH").details).toMatchObject({ reason: "duplicate", other: "x/a/b" });
    checker.file("x/a/c/d", 1);
  });

  it("refuses a path of more than MAX_PATH_SEGMENTS segments, and takes one of exactly that many", () => {
    const checker = new EntryChecker(DEFAULT_BUNDLE_LIMITS);
    checker.file(`${"d/".repeat(MAX_PATH_SEGMENTS - 1)}f`, 1);
    const deep = `${"d/".repeat(MAX_PATH_SEGMENTS)}f`;
    const error = throwsWith(() => checker.file(deep, 1), "E_BUNDLE_PATH");
    expect(error.details).toMatchObject({ reason: "too-deep", path: deep });
    expect(error.message).toContain(`has ${MAX_PATH_SEGMENTS + 1} segments, over the ${MAX_PATH_SEGMENTS}`);
  });
});
