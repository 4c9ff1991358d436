import { afterEach, describe, expect, it } from "vitest";
import { createInMemoryRunner, type InMemoryRunner } from "../../src/in-memory-runner.js";
import { isRunnerError } from "../../src/errors.js";
import { buildBundle, envelopeFor, memoryKv } from "../support/fixtures.js";

let runner: InMemoryRunner;
afterEach(async () => {
  await runner?.close();
});

async function run(source: string, handler: string, body: unknown = null, extra: Parameters<typeof buildBundle>[0] extends infer O ? Partial<O> : never = {}) {
  runner = createInMemoryRunner();
  const bundle = await buildBundle({ source, ...extra });
  await runner.load(bundle);
  return runner.execute(envelopeFor(bundle, handler, { body }));
}

describe("handler results", () => {
  it("sends a plain JSON value as the body of a 200", async () => {
    const result = await run(`export function h(req) { return { name: req.body.name, list: [1, 2] }; }`, "h", { name: "ada" });
    expect(result.ok).toBe(true);
    expect(result.response).toEqual({ status: 200, headers: {}, body: { name: "ada", list: [1, 2] } });
  });

  it("honours a response object with status and headers", async () => {
    const result = await run(`export async function h() { return { status: 201, headers: { "X-Id": "7", "Content-Type": "application/json" }, body: { created: true } }; }`, "h");
    expect(result.response).toEqual({ status: 201, headers: { "x-id": "7", "content-type": "application/json" }, body: { created: true } });
  });

  it("treats an object whose status is not a number as a body", async () => {
    const result = await run(`export function h() { return { status: "ok" }; }`, "h");
    expect(result.response).toEqual({ status: 200, headers: {}, body: { status: "ok" } });
  });

  it("rejects a status outside 100..599 with E_HANDLER_ERROR", async () => {
    const result = await run(`export function h() { return { status: 700 }; }`, "h");
    expect(result.error?.code).toBe("E_HANDLER_ERROR");
    expect(result.error?.message).toMatch(/status/);
  });

  it("copies bytes both ways as Uint8Array", async () => {
    const result = await run(
      `export function h(req) { const b = req.body; const out = new Uint8Array(b.length); for (let i = 0; i < b.length; i++) out[i] = b[i] + 1; return { body: out }; }`,
      "h",
      new Uint8Array([1, 2, 3]),
    );
    expect(result.ok).toBe(true);
    expect(result.response?.body).toBeInstanceOf(Uint8Array);
    expect([...(result.response!.body as Uint8Array)]).toEqual([2, 3, 4]);
  });

  it("returns undefined as a null body", async () => {
    const result = await run(`export function h() {}`, "h");
    expect(result.response).toEqual({ status: 200, headers: {}, body: null });
  });

  it("reports a thrown error as E_HANDLER_ERROR with the guest's message and stack", async () => {
    const result = await run(`export function h() { throw new TypeError("nope"); }`, "h");
    expect(result.ok).toBe(false);
    expect(result.error?.code).toBe("E_HANDLER_ERROR");
    expect(result.error?.message).toBe("TypeError: nope");
    expect(result.error?.stack).toContain("server/index.js");
  });

  it("adds what to use instead to a ReferenceError for a Node or browser global the sandbox does not have", async () => {
    const source = `export async function h(request) { const name = request.body; return globalThis.eval(name + "()"); }
      export function mine() { return notDeclaredAnywhere; }`;
    const cases: Array<[string, string]> = [
      ["fetch", "the sandbox has no fetch: use ctx.http.fetch (with the http.fetch capability)"],
      ["XMLHttpRequest", "the sandbox has no XMLHttpRequest: use ctx.http.fetch (with the http.fetch capability)"],
      ["setTimeout", "there are no timers in the sandbox: await host calls instead, and schedule later work as a job (jobs in annex.json)"],
      ["setInterval", "there are no timers in the sandbox: await host calls instead, and schedule later work as a job (jobs in annex.json)"],
      ["require", "the sandbox has no require: import modules, and let annex pack bundle dependencies into the server entry"],
      ["process", "the sandbox has no process: read settings from ctx.install.config and secrets with ctx.secrets.get"],
    ];
    for (const [name, hint] of cases) {
      const result = await run(source, "h", name);
      expect(result.error?.code, name).toBe("E_HANDLER_ERROR");
      expect(result.error?.message, name).toMatch(new RegExp(`^ReferenceError: '?${name}'? is not defined \\(${hint.replace(/[().]/g, "\\$&")}\\)$`));
    }
    // Any other name is the guest's own mistake: no hint.
    expect((await run(source, "mine")).error?.message).toMatch(/^ReferenceError: '?notDeclaredAnywhere'? is not defined$/);
  });

  it("says to convert a BigInt in a result, whichever way it is copied out and whatever ran the handler (endpoint or job)", async () => {
    // Beside a function, the result is copied by the bootstrap rather than natively: the same advice either way.
    const source = `export function alone() { return { n: 1n }; } export function mixed() { return { f: () => 1, n: 1n }; }`;
    runner = createInMemoryRunner();
    const bundle = await buildBundle({ source });
    await runner.load(bundle);
    for (const handler of ["alone", "mixed"]) {
      const job = { kind: "job", handler, job: { name: "nightly", scheduledAt: "2026-03-02T12:00:00.000Z" } } as const;
      for (const envelope of [envelopeFor(bundle, handler), envelopeFor(bundle, handler, { invocation: job as never })]) {
        const result = await runner.execute(envelope);
        expect(result.error?.code, handler).toBe("E_HANDLER_ERROR");
        expect(result.error?.message, handler).toMatch(/^the handler's result cannot be copied out of the sandbox: .*a BigInt cannot be copied \(JSON has no BigInt\); convert it to a string or number$/);
      }
    }
  });

  it("maps the stack to the original source through the entry's source map", async () => {
    // A one-line entry whose map points column 1 of line 1 at src/hello.ts line 10.
    const source = `export function h() { throw new Error("mapped"); }\n//# sourceMappingURL=index.js.map`;
    const map = { version: 3, file: "index.js", sources: ["src/hello.ts"], names: [], mappings: "AASA,sBAAA,OAAA" };
    const result = await run(source, "h", null, { files: { "server/index.js.map": JSON.stringify(map) } });
    expect(result.error?.code).toBe("E_HANDLER_ERROR");
    expect(result.error?.stack).toContain("src/hello.ts:");
    expect(result.error?.stack).not.toContain("server/index.js:");
  });

  it("reports a rejected promise and a thrown non-error value", async () => {
    const rejected = await run(`export async function h() { await null; throw new Error("later"); }`, "h");
    expect(rejected.error).toMatchObject({ code: "E_HANDLER_ERROR", message: "Error: later" });
    const thrown = await run(`export function h() { throw "just a string"; }`, "h");
    expect(thrown.error).toMatchObject({ code: "E_HANDLER_ERROR", message: "Thrown: just a string" });
    const coded = await run(`export function h() { throw { code: "MY_CODE", message: "custom" }; }`, "h");
    expect(coded.error).toMatchObject({ code: "E_HANDLER_ERROR", message: "Error (MY_CODE): custom", details: { guestCode: "MY_CODE" } });
    const bare = await run(`export function h() { throw {}; }`, "h");
    expect(bare.error).toMatchObject({ code: "E_HANDLER_ERROR", message: "Error: " });
  });

  it("fails a handler whose promise can never settle instead of waiting for the wall clock", async () => {
    const result = await run(`export function h() { return new Promise(() => {}); }`, "h");
    expect(result.error?.code).toBe("E_HANDLER_ERROR");
    expect(result.error?.message).toMatch(/never settle/);
  });

  it("runs job and event handlers with their payloads", async () => {
    runner = createInMemoryRunner();
    const bundle = await buildBundle({
      source: `export function nightly(job, ctx) { return { job: job.name, tenant: ctx.install.tenant }; }
               export function onOrder(event) { return { type: event.type, total: event.payload.total }; }`,
    });
    await runner.load(bundle);
    const job = await runner.execute(
      envelopeFor(bundle, "nightly", { invocation: { kind: "job", handler: "nightly", job: { name: "cleanup", scheduledAt: "2026-01-01T00:00:00Z" } } }),
    );
    expect(job.response?.body).toEqual({ job: "cleanup", tenant: "tenant-a" });
    const event = await runner.execute(
      envelopeFor(bundle, "onOrder", {
        invocation: { kind: "event", handler: "onOrder", event: { id: "e1", type: "order.created", payload: { total: 42 }, occurredAt: "2026-01-01T00:00:00Z" } },
      }),
    );
    expect(event.response?.body).toEqual({ type: "order.created", total: 42 });
  });

  it("gives ctx.install, ctx.principal and ctx.requestId from the envelope, frozen", async () => {
    runner = createInMemoryRunner();
    const bundle = await buildBundle({
      source: `export function h(req, ctx) {
        let mutated = true;
        try { ctx.install.config.greeting = "changed"; } catch (e) { mutated = false; }
        return { install: ctx.install, user: ctx.principal.user.id, requestId: ctx.requestId, mutated, frozen: Object.isFrozen(ctx) };
      }`,
      capabilities: [{ name: "user.read", reason: "Names the caller." }],
    });
    await runner.load(bundle);
    const envelope = envelopeFor(bundle, "h");
    const result = await runner.execute(envelope);
    expect(result.response?.body).toEqual({
      install: { id: "inst-1", tenant: "tenant-a", config: { greeting: "hello" } },
      user: "user-1",
      requestId: envelope.requestId,
      mutated: false,
      frozen: true,
    });
    expect(envelope.install.config).toEqual({ greeting: "hello" });
  });

  it("shows ctx.principal's user only with user.read granted and requested; never fields the envelope added", async () => {
    runner = createInMemoryRunner();
    const source = `export function h(req, ctx) { return { principal: ctx.principal ?? null, frozen: Object.isFrozen(ctx.principal) }; }`;
    const principal = { tenant: "tenant-a", user: { id: "user-1", displayName: "Ada", email: "ada@example.com", token: "s3cret" }, roles: ["admin"], session: "cookie" };
    const requesting = await buildBundle({ source, capabilities: [{ name: "user.read", reason: "Names the caller." }] });
    await runner.load(requesting);
    const granted = await runner.execute(envelopeFor(requesting, "h", { principal } as never));
    expect(granted.response?.body).toEqual({ principal: { tenant: "tenant-a", user: { id: "user-1", displayName: "Ada", email: "ada@example.com" }, roles: ["admin"] }, frozen: true });
    // The manifest asks, the admin did not grant: an envelope that still carries the user (forged, or an old gateway) shows none.
    const notGranted = await runner.execute(envelopeFor(requesting, "h", { principal, grants: [] } as never));
    expect(notGranted.response?.body).toEqual({ principal: { tenant: "tenant-a", roles: ["admin"] }, frozen: true });

    // Granted in the envelope, never requested by the signed manifest: no user either.
    const silent = await buildBundle({ source, version: "1.0.1" });
    await runner.load(silent);
    const forged = await runner.execute(envelopeFor(silent, "h", { principal, grants: [{ name: "log" }, { name: "user.read" }] } as never));
    expect(forged.response?.body).toEqual({ principal: { tenant: "tenant-a", roles: ["admin"] }, frozen: true });
    // A principal without a user (what the gateway sends without user.read) is valid.
    const stripped = await runner.execute(envelopeFor(silent, "h", { principal: { tenant: "tenant-a", roles: [] } }));
    expect(stripped.response?.body).toEqual({ principal: { tenant: "tenant-a", roles: [] }, frozen: true });
  });

  it("lets the entry import other JavaScript files of the bundle, and nothing else", async () => {
    const result = await run(`import { double } from "./lib/math.js"; export function h() { return double(21); }`, "h", null, {
      files: { "server/lib/math.js": "export const double = (n) => n * 2;" },
    });
    expect(result.response?.body).toBe(42);
    await runner.close();
    runner = createInMemoryRunner();
    const bundle = await buildBundle({ source: `import fs from "fs"; export function h() { return 1; }` });
    await expect(runner.load(bundle)).rejects.toMatchObject({ code: "E_BUNDLE_INVALID", message: expect.stringMatching(/import of "fs" is not allowed/) });
  });
});

describe("loading", () => {
  it("lists the exported handler names and caches by content hash", async () => {
    runner = createInMemoryRunner();
    const bundle = await buildBundle({ source: `export function a() {} export async function b() {} export const notAHandler = 1;`, handlers: ["a", "b"] });
    const first = await runner.load(bundle);
    const second = await runner.load(bundle);
    expect(first).toEqual({ contentHash: bundle.contentHash, extensionId: bundle.manifest.id, version: "1.0.0", handlers: ["a", "b"] });
    expect(second).toEqual(first);
    expect(runner.stats().loadedBundles).toBe(1);
  });

  it("refuses anything verifyBundle did not produce", async () => {
    runner = createInMemoryRunner();
    const bundle = await buildBundle({ source: `export function h() { return 1; }` });
    const copy = { ...bundle };
    await expect(runner.load(copy)).rejects.toMatchObject({ code: "E_BUNDLE_UNVERIFIED" });
    const error = await runner.load(copy).catch((e: unknown) => e);
    expect(isRunnerError(error, "E_BUNDLE_UNVERIFIED")).toBe(true);
  });

  it("accepts a strictly verified, signed bundle", async () => {
    runner = createInMemoryRunner();
    const bundle = await buildBundle({ source: `export function h() { return "signed"; }`, signed: true });
    expect(bundle.provenance.signed).toBe(true);
    await runner.load(bundle);
    expect((await runner.execute(envelopeFor(bundle, "h"))).response?.body).toBe("signed");
  });

  it("refuses an entry with a syntax error, a top-level throw or a missing declared handler", async () => {
    runner = createInMemoryRunner();
    const syntax = await buildBundle({ source: `export function h( { return 1; }`, handlers: ["h"] });
    await expect(runner.load(syntax)).rejects.toMatchObject({ code: "E_BUNDLE_INVALID", message: expect.stringMatching(/SyntaxError/) });
    const throws = await buildBundle({ source: `throw new Error("boom at load"); export function h() {}` });
    await expect(runner.load(throws)).rejects.toMatchObject({ code: "E_BUNDLE_INVALID", message: expect.stringMatching(/boom at load/) });
    const missing = await buildBundle({ source: `export function h() {}`, handlers: ["h", "other"] });
    await expect(runner.load(missing)).rejects.toMatchObject({ code: "E_BUNDLE_INVALID", message: expect.stringMatching(/other/) });
  });

  it("supports top-level await in the entry", async () => {
    const result = await run(`const value = await Promise.resolve(5); export function h() { return value; }`, "h");
    expect(result.response?.body).toBe(5);
  });
});

describe("execute preconditions", () => {
  it("refuses an envelope whose content hash was never loaded, and after unload", async () => {
    runner = createInMemoryRunner();
    const bundle = await buildBundle({ source: `export function h() { return 1; }` });
    const before = await runner.execute(envelopeFor(bundle, "h"));
    expect(before.error?.code).toBe("E_BUNDLE_NOT_LOADED");
    await runner.load(bundle);
    expect((await runner.execute(envelopeFor(bundle, "h"))).ok).toBe(true);
    await runner.unload(bundle.contentHash);
    expect((await runner.execute(envelopeFor(bundle, "h"))).error?.code).toBe("E_BUNDLE_NOT_LOADED");
  });

  it("refuses a handler the manifest does not declare even if the entry exports it", async () => {
    const result = await run(`export function h() { return 1; } export function secret() { return "hidden"; }`, "secret", null, { handlers: ["h"] });
    expect(result.error?.code).toBe("E_HANDLER_NOT_FOUND");
  });

  it("names the bad field of a malformed envelope", async () => {
    runner = createInMemoryRunner();
    const bundle = await buildBundle({ source: `export function h() { return 1; }` });
    await runner.load(bundle);
    const envelope = envelopeFor(bundle, "h");
    const result = await runner.execute({ ...envelope, install: { ...envelope.install, tenant: 5 as unknown as string } });
    expect(result.error).toMatchObject({ code: "E_BAD_ENVELOPE", details: { path: "install.tenant" } });
    const limits = await runner.execute({ ...envelope, limits: { cpuMs: -1 } });
    expect(limits.error).toMatchObject({ code: "E_BAD_ENVELOPE", details: { path: "limits.cpuMs" } });
    const mismatch = await runner.execute({ ...envelope, extension: { ...envelope.extension, id: "acme.other" } });
    expect(mismatch.error).toMatchObject({ code: "E_BAD_ENVELOPE", details: { path: "extension" } });
  });

  it("fails every call after close with E_RUNNER_UNAVAILABLE", async () => {
    runner = createInMemoryRunner();
    const bundle = await buildBundle({ source: `export function h() { return 1; }` });
    await runner.load(bundle);
    await runner.close();
    expect((await runner.execute(envelopeFor(bundle, "h"))).error?.code).toBe("E_RUNNER_UNAVAILABLE");
    await expect(runner.load(bundle)).rejects.toMatchObject({ code: "E_RUNNER_UNAVAILABLE" });
  });
});

describe("fresh and warm contexts", () => {
  const counter = `let count = 0; export function h() { count += 1; return count; }`;

  it("gives every fresh execution new globals", async () => {
    runner = createInMemoryRunner();
    const bundle = await buildBundle({ source: counter, warmContext: true });
    await runner.load(bundle);
    const bodies = [];
    for (let i = 0; i < 3; i++) bodies.push((await runner.execute(envelopeFor(bundle, "h"))).response?.body);
    expect(bodies).toEqual([1, 1, 1]);
  });

  it("reuses a warm context per install when the manifest allows it", async () => {
    runner = createInMemoryRunner();
    const bundle = await buildBundle({ source: counter, warmContext: true });
    await runner.load(bundle);
    const warm = (install: string) => {
      const envelope = envelopeFor(bundle, "h", { context: "warm" });
      return runner.execute({ ...envelope, install: { ...envelope.install, id: install } });
    };
    expect((await warm("a")).response?.body).toBe(1);
    expect((await warm("a")).response?.body).toBe(2);
    expect((await warm("b")).response?.body).toBe(1);
    expect(runner.stats().warmContexts).toBe(2);
  });

  it("ignores a warm request when the manifest does not allow warm contexts", async () => {
    runner = createInMemoryRunner();
    const bundle = await buildBundle({ source: counter });
    await runner.load(bundle);
    for (let i = 0; i < 2; i++) expect((await runner.execute(envelopeFor(bundle, "h", { context: "warm" }))).response?.body).toBe(1);
    expect(runner.stats().warmContexts).toBe(0);
  });

  it("does not let a ctx kept in warm globals act in a later execution", async () => {
    runner = createInMemoryRunner({ hostApis: { kv: memoryKv() } });
    const bundle = await buildBundle({
      source: `let saved; export async function keep(req, ctx) { saved = ctx; return 1; }
               export async function reuse() { try { await saved.kv.get("k"); return "reached"; } catch (e) { return e.code; } }`,
      warmContext: true,
      storage: { kind: "kv" },
      capabilities: [{ name: "storage.kv", reason: "Keeps counters per install." }],
    });
    await runner.load(bundle);
    await runner.execute(envelopeFor(bundle, "keep", { context: "warm" }));
    const result = await runner.execute(envelopeFor(bundle, "reuse", { context: "warm" }));
    expect(result.response?.body).toBe("E_CAPABILITY_DENIED");
  });

  it("drops a warm context after a timeout", async () => {
    runner = createInMemoryRunner({ limits: { cpuMs: 100 } });
    const bundle = await buildBundle({ source: `export function spin(req) { if (req.body) for (;;) {} return 1; }`, warmContext: true });
    await runner.load(bundle);
    await runner.execute(envelopeFor(bundle, "spin", { context: "warm" }));
    expect(runner.stats().warmContexts).toBe(1);
    const timedOut = await runner.execute(envelopeFor(bundle, "spin", { context: "warm", body: true }));
    expect(timedOut.error?.code).toBe("E_TIMEOUT");
    expect(runner.stats().warmContexts).toBe(0);
  });
});
