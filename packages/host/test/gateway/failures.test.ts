import { createInMemoryRunner, RunnerError, type ExecuteResult, type Runner } from "@annex/runner";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeBackends } from "../support/backends.js";
import { tamperBlob } from "../support/world.js";
import { bearer, gatewayWorld, problemOf, req, scriptedRunner, type GatewayWorld } from "./support.js";

const usage = { cpuMs: 0, wallMs: 0, memoryPeakBytes: 0, hostCalls: {}, logBytes: 0 };

function failed(requestId: string, code: NonNullable<ExecuteResult["error"]>["code"], message: string, stack?: string): ExecuteResult {
  return { requestId, ok: false, error: { code, message, ...(stack === undefined ? {} : { stack }) }, usage, logs: [] };
}

describeBackends("gateway failures", (backend) => {
  let world: GatewayWorld;
  const auth = bearer("ada", "t1");

  beforeAll(async () => {
    world = await gatewayWorld(backend);
    await world.installFor("t1");
  });
  afterAll(() => world.close());

  it("answers 504 E_TIMEOUT when the sandbox runs out of time", async () => {
    const response = await world.gateway.handle(req("GET", "/api/ext/acme.gw/spin", { headers: auth }));
    expect(response.status).toBe(504);
    expect((await problemOf(response)).code).toBe("E_TIMEOUT");
    const [line] = await world.host.audit.list({ action: "gateway.request", order: "desc", limit: 1 });
    expect(line).toMatchObject({ decision: "error", details: { code: "E_TIMEOUT", status: 504, handler: "spin" } });
  });

  it("answers 504 when the runner never answers at all, at the gateway's own deadline", async () => {
    const runner = scriptedRunner(world.runner, () => new Promise<ExecuteResult>(() => {}));
    const gateway = world.gatewayWith({ runner, policy: { timeoutMs: 50 } });
    const response = await gateway.handle(req("GET", "/api/ext/acme.gw/hello/x", { headers: auth }));
    expect(response.status).toBe(504);
    expect((await problemOf(response)).code).toBe("E_TIMEOUT");
  });

  it("answers 503 E_RUNNER_UNAVAILABLE with Retry-After when the runner is closed", async () => {
    const closed = createInMemoryRunner();
    await closed.close();
    const gateway = world.gatewayWith({ runner: closed });
    const response = await gateway.handle(req("GET", "/api/ext/acme.gw/hello/x", { headers: auth }));
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("1");
    expect((await problemOf(response)).code).toBe("E_RUNNER_UNAVAILABLE");
  });

  it("answers 503 when the runner's execute throws (a remote runner that is down)", async () => {
    const runner = scriptedRunner(world.runner, async () => {
      throw new Error("connect ECONNREFUSED 127.0.0.1:7070");
    });
    const response = await world.gatewayWith({ runner }).handle(req("GET", "/api/ext/acme.gw/hello/x", { headers: auth }));
    expect(response.status).toBe(503);
    const answer = await problemOf(response);
    expect(answer.code).toBe("E_RUNNER_UNAVAILABLE");
    // How the host runs extensions is not the caller's business, signed in or not; the audit line keeps it.
    expect(JSON.stringify(answer)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|7070/);
    const [line] = await world.host.audit.list({ decision: "error", order: "desc", limit: 1 });
    expect(String(line?.details["reason"])).toContain("ECONNREFUSED 127.0.0.1:7070");
  });

  it("names the runner's own failures to a signed-in caller without their message, and the extension's with it", async () => {
    const messages: Record<string, string> = { E_SANDBOX_CRASHED: "worker 3 exited with code 134 at /srv/annex/pool.js", E_BUNDLE_NOT_LOADED: "runner r-7 lost it", E_HANDLER_ERROR: "TypeError: x is undefined" };
    for (const [code, message] of Object.entries(messages)) {
      const runner = scriptedRunner(world.runner, async (envelope) => failed(envelope.requestId, code as "E_SANDBOX_CRASHED", message));
      const answer = await problemOf(await world.gatewayWith({ runner }).handle(req("GET", "/api/ext/acme.gw/hello/x", { headers: auth })));
      expect([code, answer.detail.includes(message)]).toEqual([code, code === "E_HANDLER_ERROR"]);
    }
  });

  it("answers 502 for a crashed sandbox, out of memory or stack", async () => {
    for (const code of ["E_SANDBOX_CRASHED", "E_MEMORY", "E_STACK"] as const) {
      const runner = scriptedRunner(world.runner, async (envelope) => failed(envelope.requestId, code, "the sandbox died"));
      const response = await world.gatewayWith({ runner }).handle(req("GET", "/api/ext/acme.gw/hello/x", { headers: auth }));
      expect(response.status, code).toBe(502);
      expect((await problemOf(response)).code).toBe(code);
    }
  });

  it("answers 500 for a handler error: the message to the signed-in caller, the stack only when the host opts in", async () => {
    const response = await world.gateway.handle(req("GET", "/api/ext/acme.gw/boom", { headers: auth }));
    expect(response.status).toBe(500);
    const problem = await problemOf(response);
    expect(problem.code).toBe("E_HANDLER_ERROR");
    expect(problem.stack).toBeUndefined();
    const exposing = world.gatewayWith({ policy: { exposeErrors: true } });
    const exposed = await problemOf(await exposing.handle(req("GET", "/api/ext/acme.gw/boom", { headers: auth })));
    expect(typeof exposed.stack).toBe("string");
  });

  it("never leaks the handler's message or stack to anonymous callers, even when the host exposes errors", async () => {
    const exposing = world.gatewayWith({ policy: { exposeErrors: true } });
    const response = await exposing.handle(req("GET", "/ext/acme.gw/public/boom"));
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain("stack");
    expect(JSON.parse(text)).toMatchObject({ code: "E_HANDLER_ERROR", detail: "the extension failed while handling the request" });
  });

  it("answers 502 E_BAD_RESPONSE when the extension's answer cannot be forwarded", async () => {
    const runner = scriptedRunner(world.runner, async (envelope) => ({ requestId: envelope.requestId, ok: true, response: { status: 101, headers: {}, body: null }, usage, logs: [] }));
    const response = await world.gatewayWith({ runner }).handle(req("GET", "/api/ext/acme.gw/hello/x", { headers: auth }));
    expect(response.status).toBe(502);
    expect((await problemOf(response)).code).toBe("E_BAD_RESPONSE");
  });

  it("maps the runner's size refusals: the request (details.size) is 413, the response 502", async () => {
    const request = scriptedRunner(world.runner, async (envelope) => ({
      ...failed(envelope.requestId, "E_PAYLOAD_TOO_LARGE", "the request is 2000 bytes, more than the 1024 allowed"),
      error: { code: "E_PAYLOAD_TOO_LARGE", message: "the request is 2000 bytes", details: { limit: 1024, size: 2000 } },
    }));
    const tooBig = await world.gatewayWith({ runner: request }).handle(req("GET", "/api/ext/acme.gw/hello/x", { headers: auth }));
    expect(tooBig.status).toBe(413);
    const response = scriptedRunner(world.runner, async (envelope) => failed(envelope.requestId, "E_PAYLOAD_TOO_LARGE", "the handler's response is larger than 5 bytes"));
    const bad = await world.gatewayWith({ runner: response }).handle(req("GET", "/api/ext/acme.gw/hello/x", { headers: auth }));
    expect(bad.status).toBe(502);
    expect((await problemOf(bad)).code).toBe("E_BAD_RESPONSE");
  });

  it("answers HEAD refusals with headers only", async () => {
    const response = await world.gateway.handle(req("HEAD", "/api/ext/acme.gw/nowhere", { headers: auth }));
    expect(response.status).toBe(404);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    expect(response.body).toBeNull();
  });

  it("loads the bundle again once when the runner forgot it (restarted), then runs the request", async () => {
    let calls = 0;
    const runner = scriptedRunner(world.runner, async (envelope) => {
      calls += 1;
      return calls === 1 ? failed(envelope.requestId, "E_BUNDLE_NOT_LOADED", "not loaded") : world.runner.execute(envelope);
    });
    const response = await world.gatewayWith({ runner }).handle(req("GET", "/api/ext/acme.gw/hello/again", { headers: auth }));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ hello: "again" });
    expect(calls).toBe(2);
  });

  it("answers a runner's load-time failures with their own codes, never as a failed verification", async () => {
    const cases = [
      { error: new RunnerError("E_TIMEOUT", "bundle acme.gw@1.0.0: the server entry's top-level code did not finish within its time limits while loading", { phase: "load" }), status: 504, code: "E_TIMEOUT" },
      { error: new RunnerError("E_MEMORY", "bundle acme.gw@1.0.0: the server entry's top-level code ran out of memory while loading", { phase: "load" }), status: 502, code: "E_MEMORY" },
      { error: new RunnerError("E_BUNDLE_INVALID", "bundle acme.gw@1.0.0: evaluating the server entry failed: SyntaxError", { phase: "load" }), status: 502, code: "E_BUNDLE_INVALID" },
    ];
    for (const { error, status, code } of cases) {
      const failing: Runner = { ...world.runner, load: () => Promise.reject(error) };
      const response = await world.gatewayWith({ runner: failing }).handle(req("GET", "/api/ext/acme.gw/hello/x", { headers: auth }));
      expect(response.status, code).toBe(status);
      const body = await problemOf(response);
      expect(body.code).toBe(code);
      expect(body.detail).not.toMatch(/verification|republish/);
      expect(body.detail).toContain(error.message);
      const [line] = await world.host.audit.list({ action: "gateway.request", order: "desc", limit: 1 });
      expect(line).toMatchObject({ decision: "error", details: { code, status } });
    }
  });

  it("refuses to run a bundle that fails verification at load (tampered blob): 500 E_BUNDLE_REJECTED, audited", async () => {
    // A world of its own: tampering breaks the shared bundle for every later test.
    const own = await gatewayWorld(backend);
    try {
      await own.installFor("t1");
      await tamperBlob(own.host, own.published.contentHash);
      const runner = scriptedRunner(own.runner, (envelope) => own.runner.execute(envelope));
      const gateway = own.gatewayWith({ runner });
      const response = await gateway.handle(req("GET", "/api/ext/acme.gw/hello/x", { headers: auth }));
      expect(response.status).toBe(500);
      expect((await problemOf(response)).code).toBe("E_BUNDLE_REJECTED");
      expect(runner.envelopes).toHaveLength(0);
      const [line] = await own.host.audit.list({ action: "gateway.request", order: "desc", limit: 1 });
      expect(line).toMatchObject({ decision: "error", details: { code: "E_BUNDLE_REJECTED" } });
      const asset = await gateway.handle(req("GET", `/ext-ui/acme.gw/${own.published.contentHash}/ui/index.html`));
      expect(asset.status).toBe(500);
    } finally {
      await own.close();
    }
  });

  it("refuses a host call that arrives after its execution was answered (a runner that ran on): E_TIMEOUT, the host does nothing", async () => {
    const reads: string[] = [];
    let late: (() => Promise<unknown>) | undefined;
    const runner = scriptedRunner(world.runner, (envelope, options) => {
      const dispatch = options!.dispatch!;
      const counted: typeof dispatch = (call, context) => {
        // The same call again, later, with what the runner was given for it.
        late ??= () => counted(call, context);
        return dispatch(call, context);
      };
      return world.runner.execute(envelope, { ...options, dispatch: (call, context) => (reads.push(String(call.args[0])), counted(call, context)) });
    });
    const gateway = world.gatewayWith({ runner });
    const response = await gateway.handle(req("GET", "/api/ext/acme.gw/peek", { headers: auth }));
    expect(await response.json()).toEqual({ secret: true });
    expect(reads).toEqual(["STRIPE_SECRET"]);
    const error = await late!().then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toMatchObject({ code: "E_TIMEOUT", message: expect.stringContaining("already been answered") });
    // Refused every time, with the same error.
    await expect(late!()).rejects.toBe(error);
  });

  it("lets a request whose audit line cannot be written have no effect (503): its host calls never reach the host", async () => {
    const own = await gatewayWorld(backend);
    const reads: string[] = [];
    const inner = createInMemoryRunner();
    const runs: Promise<ExecuteResult>[] = [];
    // Counts the host calls that reach the host's dispatch (the runner holds them back until the audit line is stored).
    const runner = scriptedRunner(inner, (envelope, options) => {
      const dispatch = options!.dispatch!;
      const run = inner.execute(envelope, { ...options, dispatch: (call, context) => (reads.push(String(call.args[0])), dispatch(call, context)) });
      runs.push(run);
      return run;
    });
    try {
      await own.installFor("t1");
      const gateway = own.gatewayWith({ runner });
      // With the audit log up, the handler reads its secret.
      const before = await gateway.handle(req("GET", "/api/ext/acme.gw/peek", { headers: auth }));
      expect(await before.json()).toEqual({ secret: true });
      expect(reads).toEqual(["STRIPE_SECRET"]);

      await own.host.database.root.schema.withSchema(own.host.database.schema!).dropTable("annex_audit").execute();
      const allowed = await gateway.handle(req("GET", "/api/ext/acme.gw/peek", { headers: auth }));
      expect(allowed.status).toBe(503);
      expect((await problemOf(allowed)).code).toBe("E_AUDIT_UNAVAILABLE");
      // The sandbox may have started alongside the insert, but its host call was refused.
      const [, unaudited] = await Promise.all(runs);
      expect(unaudited).toMatchObject({ ok: false, error: { message: expect.stringContaining("refused this execution's host calls") } });
      expect(reads).toEqual(["STRIPE_SECRET"]);
      const refused = await gateway.handle(req("GET", "/api/ext/acme.gw/hello/x"));
      expect(refused.status).toBe(401);
    } finally {
      await inner.close();
      await own.close();
    }
  });

  it("reports every execution to onExecute, and ignores an observer that throws", async () => {
    const events: string[] = [];
    const gateway = world.gatewayWith({
      onExecute(event) {
        events.push(`${event.tenant} ${event.extensionId} ${event.handler} ${event.result.ok}`);
        throw new Error("observer bug");
      },
    });
    const response = await gateway.handle(req("GET", "/api/ext/acme.gw/hello/x", { headers: auth }));
    expect(response.status).toBe(200);
    expect(events).toEqual(["t1 acme.gw hello true"]);
  });
});
