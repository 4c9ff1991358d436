import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { CapabilityRequest, VerifiedBundle } from "@annex/manifest";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ExecuteEnvelope, ExecuteResult, ExecutionLimits } from "../../src/envelope.js";
import { KV_CALLS_IN_FLIGHT, type HostApis } from "../../src/host-apis.js";
import type { Runner } from "../../src/runner.js";
import { buildBundle, envelopeFor, memoryKv, type FixtureOptions } from "./fixtures.js";

export interface HostileRunnerOptions {
  hostApis: HostApis;
  limits?: Partial<ExecutionLimits> | undefined;
}

export interface HostileSuiteOptions {
  /** True for runners with a watchdog (worker pool, remote): adds the cases only a watchdog can stop. */
  watchdog: boolean;
  /** Extra checks after each test, before the runner is closed (e.g. the debug variant's QuickJS leak check). */
  afterEachCheck?: ((runner: Runner) => void | Promise<void>) | undefined;
}

const kvCap: CapabilityRequest = { name: "storage.kv", reason: "Keeps per-install state." };
const logCap: CapabilityRequest = { name: "log", reason: "Writes request logs for debugging." };
const MiB = 1024 * 1024;

/**
 * Hostile extensions, one test each, for any Runner: escapes, runaway code,
 * resource bombs, floods and egress tricks. Every case also checks that the
 * runner still serves a well-behaved call afterwards.
 */
