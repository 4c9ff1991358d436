import { afterAll, beforeAll, expect, it } from "vitest";
import { describeBackends } from "../support/backends.js";
import { bearer, gatewayWorld, problemOf, req, scriptedRunner, type GatewayWorld } from "./support.js";

describeBackends("gateway policy", (backend) => {
  let world: GatewayWorld;
  const auth = bearer("ada", "t1");

  beforeAll(async () => {
    world = await gatewayWorld(backend);
    await world.installFor("t1");
  });
  afterAll(() => world.close());

  // ── Request headers ────────────────────────────────────────────────
  it("forwards only allowlisted request headers: never cookies, credentials, forwarding or internal headers", async () => {
    const gateway = world.gatewayWith({ policy: { internalHeaders: ["x-internal-*", "x-tenant-secret"] } });
    const response = await gateway.handle(
      req("GET", "/api/ext/acme.gw/echo", {
        headers: {
          ...auth,
          cookie: "session=abc",
          "proxy-authorization": "Basic x",
          "x-forwarded-for": "10.0.0.1",
          forwarded: "for=10.0.0.1",
          "x-internal-user": "ada",
          "x-tenant-secret": "s",
          "x-annex-grants": "all",
          "x-random": "1",
          accept: "application/json",
          "accept-language": "fr",
          "user-agent": "test-agent",
          "if-none-match": '"v1"',
        },
      }),
    );
    const { headers } = (await response.json()) as { headers: Record<string, string> };
    expect(headers).toEqual({ accept: "application/json", "accept-language": "fr", "user-agent": "test-agent", "if-none-match": '"v1"' });
  });

  it("lets the host add request headers to the allowlist, but never credentials or internal ones", async () => {
    const gateway = world.gatewayWith({ policy: { requestHeaders: ["x-plan"] } });
    const response = await gateway.handle(req("GET", "/api/ext/acme.gw/echo", { headers: { ...auth, "x-plan": "gold" } }));
    expect(((await response.json()) as { headers: Record<string, string> }).headers["x-plan"]).toBe("gold");
    for (const name of ["cookie", "authorization", "x-forwarded-for", "x-annex-tenant", "host"]) {
      await expect(world.hostWith({ policy: { requestHeaders: [name] } }), name).rejects.toMatchObject({ code: "E_GATEWAY_OPTIONS" });
    }
    await expect(world.hostWith({ policy: { requestHeaders: ["x-internal-id"], internalHeaders: ["x-internal-"] } })).rejects.toMatchObject({ code: "E_GATEWAY_OPTIONS" });
  });

  // ── Response headers ───────────────────────────────────────────────
  it("drops response headers outside the allowlist: cookies, CORS, CSP, hop-by-hop, internal, off-site redirects", async () => {
    const response = await world.gateway.handle(req("GET", "/api/ext/acme.gw/leak", { headers: auth }));
    expect(response.status).toBe(201);
    const headers = Object.fromEntries(response.headers);
    expect(headers["set-cookie"]).toBeUndefined();
    expect(headers["access-control-allow-origin"]).toBeUndefined();
    expect(headers["connection"]).toBeUndefined();
    expect(headers["transfer-encoding"]).toBeUndefined();
    expect(headers["x-annex-internal"]).toBeUndefined();
    expect(headers["x-custom"]).toBeUndefined();
    expect(headers["location"]).toBeUndefined();
    // Kept: what the allowlist names, except caching, which the gateway decides for signed-in users' responses.
    expect(headers["cache-control"]).toBe("no-store");
    expect(headers["etag"]).toBe('"v1"');
    expect(headers["content-type"]).toBe("application/json");
    // The gateway's own decisions win over the extension's.
    expect(headers["content-security-policy"]).toBe("default-src 'none'; frame-ancestors 'none'; sandbox");
    expect(headers["x-content-type-options"]).toBe("nosniff");
    expect(await response.json()).toEqual({ ok: true });
  });

  it("keeps a same-site redirect", async () => {
    const response = await world.gateway.handle(req("GET", "/api/ext/acme.gw/redirect", { headers: auth }));
    expect(response.status).toBe(302);
    expect(response.headers.get("location")).toBe("/api/ext/acme.gw/hello/back");
  });

  it("sandboxes HTML an extension returns, so it can never script the host's origin", async () => {
    const response = await world.gateway.handle(req("GET", "/api/ext/acme.gw/text", { headers: auth }));
    expect(response.headers.get("content-type")).toBe("text/html");
    expect(response.headers.get("content-security-policy")).toContain("sandbox");
    expect(response.headers.get("content-security-policy")).toContain("default-src 'none'");
  });

  it("refuses response-header additions the host must decide itself", async () => {
    for (const name of ["set-cookie", "access-control-allow-origin", "content-security-policy", "strict-transport-security", "transfer-encoding", "x-annex-a"]) {
      await expect(world.hostWith({ policy: { responseHeaders: [name] } }), name).rejects.toMatchObject({ code: "E_GATEWAY_OPTIONS" });
    }
  });

  // ── Body size ──────────────────────────────────────────────────────
  it("refuses a body over the limit with 413 from Content-Length, before reading it", async () => {
    const gateway = world.gatewayWith({ policy: { maxBodyBytes: 64 } });
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 1;
        controller.enqueue(new Uint8Array(32));
        if (pulled > 100) controller.close();
      },
    });
    const request = new Request("http://t1.tenants.test/api/ext/acme.gw/echo", {
      method: "POST",
      headers: { ...auth, "content-length": "100000" },
      body,
      duplex: "half",
    } as RequestInit);
    const response = await gateway.handle(request);
    expect(response.status).toBe(413);
    expect((await problemOf(response)).code).toBe("E_PAYLOAD_TOO_LARGE");
    expect(pulled).toBeLessThanOrEqual(1);
  });

  it("refuses a streamed body without Content-Length as soon as it passes the limit, leaving the rest unread", async () => {
    const gateway = world.gatewayWith({ policy: { maxBodyBytes: 64 } });
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 1;
        controller.enqueue(new Uint8Array(40));
        if (pulled >= 1000) controller.close();
      },
    });
    const request = new Request("http://t1.tenants.test/api/ext/acme.gw/echo", { method: "POST", headers: auth, body, duplex: "half" } as RequestInit);
    const response = await gateway.handle(request);
    expect(response.status).toBe(413);
    expect(pulled).toBeLessThan(10);
  });

  it("accepts a body at the limit and parses JSON for the handler", async () => {
    const gateway = world.gatewayWith({ policy: { maxBodyBytes: 64 } });
    const json = JSON.stringify({ pad: "x".repeat(64 - 10) });
    expect(json.length).toBe(64);
    const response = await gateway.handle(req("POST", "/api/ext/acme.gw/echo", { headers: { ...auth, "content-type": "application/json" }, body: json }));
    expect(response.status).toBe(200);
    expect(((await response.json()) as { body: unknown }).body).toEqual({ pad: "x".repeat(54) });
  });

  it("refuses malformed JSON with 400 and gives text and bytes to the handler as they are", async () => {
    const bad = await world.gateway.handle(req("POST", "/api/ext/acme.gw/echo", { headers: { ...auth, "content-type": "application/json" }, body: "{nope" }));
    expect(bad.status).toBe(400);
    const text = await world.gateway.handle(req("POST", "/api/ext/acme.gw/echo", { headers: { ...auth, "content-type": "text/plain" }, body: "plain words" }));
    expect(((await text.json()) as { body: unknown }).body).toBe("plain words");
  });

  // ── Rate limits ────────────────────────────────────────────────────
  it("limits each install and endpoint class with a token bucket: 429 with Retry-After, refilled over time", async () => {
    let clock = 1_000_000;
    const gateway = world.gatewayWith({ now: () => clock, policy: { rateLimits: { api: { requests: 3, perSeconds: 30 } } } });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await gateway.handle(req("GET", "/api/ext/acme.gw/hello/x", { headers: auth }))).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const limited = await gateway.handle(req("GET", "/api/ext/acme.gw/items/1", { headers: auth }));
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("10");
    expect((await problemOf(limited)).code).toBe("E_RATE_LIMITED");
    // One token comes back every 10 s.
    clock += 10_000;
    expect((await gateway.handle(req("GET", "/api/ext/acme.gw/hello/x", { headers: auth }))).status).toBe(200);
    expect((await gateway.handle(req("GET", "/api/ext/acme.gw/hello/x", { headers: auth }))).status).toBe(429);
  });

  it("keeps separate buckets per install and per class", async () => {
    await world.installFor("t9");
    const clock = 5_000_000;
    const gateway = world.gatewayWith({ now: () => clock, policy: { rateLimits: { api: { requests: 1, perSeconds: 60 }, public: { requests: 1, perSeconds: 60 } } } });
    expect((await gateway.handle(req("GET", "/api/ext/acme.gw/hello/x", { headers: auth }))).status).toBe(200);
    expect((await gateway.handle(req("GET", "/api/ext/acme.gw/hello/x", { headers: auth }))).status).toBe(429);
    expect((await gateway.handle(req("GET", "/api/ext/acme.gw/hello/x", { headers: bearer("zed", "t9") }))).status).toBe(200);
    expect((await gateway.handle(req("GET", "/ext/acme.gw/public/ping"))).status).toBe(200);
  });

  it("applies an endpoint's own rateLimit on top, per client address for anonymous classes", async () => {
    const clock = 9_000_000;
    const gateway = world.gatewayWith({ now: () => clock });
    const a1 = await gateway.handle(req("GET", "/ext/acme.gw/public/counted"), { clientAddress: "192.0.2.1" });
    const a2 = await gateway.handle(req("GET", "/ext/acme.gw/public/counted"), { clientAddress: "192.0.2.1" });
    const b1 = await gateway.handle(req("GET", "/ext/acme.gw/public/counted"), { clientAddress: "192.0.2.2" });
    expect([a1.status, a2.status, b1.status]).toEqual([200, 429, 200]);
    const api = [];
    for (let i = 0; i < 3; i++) api.push((await gateway.handle(req("GET", "/api/ext/acme.gw/limited", { headers: auth }))).status);
    expect(api).toEqual([200, 200, 429]);
  });

  it("audits the first refusal of a bucket each second, not every one of a flood", async () => {
    let clock = 20_000_000;
    const gateway = world.gatewayWith({ now: () => clock, policy: { rateLimits: { api: { requests: 1, perSeconds: 3600 } } } });
    const before = await world.host.audit.list({ decision: "deny", order: "desc", limit: 1 });
    for (let i = 0; i < 21; i++) await gateway.handle(req("GET", "/api/ext/acme.gw/hello/x", { headers: auth }));
    clock += 1500;
    await gateway.handle(req("GET", "/api/ext/acme.gw/hello/x", { headers: auth }));
    const lines = await world.host.audit.list({ decision: "deny", afterId: before[0]?.id ?? "0", limit: 100 });
    const limited = lines.filter((line) => line.details["code"] === "E_RATE_LIMITED");
    expect(limited).toHaveLength(2);
    expect(limited[1]!.details["reason"]).toContain("19 refusals not audited");
  });

  it("refuses malformed rate-limit options", async () => {
    await expect(world.hostWith({ policy: { rateLimits: { api: { requests: 0, perSeconds: 1 } } } })).rejects.toMatchObject({ code: "E_GATEWAY_OPTIONS" });
    await expect(world.hostWith({ policy: { maxBodyBytes: -1 } })).rejects.toMatchObject({ code: "E_GATEWAY_OPTIONS" });
  });

  // ── CORS ───────────────────────────────────────────────────────────
  it("answers a CORS preflight for a public endpoint that lists the origin", async () => {
    const response = await world.gateway.handle(
      req("OPTIONS", "/ext/acme.gw/public/ping", {
        headers: { origin: "https://shop.example.com", "access-control-request-method": "GET", "access-control-request-headers": "content-type" },
      }),
    );
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe("https://shop.example.com");
    expect(response.headers.get("access-control-allow-methods")).toBe("GET");
    expect(response.headers.get("access-control-allow-headers")).toBe("content-type");
    expect(response.headers.get("access-control-allow-credentials")).toBeNull();
  });

  it("refuses preflights from other origins and for headers that never reach the sandbox", async () => {
    const other = await world.gateway.handle(req("OPTIONS", "/ext/acme.gw/public/ping", { headers: { origin: "https://evil.example", "access-control-request-method": "GET" } }));
    expect(other.status).toBe(403);
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
    expect((await problemOf(other)).code).toBe("E_CORS_ORIGIN");
    const credentials = await world.gateway.handle(
      req("OPTIONS", "/ext/acme.gw/public/ping", {
        headers: { origin: "https://shop.example.com", "access-control-request-method": "GET", "access-control-request-headers": "authorization" },
      }),
    );
    expect(credentials.status).toBe(403);
  });

  it("adds CORS headers to public responses only for listed origins, and never to endpoints that do not declare CORS", async () => {
    const listed = await world.gateway.handle(req("GET", "/ext/acme.gw/public/ping", { headers: { origin: "https://shop.example.com" } }));
    expect(listed.headers.get("access-control-allow-origin")).toBe("https://shop.example.com");
    expect(listed.headers.get("vary")).toContain("origin");
    const unlisted = await world.gateway.handle(req("GET", "/ext/acme.gw/public/ping", { headers: { origin: "https://evil.example" } }));
    expect(unlisted.status).toBe(200);
    expect(unlisted.headers.get("access-control-allow-origin")).toBeNull();
    const undeclared = await world.gateway.handle(req("POST", "/ext/acme.gw/public/ingest", { headers: { origin: "https://shop.example.com" }, body: "x" }));
    expect(undeclared.headers.get("access-control-allow-origin")).toBeNull();
    const api = await world.gateway.handle(
      req("OPTIONS", "/api/ext/acme.gw/hello/x", { headers: { ...auth, origin: "https://shop.example.com", "access-control-request-method": "GET" } }),
    );
    expect(api.status).toBe(405);
    expect(api.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("adds its own Vary to the extension's instead of replacing it", async () => {
    const runner = scriptedRunner(world.runner, async (envelope) => ({
      requestId: envelope.requestId,
      ok: true,
      response: { status: 200, headers: { vary: "accept-language" }, body: "hi" },
      usage: { cpuMs: 0, wallMs: 0, memoryPeakBytes: 0, hostCalls: {}, logBytes: 0 },
      logs: [],
    }));
    const response = await world.gatewayWith({ runner }).handle(req("GET", "/ext/acme.gw/public/ping", { headers: { origin: "https://shop.example.com" } }));
    expect(response.headers.get("vary")).toBe("accept-language, origin, Sec-Fetch-Dest, Sec-Fetch-Site");
  });
});
