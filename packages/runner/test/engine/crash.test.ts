import { describe, expect, it } from "vitest";
import { Budget } from "../../src/engine/budget.js";
import { compileBundle } from "../../src/engine/compiled.js";
import { Sandbox } from "../../src/engine/sandbox.js";
import { InstancePool } from "../../src/engine/wasm.js";
import { manifestFor } from "../support/fixtures.js";

describe("a QuickJS abort is contained", () => {
  it("reports an abort on dispose (list_empty(&rt->gc_obj_list)) and never reuses the instance", async () => {
    const pool = new InstancePool({ variant: "release", maxIdle: 2, recycleAboveBytes: Number.MAX_SAFE_INTEGER });
    const source = "export function h() { return 1; }";
    const bundle = compileBundle({
      contentHash: "sha256:test",
      manifest: manifestFor({ source, handlers: ["h"] }),
      files: { "server/index.js": new TextEncoder().encode(source) },
    });
    const instance = await pool.acquire(16 * 1024 * 1024);
    const { sandbox, failure } = await Sandbox.create({ instance, bundle, memoryBytes: 16 * 1024 * 1024, stackBytes: 65536, budget: new Budget(1000, 1000) });
    expect(failure).toBeUndefined();
    // A handle the host forgot to free makes JS_FreeRuntime fail its assertion, which aborts the C side.
    sandbox.context.newObject();
    expect(sandbox.dispose()).toBe(false);
    expect(sandbox.broken).toMatch(/Aborted\(Assertion failed: list_empty/);
    expect(instance.aborts.join("\n")).toMatch(/list_empty/);
    pool.discard(instance);
    expect(pool.stats()).toMatchObject({ leased: 0, idle: 0, discarded: 1 });
    // The process is fine and the pool hands out a fresh instance.
    const next = await pool.acquire(16 * 1024 * 1024);
    expect(next.id).not.toBe(instance.id);
    const context = next.module.newContext();
    const answer = context.unwrapResult(context.evalCode("6 * 7"));
    expect(context.dump(answer)).toBe(42);
    answer.dispose();
    context.dispose();
    pool.release(next);
    pool.close();
  });
});
