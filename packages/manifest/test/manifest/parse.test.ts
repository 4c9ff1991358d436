import semver from "semver";
import { describe, expect, it, vi } from "vitest";
import { z } from "zod";
import {
  AnnexError,
  isAnnexError,
  ManifestError,
  MAX_MANIFEST_TEXT_LENGTH,
  parseManifest,
  parseManifestText,
  type HostCapabilityRegistry,
} from "../../src/index.js";
import { STACKED_MARKS } from "../../src/manifest/primitives.js";
import { SERVICE_EXAMPLE, expectIssue, expectValid, issuesOf, reason, service } from "./fixtures.js";

function textError(text: string, options?: Parameters<typeof parseManifestText>[1]): ManifestError {
  try {
    parseManifestText(text, options);
  } catch (error) {
    expect(error).toBeInstanceOf(ManifestError);
    return error as ManifestError;
  }
  throw new Error("expected parseManifestText to throw");
}

describe("ManifestError", () => {
  it("is an AnnexError with code E_MANIFEST, every issue, and a message naming each path", () => {
    let caught: unknown;
    try {
      parseManifest(service({ name: 1, version: "x" }));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ManifestError);
    expect(caught).toBeInstanceOf(AnnexError);
    expect(isAnnexError(caught, "E_MANIFEST")).toBe(true);
    const error = caught as ManifestError;
    expect(error.code).toBe("E_MANIFEST");
    expect(error.name).toBe("ManifestError");
    expect(error.issues.map((i) => i.path)).toEqual(["name", "version"]);
    expect(error.message).toMatch(/2 problems/);
    expect(error.message).toMatch(/- name: must be a string, not a number/);
    expect(error.toJSON().details).toEqual({ issues: error.issues.map((i) => ({ ...i })), issueCount: 2 });
  });

  it("bounds the message and the issue list, however many issues there are", () => {
    // 64 host capabilities the registry lacks and 128 endpoints with an unknown method: every list within its bound,
    // so every entry is checked.
    const registry: HostCapabilityRegistry = Object.fromEntries(
      Array.from({ length: 20 }, (_, i) => [`crm.contacts${i}.read`, { name: `crm.contacts${i}.read` }]),
    );
    const capabilities = Array.from({ length: 64 }, (_, i) => ({ name: `host:crm.nope${i}`, reason }));
    const endpoints = Array.from({ length: 128 }, (_, i) => ({ class: "api", method: "FETCH", path: `/p${i}`, handler: "h" }));
    let caught: unknown;
    try {
      parseManifest(service({ capabilities, endpoints }), { hostCapabilities: registry });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ManifestError);
    const error = caught as ManifestError;
    expect(error.message.length).toBeLessThan(5 * 1024);
    // At least one issue per entry; the message lists 20 and counts the rest, the error keeps 100.
    const count = error.issueCount;
    expect(count).toBeGreaterThanOrEqual(192);
    expect(error.message).toContain(`(${count} problems)`);
    expect(error.message).toContain("  - endpoints[0].method: method must be one of GET");
    expect(error.message.endsWith(`\n… and ${count - 20} more`)).toBe(true);
    expect(error.issues).toHaveLength(100);
    const details = error.toJSON().details!;
    expect(details["issueCount"]).toBe(count);
    expect(details["issues"]).toHaveLength(100);
    expect(JSON.stringify(error.toJSON()).length).toBeLessThan(64 * 1024);
  });

  describe("a list longer than its bound", () => {
    const registry: HostCapabilityRegistry = { "crm.contacts.read": { name: "crm.contacts.read" } };
    const cases: [string, Record<string, unknown>, string][] = [
      // 30,000 entries (90,000 values, under the 100,000 a manifest may hold), each also wrong: none of them is parsed or looked up in the registry.
      ["capabilities", { capabilities: Array.from({ length: 30_000 }, (_, i) => ({ name: `host:crm.nope${i}`, reason })) }, "capabilities: at most 64 capabilities (this list has 30000)"],
      ["endpoints", { endpoints: Array.from({ length: 30_000 }, () => ({ class: "api", method: "FETCH" })) }, "endpoints: at most 128 endpoints (this list has 30000)"],
      [
        "a capability's hosts",
        { capabilities: [{ name: "http.fetch", hosts: Array.from({ length: 5_000 }, (_, i) => `-bad${i}`), reason }] },
        "capabilities[0].hosts: at most 64 hosts (this list has 5000)",
      ],
      ["config settings", { config: Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, { type: "nope" }])) }, "config: at most 64 entries (this one has 20000)"],
    ];
    it.each(cases)("%s: refused as one issue, its entries never checked", (_label, fields, expected) => {
      let caught: unknown;
      try {
        parseManifest(service(fields), { hostCapabilities: registry });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(ManifestError);
      const error = caught as ManifestError;
      expect(error.issueCount).toBe(1);
      expect(`${error.issues[0]!.path}: ${error.issues[0]!.message}`).toBe(expected);
    });

    it("is not confused by a union's other options: a list the chosen option allows passes", () => {
      // storage.kv takes no hosts: only http.fetch could take this entry, and 3 hosts are within its bound.
      expectValid(service({ capabilities: [{ name: "http.fetch", hosts: ["a.example.com", "b.example.com", "c.example.com"], reason }] }));
    });
  });

  it("cuts one enormous issue in the message and in the list", () => {
    const key = `k${"x".repeat(500_000)}`;
    const error = textError(JSON.stringify({ ...SERVICE_EXAMPLE, [key]: 1 }));
    expect(error.issueCount).toBe(1);
    expect(error.message.length).toBeLessThan(1024);
    expect(error.message).toMatch(/\n {2}- kx+…$/);
    expect(error.issues[0]!.path.length).toBeLessThanOrEqual(2000);
    expect(error.issues[0]!.message.length).toBeLessThanOrEqual(2000);
  });

  it("names the root when the input is not an object", () => {
    for (const input of [null, undefined, 42, "annex.json", [SERVICE_EXAMPLE]]) {
      const issues = issuesOf(input);
      expect(issues).toHaveLength(1);
      expect(issues[0]?.path).toBe("");
      expect(issues[0]?.message).toMatch(/must be an object/);
    }
  });

  it("says what is required when a field is missing", () => {
    const { runtime: _omit, ...rest } = SERVICE_EXAMPLE;
    expectIssue(rest, "runtime", /^required \(an object\)$/);
  });
});

