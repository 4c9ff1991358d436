import type { HostCallScope } from "@annex/runner";
import { describe, expect, it } from "vitest";
import type { ExecutionContext } from "../../src/execution/executor.js";
import { createKvApi } from "../../src/storage/kv/host-kv.js";
import type { KvStorage } from "../../src/storage/kv/storage.js";
import { DEFAULT_KV_LIMITS } from "../../src/storage/kv/policy.js";

/** The host side of ctx.kv, with a store that records what reaches it. */
function subject(context: ExecutionContext | undefined) {
  const reached: unknown[] = [];
  const storage = {
    policy: DEFAULT_KV_LIMITS,
    maybeSweep() {},
    store: new Proxy({}, { get: (_target, name) => (...args: unknown[]) => (reached.push([name, ...args]), Promise.resolve(null)) }),
  } as unknown as KvStorage;
  return { api: createKvApi(storage, { contextOf: () => context }), reached };
}

const scope: HostCallScope = { requestId: "r1", extensionId: "acme.store", extensionVersion: "1.0.0", contentHash: "sha256:00", installId: "i1", tenant: "t1", principal: undefined };

function contextWith(grants: string[], requested: string[]): ExecutionContext {
  return {
    resolved: {
      install: { id: "i1", tenant: "t1", grants: grants.map((name) => ({ name })) },
      manifest: { capabilities: requested.map((name) => ({ name, reason: "x" })), storage: { kind: "kv" } },
    },
    principal: undefined,
    trigger: "endpoint",
  } as unknown as ExecutionContext;
}

describe("ctx.kv on the host side", () => {
  it("refuses an install without a storage.kv grant, whatever the runner checked", async () => {
    for (const context of [contextWith([], ["storage.kv"]), contextWith(["storage.kv"], []), contextWith(["log"], ["log"])]) {
      const { api, reached } = subject(context);
      await expect(api.get("x", scope)).rejects.toMatchObject({ code: "E_CAPABILITY_DENIED" });
      await expect(api.set("x", 1, {}, scope)).rejects.toMatchObject({ code: "E_CAPABILITY_DENIED" });
      await expect(api.list({}, scope)).rejects.toMatchObject({ code: "E_CAPABILITY_DENIED" });
      expect(reached).toEqual([]);
    }
  });

  it("refuses a call whose execution has ended or names another install", async () => {
    const { api, reached } = subject(undefined);
    await expect(api.get("x", scope)).rejects.toMatchObject({ code: "E_HOST_CALL_FAILED" });
    expect(reached).toEqual([]);
  });

  it("uses the namespace of the install the host resolved", async () => {
    const { api, reached } = subject(contextWith(["storage.kv"], ["storage.kv"]));
    await api.get("x", { ...scope, tenant: "t1" });
    expect(reached).toEqual([["get", { tenant: "t1", installId: "i1" }, "x", expect.objectContaining({ keyBytes: 512 })]]);
  });
});
