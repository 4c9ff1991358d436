import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Budget } from "../../src/engine/budget.js";
import { compileBundle } from "../../src/engine/compiled.js";
import { readMemoryLayout } from "../../src/engine/memory-layout.js";
import { RealmImage } from "../../src/engine/realm-image.js";
import { Sandbox } from "../../src/engine/sandbox.js";
import { InstancePool, type WasmInstance } from "../../src/engine/wasm.js";
import { createInMemoryRunner, type InMemoryRunner } from "../../src/in-memory-runner.js";
import { buildBundle, envelopeFor, manifestFor } from "../support/fixtures.js";

/**
 * Fresh executions on the release build start from a memory image of a ready
 * realm instead of a new runtime, context and bootstrap. These tests prove
 * that this keeps "fresh" fresh: the instance's memory is byte-for-byte the
 * image again after every use, nothing a guest does survives, Math.random is
 * reseeded, and anything the image cannot account for retires the instance.
 */
const require = createRequire(import.meta.url);
const MiB = 1024 * 1024;

let runner: InMemoryRunner | undefined;
let pool: InstancePool | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await runner?.close();
  runner = undefined;
  pool?.close();
  pool = undefined;
});

async function imagedInstance(): Promise<{ instance: WasmInstance; image: RealmImage }> {
  let image: RealmImage | undefined;
  pool = new InstancePool({
    variant: "release",
    maxIdle: 1,
    recycleAboveBytes: Number.MAX_SAFE_INTEGER,
    prepare: (fresh) => {
      image = RealmImage.capture(fresh);
    },
  });
  const instance = await pool.acquire(64 * MiB);
  if (image === undefined) throw new Error("the release build could not be imaged");
  return { instance, image };
}

function evaluate(image: RealmImage, code: string): unknown {
  const { context } = image.realm;
  return context.unwrapResult(context.evalCode(code, "test.js", { type: "global" })).consume((handle) => context.dump(handle));
}

describe("memory layout of the QuickJS build", () => {
  it("finds the static data, the heap base and the break in the release build", () => {
    const wasm = readFileSync(require.resolve("@jitl/quickjs-wasmfile-release-sync/wasm"));
    const layout = readMemoryLayout(wasm);
    expect(layout).toBeDefined();
    expect(layout!.staticEnd).toBeGreaterThan(1024);
    expect(layout!.heapBase).toBe(layout!.staticEnd + 5 * MiB);
    expect(layout!.breakPointer).toBeGreaterThanOrEqual(1024);
    expect(layout!.breakPointer + 4).toBeLessThanOrEqual(layout!.staticEnd);
  });

  it("refuses anything that is not that layout", () => {
    const wasm = readFileSync(require.resolve("@jitl/quickjs-wasmfile-release-sync/wasm"));
    expect(readMemoryLayout(wasm.subarray(0, 4096))).toBeUndefined();
    expect(readMemoryLayout(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]))).toBeUndefined();
    // A stack larger than the space below the heap base would put static data inside it.
    expect(readMemoryLayout(wasm, 64 * MiB)).toBeUndefined();
  });
});

describe("a realm image", () => {
  it("puts memory back byte for byte after guest code changed globals, prototypes and the heap", async () => {
    const { image } = await imagedInstance();
    expect(image.isPristine()).toBe(true);
    evaluate(image, `globalThis.kept = new Array(100000).fill("x"); Object.prototype.polluted = 1; Array.prototype.push = null; Symbol.for("k"); 1`);
    expect(evaluate(image, `typeof kept + ":" + ({}).polluted`)).toBe("object:1");
    expect(image.isPristine()).toBe(false);

    expect(image.reset()).toBe(true);
    expect(image.isPristine()).toBe(true);
    expect(evaluate(image, `typeof kept + ":" + ({}).polluted + ":" + typeof [].push`)).toBe("undefined:undefined:function");
  });

  it("gives Math.random a fresh seed on every reset", async () => {
    const { image } = await imagedInstance();
    const draws = new Set<unknown>();
    for (let i = 0; i < 5; i++) {
      draws.add(evaluate(image, "Math.random()"));
      expect(image.reset()).toBe(true);
    }
    // Restored without a reseed, every draw would be the same number.
    expect(draws.size).toBe(5);
  });

  it("refuses to restore once quickjs-emscripten holds state the image does not know", async () => {
    const { image } = await imagedInstance();
    // A new host function registers a reference on the JavaScript side that the restored memory would not hold.
    image.realm.context.newFunction("late", () => undefined).dispose();
    expect(image.reset()).toBe(false);
  });

  it("refuses to restore once the context cached a handle into memory the image does not know", async () => {
    const { image } = await imagedInstance();
    void image.realm.context.global;
    expect(image.reset()).toBe(false);
  });

  it("gives up when memory does not match the layout, leaving the instance usable", async () => {
    let taken: RealmImage | undefined | null = null;
    pool = new InstancePool({
      variant: "release",
      maxIdle: 1,
      recycleAboveBytes: Number.MAX_SAFE_INTEGER,
      // A layout whose "break" is a word that does not track the heap.
      prepare: (fresh) => (taken = RealmImage.capture({ ...fresh, layout: { ...fresh.layout!, breakPointer: 1024 } })),
    });
    const instance = await pool.acquire(16 * MiB);
    expect(taken).toBeUndefined();
    // The instance is left as it was, and serves a sandbox that builds its own realm.
    const source = "export function h() { return 6 * 7; }";
    const bundle = compileBundle({ contentHash: "sha256:layout", manifest: manifestFor({ source, handlers: ["h"] }), files: { "server/index.js": new TextEncoder().encode(source) } });
    const { sandbox, failure } = await Sandbox.create({ instance, bundle, memoryBytes: 16 * MiB, stackBytes: 65536, budget: new Budget(1000, 1000) });
    expect(failure).toBeUndefined();
    expect(sandbox.exportedFunctions()).toEqual(["h"]);
    expect(sandbox.dispose()).toBe(true);
    pool.release(instance);
  });

  it("is never taken of the debug build, whose memory the pool does not bound", async () => {
    let taken: RealmImage | undefined | null = null;
    pool = new InstancePool({ variant: "debug", maxIdle: 1, recycleAboveBytes: Number.MAX_SAFE_INTEGER, prepare: (fresh) => (taken = RealmImage.capture(fresh)) });
    const instance = await pool.acquire(16 * MiB);
    expect(taken).toBeUndefined();
    pool.release(instance);
  });
});

