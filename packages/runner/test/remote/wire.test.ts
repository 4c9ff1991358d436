import { describe, expect, it } from "vitest";
import { parseWire, stringifyWire } from "../../src/remote/wire.js";

describe("wire codec", () => {
  it("round-trips bytes inside JSON-like values", () => {
    const value = { body: new Uint8Array([0, 1, 254, 255]), list: [new Uint8Array([7])], n: 1, s: "x", nil: null };
    const back = parseWire(stringifyWire(value)) as typeof value;
    expect(back.body).toBeInstanceOf(Uint8Array);
    expect([...back.body]).toEqual([0, 1, 254, 255]);
    expect([...back.list[0]!]).toEqual([7]);
    expect(back).toMatchObject({ n: 1, s: "x", nil: null });
  });

  it("does not mistake a guest object that looks like an encoding for bytes", () => {
    const lookalike = { "$annex:bytes": "AAEC" };
    const nested = { "$annex:object": { "$annex:bytes": "AAEC" } };
    expect(parseWire(stringifyWire(lookalike))).toEqual(lookalike);
    expect(parseWire(stringifyWire(nested))).toEqual(nested);
  });

  it("keeps __proto__ keys as plain data, never as a prototype", () => {
    const decoded = parseWire('{"__proto__": {"polluted": true}, "a": {"__proto__": {"x": 1}}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(decoded)).toContain("__proto__");
    expect((decoded as { polluted?: unknown }).polluted).toBeUndefined();
  });
});
