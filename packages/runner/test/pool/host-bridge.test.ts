import { describe, expect, it } from "vitest";
import { HostCallGate, valueBytes } from "../../src/pool/host-bridge.js";
import type { ExecuteEnvelope } from "../../src/envelope.js";
import type { HostDispatch } from "../../src/host-apis.js";

const envelope: ExecuteEnvelope = {
  requestId: "r1",
  extension: { id: "acme.x", version: "1.0.0", contentHash: `sha256:${"a".repeat(64)}` },
  install: { id: "inst-1", tenant: "t", config: {} },
  grants: [{ name: "storage.kv" }],
  invocation: { kind: "endpoint", handler: "h", request: { method: "GET", path: "/", params: {}, query: {}, headers: {}, body: null } },
};

describe("the receiving side's host-call gate", () => {
  it("bounds the bytes of arguments an execution sends, whatever the asking side checked", async () => {
    const reached: unknown[] = [];
    const dispatch: HostDispatch = async (call) => (reached.push(call.args), null);
    const gate = new HostCallGate(dispatch, envelope, [{ name: "storage.kv" }], { hostCalls: 100, hostCallBytes: 10_000 });
    await gate.call("kv.set", ["a", "x".repeat(6_000)]);
    await expect(gate.call("kv.set", ["b", "y".repeat(6_000)])).rejects.toMatchObject({ code: "E_HOST_CALL_LIMIT" });
    await expect(gate.call("kv.get", ["c"])).rejects.toMatchObject({ code: "E_HOST_CALL_LIMIT" });
    expect(reached).toHaveLength(1);
  });

  it("sizes values about as JSON does, bytes raw, and stops counting past the cap", () => {
    expect(valueBytes({ a: "xyz", b: [1, new Uint8Array(10)] }, 1000)).toBeGreaterThanOrEqual(JSON.stringify({ a: "xyz", b: [1] }).length);
    const huge = Array.from({ length: 100_000 }, () => "z".repeat(100));
    expect(valueBytes(huge, 1_000)).toBeLessThan(2_000);
    // Empty objects shared a million times are megabytes of JSON, though they hold nothing.
    const empty = new Array(1_000_000).fill({});
    expect(valueBytes(empty, 10_000_000)).toBeGreaterThanOrEqual(JSON.stringify(empty).length);
  });

  it("refuses a call over the envelope's hostCallArgBytes with the host's code, before it reaches the dispatch", async () => {
    const reached: string[] = [];
    const dispatch: HostDispatch = async (call) => {
      reached.push(call.method);
      return null;
    };
    const bounded: ExecuteEnvelope = { ...envelope, hostCallArgBytes: { "kv.set": 1000, "sql.query": 1000 } };
    const gate = new HostCallGate(dispatch, bounded, undefined, { hostCalls: 10, hostCallBytes: 1_000_000 });
    await expect(gate.call("kv.set", ["k", new Array(2000).fill({})])).rejects.toMatchObject({ code: "E_KV_QUOTA_EXCEEDED", message: expect.stringContaining("larger than 1000 bytes as JSON") });
    await expect(gate.call("sql.query", ["select $1", ["x".repeat(2000)]])).rejects.toMatchObject({ code: "E_SQL_PARAMS" });
    await gate.call("kv.set", ["k", [1, 2]]);
    await gate.call("kv.get", ["x".repeat(2000)]);
    expect(reached).toEqual(["kv.set", "kv.get"]);
  });
});
