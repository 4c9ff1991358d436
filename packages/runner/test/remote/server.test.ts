import { request } from "node:http";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ExecuteEnvelope, ExecuteResult } from "../../src/envelope.js";
import type { HostCallScope, HostDispatch } from "../../src/host-apis.js";
import type { Runner } from "../../src/runner.js";
import { signRequest, toKeyBytes } from "../../src/remote/auth.js";
import { createRemoteRunner, createRunnerServer, type RemoteRunner, type RunnerServer } from "../../src/index.js";

const KEY = "remote-test-key-0123456789abcdef-0123456789";
const trustStore = { trustStoreVersion: 1 as const, keys: [] };

function envelope(requestId: string, grants: ExecuteEnvelope["grants"] = [{ name: "storage.kv" }]): ExecuteEnvelope {
  return {
    requestId,
    extension: { id: "acme.hello", version: "1.0.0", contentHash: `sha256:${"a".repeat(64)}` },
    install: { id: "inst-1", tenant: "tenant-a", config: {} },
    grants,
    invocation: { kind: "endpoint", handler: "hello", request: { method: "GET", path: "/", params: {}, query: {}, headers: {}, body: null } },
  };
}

/**
 * A runner that behaves like a compromised sandbox host: it forwards host calls
 * claiming another tenant's scope and every grant, to prove the host answers
 * from its own envelope and grants only.
 */
function hostileFakeRunner(dispatch: HostDispatch): Runner {
  return {
    async load() {
      throw new Error("not used");
    },
    async execute(env): Promise<ExecuteResult> {
      const forged: HostCallScope = {
        requestId: env.requestId,
        extensionId: "evil",
        extensionVersion: "6.6.6",
        contentHash: env.extension.contentHash,
        installId: "someone-else",
        tenant: "tenant-b",
        principal: undefined,
      };
      const everything = { log: true, user: true, kv: true, sql: true, fetch: null, secrets: ["ROOT"], publish: [], host: {} };
      const signal = new AbortController().signal;
      const calls = (env.invocation.kind === "endpoint" ? (env.invocation.request.body as { method: string; args: unknown[] }[] | null) : null) ?? [];
      const answers: unknown[] = [];
      for (const call of calls) {
        try {
          answers.push({ ok: await dispatch(call as never, { scope: forged, grants: everything, signal }) });
        } catch (error) {
          answers.push({ error: (error as { code?: string }).code });
        }
      }
      return {
        requestId: env.requestId,
        ok: true,
        response: { status: 200, headers: {}, body: { answers, bytes: new Uint8Array([1, 2, 3]) } },
        usage: { cpuMs: 1, wallMs: 1, memoryPeakBytes: 1, hostCalls: {}, logBytes: 0 },
        logs: [],
      };
    },
    async unload() {},
    async close() {},
  };
}

let server: RunnerServer;
let url: string;
let client: RemoteRunner;
const kvReads: { key: string; scope: HostCallScope }[] = [];

beforeEach(async () => {
  kvReads.length = 0;
  server = createRunnerServer({ runner: hostileFakeRunner, key: KEY, trustStore });
  url = await server.listen(0);
  client = createRemoteRunner({
    url,
    key: KEY,
    hostApis: {
      kv: {
        get: (key, scope) => {
          kvReads.push({ key, scope });
          return `value-of-${key}`;
        },
        set: () => {},
        delete: () => true,
        list: async () => ({ keys: [] }),
      },
      secrets: { get: () => "top-secret" },
    },
  });
});

afterEach(async () => {
  await client.close();
  await server.close();
});

function withRequest(env: ExecuteEnvelope, calls: { method: string; args: unknown[] }[]): ExecuteEnvelope {
  if (env.invocation.kind !== "endpoint") throw new Error("endpoint expected");
  return { ...env, invocation: { ...env.invocation, request: { ...env.invocation.request, body: calls } } };
}

interface RawAnswer {
  status: number;
  body: string;
}

function raw(method: string, path: string, body: string, headers: Record<string, string>): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method, headers: { "content-type": "application/json", ...headers } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

function errorCode(answer: RawAnswer): string | undefined {
  return (JSON.parse(answer.body) as { error?: { code?: string } }).error?.code;
}

