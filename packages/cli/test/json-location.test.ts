import { describe, expect, it } from "vitest";
import { createJsonLocator, formatIssuePath, JsonSyntaxError, parseIssuePath, parseJsonWithPosition } from "../src/json-location.js";

const text = `{
  "id": "acme.hello",
  "runtime": { "class": "service" },
  "endpoints": [
    { "path": "/a" },
    {
      "path": "/b",
      "hosts": ["x", "y"]
    }
  ],
  "config": { "odd.key": { "default": 1 } }
}`;

describe("parseIssuePath / formatIssuePath", () => {
  it("splits dotted, indexed and quoted segments", () => {
    expect(parseIssuePath("endpoints[1].hosts[0]")).toEqual(["endpoints", 1, "hosts", 0]);
    expect(parseIssuePath('config["odd.key"].default')).toEqual(["config", "odd.key", "default"]);
    expect(parseIssuePath("")).toEqual([]);
  });

  it("round-trips", () => {
    for (const path of ["endpoints[1].hosts[0]", 'config["odd.key"].default', "runtime.class"]) {
      expect(formatIssuePath(parseIssuePath(path))).toBe(path);
    }
  });
});

describe("createJsonLocator", () => {
  const locate = createJsonLocator(text);

  it("points at the key of an object member", () => {
    expect(locate("id")).toMatchObject({ line: 2, column: 3, found: true });
    expect(locate("runtime.class")).toMatchObject({ line: 3, column: 16, found: true });
  });

  it("points at the value of an array item, at any depth", () => {
    expect(locate("endpoints[1]")).toMatchObject({ line: 6, column: 5 });
    expect(locate("endpoints[1].hosts[1]")).toMatchObject({ line: 8, column: 22, found: true });
  });

  it("finds quoted keys", () => {
    expect(locate('config["odd.key"].default')).toMatchObject({ line: 11, column: 28, found: true });
  });

  it("resolves a missing path to its deepest existing parent", () => {
    expect(locate("runtime.entry")).toMatchObject({ line: 3, column: 3, found: false, resolved: "runtime" });
    expect(locate("endpoints[7].path")).toMatchObject({ line: 4, column: 3, found: false, resolved: "endpoints" });
    expect(locate("")).toMatchObject({ line: 1, column: 1, found: true });
  });
});

describe("syntax errors", () => {
  it.each([
    ['{\n  "a": 1,\n  "b" 2\n}', 3, 7, /expected ":"/],
    ['{\n  "a": 1,\n}', 3, 1, /property name/],
    ['[1, 2', 1, 6, /"," or "\]"/],
    ['{"a": tru}', 1, 7, /unexpected/],
    ['{"a": "x\ny"}', 1, 9, /control character/],
    ['{"a": 1} x', 1, 10, /after the end/],
  ])("locates the error in %j", (input, line, column, message) => {
    try {
      parseJsonWithPosition(input);
      expect.unreachable("should have thrown");
    } catch (error) {
      expect(error).toBeInstanceOf(JsonSyntaxError);
      expect((error as JsonSyntaxError).position).toMatchObject({ line, column });
      expect((error as JsonSyntaxError).message).toMatch(message);
    }
  });

  it("agrees with JSON.parse on valid input, including a byte-order mark", () => {
    expect(parseJsonWithPosition(text)).toEqual(JSON.parse(text));
    expect(parseJsonWithPosition('\ufeff{"a":[1,-2.5e3,"\\u00e9",null,true]}')).toEqual({ a: [1, -2500, "é", null, true] });
  });
});