describe("fresh executions on imaged instances", () => {
  const probe = `
    export function h(req) {
      const seen = {
        global: globalThis.leftover ?? null,
        proto: ({}).leaked ?? null,
        push: typeof Array.prototype.push,
        late: globalThis.late ?? null,
        random: Math.random(),
      };
      globalThis.leftover = req.body;
      Object.prototype.leaked = true;
      Array.prototype.push = 0;
      return seen;
    }
    export function hangs(req, ctx) {
      // The execution ends while this host call is still out; its late answer must reach nothing.
      ctx.kv.get("hang").then(() => { globalThis.late = "arrived"; });
      return "left early";
    }
  `;

  it("runs each one on the same instance from the image, with nothing left by the previous one", async () => {
    let release: () => void = () => {};
    runner = createInMemoryRunner({
      hostApis: {
        kv: {
          get: () => new Promise((resolve) => (release = () => resolve("late"))),
          set: async () => {},
          delete: async () => false,
          list: async () => ({ keys: [] }),
        },
      },
    });
    const bundle = await buildBundle({ source: probe, storage: { kind: "kv" }, capabilities: [{ name: "storage.kv", reason: "Tests a late answer." }] });
    await runner.load(bundle);
    expect((await runner.execute(envelopeFor(bundle, "hangs"))).response?.body).toBe("left early");
    release();
    await new Promise((resolve) => setImmediate(resolve));
    const bodies = [];
    for (let i = 0; i < 4; i++) {
      const result = await runner.execute(envelopeFor(bundle, "h", { body: `call ${i}` }));
      expect(result.ok).toBe(true);
      bodies.push(result.response?.body as { random: number });
    }
    for (const body of bodies) expect(body).toMatchObject({ global: null, proto: null, push: "function", late: null });
    expect(new Set(bodies.map((body) => body.random)).size).toBe(4);
    const stats = runner.stats();
    expect(stats.images.enabled).toBe(true);
    expect(stats.instances.created).toBe(1);
    expect(stats.images.taken).toBe(1);
    // load() and every execution ran in the imaged realm and put it back.
    expect(stats.images.restored).toBe(6);
  });

  it("starts fresh executions from the bundle's evaluated entry, imaged once per instance, and leaves nothing behind", async () => {
    runner = createInMemoryRunner();
    const bundle = await buildBundle({
      source: `globalThis.evaluations = (globalThis.evaluations ?? 0) + 1;
               let calls = 0;
               export function h() { calls += 1; globalThis.leftover = (globalThis.leftover ?? 0) + 1; return { calls, evaluations, leftover, random: Math.random() }; }`,
    });
    await runner.load(bundle);
    const bodies = [];
    for (let i = 0; i < 4; i++) bodies.push((await runner.execute(envelopeFor(bundle, "h"))).response?.body as { random: number });
    for (const body of bodies) expect(body).toMatchObject({ calls: 1, evaluations: 1, leftover: 1 });
    expect(new Set(bodies.map((body) => body.random)).size).toBe(4);
    expect(runner.stats().images).toMatchObject({ enabled: true, taken: 1, bundleStates: 1 });
    expect(runner.stats().instances.created).toBe(1);
  });

  it("keeps serving from the image after an execution grew the instance's memory", async () => {
    runner = createInMemoryRunner();
    const bundle = await buildBundle({
      source: `export function grow() { globalThis.big = new Uint8Array(20 * 1024 * 1024).fill(7); return big.length; }
               export function check() { return typeof globalThis.big; }`,
    });
    await runner.load(bundle);
    expect((await runner.execute(envelopeFor(bundle, "grow"))).response?.body).toBe(20 * MiB);
    expect((await runner.execute(envelopeFor(bundle, "check"))).response?.body).toBe("undefined");
    expect(runner.stats().instances).toMatchObject({ created: 1, discarded: 0 });
  });

  it("lets no execution read bytes an earlier one left above the restored heap", async () => {
    runner = createInMemoryRunner();
    // The first call fills memory far past the image's break with a marker; after the restore that memory is
    // free space again, and the second call's allocations land on it. They must all come back zeroed.
    const bundle = await buildBundle({
      source: `
        const SIZE = 8 * 1024 * 1024;
        export function fill() {
          globalThis.keep = [new Uint8Array(SIZE).fill(0x5a), new Float64Array(SIZE / 8).fill(1.5)];
          return keep.length;
        }
        export function look() {
          const found = [];
          if (new Uint8Array(SIZE).indexOf(0x5a) !== -1) found.push("Uint8Array");
          if (new Uint8Array(new ArrayBuffer(SIZE)).indexOf(0x5a) !== -1) found.push("ArrayBuffer");
          if (new Float64Array(SIZE / 8).indexOf(1.5) !== -1) found.push("Float64Array");
          const sparse = new Array(SIZE / 16);
          sparse.length = SIZE / 8;
          if (sparse.indexOf(1.5) !== -1) found.push("Array");
          const growable = new ArrayBuffer(8, { maxByteLength: SIZE });
          if (typeof growable.resize === "function") {
            growable.resize(SIZE);
            if (new Uint8Array(growable).indexOf(0x5a) !== -1) found.push("resized ArrayBuffer");
          }
          return found;
        }
      `,
    });
    await runner.load(bundle);
    expect((await runner.execute(envelopeFor(bundle, "fill"))).response?.body).toBe(2);
    const result = await runner.execute(envelopeFor(bundle, "look"));
    expect(result.response?.body).toEqual([]);
    expect(runner.stats().instances.created).toBe(1);
  });

  it("discards the instance after an out-of-memory instead of restoring it", async () => {
    runner = createInMemoryRunner({ limits: { memoryBytes: 16 * MiB } });
    const bundle = await buildBundle({
      source: `export function bomb() { const a = []; for (;;) a.push(new Array(10000).fill(1)); }
               export function ok() { return "ok"; }`,
    });
    await runner.load(bundle);
    expect((await runner.execute(envelopeFor(bundle, "bomb"))).error?.code).toBe("E_MEMORY");
    expect((await runner.execute(envelopeFor(bundle, "ok"))).response?.body).toBe("ok");
    const stats = runner.stats();
    expect(stats.instances.discarded).toBe(1);
    expect(stats.instances.created).toBe(2);
    expect(stats.images.taken).toBe(2);
  });

  it("restores a warm context's instance when the warm context retires", async () => {
    runner = createInMemoryRunner();
    const bundle = await buildBundle({ source: `export function count() { globalThis.n = (globalThis.n ?? 0) + 1; return n; }`, warmContext: true });
    await runner.load(bundle);
    const warm = [];
    for (let i = 0; i < 3; i++) warm.push((await runner.execute(envelopeFor(bundle, "count", { context: "warm" }))).response?.body);
    expect(warm).toEqual([1, 2, 3]);
    const restoredBefore = runner.stats().images.restored;
    await runner.unload(bundle.contentHash);
    expect(runner.stats().images.restored).toBe(restoredBefore + 1);
    await runner.load(bundle);
    expect((await runner.execute(envelopeFor(bundle, "count"))).response?.body).toBe(1);
  });

  it("falls back to building every realm from scratch when no image can be taken", async () => {
    const capture = vi.spyOn(RealmImage, "capture").mockReturnValue(undefined);
    runner = createInMemoryRunner();
    const bundle = await buildBundle({ source: `export function h() { globalThis.n = (globalThis.n ?? 0) + 1; return n; }` });
    await runner.load(bundle);
    for (let i = 0; i < 3; i++) expect((await runner.execute(envelopeFor(bundle, "h"))).response?.body).toBe(1);
    expect(capture).toHaveBeenCalledTimes(1);
    expect(runner.stats().images).toEqual({ enabled: false, taken: 0, restored: 0, bundleStates: 0 });
  });

  it("builds every realm from scratch on the debug build, so its leak checks see each one freed", async () => {
    runner = createInMemoryRunner({ variant: "debug" });
    const bundle = await buildBundle({ source: `export function h() { return 1; }` });
    await runner.load(bundle);
    expect((await runner.execute(envelopeFor(bundle, "h"))).response?.body).toBe(1);
    expect(runner.stats().images).toEqual({ enabled: false, taken: 0, restored: 0, bundleStates: 0 });
  });
});