describe("runner server authentication", () => {
  it("refuses an unauthenticated call", async () => {
    const answer = await raw("GET", "/healthz", "", {});
    expect(answer.status).toBe(401);
    expect(errorCode(answer)).toBe("E_AUTH_MISSING");
  });

  it("refuses a call signed with the wrong key", async () => {
    const headers = signRequest(toKeyBytes("x".repeat(40)), "GET", "/healthz", "");
    const answer = await raw("GET", "/healthz", "", { ...headers });
    expect(answer.status).toBe(401);
    expect(errorCode(answer)).toBe("E_AUTH_INVALID");
  });

  it("refuses a replayed call", async () => {
    const body = JSON.stringify(envelope("replayed"));
    const headers = signRequest(toKeyBytes(KEY), "POST", "/v1/execute", body);
    const first = await raw("POST", "/v1/execute", body, { ...headers });
    expect(first.status).toBe(200);
    const again = await raw("POST", "/v1/execute", body, { ...headers });
    expect(again.status).toBe(401);
    expect(errorCode(again)).toBe("E_AUTH_REPLAY");
  });

  it("refuses a stale timestamp", async () => {
    const headers = signRequest(toKeyBytes(KEY), "GET", "/healthz", "", Date.now() - 10 * 60_000);
    const answer = await raw("GET", "/healthz", "", { ...headers });
    expect(answer.status).toBe(401);
    expect(errorCode(answer)).toBe("E_AUTH_STALE");
  });

  it("refuses an oversized body before reading it", async () => {
    await server.close();
    server = createRunnerServer({ runner: hostileFakeRunner, key: KEY, trustStore, maxBodyBytes: 1024 });
    url = await server.listen(0);
    const body = "x".repeat(4096);
    const answer = await raw("POST", "/v1/execute", body, { ...signRequest(toKeyBytes(KEY), "POST", "/v1/execute", body) });
    expect(answer.status).toBe(413);
    expect(errorCode(answer)).toBe("E_BODY_TOO_LARGE");
  });

  it("answers an authenticated health check and counts rejections in /metrics", async () => {
    await raw("GET", "/healthz", "", {});
    await expect(client.health()).resolves.toMatchObject({ status: "ok", loadedBundles: 0 });
    const metrics = await client.metrics();
    expect(metrics).toContain('annex_runner_requests_rejected_total{code="E_AUTH_MISSING"} 1');
    expect(metrics).toContain("annex_runner_loaded_bundles 0");
  });

  it("refuses an answer to a host call nobody asked", async () => {
    const body = JSON.stringify({ ok: true, value: 1 });
    const path = "/v1/executions/nope/host-calls/1";
    const answer = await raw("POST", path, body, { ...signRequest(toKeyBytes(KEY), "POST", path, body) });
    expect(answer.status).toBe(404);
    expect(errorCode(answer)).toBe("E_NOT_FOUND");
  });

  it("refuses to load bytes that are not a bundle, verifying them itself", async () => {
    const body = JSON.stringify({ bundle: Buffer.from("not a bundle").toString("base64"), signature: null });
    const answer = await raw("POST", "/v1/load", body, { ...signRequest(toKeyBytes(KEY), "POST", "/v1/load", body) });
    expect(answer.status).toBe(422);
    expect(errorCode(answer)).toMatch(/^E_/);
  });
});

