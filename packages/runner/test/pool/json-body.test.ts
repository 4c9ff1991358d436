import { describe, expect, it } from "vitest";
import type { ExecuteResult } from "../../src/envelope.js";
import { serializedBody } from "../../src/index.js";
import { bodyText, withBodyText, withoutBody } from "../../src/json-body.js";
import { buildBundle, envelopeFor } from "../support/fixtures.js";
import { usePools } from "../support/pools.js";

const pool = usePools();

const resultOf = (body: unknown): ExecuteResult => ({
  requestId: "r1",
  ok: true,
  response: { status: 200, headers: { "x-a": "1" }, body },
  usage: { cpuMs: 0, wallMs: 0, memoryPeakBytes: 0, hostCalls: {}, logBytes: 0 },
  logs: [],
});

describe("a response body as JSON text, made where the execution ran", () => {
  it("is made for objects and arrays of plain data only, large enough to be worth it", () => {
    const many = Array.from({ length: 2000 }, (_, i) => ({ i, ok: i % 2 === 0, note: null as string | null }));
    expect(bodyText(resultOf(many))).toBe(JSON.stringify(many));
    expect(bodyText(resultOf({ long: "x".repeat(70_000) }))).toBe(JSON.stringify({ long: "x".repeat(70_000) }));
    const bare = Object.assign(Object.create(null) as object, { rows: many });
    expect(bodyText(resultOf(bare))).toBe(JSON.stringify({ rows: many }));
    // A small body costs less to copy and serialise on the main thread than its text's bookkeeping.
    expect(bodyText(resultOf({ a: [1, "two", null, { b: true }] }))).toBeUndefined();
    // What JSON would write otherwise than it reads, or what the gateway writes otherwise than JSON, travels as it is.
    for (const body of ["text", 42, true, null, undefined, new Uint8Array([1]), [...many, { file: new Uint8Array([1, 2]) }], [...many, { at: new Date(0) }], [...many, { m: new Map() }]]) {
      expect(bodyText(resultOf(body)), String(body)).toBeUndefined();
    }
    const failed: ExecuteResult = { ...resultOf(null), ok: false, response: undefined, error: { code: "E_TIMEOUT", message: "late" } };
    expect(bodyText(failed)).toBeUndefined();
  });

  it("reads back as the same body, parsed only when read, and can be replaced", () => {
    const sent = withoutBody(resultOf({ n: 1 }));
    expect(sent.response?.body).toBeNull();
    const received = withBodyText(sent, '{"n":1}');
    const response = received.response!;
    expect(serializedBody(response)).toBe('{"n":1}');
    expect(response.headers).toEqual({ "x-a": "1" });
    expect(response.body).toEqual({ n: 1 });
    expect(response.body).toBe(response.body);
    response.body = "replaced";
    expect(response.body).toBe("replaced");
    expect(serializedBody(response)).toBeUndefined();
  });

  it("through the worker pool: an object body arrives with its JSON text; one with bytes arrives as it was", async () => {
    const p = pool({ workers: 1 });
    const bundle = await buildBundle({
      source: `
        export function big() { const out = {}; for (let i = 0; i < 50000; i++) out["k" + i] = i; return { body: out }; }
        export function bytes() { return { body: { name: "f", data: new Uint8Array([1, 2, 3]) } }; }
      `,
    });
    await p.load(bundle);
    const big = await p.execute(envelopeFor(bundle, "big"));
    const text = serializedBody(big.response!);
    expect(text).toBeDefined();
    expect(JSON.parse(text!)).toEqual(big.response!.body);
    expect(Object.keys(big.response!.body as object)).toHaveLength(50000);
    const withBytes = await p.execute(envelopeFor(bundle, "bytes"));
    expect(serializedBody(withBytes.response!)).toBeUndefined();
    expect(withBytes.response!.body).toEqual({ name: "f", data: new Uint8Array([1, 2, 3]) });
  });
});