describe("hostile structures", () => {
  it("refuses input nested deeper than any manifest instead of overflowing the stack", () => {
    let deep: unknown = "x";
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expectIssue(service({ capabilities: [{ name: "host:a.b", reason, params: deep }] }), "", /nests deeper than 32 levels/);
  });

  it("refuses a cyclic object", () => {
    const params: Record<string, unknown> = {};
    params["self"] = params;
    expectIssue(service({ capabilities: [{ name: "host:a.b", reason, params }] }), "", /refers to itself/);
  });

  it("refuses a shared-reference explosion quickly", () => {
    let node: unknown[] = ["x"];
    for (let i = 0; i < 24; i++) node = [node, node]; // 2^24 paths, 25 levels deep
    expectIssue(service({ capabilities: [{ name: "host:a.b", reason, params: node }] }), "", /more than 100000 values/);
  });

  it.each([
    ["NUL", "Says\u0000 hello."],
    ["an unpaired high surrogate", "Says \ud83d hello."],
    ["an unpaired low surrogate", "Says \ude00 hello."],
    ["an escape character", "Says \u001b[31m hello."],
    ["DEL", "Says \u007f hello."],
  ])("refuses a string holding %s, which could not be stored or shown", (_what, description) => {
    expectIssue(service({ description }), "description", /control character \(such as NUL\) or an unpaired UTF-16 surrogate/);
  });

  it("refuses such characters anywhere, keys included, and keeps tabs, line breaks and paired surrogates", () => {
    expectIssue(service({ config: { greeting: { type: "string", default: "hi\u0000" } } }), "config.greeting.default", /control character/);
    expectIssue(service({ capabilities: [{ name: "host:a.b", reason, params: { ["k\u0000"]: 1 } }] }), `capabilities[0].params[${JSON.stringify("k\u0000")}]`, /key contains a control character/);
    expectValid(service({ description: "Says hello 👋\n\tto everyone." }));
  });

  it("refuses C1 controls, which some terminals read as CSI and OSC (annex inspect prints descriptions)", () => {
    expectIssue(service({ description: "Clears \u009b2J the screen" }), "description", /control character/);
    expectIssue(service({ capabilities: [{ name: "log", reason: "Sets \u009d52;c;aGk=\u009c the clipboard." }] }), "capabilities[0].reason", /control character/);
    expectIssue(service({ config: { ["k\u0085"]: { type: "string" } } }), `config[${JSON.stringify("k\u0085")}]`, /key contains a control character/);
    // Latin-1 letters right after the C1 block stay text.
    expectValid(service({ description: "Café, naïve, ÿ — \u00a0non-breaking." }));
  });

  it('refuses a "__proto__" key anywhere, which zod\'s records would drop without a word', () => {
    // Only JSON.parse makes "__proto__" an own key: built here the same way annex.json is read.
    const read = (json: string) => JSON.parse(json) as Record<string, unknown>;
    const config = read('{"__proto__": {"type": "nonsense", "required": true}, "greeting": {"type": "string"}}');
    expectIssue(service({ config }), "config.__proto__", /"__proto__" is not allowed/);
    const params = read('{"__proto__": {"admin": true}, "fields": ["email"]}');
    expectIssue(service({ capabilities: [{ name: "host:a.b", reason, params }] }), "capabilities[0].params.__proto__", /"__proto__" is not allowed/);
    const text = JSON.stringify(service({})).replace("{", '{"config": {"__proto__": {"type": "string"}},');
    expect(textError(text).issues.map((issue) => issue.path)).toEqual(["config.__proto__"]);
  });

  it("refuses bidirectional controls in text an admin reads before consenting", () => {
    expectIssue(service({ name: "Hello \u202eolleH" }), "name", /bidirectional control/);
    expectIssue(service({ capabilities: [{ name: "log", reason: "Logs \u2066nothing\u2069 at all." }] }), "capabilities[0].reason", /bidirectional control/);
    // Anywhere an admin reads it: a host capability's params (the consent dialog showed "admin" as "nimda"), a setting's values.
    expectIssue(service({ capabilities: [{ name: "host:crm.read", reason, params: { note: "\u202e", scope: "admin" } }] }), "capabilities[0].params.note", /bidirectional control/);
    expectIssue(service({ capabilities: [{ name: "host:crm.read", reason, params: { ["k\u2067"]: 1 } }] }), `capabilities[0].params[${JSON.stringify("k\u2067")}]`, /key contains bidirectional control/);
    expectIssue(service({ config: { mode: { type: "enum", values: ["safe", "\u202eefas"] } } }), "config.mode.values[1]", /bidirectional control/);
    // The marks act like controls: an RLM next to Hebrew letters reordered "Install Probe ‏אב 1.0" around its version.
    expectIssue(service({ name: "Probe \u200f\u05d0\u05d1 1.0" }), "name", /bidirectional control/);
    expectIssue(service({ description: "Counts \u200eviews." }), "description", /bidirectional control/);
    expectIssue(service({ capabilities: [{ name: "log", reason: "Logs \u061cnothing at all." }] }), "capabilities[0].reason", /bidirectional control/);
  });

  it("refuses piles of combining marks, which draw over the text around them", () => {
    const pile = "a" + "\u0301\u0302\u0303\u0304".repeat(3);
    expectIssue(service({ capabilities: [{ name: "log", reason: `Logs ${pile} things.` }] }), "capabilities[0].reason", /combining marks/);
    expectIssue(service({ config: { mode: { type: "enum", values: ["safe", pile] } } }), "config.mode.values[1]", /combining marks/);
    // Split by zero-width (non-)joiners, which Chromium stacks on the same letter all the same.
    const split = "a" + Array.from({ length: 6 }, () => "\u0301".repeat(8)).join("\u200c");
    expectIssue(service({ name: `Probe ${split}` }), "name", /combining marks/);
    expectIssue(service({ description: "a" + "\u0301\u200d".repeat(9) }), "description", /combining marks/);
    // What scripts need passes: Vietnamese stacks two, Devanagari conjuncts a few.
    expect(parseManifest(service({ name: "Tiếng Việt क्षत्रिय" })).name).toBe("Tiếng Việt क्षत्रिय");
  });

  it("finds a pile of marks the way the earlier pattern (quadratic on runs of joiners) did, on random strings", () => {
    const EARLIER = /(?:[\u200c\u200d]*\p{M}){9,}/u;
    const alphabet = ["a", " ", "\u200b", "\u200c", "\u200d", "\u0301", "\u0300", "\u093f", "\u{1d167}"];
    let seed = 7;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    let piles = 0;
    for (let i = 0; i < 20_000; i++) {
      // Mostly marks and joiners, so that piles of 8, 9 and 10 marks all come up.
      const weight = random();
      let value = "";
      for (let length = 1 + Math.floor(random() * 40); length > 0; length--) value += alphabet[random() < weight ? 3 + Math.floor(random() * 6) : Math.floor(random() * 9)];
      expect(STACKED_MARKS.test(value), JSON.stringify(value)).toBe(EARLIER.test(value));
      if (EARLIER.test(value)) piles++;
    }
    expect(piles).toBeGreaterThan(1000);
  });

  // The earlier pattern took ~7 s for 24,000 joiners, ~50 s for the 65,536 a setting may default to: every parse, publish and cold load.
  it("checks a long run of zero-width joiners in time linear in its length, wherever it is", () => {
    expect(expectValid(service({ config: { note: { type: "string", default: "\u200c".repeat(65_536) } } })).config["note"]).toMatchObject({ type: "string" });
    expectIssue(service({ notes: "\u200d".repeat(500_000) }), "notes", /unknown field/);
    expectIssue(service({ description: "\u200c".repeat(500_000) }), "description", /at most/);
    expect(textError(JSON.stringify(service({ name: "\u200c".repeat(500_000) }))).issues).toContainEqual(expect.objectContaining({ path: "name", message: expect.stringMatching(/at most 64/) }));
  }, 10_000);

  it("checks nothing but the length of a string over its field's maximum: engines.annex is not read as a range", () => {
    const range = vi.spyOn(semver, "Range");
    try {
      expectIssue(service({ engines: { annex: "1 ".repeat(450_000) } }), "engines.annex", /at most 128 characters/);
      expect(range).not.toHaveBeenCalled();
      expectIssue(service({ engines: { annex: "not a range" } }), "engines.annex", /semver range/);
      expect(range).toHaveBeenCalledTimes(1);
    } finally {
      range.mockRestore();
    }
  });

  it("refuses a top-level __proto__, never treating it as a prototype", () => {
    const input = JSON.parse(JSON.stringify(SERVICE_EXAMPLE).replace("{", '{"__proto__":{"polluted":true},')) as unknown;
    expectIssue(input, "__proto__", /"__proto__" is not allowed/);
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
  });
});