describe("remote execution", () => {
  it("runs host calls in the host, with the host's scope, whatever scope the runner claims", async () => {
    const result = await client.execute(withRequest(envelope("r1"), [{ method: "kv.get", args: ["greeting"] }]));
    expect(result.ok).toBe(true);
    expect((result.response?.body as { answers: unknown[] }).answers).toEqual([{ ok: "value-of-greeting" }]);
    expect(kvReads).toHaveLength(1);
    expect(kvReads[0]!.scope).toMatchObject({ tenant: "tenant-a", installId: "inst-1", extensionId: "acme.hello", requestId: "r1" });
  });

  it("refuses host calls the host did not grant, whatever grants the runner claims", async () => {
    const result = await client.execute(
      withRequest(envelope("r2"), [
        { method: "secrets.get", args: ["ROOT"] },
        { method: "sql.query", args: ["select 1", []] },
        { method: "process.exit", args: [] },
      ]),
    );
    expect((result.response?.body as { answers: unknown[] }).answers).toEqual([
      { error: "E_CAPABILITY_DENIED" },
      { error: "E_CAPABILITY_DENIED" },
      { error: "E_CAPABILITY_DENIED" },
    ]);
  });

  it("carries bytes in results", async () => {
    const result = await client.execute(withRequest(envelope("r3"), []));
    const body = result.response?.body as { bytes: Uint8Array };
    expect(body.bytes).toBeInstanceOf(Uint8Array);
    expect([...body.bytes]).toEqual([1, 2, 3]);
  });

  it("refuses a second execution with a requestId already running", async () => {
    const slow = createRunnerServer({
      key: KEY,
      trustStore,
      runner: {
        load: async () => {
          throw new Error("unused");
        },
        execute: (env) =>
          new Promise((resolve) =>
            setTimeout(() => resolve({ requestId: env.requestId, ok: true, response: { status: 200, headers: {}, body: null }, usage: { cpuMs: 0, wallMs: 0, memoryPeakBytes: 0, hostCalls: {}, logBytes: 0 }, logs: [] }), 200),
          ),
        unload: async () => {},
        close: async () => {},
      },
    });
    const slowUrl = await slow.listen(0);
    const slowClient = createRemoteRunner({ url: slowUrl, key: KEY });
    try {
      const [a, b] = await Promise.all([slowClient.execute(envelope("same")), slowClient.execute(envelope("same"))]);
      expect([a.ok, b.ok].sort()).toEqual([false, true]);
      expect([a, b].find((r) => !r.ok)?.error?.code).toBe("E_BAD_ENVELOPE");
    } finally {
      await slowClient.close();
      await slow.close();
    }
  });

  it("answers E_RUNNER_UNAVAILABLE when the server is down", async () => {
    await server.close();
    const result = await client.execute(envelope("r4"));
    expect(result.ok).toBe(false);
    expect(result.error?.code).toBe("E_RUNNER_UNAVAILABLE");
  });

  it("answers E_RUNNER_UNAVAILABLE once closed", async () => {
    await client.close();
    const result = await client.execute(envelope("r5"));
    expect(result.error?.code).toBe("E_RUNNER_UNAVAILABLE");
  });

  it("refuses a stream signed by a runner without the key", async () => {
    const impostor = createRunnerServer({ runner: hostileFakeRunner, key: "i".repeat(40), trustStore });
    const impostorUrl = await impostor.listen(0);
    const fooled = createRemoteRunner({ url: impostorUrl, key: "i".repeat(40) });
    const honest = createRemoteRunner({ url: impostorUrl, key: KEY });
    try {
      expect((await fooled.execute(envelope("r6"))).ok).toBe(true);
      const refused = await honest.execute(envelope("r7"));
      expect(refused.ok).toBe(false);
      expect(refused.error?.code).toBe("E_RUNNER_UNAVAILABLE");
    } finally {
      await fooled.close();
      await honest.close();
      await impostor.close();
    }
  });
});

