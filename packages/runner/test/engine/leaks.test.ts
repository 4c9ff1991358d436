import { afterEach, describe, expect, it } from "vitest";
import { InstancePool } from "../../src/engine/wasm.js";
import { assertNoLeakedHandles, createInMemoryRunner, type InMemoryRunner } from "../../src/in-memory-runner.js";
import { buildBundle, envelopeFor } from "../support/fixtures.js";

/**
 * Runs the engine on QuickJS's debug build, whose leak sanitizer and handle
 * tracking prove that every path — success, guest errors, timeouts with host
 * calls in flight, denials, warm contexts — frees what it allocated.
 */
let runner: InMemoryRunner | undefined;
afterEach(async () => {
  await runner?.close();
  runner = undefined;
});

describe("no leaked QuickJS handles (debug build)", () => {
  it("frees everything on every outcome", async () => {
    let release: () => void = () => {};
    runner = createInMemoryRunner({
      variant: "debug",
      limits: { cpuMs: 2000, wallMs: 3000 },
      hostApis: {
        kv: {
          get: (key) => (key === "hang" ? new Promise((resolve) => (release = () => resolve(null))) : { key, bytes: new Uint8Array([1, 2]) }),
          set: async () => {},
          delete: async () => true,
          list: async () => ({ keys: [] }),
        },
      },
    });
    const bundle = await buildBundle({
      source: `
        export async function ok(req, ctx) { const v = await ctx.kv.get("a"); ctx.log.info("got", v); return { v, echo: req.body }; }
        export function fails() { throw new Error("boom"); }
        export async function hangs(req, ctx) { await ctx.kv.get("hang"); }
        export async function spins() { for (;;) {} }
        export async function denied(req, ctx) { try { await ctx.secrets.get("X"); } catch (e) { return e.code; } }
        export function big() { return "x".repeat(100); }
        export async function floods(req, ctx) { const all = []; for (let i = 0; i < 50; i++) all.push(ctx.kv.get("k" + i)); return (await Promise.all(all)).length; }
      `,
      storage: { kind: "kv" },
      capabilities: [
        { name: "log", reason: "Writes request logs for debugging." },
        { name: "storage.kv", reason: "Caches lookups per install." },
      ],
      warmContext: true,
    });
    await runner!.load(bundle);
    const codes: Record<string, string> = {};
    for (const handler of ["ok", "fails", "hangs", "spins", "denied", "big", "floods"]) {
      const limits = handler === "hangs" ? { wallMs: 300 } : handler === "spins" ? { cpuMs: 100 } : handler === "big" ? { responseBytes: 10 } : undefined;
      const result = await runner!.execute(envelopeFor(bundle, handler, { body: new Uint8Array([9]), ...(limits ? { limits } : {}) }));
      codes[handler] = result.ok ? "ok" : result.error!.code;
    }
    release();
    for (let i = 0; i < 3; i++) await runner!.execute(envelopeFor(bundle, "ok", { context: "warm" }));
    expect(codes).toEqual({ ok: "ok", fails: "E_HANDLER_ERROR", hangs: "E_TIMEOUT", spins: "E_TIMEOUT", denied: "ok", big: "E_PAYLOAD_TOO_LARGE", floods: "ok" });
    expect(runner!.stats().warmContexts).toBe(1);
    // Retiring the warm context returns its instance to the idle pool, where the leak check looks.
    await runner!.unload(bundle.contentHash);
    expect(runner!.stats().instances.leased).toBe(0);
    expect(runner!.stats().instances.idle).toBeGreaterThan(0);
    expect(() => assertNoLeakedHandles(runner!)).not.toThrow();
  });

  it("catches a context left alive (the check is not vacuous)", async () => {
    const pool = new InstancePool({ variant: "debug", maxIdle: 2, recycleAboveBytes: Number.MAX_SAFE_INTEGER });
    const instance = await pool.acquire(16 * 1024 * 1024);
    const leaked = instance.module.newContext();
    pool.release(instance);
    expect(() => pool.assertNoLeaks()).toThrow();
    leaked.dispose();
    expect(() => pool.assertNoLeaks()).not.toThrow();
    pool.close();
  });
});
