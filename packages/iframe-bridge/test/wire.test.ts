// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { BridgeError } from "../src/errors.js";
import { PendingCalls } from "../src/pending.js";
import { fromWireError, toWireError, unwrapResult } from "../src/protocol/wire.js";

describe("errors as plain data", () => {
  it("keeps a BridgeError's code, message and JSON-safe details", () => {
    const error = new BridgeError("E_BRIDGE_PATH", "path is outside", { field: "path", fn: () => 1, when: new Date(0) });
    expect(toWireError(error, "api.fetch")).toEqual({ code: "E_BRIDGE_PATH", message: "path is outside", details: { field: "path", when: "1970-01-01T00:00:00.000Z" } });
  });

  it("masks any other error as E_BRIDGE_HOST without its message", () => {
    const data = toWireError(new Error("password=hunter2 at db.internal:5432"), "toast");
    expect(data.code).toBe("E_BRIDGE_HOST");
    expect(data.message).not.toContain("hunter2");
    expect(data.message).toContain("toast");
  });

  it("turns data back into a BridgeError, refusing unknown codes", () => {
    const back = fromWireError({ code: "E_BRIDGE_DENIED", message: "no", details: { a: 1 } }, "navigate");
    expect(back).toBeInstanceOf(BridgeError);
    expect(back).toMatchObject({ code: "E_BRIDGE_DENIED", message: "no", details: { a: 1 } });
    expect(fromWireError({ code: "E_SOMETHING_ELSE", message: "x" }, "navigate").code).toBe("E_BRIDGE_PROTOCOL");
    expect(fromWireError("boom", "navigate").code).toBe("E_BRIDGE_PROTOCOL");
  });

  it("unwraps result envelopes and refuses anything else", () => {
    expect(unwrapResult({ ok: true, value: 3 }, "resize")).toBe(3);
    expect(() => unwrapResult({ ok: false, error: { code: "E_BRIDGE_ARGS", message: "bad" } }, "resize")).toThrow(expect.objectContaining({ code: "E_BRIDGE_ARGS" }));
    for (const value of [3, null, { value: 3 }, { ok: "yes" }]) {
      expect(() => unwrapResult(value, "resize")).toThrow(expect.objectContaining({ code: "E_BRIDGE_PROTOCOL" }));
    }
  });

  it("serialises with toJSON for logs", () => {
    expect(JSON.parse(JSON.stringify(new BridgeError("E_BRIDGE_TIMEOUT", "late", { timeoutMs: 5 })))).toEqual({
      name: "BridgeError",
      code: "E_BRIDGE_TIMEOUT",
      message: "late",
      details: { timeoutMs: 5 },
    });
  });
});

describe("PendingCalls", () => {
  it("resolves in time, times out with E_BRIDGE_TIMEOUT, and rejects everything on close", async () => {
    const pending = new PendingCalls();
    await expect(pending.run(Promise.resolve(1), 100, "quick")).resolves.toBe(1);
    await expect(pending.run(new Promise(() => undefined), 10, "slow")).rejects.toMatchObject({ code: "E_BRIDGE_TIMEOUT", details: { operation: "slow", timeoutMs: 10 } });
    const hanging = pending.run(new Promise(() => undefined), 10_000, "hanging");
    expect(pending.size).toBe(1);
    pending.close(new BridgeError("E_BRIDGE_DISPOSED", "gone"));
    await expect(hanging).rejects.toMatchObject({ code: "E_BRIDGE_DISPOSED" });
    expect(pending.size).toBe(0);
    await expect(pending.run(Promise.resolve(1), 100, "late")).rejects.toMatchObject({ code: "E_BRIDGE_DISPOSED" });
  });

  it("wraps a foreign rejection as E_BRIDGE_PROTOCOL and keeps BridgeErrors as they are", async () => {
    const pending = new PendingCalls();
    await expect(pending.run(Promise.reject(new TypeError("x")), 100, "call")).rejects.toMatchObject({ code: "E_BRIDGE_PROTOCOL" });
    await expect(pending.run(Promise.reject(new BridgeError("E_BRIDGE_ARGS", "y")), 100, "call")).rejects.toMatchObject({ code: "E_BRIDGE_ARGS" });
  });
});