describe("closing the runner server", () => {
  /** A runner whose executions wait until the test lets them go, then read one kv key through the host. */
  function heldRunner() {
    const held: Array<() => void> = [];
    const make = (dispatch: HostDispatch): Runner => ({
      async load() {
        throw new Error("not used");
      },
      async execute(env): Promise<ExecuteResult> {
        await new Promise<void>((resolve) => held.push(resolve));
        const scope: HostCallScope = {
          requestId: env.requestId,
          extensionId: env.extension.id,
          extensionVersion: env.extension.version,
          contentHash: env.extension.contentHash,
          installId: env.install.id,
          tenant: env.install.tenant,
          principal: undefined,
        };
        const grants = { log: true, user: false, kv: true, sql: false, fetch: null, secrets: [], publish: [], host: {} };
        const value = await dispatch({ method: "kv.get", args: ["after-close"] } as never, { scope, grants, signal: new AbortController().signal });
        return {
          requestId: env.requestId,
          ok: true,
          response: { status: 200, headers: {}, body: { value } },
          usage: { cpuMs: 1, wallMs: 1, memoryPeakBytes: 1, hostCalls: {}, logBytes: 0 },
          logs: [],
        };
      },
      async unload() {},
      async close() {},
    });
    return { make, held };
  }

  it("lets an execution under way finish and answers its host calls, while refusing new executions with 503", async () => {
    const { make, held } = heldRunner();
    const draining = createRunnerServer({ runner: make, key: KEY, trustStore });
    const drainingUrl = await draining.listen(0);
    const host = createRemoteRunner({ url: drainingUrl, key: KEY, hostApis: { kv: { get: (key) => `value-of-${key}`, set: () => {}, delete: () => true, list: async () => ({ keys: [] }) } } });
    try {
      const underWay = host.execute(envelope("under-way"));
      while (held.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      let closed = false;
      const closing = draining.close().then(() => (closed = true));
      // A second close() is the same one.
      expect(draining.close()).toBe(draining.close());
      const refused = await host.execute(envelope("too-late"));
      expect(refused.ok).toBe(false);
      expect(refused.error).toMatchObject({ code: "E_RUNNER_UNAVAILABLE" });
      expect(refused.error?.message).toMatch(/shutting down/);
      expect(closed).toBe(false);
      // Let it go 200 ms into the close: its host call (a request of its own to this server) is still answered.
      await new Promise((resolve) => setTimeout(resolve, 200));
      held[0]!();
      const result = await underWay;
      expect(result).toMatchObject({ ok: true, response: { status: 200, body: { value: "value-of-after-close" } } });
      await closing;
      expect(closed).toBe(true);
    } finally {
      await host.close();
      await draining.close();
    }
  });

  it("fails what is still running after shutdownGraceMs, and closes", async () => {
    const { make, held } = heldRunner();
    const draining = createRunnerServer({ runner: make, key: KEY, trustStore, shutdownGraceMs: 100 });
    const drainingUrl = await draining.listen(0);
    const host = createRemoteRunner({ url: drainingUrl, key: KEY });
    try {
      const underWay = host.execute(envelope("never-ends"));
      while (held.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      // Without the bound this would wait for an execution that never ends (and the test time out).
      await draining.close();
      const result = await underWay;
      expect(result.ok).toBe(false);
      expect(result.error?.code).toBe("E_RUNNER_UNAVAILABLE");
    } finally {
      held[0]?.();
      await host.close();
    }
  });

  it("refuses a shutdownGraceMs that is not a whole number of milliseconds", () => {
    expect(() => createRunnerServer({ runner: hostileFakeRunner, key: KEY, trustStore, shutdownGraceMs: -1 })).toThrow(/shutdownGraceMs/);
  });
});

describe("an execution its host stops waiting for", () => {
  it("ends the execute stream: the client answers E_TIMEOUT at once and the server's runner is told, to drop it if it has not started", async () => {
    let serverSide: Promise<unknown> | undefined;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const own = createRunnerServer({
      key: KEY,
      trustStore,
      runner: () => ({
        async load() {
          throw new Error("not used");
        },
        async execute(env, options): Promise<ExecuteResult> {
          serverSide = options?.abandoned;
          await held;
          return { requestId: env.requestId, ok: true, response: { status: 200, headers: {}, body: "late" }, usage: { cpuMs: 0, wallMs: 0, memoryPeakBytes: 0, hostCalls: {}, logBytes: 0 }, logs: [] };
        },
        async unload() {},
        async close() {},
      }),
    });
    const ownClient = createRemoteRunner({ url: await own.listen(0), key: KEY });
    try {
      let giveUp!: () => void;
      const abandoned = new Promise<void>((resolve) => (giveUp = resolve));
      const running = ownClient.execute(envelope("given-up"), { abandoned });
      for (let i = 0; i < 200 && serverSide === undefined; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(serverSide).toBeInstanceOf(Promise);
      let told = false;
      void serverSide!.then(() => (told = true));
      await new Promise((resolve) => setTimeout(resolve, 30));
      expect(told).toBe(false);
      giveUp();
      expect(await running).toMatchObject({ ok: false, error: { code: "E_TIMEOUT" } });
      await serverSide;
      expect(told).toBe(true);
    } finally {
      release();
      await ownClient.close();
      await own.close();
    }
  });
});