export function hostileSuite(
  label: string,
  makeRunner: (options: HostileRunnerOptions) => Runner | Promise<Runner>,
  suiteOptions: HostileSuiteOptions,
): void {
  describe(`hostile extensions: ${label}`, () => {
    let runner: Runner | undefined;
    let server: Server;
    let port = 0;
    const kv = memoryKv();
    const secretsSeen: string[] = [];
    // Staged DNS: names that resolve only here, so reaching the server proves the runner connected to the checked address.
    const lookup = async (hostname: string) => {
      if (hostname === "partner.test") return [{ address: "127.0.0.2", family: 4 }];
      if (hostname === "loopback.test") return [{ address: "127.0.0.1", family: 4 }];
      throw Object.assign(new Error("not found"), { code: "ENOTFOUND" });
    };
    // kv reads as a host sees them: how many it started, each taking `delayMs` (a database read).
    const kvReads = { started: 0, delayMs: 0 };
    // Calls of the product's host capability (notes.touch) that reached it.
    const productCalls = { started: 0 };
    const hostApis: HostApis = {
      kv: {
        ...kv,
        get: async (key, scope) => {
          kvReads.started++;
          if (kvReads.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, kvReads.delayMs));
          return kv.get(key, scope);
        },
      },
      secrets: {
        get: (name, scope) => {
          secretsSeen.push(`${scope.installId}:${name}`);
          return `${name}@${scope.installId}`;
        },
      },
      fetch: { lookup, allowAddresses: ["127.0.0.2/32"], timeoutMs: 2000 },
      hostCapabilities: {
        "notes.touch": {
          args: { safeParse: (v: unknown) => ({ success: true, data: v }) },
          result: { safeParse: (v: unknown) => ({ success: true, data: v }) },
          handler: () => ++productCalls.started,
        },
      },
    };
    let baselineTimers = 0;

    beforeAll(async () => {
      server = createServer((request, response) => {
        const url = new URL(request.url ?? "/", "http://x");
        if (url.pathname === "/redirect") {
          response.statusCode = 302;
          response.setHeader("location", url.searchParams.get("to") ?? "/");
          response.end();
          return;
        }
        response.setHeader("content-type", "text/plain");
        response.end("partner says hi");
      });
      // 127.0.0.2 is loopback too; the runner's policy allows only it, so loopback via any other address stays denied.
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.2", resolve));
      port = (server.address() as AddressInfo).port;
    });
    afterAll(async () => {
      await new Promise((resolve) => server.close(resolve));
    });

    async function start(limits?: Partial<ExecutionLimits>): Promise<Runner> {
      baselineTimers = timers();
      secretsSeen.length = 0;
      runner = await makeRunner({ hostApis, ...(limits ? { limits } : {}) });
      return runner;
    }

    afterEach(async () => {
      if (runner !== undefined) {
        await suiteOptions.afterEachCheck?.(runner);
        await runner.close();
        runner = undefined;
        // Nothing the runner started (wall-clock timers, fetch timeouts: seconds long) may outlive it. A few
        // short turns first: a timer of the test framework's own (a hook's timeout) may be between one and the next.
        for (let turn = 0; turn < 5 && timers() > baselineTimers; turn++) await new Promise((resolve) => setTimeout(resolve, 10));
        expect(timers()).toBeLessThanOrEqual(baselineTimers);
      }
    });

    async function hostile(options: Omit<FixtureOptions, "source"> & { source: string }, limits?: Partial<ExecutionLimits>) {
      const active = await start(limits);
      const bundle = await buildBundle({
        capabilities: [logCap],
        ...options,
        ...(options.handlers ? { handlers: [...options.handlers, "ping"] } : {}),
        source: `${options.source}\nexport function ping() { return "pong"; }`,
      });
      await active.load(bundle);
      return { runner: active, bundle };
    }

    async function stillServes(active: Runner, bundle: VerifiedBundle): Promise<void> {
      const result = await active.execute(envelopeFor(bundle, "ping"));
      expect(result.response?.body).toBe("pong");
    }

    async function exec(active: Runner, envelope: ExecuteEnvelope): Promise<ExecuteResult> {
      return active.execute(envelope);
    }

    describe("escape attempts", () => {
      it("finds no host objects through constructor chains", async () => {
        const { runner: r, bundle } = await hostile({
          source: `export function h(req, ctx) {
            const viaFn = (function () {}).constructor("return typeof process + typeof require + typeof Buffer")();
            const viaThis = ({}).constructor.constructor("return globalThis")();
            const viaCtx = ctx.kv.get.constructor("return typeof process")();
            const viaReq = req.constructor.constructor("return typeof module")();
            return { viaFn, viaCtx, viaReq, sameGlobal: viaThis === globalThis, globals: Object.getOwnPropertyNames(globalThis).filter((n) => /^(process|require|module|exports|Buffer|global|setTimeout|setInterval|setImmediate|fetch|WebAssembly|Deno|Bun)$/.test(n)) };
          }`,
        });
        const result = await exec(r, envelopeFor(bundle, "h"));
        expect(result.response?.body).toEqual({ viaFn: "undefinedundefinedundefined", viaCtx: "undefined", viaReq: "undefined", sameGlobal: true, globals: [] });
        await stillServes(r, bundle);
      });

      it("finds no host objects through eval and the Function constructor", async () => {
        const { runner: r, bundle } = await hostile({
          source: `export function h() {
            return [eval("typeof process"), new Function("return typeof require")(), (0, eval)("typeof globalThis.process"), typeof import.meta];
          }`,
        });
        const result = await exec(r, envelopeFor(bundle, "h"));
        expect(result.response?.body).toEqual(["undefined", "undefined", "undefined", "object"]);
      });

      it("keeps its error reports the runner's own when the guest replaces String.prototype.slice before it throws", async () => {
        const { runner: r, bundle } = await hostile(
          {
            source: `export function object() { String.prototype.slice = function () { return { not: "a string" }; }; throw new Error("plain"); }
              export function huge() {
                const big = "A".repeat(2 * 1024 * 1024);
                String.prototype.slice = function () { return big; };
                const e = new Error("x"); e.code = "E_MINE"; throw e;
              }
              export async function copy(req, ctx) {
                const real = String.prototype.slice;
                String.prototype.slice = function () { return {}; };
                const v = { f() {} }; v.self = v;
                let caught = null;
                try { await ctx.kv.set("k", v); } catch (e) { caught = e; }
                String.prototype.slice = real;
                return { code: caught && caught.code, message: caught && caught.message };
              }`,
            handlers: ["object", "huge", "copy"],
            storage: { kind: "kv" },
            capabilities: [logCap, kvCap],
          },
          { responseBytes: 64 * 1024 },
        );
        // Before: the host's stack.split threw on the object, and the result was E_SANDBOX_CRASHED, an engine code.
        const object = await exec(r, envelopeFor(bundle, "object"));
        expect(object.error).toMatchObject({ code: "E_HANDLER_ERROR", message: expect.stringContaining("plain") });
        // Before: 2 MiB of message and an object as details.guestCode, far past responseBytes.
        const huge = await exec(r, envelopeFor(bundle, "huge"));
        expect(huge.error?.code).toBe("E_HANDLER_ERROR");
        expect(JSON.stringify(huge.error).length).toBeLessThan(40_000);
        expect(huge.error?.details?.["guestCode"] ?? "E_MINE").toEqual(expect.any(String));
        // Before: the host's TypeError reached the guest as the call's exception, and the sandbox went on.
        const copy = await exec(r, envelopeFor(bundle, "copy"));
        expect(copy.response?.body).toMatchObject({ code: "E_INVALID_ARGUMENT" });
        expect((copy.response?.body as { message: string }).message).not.toMatch(/split is not a function/);
        await stillServes(r, bundle);
      });

      it("counts ctx.host.call names its manifest does not request under one key: they are the guest's to make up", async () => {
        const { runner: r, bundle } = await hostile({
          source: `export async function h(req, ctx) {
            const codes = new Set();
            for (let i = 0; i < 200; i++) await ctx.host.call("made." + i + "x".repeat(2000), {}).catch((e) => codes.add(e.code));
            return [...codes];
          }`,
        });
        const result = await exec(r, envelopeFor(bundle, "h"));
        expect(result.response?.body).toEqual(["E_CAPABILITY_DENIED"]);
        // Before: 200 keys of 2 KB each in usage (and as many metric series on the host, never dropped).
        expect(result.usage.hostCalls).toEqual({ "host:?": 200 });
        expect(result.usage.deniedCalls).toEqual({ "host:?": 200 });
      });

      it("cannot pollute the host through the values it is given or returns", async () => {
        const { runner: r, bundle } = await hostile({
          source: `export function h(req) {
            req.__proto__.polluted = "yes";
            Object.prototype.polluted2 = "yes";
            req.body.nested.__proto__.admin = true;
            req.headers["x-injected"] = "1";
            return JSON.parse('{"__proto__": {"admin": true}, "ok": 1}');
          }`,
        });
        const envelope = envelopeFor(bundle, "h", { body: { nested: { a: 1 } } });
        const before = JSON.stringify(envelope);
        const result = await exec(r, envelope);
        expect(result.ok).toBe(true);
        const body = result.response?.body as Record<string, unknown>;
        expect(body).toEqual({ ok: 1 });
        expect(Object.getPrototypeOf(body)).toBe(Object.prototype);
        expect((body as { admin?: unknown }).admin).toBeUndefined();
        expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
        expect(({} as Record<string, unknown>)["polluted2"]).toBeUndefined();
        expect(JSON.stringify(envelope)).toBe(before);
      });

      it("cannot import host modules, statically or dynamically, nor require them", async () => {
        const { runner: r, bundle } = await hostile({
          source: `export async function h() {
            const out = [];
            for (const name of ["node:fs", "fs", "child_process", "/etc/passwd", "../../../package.json", "data:text/javascript,export default 1"]) {
              try { await import(name); out.push(name + ": loaded"); } catch (e) { out.push(name + ": refused"); }
            }
            try { require("fs"); out.push("require: worked"); } catch (e) { out.push("require: " + e.name); }
            return out;
          }`,
        });
        const result = await exec(r, envelopeFor(bundle, "h"));
        expect(result.response?.body).toEqual([
          "node:fs: refused",
          "fs: refused",
          "child_process: refused",
          "/etc/passwd: refused",
          "../../../package.json: refused",
          "data:text/javascript,export default 1: refused",
          "require: ReferenceError",
        ]);
      });

      it("cannot read another install's kv or secrets", async () => {
        const { runner: r, bundle } = await hostile({
          source: `export async function write(req, ctx) { await ctx.kv.set("token", req.body); return 1; }
                   export async function read(req, ctx) {
                     return { own: await ctx.kv.get("token"), traversal: await ctx.kv.get("../inst-victim/token"), listed: (await ctx.kv.list()).keys, secret: await ctx.secrets.get("API_KEY") };
                   }`,
          storage: { kind: "kv" },
          secrets: ["API_KEY"],
          capabilities: [logCap, kvCap, { name: "secrets.read", names: ["API_KEY"], reason: "Calls the partner API." }],
        });
        const asInstall = (envelope: ExecuteEnvelope, id: string, tenant: string): ExecuteEnvelope => ({ ...envelope, install: { ...envelope.install, id, tenant } });
        await exec(r, asInstall(envelopeFor(bundle, "write", { body: "victim-secret" }), "inst-victim", "tenant-v"));
        const result = await exec(r, asInstall(envelopeFor(bundle, "read"), "inst-attacker", "tenant-x"));
        expect(result.response?.body).toEqual({ own: null, traversal: null, listed: [], secret: "API_KEY@inst-attacker" });
        expect(kv.data.get("inst-victim/token")).toBe("victim-secret");
      });
    });

    describe("runaway code", () => {
      it("stops a synchronous infinite loop", async () => {
        const { runner: r, bundle } = await hostile({ source: `export function h() { for (;;) {} }` }, { cpuMs: 200 });
        const result = await exec(r, envelopeFor(bundle, "h"));
        expect(result.error?.code).toBe("E_TIMEOUT");
        await stillServes(r, bundle);
      });

      it("stops an infinite loop that try/catch tries to survive", async () => {
        const { runner: r, bundle } = await hostile({ source: `export function h() { for (;;) { try { for (;;) {} } catch (e) {} } }` }, { cpuMs: 200 });
        expect((await exec(r, envelopeFor(bundle, "h"))).error?.code).toBe("E_TIMEOUT");
        await stillServes(r, bundle);
      });

      it("stops an infinite loop in promise jobs", async () => {
        const { runner: r, bundle } = await hostile({
          source: `export function h() { const spin = () => Promise.resolve().then(spin); spin(); return new Promise(() => {}); }`,
        }, { cpuMs: 200 });
        expect((await exec(r, envelopeFor(bundle, "h"))).error?.code).toBe("E_TIMEOUT");
        await stillServes(r, bundle);
      });

      it("stops an infinite loop in a host-call callback", async () => {
        const { runner: r, bundle } = await hostile(
          { source: `export async function h(req, ctx) { await ctx.kv.get("x"); for (;;) {} }`, storage: { kind: "kv" }, capabilities: [logCap, kvCap] },
          { cpuMs: 200 },
        );
        const result = await exec(r, envelopeFor(bundle, "h"));
        expect(result.error?.code).toBe("E_TIMEOUT");
        expect(result.usage.hostCalls).toEqual({ "storage.kv": 1 });
        await stillServes(r, bundle);
      });

      it("fails an execution whose native calls ran past cpuMs between two interrupt checks", async () => {
        // QuickJS polls the interrupt handler by count of bytecode steps, and a native BigInt operation runs
        // without any: a loop of a few such calls spends its CPU and returns before the handler is asked.
        // The budget must still see the overrun when the guest hands control back, and not answer ok.
        const { runner: r, bundle } = await hostile(
          { source: `export function h() { const x = (1n << 200000n) - 1n; const t = Date.now(); let n = 0; while (Date.now() - t < 700) { n += x.toString().length > 0 ? 1 : 0; } return n; }` },
          { cpuMs: 200 },
        );
        const result = await exec(r, envelopeFor(bundle, "h"));
        expect(result.error).toMatchObject({ code: "E_TIMEOUT", details: { limit: "cpuMs" } });
        await stillServes(r, bundle);
      });

      it("stops a catastrophic regular expression", async () => {
        const { runner: r, bundle } = await hostile({ source: `export function h() { return /(a+)+$/.test("a".repeat(40) + "b"); }` }, { cpuMs: 200 });
        expect((await exec(r, envelopeFor(bundle, "h"))).error?.code).toBe("E_TIMEOUT");
        await stillServes(r, bundle);
      });

      it("turns deep recursion into E_STACK without hurting the host", async () => {
        const { runner: r, bundle } = await hostile({
          source: `export function recurse() { const f = (n) => f(n + 1) + 1; return f(0); }
                   export function parse() { return JSON.parse("[".repeat(1000000)); }
                   export function stringify() { let o = {}; for (let i = 0; i < 100000; i++) o = { o }; return JSON.stringify(o).length; }`,
          handlers: ["recurse", "parse", "stringify"],
        });
        for (const handler of ["recurse", "parse", "stringify"]) {
          expect((await exec(r, envelopeFor(bundle, handler))).error?.code, handler).toBe("E_STACK");
        }
        await stillServes(r, bundle);
      });

      if (suiteOptions.watchdog) {
        it("stops a huge Array.prototype.sort, which never reaches the interrupt handler", async () => {
          // A sparse array of 2^30 slots: the native sort walks every index without calling back into JS, so the
          // interrupt handler never runs (measured: 2^27 slots took 9.7 s with one interrupt). It allocates almost
          // nothing, so time, not memory, is what runs out, on any machine speed.
          const { runner: r, bundle } = await hostile({ source: `export function h() { const a = new Array(2 ** 30); a.sort(); return a.length; }` }, {
            cpuMs: 200,
            wallMs: 1000,
          });
          expect((await exec(r, envelopeFor(bundle, "h"))).error?.code).toBe("E_TIMEOUT");
          await stillServes(r, bundle);
        });

        it("stops a huge Array.prototype.join, which never reaches the interrupt handler", async () => {
          const { runner: r, bundle } = await hostile({ source: `export function h() { return new Array(2 ** 30).join("").length; }` }, {
            cpuMs: 200,
            wallMs: 1000,
          });
          expect((await exec(r, envelopeFor(bundle, "h"))).error?.code).toBe("E_TIMEOUT");
          await stillServes(r, bundle);
        });

        it("stops a copy out of the sandbox that loops natively: a sparse array of huge length as the result or a host call's argument", async () => {
          // The runner's own serialiser visits every index up to length (holes too) in C: ~45 s for 2^32 - 1 on a
          // thread no interrupt reaches. A guest-side pre-check cost 4x on a 100-row result, so the watchdog stops it.
          const { runner: r, bundle } = await hostile(
            {
              storage: { kind: "kv" },
              capabilities: [logCap, kvCap],
              source: `export function result() { const a = [1]; a.length = 2 ** 32 - 1; return { a }; }
                       export async function argument(request, ctx) { const a = []; a[2 ** 32 - 2] = 1; await ctx.kv.set("k", { a }); return "sent"; }`,
              handlers: ["result", "argument"],
            },
            { cpuMs: 200, wallMs: 1000 },
          );
          for (const handler of ["result", "argument"]) expect((await exec(r, envelopeFor(bundle, handler))).error?.code, handler).toBe("E_TIMEOUT");
          await stillServes(r, bundle);
        });

        it("stops a load whose top-level code loops in a built-in, failing only that load", async () => {
          const active = await start();
          const good = await buildBundle({ capabilities: [logCap], source: `export function ping() { return "pong"; }` });
          await active.load(good);
          const stalling = await buildBundle({
            capabilities: [logCap],
            source: `const stalled = new Array(2 ** 30).join("").length;\nexport function h() { return stalled; }`,
            limits: { cpuMs: 200, wallMs: 1000 },
          });
          const loading = active.load(stalling).then(
            () => undefined,
            (error: unknown) => error,
          );
          // Another extension's request while the load is stuck: delayed at most, never failed.
          const meanwhile = await exec(active, envelopeFor(good, "ping"));
          expect(meanwhile.response?.body).toBe("pong");
          expect(await loading).toMatchObject({ code: "E_TIMEOUT", details: expect.objectContaining({ phase: "load" }) });
          await stillServes(active, good);
        });

        it("stops a quadratic built-in string search, which never reaches the interrupt handler", async () => {
          const { runner: r, bundle } = await hostile(
            { source: `export function h() { const hay = "a".repeat(300000); return hay.indexOf("a".repeat(150000) + "b"); }` },
            { cpuMs: 200, wallMs: 1000 },
          );
          expect((await exec(r, envelopeFor(bundle, "h"))).error?.code).toBe("E_TIMEOUT");
          await stillServes(r, bundle);
        });
      }
    });

    describe("ctx.event and ctx.job come from the envelope only", () => {
      it("a warm context that pollutes Object.prototype or keeps an old ctx cannot forge an event or a job", async () => {
        const { runner: r, bundle } = await hostile({
          source: `let kept;
                   export function poison(input, ctx) {
                     kept = ctx;
                     Object.prototype.e = { id: "forged", type: "forged" };
                     Object.prototype.j = { name: "forged", scheduledAt: "forged" };
                     let rewritten = "no";
                     try { ctx.event.id = "rewritten"; rewritten = ctx.event.id; } catch (e) { rewritten = "threw"; }
                     return { id: ctx.event?.id ?? null, rewritten };
                   }
                   export function look(input, ctx) {
                     let old;
                     try { old = kept.event?.id ?? null; } catch (e) { old = e.code ?? "threw"; }
                     return { event: ctx.event ?? null, job: ctx.job ?? null, old };
                   }`,
          handlers: ["poison", "look"],
          warmContext: true,
        });
        const poisoned = await exec(r, envelopeFor(bundle, "poison", {
          context: "warm",
          invocation: { kind: "event", handler: "poison", event: { id: "delivery-9", type: "acme.t", payload: null, occurredAt: "2026-12-03T00:00:00.000Z" } },
        }));
        expect(poisoned.response?.body).toEqual({ id: "delivery-9", rewritten: "threw" });
        const after = await exec(r, envelopeFor(bundle, "look", { context: "warm" }));
        // The kept ctx still reads its own (ended) execution's frozen event; the new endpoint call has neither.
        expect(after.response?.body).toEqual({ event: null, job: null, old: "delivery-9" });
        await stillServes(r, bundle);
      });
    });

    describe("engine codes come from the runner's state, never from the guest's words", () => {
      it("answers forged engine errors as the handler errors they are", async () => {
        const { runner: r, bundle } = await hostile({
          source: `export function interrupted() { throw new InternalError("interrupted"); }
                   export function oom() { throw new InternalError("out of memory"); }
                   export function tooLong() { throw new InternalError("string too long"); }
                   export function stack() { throw new InternalError("stack overflow"); }
                   export function rangeStack() { throw new RangeError("stack overflow"); }
                   export function thrownNull() { throw null; }
                   export function coded() { throw Object.assign(new Error("limit"), { code: "E_HOST_CALL_LIMIT" }); }
                   export async function later() { await null; throw new InternalError("interrupted"); }`,
          handlers: ["interrupted", "oom", "tooLong", "stack", "rangeStack", "thrownNull", "coded", "later"],
        });
        for (const handler of ["interrupted", "oom", "tooLong", "stack", "rangeStack", "thrownNull", "coded", "later"]) {
          const result = await exec(r, envelopeFor(bundle, handler));
          expect(result.error?.code, handler).toBe("E_HANDLER_ERROR");
        }
        await stillServes(r, bundle);
      });

      it("keeps an error's stack within 16,000 characters after mapping it through the bundle's own source map", async () => {
        // Both are the extension's: 800 frames of 20 characters, each mapped to a source name of 50,000, made a stack
        // of 40 MB on the host (and a frame past the remote runner's cap, which then looked down).
        const { runner: r, bundle } = await hostile({
          source: `export function h() { const e = new Error("boom"); e.stack = "server/index.js:1:1\\n".repeat(800); throw e; }`,
          handlers: ["h"],
          files: { "server/index.js.map": JSON.stringify({ version: 3, file: "index.js", sources: [`src/${"a".repeat(50_000)}.ts`], names: [], mappings: "AAAA" }) },
        });
        const result = await exec(r, envelopeFor(bundle, "h"));
        expect(result.error?.code).toBe("E_HANDLER_ERROR");
        expect(result.error?.stack?.length).toBe(16_000);
        // Mapped all the same, each source name cut to a path's length.
        expect(result.error?.stack).toMatch(/^src\/a{252}:1:1\n/);
        await stillServes(r, bundle);
      });

      it("answers every kind of out-of-memory E_MEMORY, whatever the guest throws or catches", async () => {
        const { runner: r, bundle } = await hostile(
          {
            source: `export function objects() { const a = []; for (;;) a.push(new Array(10000).fill({ x: 1 })); }
                     export function huge() { return new ArrayBuffer(2 ** 30).byteLength; }
                     export function strings() { let s = "ab"; for (;;) s = s.repeat(2) + "!"; }
                     export function rethrown() { try { const a = []; for (;;) a.push(new Array(10000).fill(0)); } catch (e) { throw new Error("not me"); } }
                     export function thrownNull() { try { const a = []; for (;;) a.push(new Array(10000).fill(0)); } catch (e) { throw null; } }
                     export async function inJob() { await null; const a = []; for (;;) a.push(new Array(10000).fill(0)); }`,
            handlers: ["objects", "huge", "strings", "rethrown", "thrownNull", "inJob"],
          },
          { memoryBytes: 32 * MiB, cpuMs: 5000, wallMs: 20000 },
        );
        for (const handler of ["objects", "huge", "strings", "rethrown", "thrownNull", "inJob"]) {
          const result = await exec(r, envelopeFor(bundle, handler));
          expect(result.error?.code, handler).toBe("E_MEMORY");
        }
        await stillServes(r, bundle);
      });

      it("never reuses a warm context after an out-of-memory, even one the guest caught", async () => {
        const { runner: r, bundle } = await hostile(
          {
            source: `let calls = 0;
                     export function h() { calls++; try { const a = []; for (;;) a.push(new Array(10000).fill(0)); } catch (e) {} return calls; }
                     export function count() { calls++; return calls; }`,
            handlers: ["h", "count"],
            warmContext: true,
          },
          { memoryBytes: 32 * MiB, cpuMs: 5000, wallMs: 20000 },
        );
        const caught = await exec(r, envelopeFor(bundle, "h", { context: "warm" }));
        expect(caught.response?.body).toBe(1);
        // A fresh context: the one that ran out of memory was discarded.
        expect((await exec(r, envelopeFor(bundle, "count", { context: "warm" }))).response?.body).toBe(1);
        expect((await exec(r, envelopeFor(bundle, "count", { context: "warm" }))).response?.body).toBe(2);
      });
    });

    describe("marshalling runs no guest code and leaks nothing", () => {
      it("counts a guest getter on Object.prototype.then, run when a host call settles, against the CPU limit", async () => {
        const { runner: r, bundle } = await hostile(
          {
            source: `export async function h(req, ctx) {
              Object.defineProperty(Object.prototype, "then", { get() { for (;;) {} }, configurable: true });
              return await ctx.kv.list({});
            }`,
            storage: { kind: "kv" },
            capabilities: [logCap, kvCap],
          },
          { cpuMs: 200, wallMs: 4000 },
        );
        const result = await exec(r, envelopeFor(bundle, "h"));
        expect(result.error).toMatchObject({ code: "E_TIMEOUT", details: { limit: "cpuMs" } });
        expect(result.usage.cpuMs).toBeGreaterThanOrEqual(200);
        await stillServes(r, bundle);
      });

      it("never calls accessors, setters or toJSON the guest put on built-in prototypes, and reveals nothing private", async () => {
        const { runner: r, bundle } = await hostile({
          source: `export async function h(req, ctx) {
            // A string, not an array: the guest's own pushes would run its own Array.prototype setters.
            let seen = "";
            const note = (what, v) => { let keys = ""; try { keys = Object.keys(Object(v)).join(","); } catch (e) {} seen += what + ":" + keys + ";"; };
            for (const i of ["0", "1", "2"]) {
              Object.defineProperty(Array.prototype, i, { get() { note("get" + i, this); }, set(v) { note("set" + i, v); }, configurable: true });
            }
            Object.defineProperty(Object.prototype, "toJSON", { value: function () { note("toJSON", this); return this; }, configurable: true, writable: true });
            Object.defineProperty(Object.prototype, "get", { get() { note("descriptor", this); return undefined; }, configurable: true });
            await ctx.kv.set("k", { nested: { bytes: new Uint8Array([1, 2, 3]) }, list: [new Uint8Array([4])] });
            const back = await ctx.kv.get("k");
            ctx.log.info({ nested: { a: 1 } }, [1, 2]);
            return { seen, back, body: req.body, bytes: new Uint8Array([5, 6]) };
          }`,
          storage: { kind: "kv" },
          capabilities: [logCap, kvCap],
        });
        const result = await exec(r, envelopeFor(bundle, "h", { body: { raw: new Uint8Array([7, 8]) } }));
        expect(result.error).toBeUndefined();
        const body = result.response?.body as Record<string, unknown>;
        expect(body["seen"]).toBe("");
        expect(body["back"]).toEqual({ nested: { bytes: new Uint8Array([1, 2, 3]) }, list: [new Uint8Array([4])] });
        expect(body["body"]).toEqual({ raw: new Uint8Array([7, 8]) });
        expect(body["bytes"]).toEqual(new Uint8Array([5, 6]));
        expect(kv.data.get("inst-1/k")).toEqual({ nested: { bytes: new Uint8Array([1, 2, 3]) }, list: [new Uint8Array([4])] });
        expect(result.logs.map((l) => l.message)).toContain('{"nested":{"a":1}} [1,2]');
      });

      it("never calls a getter or toJSON of the value a handler returns", async () => {
        const { runner: r, bundle } = await hostile(
          { source: `export function h() { return { a: 1, get spin() { for (;;) {} }, inner: { toJSON() { for (;;) {} }, b: 2 } }; }` },
          { cpuMs: 200, wallMs: 4000 },
        );
        const result = await exec(r, envelopeFor(bundle, "h"));
        expect(result.error).toBeUndefined();
        expect(result.response?.body).toEqual({ a: 1, inner: { b: 2 } });
      });

      it("runs a Proxy's traps on the guest's CPU budget", async () => {
        const { runner: r, bundle } = await hostile(
          { source: `export function h() { return { p: new Proxy({}, { ownKeys() { for (;;) {} } }) }; }` },
          { cpuMs: 200, wallMs: 4000 },
        );
        const result = await exec(r, envelopeFor(bundle, "h"));
        expect(result.error).toMatchObject({ code: "E_TIMEOUT", details: { limit: "cpuMs" } });
        await stillServes(r, bundle);
      });
    });

    describe("resource bombs", () => {
      it("caps a memory bomb at the memory limit, measured in process RSS", async () => {
        const cap = 48 * MiB;
        const { runner: r, bundle } = await hostile({ source: `export function h() { const a = []; for (;;) a.push(new Array(10000).fill({ x: 1 })); }` }, { memoryBytes: cap, cpuMs: 5000, wallMs: 20000 });
        const before = process.memoryUsage().rss;
        const result = await exec(r, envelopeFor(bundle, "h"));
        const grown = process.memoryUsage().rss - before;
        expect(result.error?.code).toBe("E_MEMORY");
        expect(result.usage.memoryPeakBytes).toBeGreaterThanOrEqual(cap);
        // Without a capped linear memory this grew the host by gigabytes; allow the cap plus the sandbox's own overhead.
        expect(grown).toBeLessThan(cap + 64 * MiB);
        await stillServes(r, bundle);
      });

      it("caps a string bomb at the memory limit, measured in process RSS", async () => {
        const cap = 48 * MiB;
        const { runner: r, bundle } = await hostile({ source: `export function h() { let s = "ab"; for (;;) s = s.repeat(2) + "!"; }` }, { memoryBytes: cap, cpuMs: 5000, wallMs: 20000 });
        const before = process.memoryUsage().rss;
        const result = await exec(r, envelopeFor(bundle, "h"));
        const grown = process.memoryUsage().rss - before;
        expect(result.error?.code).toBe("E_MEMORY");
        expect(grown).toBeLessThan(cap + 64 * MiB);
        await stillServes(r, bundle);
      });

      it("keeps a burst of ten memory bombs within the cap plus 32 MB of RSS, and gives the memory back after each", async () => {
        const cap = 64 * MiB;
        const { runner: r, bundle } = await hostile(
          { source: `export function h() { const a = []; for (;;) a.push(new Array(10000).fill({ x: 1 })); }` },
          { memoryBytes: cap, cpuMs: 5000, wallMs: 20000 },
        );
        await stillServes(r, bundle);
        await settleMemory();
        const before = process.memoryUsage().rss;
        const peak = rssPeakMeter();
        const after: number[] = [];
        for (let i = 0; i < 10; i++) {
          expect((await exec(r, envelopeFor(bundle, "h"))).error?.code).toBe("E_MEMORY");
          await settleMemory();
          after.push(process.memoryUsage().rss - before);
        }
        const grown = peak.stop() - before;
        expect(grown).toBeLessThan(cap + 32 * MiB);
        // Back every time: no bomb leaves its memory behind for the next to stack on.
        for (const left of after) expect(left).toBeLessThan(24 * MiB);
        await stillServes(r, bundle);
      });

      it("bounds the bytes one execution passes through host calls", async () => {
        const { runner: r, bundle } = await hostile(
          {
            source: `export async function h(req, ctx) { const big = "x".repeat(4 * 1024 * 1024 - 64); for (let i = 0; i < 32; i++) await ctx.kv.set("k" + i, big); return "all stored"; }`,
            storage: { kind: "kv" },
            capabilities: [logCap, kvCap],
          },
          { cpuMs: 10_000, wallMs: 30_000 },
        );
        const result = await exec(r, envelopeFor(bundle, "h"));
        expect(result.error).toMatchObject({ code: "E_HOST_CALL_LIMIT", details: { limit: "hostCallBytes" } });
        expect(result.usage.hostCalls["storage.kv"]).toBeLessThan(10);
        expect([...kv.data.keys()].filter((key) => key.startsWith("inst-1/k")).length).toBeLessThan(10);
        await stillServes(r, bundle);
      });

      it("bounds the bytes of host calls in flight at once", async () => {
        const { runner: r, bundle } = await hostile({
          source: `export async function h(req, ctx) {
            const big = "y".repeat(3 * 1024 * 1024);
            const settled = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => ctx.kv.set("f" + i, big)));
            return settled.map((s) => (s.status === "fulfilled" ? "ok" : s.reason.code));
          }`,
          storage: { kind: "kv" },
          capabilities: [logCap, kvCap],
        });
        const result = await exec(r, envelopeFor(bundle, "h"));
        expect(result.response?.body).toEqual(["ok", "ok", "E_HOST_CALL_LIMIT", "E_HOST_CALL_LIMIT", "E_HOST_CALL_LIMIT", "E_HOST_CALL_LIMIT"]);
      });

      it("drops log calls past the log limit without formatting them", async () => {
        const { runner: r, bundle } = await hostile(
          {
            source: `export function h(req, ctx) {
              ctx.log.info("x".repeat(200));
              const big = new Array(200000).fill({ k: "value" });
              for (let i = 0; i < 400; i++) { ctx.log.info(big); console.log(big); }
              return "done";
            }`,
          },
          { logBytes: 100, cpuMs: 1000, wallMs: 20000 },
        );
        const result = await exec(r, envelopeFor(bundle, "h"));
        expect(result.error).toBeUndefined();
        expect(result.response?.body).toBe("done");
        // The first line (cut to the limit) and the note that the rest was dropped.
        expect(result.logs.map((l) => l.message)).toEqual(["x".repeat(100), expect.stringMatching(/log limit of 100 bytes reached/)]);
        expect(result.usage.hostCalls["log"]).toBe(801);
      });

      it("counts log calls against the host-call limit, console included", async () => {
        const { runner: r, bundle } = await hostile({ source: `export function h() { for (let i = 0; i < 100000; i++) console.log("flood " + i); return "survived"; }` });
        const result = await exec(r, envelopeFor(bundle, "h"));
        expect(result.error?.code).toBe("E_HOST_CALL_LIMIT");
        expect(result.usage.hostCalls["log"]).toBe(1000);
        await stillServes(r, bundle);
      });

      it("drops console calls without the log grant in the sandbox, without counting them", async () => {
        const { runner: r, bundle } = await hostile({
          source: `export function h() { for (let i = 0; i < 100000; i++) console.log("quiet " + i); return "survived"; }`,
          capabilities: [kvCap],
          storage: { kind: "kv" },
        });
        const result = await exec(r, envelopeFor(bundle, "h"));
        expect(result.response?.body).toBe("survived");
        expect(result.usage.hostCalls).toEqual({});
        expect(result.logs).toEqual([]);
      });

      it("refuses an oversized response", async () => {
        const { runner: r, bundle } = await hostile({ source: `export function h() { return "x".repeat(6 * 1024 * 1024); }` });
        expect((await exec(r, envelopeFor(bundle, "h"))).error?.code).toBe("E_PAYLOAD_TOO_LARGE");
        await stillServes(r, bundle);
      });

      it("refuses host-call arguments that would pass responseBytes as JSON, though their binary form is within it", async () => {
        const { runner: r, bundle } = await hostile(
          {
            source: `export async function h(req, ctx) { try { await ctx.kv.set("typed", new Int8Array(200000).fill(-1)); return "stored"; } catch (e) { return e.code; } }`,
            storage: { kind: "kv" },
            capabilities: [logCap, kvCap],
          },
          { responseBytes: 512 * 1024 },
        );
        expect((await exec(r, envelopeFor(bundle, "h"))).response?.body).toBe("E_PAYLOAD_TOO_LARGE");
        expect([...kv.data.keys()].filter((key) => key.endsWith("/typed"))).toEqual([]);
        await stillServes(r, bundle);
      });

      it("stops a host-call flood at the host-call limit", async () => {
        const { runner: r, bundle } = await hostile({
          source: `export async function h(req, ctx) { const calls = []; for (let i = 0; i < 5000; i++) calls.push(ctx.kv.get("k" + i).catch(() => null)); await Promise.all(calls); return "survived"; }`,
          storage: { kind: "kv" },
          capabilities: [logCap, kvCap],
        }, { cpuMs: 10_000, wallMs: 30_000 });
        const result = await exec(r, envelopeFor(bundle, "h"));
        expect(result.error?.code).toBe("E_HOST_CALL_LIMIT");
        expect(result.usage.hostCalls["storage.kv"]).toBe(1000);
        await stillServes(r, bundle);
      });

      it("does no host work for the kv calls an execution started and left behind: at most KV_CALLS_IN_FLIGHT run, the rest are dropped", async () => {
        const { runner: r, bundle } = await hostile({
          source: `export function h(req, ctx) { for (let i = 0; i < 200; i++) ctx.kv.get("k").catch(() => null); return "left"; }
            export async function all(req, ctx) { return (await Promise.all(Array.from({ length: 40 }, (_, i) => ctx.kv.get("k")))).length; }`,
          handlers: ["h", "all"],
          storage: { kind: "kv" },
          capabilities: [logCap, kvCap],
        });
        // Reads slower than the execution: none ends, so none frees a turn, before the execution does.
        kvReads.delayMs = 1000;
        kvReads.started = 0;
        try {
          expect((await exec(r, envelopeFor(bundle, "h"))).response?.body).toBe("left");
          await new Promise((resolve) => setTimeout(resolve, 1300));
          // Before, all 200 ran after the guest was done: each a read, a parse and a copy on the host's thread.
          expect(kvReads.started).toBe(KV_CALLS_IN_FLIGHT);
          // Awaited, every call is answered, KV_CALLS_IN_FLIGHT at a time.
          kvReads.delayMs = 5;
          kvReads.started = 0;
          expect((await exec(r, envelopeFor(bundle, "all"))).response?.body).toBe(40);
          expect(kvReads.started).toBe(40);
        } finally {
          kvReads.delayMs = 0;
        }
        await stillServes(r, bundle);
      });

      it("does no host work for the kv calls, secret reads and host capability calls an execution left behind, however fast the host answers them", async () => {
        const { runner: r, bundle } = await hostile({
          source: `export function kv(req, ctx) { for (let i = 0; i < 500; i++) ctx.kv.get("k" + i).catch(() => null); return "left"; }
            export function secrets(req, ctx) { for (let i = 0; i < 500; i++) ctx.secrets.get("API_KEY").catch(() => null); return "left"; }
            export function product(req, ctx) { for (let i = 0; i < 500; i++) ctx.host.call("notes.touch", {}).catch(() => null); return "left"; }`,
          handlers: ["kv", "secrets", "product"],
          storage: { kind: "kv" },
          secrets: ["API_KEY"],
          capabilities: [logCap, kvCap, { name: "secrets.read", names: ["API_KEY"], reason: "Calls the partner API." }, { name: "host:notes.touch", reason: "Marks notes read." }],
        });
        // Reads answered at once: a runner that sends every call on (a pool's worker, a remote server) would see each
        // answered, its turn freed, before the host heard the execution ended, and all 500 would run.
        kvReads.started = 0;
        expect((await exec(r, envelopeFor(bundle, "kv"))).response?.body).toBe("left");
        expect((await exec(r, envelopeFor(bundle, "secrets"))).response?.body).toBe("left");
        productCalls.started = 0;
        expect((await exec(r, envelopeFor(bundle, "product"))).response?.body).toBe("left");
        await new Promise((resolve) => setTimeout(resolve, 200));
        // A lane's first calls, and perhaps a second round freed by answers that came before the execution's end.
        expect(kvReads.started).toBeLessThanOrEqual(2 * KV_CALLS_IN_FLIGHT);
        expect(secretsSeen.length).toBeLessThanOrEqual(2 * KV_CALLS_IN_FLIGHT);
        expect(productCalls.started).toBeLessThanOrEqual(2 * KV_CALLS_IN_FLIGHT);
        await stillServes(r, bundle);
      });

      it("counts denied calls against the host-call limit too", async () => {
        const { runner: r, bundle } = await hostile({
          source: `export async function h(req, ctx) { const calls = []; for (let i = 0; i < 5000; i++) calls.push(ctx.secrets.get("NOPE").catch(() => null)); await Promise.all(calls); return "survived"; }`,
        }, { cpuMs: 10_000, wallMs: 30_000 });
        const result = await exec(r, envelopeFor(bundle, "h"));
        expect(result.error?.code).toBe("E_HOST_CALL_LIMIT");
        expect(secretsSeen).toEqual([]);
      });
    });

    describe("egress", () => {
      const fetcher = `export async function h(req, ctx) {
        try { const res = await ctx.http.fetch(req.body.url); return { status: res.status, text: await res.text() }; }
        catch (e) { return { code: e.code, message: e.message }; }
      }`;
      const egress = (hosts: string[]) => ({
        source: fetcher,
        capabilities: [logCap, { name: "http.fetch", hosts, reason: "Talks to the partner API." } as CapabilityRequest],
      });

      it("reaches a listed host (control case)", async () => {
        const { runner: r, bundle } = await hostile(egress([`partner.test:${port}`]));
        const result = await exec(r, envelopeFor(bundle, "h", { body: { url: `http://partner.test:${port}/` } }));
        expect(result.response?.body).toEqual({ status: 200, text: "partner says hi" });
      });

      it("denies a host that is not listed", async () => {
        const { runner: r, bundle } = await hostile(egress([`partner.test:${port}`]));
        const result = await exec(r, envelopeFor(bundle, "h", { body: { url: `http://evil.test:${port}/` } }));
        expect(result.response?.body).toMatchObject({ code: "E_EGRESS_DENIED" });
      });

      // Manifests cannot list IP addresses, so IP literals fail the host list; the address check behind it
      // (which also catches names resolving to loopback) is covered below and in the egress unit tests.
      it("denies 127.0.0.1 and other loopback IP literal spellings", async () => {
        const { runner: r, bundle } = await hostile(egress([`partner.test:${port}`]));
        for (const host of ["127.0.0.1", "127.0.0.2", "2130706433", "0x7f.1", "127.1", "[::ffff:127.0.0.1]", "[::1]"]) {
          const result = await exec(r, envelopeFor(bundle, "h", { body: { url: `http://${host}:${port}/` } }));
          expect(result.response?.body, host).toMatchObject({ code: "E_EGRESS_DENIED" });
        }
      });

      it("denies a listed DNS name that resolves to loopback", async () => {
        const { runner: r, bundle } = await hostile(egress([`loopback.test:${port}`]));
        const result = await exec(r, envelopeFor(bundle, "h", { body: { url: `http://loopback.test:${port}/` } }));
        expect(result.response?.body).toMatchObject({ code: "E_EGRESS_DENIED", message: expect.stringMatching(/loopback/) });
      });

      it("denies a redirect to an unlisted host and to a listed name resolving to loopback", async () => {
        const { runner: r, bundle } = await hostile(egress([`partner.test:${port}`, `loopback.test:${port}`]));
        for (const target of [`http://127.0.0.1:${port}/`, `http://evil.test:${port}/`, `http://loopback.test:${port}/`]) {
          const url = `http://partner.test:${port}/redirect?to=${encodeURIComponent(target)}`;
          const result = await exec(r, envelopeFor(bundle, "h", { body: { url } }));
          expect(result.response?.body, target).toMatchObject({ code: "E_EGRESS_DENIED" });
        }
      });

      it("denies everything when the granted host list is empty", async () => {
        const { runner: r, bundle } = await hostile(egress([`partner.test:${port}`]));
        const result = await exec(r, envelopeFor(bundle, "h", { body: { url: `http://partner.test:${port}/` }, grants: [{ name: "log" }, { name: "http.fetch", hosts: [] }] }));
        expect(result.response?.body).toMatchObject({ code: "E_EGRESS_DENIED" });
      });
    });
  });
}

/** Waits for the memory of dropped sandboxes to be returned (collections and frees happen off the critical path). */
async function settleMemory(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setTimeout(resolve, 50));
}

/**
 * The process's peak RSS from now until stop(): the kernel's high-water mark
 * (VmHWM, reset through /proc/self/clear_refs) where Linux offers it, which
 * also sees a peak inside a synchronous bomb; else sampled every few ms.
 */
function rssPeakMeter(): { stop(): number } {
  try {
    writeFileSync("/proc/self/clear_refs", "5");
    const read = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))?.[1]) * 1024;
    if (Number.isFinite(read()) && read() > 0) return { stop: read };
  } catch {
    // Not Linux, or not allowed: sample instead.
  }
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 2);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, process.memoryUsage().rss);
    },
  };
}

function timers(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === "Timeout").length;
}
