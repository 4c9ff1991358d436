import { describe, expect, it } from "vitest";
import { isHttpUrl } from "@annex/manifest";
import { ConfigError, validateConfig } from "../src/index.js";

const settings = {
  name: { type: "string", required: false, minLength: 2, maxLength: 5 },
  ratio: { type: "number", required: false, min: 0, max: 1, default: 0.5 },
  count: { type: "integer", required: true, min: 1 },
  on: { type: "boolean", required: false, default: false },
  mode: { type: "enum", required: false, values: ["a", "b"], default: "a" },
  site: { type: "url", required: false },
} as never;

function issues(input: unknown): Record<string, string> {
  try {
    validateConfig("acme.x@1.0.0", settings, input);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return Object.fromEntries((error as ConfigError).issues.map((issue) => [issue.path, issue.message]));
  }
  throw new Error("expected invalid config");
}

describe("ConfigError size", () => {
  it("lists the first issues of a config with 100,000 unknown keys and counts the rest", () => {
    const input: Record<string, unknown> = { count: 1 };
    for (let i = 0; i < 100_000; i++) input[`unknown${i}`] = i;
    let caught: unknown;
    try {
      validateConfig("acme.x@1.0.0", settings, input);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const error = caught as ConfigError;
    expect(error.message.length).toBeLessThan(5 * 1024);
    expect(error.message).toMatch(/\(100000 problems\)/);
    expect(error.message).toContain("  - config.unknown0: is not a setting of acme.x@1.0.0");
    expect(error.message).toMatch(/\n… and 99980 more$/);
    expect(error.issueCount).toBe(100_000);
    expect(error.issues).toHaveLength(100);
    expect(error.details).toMatchObject({ issueCount: 100_000 });
  });
});

describe("validateConfig", () => {
  it("applies defaults and keeps optional settings without a default absent", () => {
    expect(validateConfig("acme.x@1.0.0", settings, { count: 3 })).toEqual({ ratio: 0.5, count: 3, on: false, mode: "a" });
    expect(validateConfig("acme.x@1.0.0", settings, { count: 1, name: "ab", ratio: 1, on: true, mode: "b", site: "https://x.example.com/a" })).toEqual({
      name: "ab",
      ratio: 1,
      count: 1,
      on: true,
      mode: "b",
      site: "https://x.example.com/a",
    });
  });

  it("names every bad field at once", () => {
    expect(issues({ name: "a", ratio: 2, count: 1.5, on: "yes", mode: "c", site: "javascript:alert(1)", extra: 1 })).toEqual({
      "config.name": expect.stringContaining("at least 2"),
      "config.ratio": expect.stringContaining("at most 1"),
      "config.count": expect.stringContaining("whole number"),
      "config.on": expect.stringContaining("true or false"),
      "config.mode": expect.stringContaining('"a", "b"'),
      "config.site": expect.stringContaining("http(s) URL"),
      "config.extra": expect.stringContaining("not a setting"),
    });
  });

  it("requires required settings and refuses non-object config", () => {
    expect(issues({})).toEqual({ "config.count": expect.stringContaining("required") });
    expect(issues([1])).toEqual({ config: expect.stringContaining("object") });
    expect(issues(null)).toEqual({ config: expect.stringContaining("object") });
    expect(issues({ count: Number.NaN })).toEqual({ "config.count": expect.stringContaining("finite") });
    expect(issues({ count: 1, site: "https://user:pw@x.example.com" })).toEqual({ "config.site": expect.stringContaining("without credentials") });
  });

  it("refuses text that could not be stored or would mean another URL: NUL, controls, unpaired surrogates, whitespace in URLs", () => {
    expect(issues({ count: 1, name: "a\u0000b" })["config.name"]).toMatch(/control characters/);
    expect(issues({ count: 1, name: "a\ud800b" })["config.name"]).toMatch(/unpaired surrogates/);
    expect(issues({ count: 1, name: "a\u001bb" })["config.name"]).toMatch(/control characters/);
    for (const site of ["https://x.example.com/\t", "https://x.exa\nmple.com/", "https://x.example.com/a b", "https://x.example.com/\u0000"]) {
      expect(issues({ count: 1, site })["config.site"], JSON.stringify(site)).toMatch(/absolute http\(s\) URL/);
    }
    expect(validateConfig("acme.x@1.0.0", settings, { count: 1, name: "a\tb" })).toMatchObject({ name: "a\tb" });
  });

  it("checks defaults too: a stored version's default the host would refuse is reported, not stored, and a value given instead is fine", () => {
    // Published before the manifest refused it: "https://api.example.com<TAB>.evil.test/" means api.example.com.evil.test.
    const sneaky = { endpoint: { type: "url", required: false, default: "https://api.example.com\t.evil.test/" }, greeting: { type: "string", required: false, default: "hi\u0000" } } as never;
    let caught: unknown;
    try {
      validateConfig("acme.x@1.0.0", sneaky, {});
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect(Object.fromEntries((caught as ConfigError).issues.map((issue) => [issue.path, issue.message]))).toEqual({
      "config.endpoint": expect.stringMatching(/default .*absolute http\(s\) URL.*give a value/),
      "config.greeting": expect.stringMatching(/default .*control characters.*give a value/),
    });
    expect(validateConfig("acme.x@1.0.0", sneaky, { endpoint: "https://api.example.com/", greeting: "hello" })).toEqual({
      endpoint: "https://api.example.com/",
      greeting: "hello",
    });
  });

  it("uses the manifest's URL rule, so what publishes also installs", () => {
    for (const site of ["https://api.example.com\t.evil.test/", "https://x.example.com/\u00a0", "https://x.example.com/\u0085", "https://x.example.com/ok"]) {
      const accepted = (() => {
        try {
          validateConfig("acme.x@1.0.0", settings, { count: 1, site });
          return true;
        } catch {
          return false;
        }
      })();
      expect(accepted, JSON.stringify(site)).toBe(isHttpUrl(site));
    }
  });

  it("does not let prototype keys pass as settings", () => {
    expect(issues(JSON.parse('{"count": 1, "__proto__": {"polluted": true}, "constructor": 1}'))).toEqual({
      "config.__proto__": expect.any(String),
      "config.constructor": expect.any(String),
    });
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
  });
});
