import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signWebhook, verifyWebhook, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER } from "../../src/gateway/webhook-signature.js";
import { createMemoryWebhookSecrets } from "../../src/gateway/webhook-secrets.js";
import { describeBackends } from "../support/backends.js";
import { gatewayWorld, problemOf, req, scriptedRunner, type GatewayWorld } from "./support.js";

const NOW = 1_750_000_000_000;

describeBackends("gateway webhooks", (backend) => {
  let world: GatewayWorld;
  let clock = NOW;
  let secret: string;
  let installId: string;

  beforeAll(async () => {
    world = await gatewayWorld(backend, { now: () => clock });
    installId = (await world.installFor("t1")).id;
    secret = world.webhookSecrets.set(installId);
  });
  afterAll(() => world.close());

  const deliver = (body: string, headers: Record<string, string>, tenant = "t1") =>
    world.gateway.handle(req("POST", "/ext/acme.gw/hooks/events", { tenant, headers: { "content-type": "application/json", ...headers }, body }));

  it("runs the handler for a correctly signed delivery, with the parsed body", async () => {
    const body = JSON.stringify({ type: "order.created", id: 1 });
    const response = await deliver(body, signWebhook(secret, body, Math.floor(clock / 1000)).headers);
    expect(response.status).toBe(200);
    const echoed = (await response.json()) as { body: unknown; headers: Record<string, string>; principal: unknown };
    expect(echoed.body).toEqual({ type: "order.created", id: 1 });
    expect(echoed.principal ?? null).toBeNull();
  });

  it("refuses a wrong signature, a signature over another body, and a missing one with 401, before the sandbox runs", async () => {
    const runner = scriptedRunner(world.runner, (envelope) => world.runner.execute(envelope));
    const gateway = world.gatewayWith({ runner, now: () => clock });
    const send = (body: string, headers: Record<string, string>) =>
      gateway.handle(req("POST", "/ext/acme.gw/hooks/events", { headers: { "content-type": "application/json", ...headers }, body }));
    const ts = Math.floor(clock / 1000);
    const wrongKey = await send("{}", signWebhook("another-secret-entirely", "{}", ts).headers);
    const otherBody = await send('{"amount":1000}', signWebhook(secret, '{"amount":1}', ts).headers);
    const missing = await send("{}", {});
    const garbage = await send("{}", { [WEBHOOK_TIMESTAMP_HEADER]: String(ts), [WEBHOOK_SIGNATURE_HEADER]: "v1=zz" });
    for (const response of [wrongKey, otherBody, missing, garbage]) {
      expect(response.status).toBe(401);
      expect((await problemOf(response)).code).toBe("E_WEBHOOK_SIGNATURE");
    }
    expect(runner.envelopes).toHaveLength(0);
  });

  it("refuses timestamps outside ±5 minutes, signed correctly or not", async () => {
    const body = "{}";
    const old = await deliver(body, signWebhook(secret, body, Math.floor(clock / 1000) - 301).headers);
    const future = await deliver(body, signWebhook(secret, body, Math.floor(clock / 1000) + 301).headers);
    const edge = await deliver(body, signWebhook(secret, body, Math.floor(clock / 1000) - 299).headers);
    expect((await problemOf(old)).code).toBe("E_WEBHOOK_TIMESTAMP");
    expect(future.status).toBe(401);
    expect(edge.status).toBe(200);
  });

  it("refuses a replayed delivery with 409, and accepts it again for nobody after the window", async () => {
    const body = JSON.stringify({ id: "evt_1" });
    const signed = signWebhook(secret, body, Math.floor(clock / 1000));
    expect((await deliver(body, signed.headers)).status).toBe(200);
    const replay = await deliver(body, signed.headers);
    expect(replay.status).toBe(409);
    expect((await problemOf(replay)).code).toBe("E_WEBHOOK_REPLAYED");
    clock += 400_000;
    // Past the window the timestamp check refuses it instead.
    expect((await problemOf(await deliver(body, signed.headers))).code).toBe("E_WEBHOOK_TIMESTAMP");
    clock = NOW;
  });

  it("gives a delivery back when it was refused or failed before its handler could have an effect, so the sender's retry runs", async () => {
    const usage = { cpuMs: 0, wallMs: 0, memoryPeakBytes: 0, logBytes: 0 };
    let mode: "unavailable" | "failed after a host call" | "real" = "unavailable";
    const runner = scriptedRunner(world.runner, async (envelope) => {
      if (mode === "unavailable") return { requestId: envelope.requestId, ok: false, error: { code: "E_RUNNER_UNAVAILABLE", message: "busy" }, usage: { ...usage, hostCalls: {} }, logs: [] };
      if (mode === "failed after a host call") return { requestId: envelope.requestId, ok: false, error: { code: "E_TIMEOUT", message: "late" }, usage: { ...usage, hostCalls: { "kv.set": 1 } }, logs: [] };
      return world.runner.execute(envelope);
    });
    const gateway = world.gatewayWith({ runner, now: () => clock });
    const send = (body: string, headers: Record<string, string>, type = "application/json") =>
      gateway.handle(req("POST", "/ext/acme.gw/hooks/events", { headers: { "content-type": type, ...headers }, body }));
    const ts = Math.floor(clock / 1000);

    // The runner could not start it: 503 with Retry-After, and the retry runs.
    const body = JSON.stringify({ id: "evt_retry" });
    const signed = signWebhook(secret, body, ts).headers;
    expect((await problemOf(await send(body, signed))).code).toBe("E_RUNNER_UNAVAILABLE");
    mode = "real";
    expect((await send(body, signed)).status).toBe(200);
    expect((await problemOf(await send(body, signed))).code).toBe("E_WEBHOOK_REPLAYED");

    // A body the gateway could not read never reached a handler: sent again readable, it runs.
    const deep = "[".repeat(200) + "]".repeat(200);
    const deepSigned = signWebhook(secret, deep, ts).headers;
    expect((await problemOf(await send(deep, deepSigned))).code).toBe("E_JSON_TOO_DEEP");
    expect((await send(deep, deepSigned, "text/plain")).status).toBe(200);

    // A handler that failed after a host call may have had its effect: that delivery stays accepted.
    mode = "failed after a host call";
    const done = JSON.stringify({ id: "evt_effect" });
    const doneSigned = signWebhook(secret, done, ts).headers;
    expect((await send(done, doneSigned)).status).toBeGreaterThanOrEqual(500);
    mode = "real";
    expect((await problemOf(await send(done, doneSigned))).code).toBe("E_WEBHOOK_REPLAYED");
  });

  it("accepts the previous secret during a rotation's grace period, and only the new one after", async () => {
    const body = '{"rotated":true}';
    const before = secret;
    const store = createMemoryWebhookSecrets({ now: () => clock });
    store.set(installId, before);
    const gateway = world.gatewayWith({ webhookSecrets: store, now: () => clock });
    const send = (key: string, payload: string) =>
      gateway.handle(req("POST", "/ext/acme.gw/hooks/events", { headers: { "content-type": "application/json", ...signWebhook(key, payload, Math.floor(clock / 1000)).headers }, body: payload }));
    const after = store.rotate(installId, { graceSeconds: 60 });
    expect((await send(before, `${body} `)).status).toBe(200);
    expect((await send(after, `${body}  `)).status).toBe(200);
    clock += 61_000;
    expect((await send(before, `${body}   `)).status).toBe(401);
    expect((await send(after, `${body}    `)).status).toBe(200);
    clock = NOW;
  });

  it("refuses every delivery for an install without a secret (and for a gateway without a store)", async () => {
    await world.installFor("t2");
    const body = "{}";
    const noSecret = await deliver(body, signWebhook(secret, body, Math.floor(clock / 1000)).headers, "t2");
    expect(noSecret.status).toBe(401);
    const [line] = await world.host.audit.list({ tenant: "t2", order: "desc", limit: 1 });
    expect(line!.details["reason"]).toBe("no webhook secret is set for this install");
    const storeless = world.gatewayWith({ webhookSecrets: undefined, now: () => clock });
    const refused = await storeless.handle(req("POST", "/ext/acme.gw/hooks/events", { body, headers: signWebhook(secret, body, Math.floor(clock / 1000)).headers }));
    expect(refused.status).toBe(401);
  });

  it("never writes a webhook secret or signature into the audit log", async () => {
    const lines = await world.host.audit.list({ action: "gateway.", limit: 1000 });
    const text = JSON.stringify(lines);
    expect(text).not.toContain(secret);
    expect(text).not.toContain("v1=");
  });

  it("passes the raw body and the declared provider headers unchanged to an extension that verifies itself", async () => {
    const raw = '{"id":"evt_9","amount": 1000,  "note":"spacing kept"}\n';
    const response = await world.gateway.handle(
      req("POST", "/ext/acme.gw/hooks/stripe", {
        headers: { "content-type": "application/json", "stripe-signature": "t=1,v1=abc", cookie: "session=1", "x-other": "no" },
        body: raw,
      }),
    );
    expect(response.status).toBe(200);
    const echoed = (await response.json()) as { raw: unknown; signature: string; headers: Record<string, string> };
    expect(echoed.raw).toBe(raw);
    expect(echoed.signature).toBe("t=1,v1=abc");
    expect(echoed.headers).toEqual({ "content-type": "application/json", "stripe-signature": "t=1,v1=abc" });
  });

  it("gives an extension-verified webhook bytes when the raw body is not UTF-8", async () => {
    const runner = scriptedRunner(world.runner, (envelope) => world.runner.execute(envelope));
    const gateway = world.gatewayWith({ runner });
    const bytes = new Uint8Array([0xff, 0xfe, 0x00, 0x41]);
    await gateway.handle(req("POST", "/ext/acme.gw/hooks/stripe", { headers: { "content-type": "application/octet-stream" }, body: bytes }));
    const invocation = runner.envelopes[0]!.invocation;
    expect(invocation.kind === "endpoint" && invocation.request.body).toEqual(bytes);
  });
});