describe("parseManifestText", () => {
  const text = JSON.stringify(SERVICE_EXAMPLE, null, 2);

  it("parses valid text, with or without a byte-order mark", () => {
    expect(parseManifestText(text).id).toBe("acme.hello");
    expect(parseManifestText(`\uFEFF${text}`).id).toBe("acme.hello");
  });

  it.each([
    ['{\n  "id": "acme.hello",\n}', 3, 1, /property name/],
    ['{\n  "id": "acme.hello"\n  "name": "x"\n}', 3, 3, /',' or '}'/],
    ["{\n  'id': 1\n}", 2, 3, /double quotes/],
    ['{"a": [1, 2,]}', 1, 13, /JSON value/],
    ['{"a": 01}', 1, 8, /',' or '}'/],
    ['{"a": "tab\there"}', 1, 11, /control character/],
    ['{"a": "\\x"}', 1, 8, /escape/],
    ['{"a": "open', 1, 7, /unterminated string/],
    ['{"a": 1} extra', 1, 10, /end of the text/],
    ["", 1, 1, /JSON value/],
    ["NaN", 1, 1, /JSON value/],
  ])("reports the syntax error in %j at line %i, column %i", (input, line, column, message) => {
    const error = textError(input);
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]).toMatchObject({ path: "", line, column });
    expect(error.issues[0]?.message).toMatch(message);
    expect(error.issues[0]?.message).toContain(`line ${line}, column ${column}`);
  });

  it("refuses duplicate keys, which JSON.parse would silently collapse", () => {
    const duplicated = text.replace('"name": "Hello",', '"name": "Hello",\n  "id": "evil.hello",');
    const error = textError(duplicated);
    expect(error.issues[0]).toMatchObject({ path: "id", line: 5, column: 3 });
    expect(error.issues[0]?.message).toMatch(/duplicate key "id"/);
  });

  it("refuses duplicate keys deep inside", () => {
    const error = textError(text.replace('"name": "log",', '"name": "log", "name": "storage.sql",'));
    expect(error.issues.map((i) => i.path)).toContain("capabilities[0].name");
  });

  it("locates every schema issue at its field (or nearest parent)", () => {
    const broken = text.replace('"version": "1.0.0"', '"version": "one"').replace('"path": "/hello/:name"', '"path": "hello"');
    const error = textError(broken, { source: "examples/hello/annex.json" });
    expect(error.message).toMatch(/^examples\/hello\/annex\.json is not a valid Annex manifest/);
    const version = error.issues.find((i) => i.path === "version");
    expect(version).toMatchObject({ line: 5, column: 3 });
    const path = error.issues.find((i) => i.path === "endpoints[0].path");
    expect(path?.line).toBe(broken.split("\n").findIndex((l) => l.includes('"path": "hello"')) + 1);
    const missing = textError(JSON.stringify({ ...SERVICE_EXAMPLE, runtime: { class: "service" } }, null, 2)).issues.find((i) => i.path === "runtime.entry");
    expect(missing).toMatchObject({ line: 11, column: 3 }); // the "runtime" key: its parent
  });

  it("scans deep long keys in time linear in the text (a value's path is never rebuilt whole)", () => {
    // 30 levels of 8,000-character keys over 40,000 values: 0.7 MB, under the size limit. Keyed by whole-path
    // strings, the scan built and hashed 240,000 characters per value and ran for minutes (the test times out).
    const key = "k".repeat(8000);
    const inner = `{${Array.from({ length: 40_000 }, (_, i) => `"s${i}":0`).join(",")}}`;
    const nested = `${Array.from({ length: 30 }, (_, i) => `{"${key}${i}":`).join("")}${inner}${"}".repeat(30)}`;
    const error = textError(text.replace('"name": "Hello",', `"name": "Hello", "junk": ${nested},`));
    expect(error.issues.map((issue) => issue.path)).toContain("junk");
    expect(error.issues.find((issue) => issue.path === "junk")?.line).toBe(4);
  }, 20_000);

  it("lists the first duplicate keys and counts the rest, however many there are", () => {
    const repeated = `{${Array.from({ length: 90_000 }, () => '"same":0').join(",")}}`;
    const error = textError(text.replace('"name": "Hello",', `"name": "Hello", "junk": ${repeated},`));
    expect(error.issues[0]?.message).toMatch(/^89999 duplicate keys; the first 20 follow/);
    expect(error.issues.filter((issue) => issue.path === "junk.same")).toHaveLength(20);
    expect(error.message.length).toBeLessThan(8000);
  }, 20_000);

  it("refuses more than 100,000 values while scanning, primitives counted, before any other check walks them", () => {
    // A megabyte of zeros nested 30 deep, in a field the schema does not know: it took seconds and 800 MB to refuse.
    const zeros = Array.from({ length: 200_000 }, () => "0").join(",");
    const bomb = `${"[".repeat(30)}${zeros}${"]".repeat(30)}`;
    const error = textError(text.replace('"name": "Hello",', `"name": "Hello", "junk": ${bomb},`));
    expect(error.issueCount).toBe(1);
    expect(error.issues[0]?.message).toMatch(/^the manifest has more than 100000 values \(at line \d+, column \d+\); it holds settings, not data$/);
    // Where the scan stopped: at the 100,001st value (a few values before it in the manifest), not at the end.
    const column = error.issues[0]!.column!;
    expect(column).toBeGreaterThan(2 * 99_000);
    expect(column).toBeLessThan(2 * 100_100);
  });

  it("refuses nesting deeper than 64 levels while scanning", () => {
    const error = textError(`${"[".repeat(100)}${"]".repeat(100)}`);
    expect(error.issues[0]?.message).toMatch(/deeper than 64 levels/);
  });

  it("refuses text larger than the limit before scanning it", () => {
    const error = textError(" ".repeat(MAX_MANIFEST_TEXT_LENGTH + 1));
    expect(error.issues[0]?.message).toMatch(/larger than/);
  });

  it("refuses a non-string", () => {
    expect(textError(Buffer.from(text) as unknown as string).issues[0]?.message).toMatch(/must be a string/);
  });
});

