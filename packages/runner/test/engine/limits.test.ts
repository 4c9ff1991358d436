import { afterEach, describe, expect, it } from "vitest";
import { createInMemoryRunner, type InMemoryRunner } from "../../src/in-memory-runner.js";
import { DEFAULT_LIMITS, effectiveLimits, resolveRunnerLimits } from "../../src/limits.js";
import { buildBundle, envelopeFor } from "../support/fixtures.js";

let runner: InMemoryRunner | undefined;
afterEach(async () => {
  await runner?.close();
  runner = undefined;
});

describe("limit arithmetic", () => {
  it("lets manifests and envelopes lower limits, never raise them", () => {
    const runnerLimits = { ...DEFAULT_LIMITS, cpuMs: 500 };
    const limits = effectiveLimits(runnerLimits, { cpuMs: 200, memoryBytes: 1024 ** 3 }, { cpuMs: 900, wallMs: 100 });
    expect(limits.cpuMs).toBe(200);
    expect(limits.memoryBytes).toBe(DEFAULT_LIMITS.memoryBytes);
    expect(limits.wallMs).toBe(100);
  });

  it("checks runner limits and names the bad field", () => {
    expect(resolveRunnerLimits({ cpuMs: 50 }).cpuMs).toBe(50);
    expect(() => resolveRunnerLimits({ cpuMs: 0 })).toThrow(expect.objectContaining({ code: "E_BAD_OPTIONS", details: { path: "limits.cpuMs" } }));
    expect(() => resolveRunnerLimits({ memory: 5 } as never)).toThrow(/limits.memory is not a known limit/);
    expect(() => createInMemoryRunner({ limits: { wallMs: 1.5 } })).toThrow(expect.objectContaining({ code: "E_BAD_OPTIONS" }));
  });
});

describe("quotas", () => {
  it("stops a busy loop at the manifest's lower CPU limit", async () => {
    runner = createInMemoryRunner();
    const bundle = await buildBundle({ source: `export function h() { for (;;) {} }`, limits: { cpuMs: 50 } });
    await runner.load(bundle);
    const result = await runner.execute(envelopeFor(bundle, "h", { limits: { cpuMs: 5000 } }));
    expect(result.error).toMatchObject({ code: "E_TIMEOUT", details: { limit: "cpuMs", cpuMs: 50 } });
    expect(result.usage.cpuMs).toBeGreaterThanOrEqual(50);
  });

  it("counts time waiting on host calls against the wall clock", async () => {
    runner = createInMemoryRunner({
      hostApis: {
        kv: {
          get: (_key, _scope) => new Promise(() => {}),
          set: async () => {},
          delete: async () => false,
          list: async () => ({ keys: [] }),
        },
      },
    });
    // The dispatcher gets the signal; a kv implementation that ignores it still cannot hold the execution.
    const bundle = await buildBundle({
      source: `export async function h(req, ctx) { await ctx.kv.get("slow"); return "never"; }`,
      storage: { kind: "kv" },
      capabilities: [{ name: "storage.kv", reason: "Caches lookups." }],
    });
    await runner.load(bundle);
    const started = Date.now();
    const result = await runner.execute(envelopeFor(bundle, "h", { limits: { wallMs: 200 } }));
    expect(result.error?.code).toBe("E_TIMEOUT");
    expect(result.error?.details).toMatchObject({ limit: "wallMs" });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(result.usage.hostCalls).toEqual({ "storage.kv": 1 });
  });

  it("refuses a request larger than the request limit before running anything", async () => {
    runner = createInMemoryRunner({ limits: { requestBytes: 1000 } });
    const bundle = await buildBundle({ source: `export function h() { return 1; }` });
    await runner.load(bundle);
    const result = await runner.execute(envelopeFor(bundle, "h", { body: "x".repeat(2000) }));
    expect(result.error).toMatchObject({ code: "E_PAYLOAD_TOO_LARGE", details: { limit: 1000 } });
    const bytes = await runner.execute(envelopeFor(bundle, "h", { body: new Uint8Array(2000) }));
    expect(bytes.error?.code).toBe("E_PAYLOAD_TOO_LARGE");
  });

  it("refuses a response larger than the response limit", async () => {
    runner = createInMemoryRunner({ limits: { responseBytes: 10_000 } });
    const bundle = await buildBundle({ source: `export function text() { return "x".repeat(20000); } export function bytes() { return { body: new Uint8Array(20000) }; } export function fits() { return "x".repeat(9000); }` });
    await runner.load(bundle);
    expect((await runner.execute(envelopeFor(bundle, "text"))).error).toMatchObject({ code: "E_PAYLOAD_TOO_LARGE", details: { limit: 10_000 } });
    expect((await runner.execute(envelopeFor(bundle, "bytes"))).error?.code).toBe("E_PAYLOAD_TOO_LARGE");
    expect((await runner.execute(envelopeFor(bundle, "fits"))).ok).toBe(true);
  });

  // Memory is sampled whenever the guest yields (after evaluation, each batch of promise jobs, the end),
  // so the data is kept alive to be seen.
  it("reports usage on every result", async () => {
    runner = createInMemoryRunner();
    const bundle = await buildBundle({ source: `export function h() { const a = []; for (let i = 0; i < 10000; i++) a.push({ i }); globalThis.kept = a; return a.length; }` });
    await runner.load(bundle);
    const result = await runner.execute(envelopeFor(bundle, "h"));
    expect(result.response?.body).toBe(10000);
    expect(result.usage.cpuMs).toBeGreaterThan(0);
    expect(result.usage.wallMs).toBeGreaterThanOrEqual(result.usage.cpuMs);
    expect(result.usage.memoryPeakBytes).toBeGreaterThan(10000 * 16);
    expect(result.usage).toMatchObject({ hostCalls: {}, logBytes: 0 });
  });
});