describe("webhook signature primitives", () => {
  it("signs timestamp + '.' + body with HMAC-SHA256, verifiable with any listed secret", () => {
    const signed = signWebhook("s".repeat(32), "payload", 1000);
    expect(signed.signature).toMatch(/^v1=[0-9a-f]{64}$/);
    const check = (secrets: string[], body = "payload") =>
      verifyWebhook({ secrets, timestampHeader: "1000", signatureHeader: signed.signature, body: new TextEncoder().encode(body), nowSeconds: 1000, toleranceSeconds: 300 });
    expect(check(["x".repeat(32), "s".repeat(32)]).ok).toBe(true);
    expect(check(["x".repeat(32)])).toEqual({ ok: false, reason: "mismatch" });
    expect(check(["s".repeat(32)], "payload!")).toEqual({ ok: false, reason: "mismatch" });
    expect(check([])).toEqual({ ok: false, reason: "no-secret" });
  });

  it("accepts several signatures in one header (a sender mid-rotation)", () => {
    const a = signWebhook("a".repeat(32), "x", 5);
    const b = signWebhook("b".repeat(32), "x", 5);
    const verdict = verifyWebhook({ secrets: ["b".repeat(32)], timestampHeader: "5", signatureHeader: `${a.signature}, ${b.signature}`, body: new TextEncoder().encode("x"), nowSeconds: 5, toleranceSeconds: 300 });
    expect(verdict.ok).toBe(true);
  });

  it("refuses short secrets in the memory store", () => {
    expect(() => createMemoryWebhookSecrets().set("i", "short")).toThrow(expect.objectContaining({ code: "E_WEBHOOK_SECRET" }));
  });
});