describe("host capabilities", () => {
  const registry = new Map([
    [
      "crm.contacts.read",
      {
        name: "crm.contacts.read",
        description: "Read contacts",
        params: z.strictObject({ fields: z.array(z.enum(["email", "phone", "name"])).min(1), limit: z.int().max(1000).default(100) }),
      },
    ],
    ["tickets.write", { name: "tickets.write" }],
  ]);
  const manifest = (entry: Record<string, unknown>) => service({ capabilities: [{ reason, ...entry }] });

  it("without a registry, checks host capabilities for syntax only", () => {
    expectValid(manifest({ name: "host:anything.goes", params: { whatever: [1, 2, 3] } }));
    expectIssue(manifest({ name: "host:NoDots" }), "capabilities[0]", /not a valid host capability name/);
  });

  it("with a registry, unknown host capabilities are issues listing what the host offers", () => {
    expectIssue(manifest({ name: "host:crm.contacts.delete" }), "capabilities[0].name", /offers no capability "host:crm\.contacts\.delete".*host:crm\.contacts\.read, host:tickets\.write/, {
      hostCapabilities: registry,
    });
  });

  it("with a registry, params are checked against the registered schema, with paths", () => {
    expectIssue(manifest({ name: "host:crm.contacts.read", params: { fields: ["ssn"] } }), "capabilities[0].params.fields[0]", /email.*phone.*name/, { hostCapabilities: registry });
    expectIssue(manifest({ name: "host:crm.contacts.read", params: { fields: ["email"], extra: 1 } }), "capabilities[0].params.extra", /unknown field/, { hostCapabilities: registry });
    expectIssue(manifest({ name: "host:crm.contacts.read" }), "capabilities[0].params", /required/, { hostCapabilities: registry });
  });

  it("returns params as the host's schema parsed them", () => {
    const parsed = expectValid(manifest({ name: "host:crm.contacts.read", params: { fields: ["email"] } }), { hostCapabilities: registry });
    expect(parsed.capabilities[0]).toEqual({ name: "host:crm.contacts.read", reason, params: { fields: ["email"], limit: 100 } });
  });

  it("applies the host schema's defaults when the manifest gives no params", () => {
    const withDefaults = new Map([["a.b", { name: "a.b", params: z.strictObject({ scope: z.enum(["own", "all"]).default("own") }).default({ scope: "own" }) }]]);
    const parsed = expectValid(manifest({ name: "host:a.b" }), { hostCapabilities: withDefaults });
    expect(parsed.capabilities[0]).toEqual({ name: "host:a.b", reason, params: { scope: "own" } });
    expect(parseManifest(structuredClone(parsed), { hostCapabilities: withDefaults })).toEqual(parsed);
  });

  it("a capability registered without params takes none", () => {
    expectValid(manifest({ name: "host:tickets.write" }), { hostCapabilities: registry });
    expectIssue(manifest({ name: "host:tickets.write", params: {} }), "capabilities[0].params", /takes no params/, { hostCapabilities: registry });
  });

  it("accepts a plain record as the registry, ignoring inherited keys", () => {
    const record: HostCapabilityRegistry = { "tickets.write": { name: "tickets.write" } };
    expectValid(manifest({ name: "host:tickets.write" }), { hostCapabilities: record });
    expectIssue(manifest({ name: "host:to.string" }), "capabilities[0].name", /offers no capability/, { hostCapabilities: { ...record, toString: undefined } as never });
    expectIssue(manifest({ name: "host:constructor.x" }), "capabilities[0].name", /offers no capability/, { hostCapabilities: record });
  });

  it("reports registry problems together with schema problems", () => {
    const paths = issuesOf(service({ version: "x", capabilities: [{ name: "host:nope.nope", reason }] }), { hostCapabilities: registry }).map((i) => i.path);
    expect(paths).toEqual(["version", "capabilities[0].name"]);
  });

  it("turns a host schema that throws or is async into an issue, never a pass", () => {
    const throwing = new Map([["x.y", { name: "x.y", params: z.unknown().refine(async () => true) }]]);
    expectIssue(manifest({ name: "host:x.y", params: 1 }), "capabilities[0].params", /could not check params of host:x\.y/, { hostCapabilities: throwing });
  });
});
