import type { ExecuteResult } from "@annex/runner";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { NewAuditEntry } from "../../src/audit/audit-log.js";
import { AuditWriter, insertAuditLines } from "../../src/gateway/audit-writer.js";
import { HeaderPolicy } from "../../src/gateway/headers.js";
import { signWebhook } from "../../src/gateway/webhook-signature.js";
import { createMemoryWebhookSecrets } from "../../src/gateway/webhook-secrets.js";
import { describeBackends } from "../support/backends.js";
import { makeBundle, serviceManifest } from "../support/fixtures.js";
import { bearer, gatewayWorld, problemOf, req, scriptedRunner, type GatewayWorld } from "./support.js";

/** acme.hostile: handlers that answer whatever the request asks for, so tests can put any response through a real sandbox. */
const HOSTILE_SERVER = `
export function respond(request) { return request.body; }
export const respondPublic = respond;
export function fail(request) { throw new Error(String(request.body.message)); }
export function ok() { return { ok: true }; }
export const hook = ok;
export function deep(request) { let value = []; for (let i = 0; i < request.query.depth; i++) value = [value]; return value; }
`;

const HOSTILE_MANIFEST = serviceManifest({
  id: "acme.hostile",
  name: "Hostile fixture",
  endpoints: [
    { class: "api", method: "POST", path: "/respond", handler: "respond" },
    { class: "api", method: "POST", path: "/fail", handler: "fail" },
    { class: "api", method: "GET", path: "/deep", handler: "deep" },
    { class: "public", method: "POST", path: "/respond", handler: "respondPublic" },
    { class: "public", method: "GET", path: "/ok", handler: "ok", cors: { origins: ["https://shop.example.com"] } },
    { class: "webhook", method: "POST", path: "/hook", handler: "hook", verify: "annex" },
  ],
});

const usage = { cpuMs: 0, wallMs: 0, memoryPeakBytes: 0, hostCalls: {}, logBytes: 0 };

/** What guests and callers put into audit text: NUL, a lone surrogate, control and bidi characters. */
const POISON = "poison\u0000 \ud800 \u001b[31m\u202e\n";

describeBackends("gateway against hostile input", (backend) => {
  let world: GatewayWorld;
  let hostileInstall: string;
  const auth = bearer("ada", "t1");
  const NOW = 1_750_000_000_000;
  const clock = () => NOW;
  const ts = Math.floor(NOW / 1000);

  beforeAll(async () => {
    world = await gatewayWorld(backend);
    await world.installFor("t1");
    await world.installFor("t2");
    const bytes = await makeBundle(HOSTILE_MANIFEST, { "server/index.js": HOSTILE_SERVER });
    await world.host.publish(bytes, await world.publisher.sign(bytes));
    hostileInstall = (await world.host.install("t1", "acme.hostile", { grants: [{ name: "log" }] })).id;
  });

  /** What the api endpoint /respond of acme.hostile answers when its handler returns `response`. */
  const respond = (response: unknown, family: "api" | "public" = "api") =>
    world.gateway.handle(
      req("POST", family === "api" ? "/api/ext/acme.hostile/respond" : "/ext/acme.hostile/public/respond", {
        headers: { ...(family === "api" ? auth : {}), "content-type": "application/json" },
        body: JSON.stringify(response),
      }),
    );
  afterAll(() => world.close());

  // ── Item 1: audit batch poisoning ──────────────────────────────────
  it("stores audit lines whose text holds NUL, lone surrogates and control characters, sanitised and bounded", async () => {
    const writer = new AuditWriter(insertAuditLines(world.host.database.db, world.host.database.schema));
    const line = (target: string, details: Record<string, unknown>): NewAuditEntry => ({
      actor: `user:${POISON}`,
      tenant: `t${POISON}`,
      action: "gateway.request",
      target,
      decision: "deny",
      details,
    });
    // Written in one turn: one batch.
    await Promise.all([
      writer.write(line("poison.clean", { reason: "fine" })),
      writer.write(line("poison.nul", { reason: POISON, nested: { [`key${POISON}`]: [POISON] }, huge: "x".repeat(100_000) })),
      writer.write(line("poison.clean", { reason: "fine too" })),
    ]);
    const rows = await world.host.audit.list({ action: "gateway.request", actor: "user:poison\ufffd \ufffd \ufffd[31m\ufffd\ufffd" });
    expect(rows.map((row) => row.target)).toEqual(["poison.clean", "poison.nul", "poison.clean"]);
    const poisoned = rows[1]!;
    expect(poisoned.tenant).toBe("tpoison\ufffd \ufffd \ufffd[31m\ufffd\ufffd");
    expect(poisoned.details["reason"]).toBe("poison\ufffd \ufffd \ufffd[31m\ufffd\ufffd");
    expect(poisoned.details["nested"]).toEqual({ "keypoison\ufffd \ufffd \ufffd[31m\ufffd\ufffd": ["poison\ufffd \ufffd \ufffd[31m\ufffd\ufffd"] });
    expect(JSON.stringify(poisoned.details).length).toBeLessThanOrEqual(16 * 1024);
    expect(writer.stats()).toEqual({ written: 3, reduced: 0, failed: 0 });
  });

  it("never fails a line for its neighbour: a batch the database refuses is retried line by line", async () => {
    const writer = new AuditWriter(insertAuditLines(world.host.database.db, world.host.database.schema));
    const good = (n: number): NewAuditEntry => ({ actor: "anonymous", tenant: "t9", action: "gateway.request", target: `neighbour.${n}`, decision: "deny", details: {} });
    // A decision the table's CHECK constraint refuses: nothing sanitising could make it storable.
    const bad = { ...good(0), target: "neighbour.bad", decision: "maybe" } as unknown as NewAuditEntry;
    const results = await Promise.allSettled([writer.write(good(1)), writer.write(bad), writer.write(good(2))]);
    expect(results.map((result) => result.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    const rows = await world.host.audit.list({ tenant: "t9" });
    expect(rows.map((row) => row.target)).toEqual(["neighbour.1", "neighbour.2"]);
    expect(writer.stats()).toEqual({ written: 2, reduced: 0, failed: 1 });
  });

  it("answers every other request of a batch normally when one guest's error text holds a NUL, and records that guest's line", async () => {
    let signal!: () => void;
    const started = new Promise<void>((resolve) => (signal = resolve));
    const runner = scriptedRunner(world.runner, async (envelope, options) => {
      if (envelope.invocation.kind === "endpoint" && envelope.invocation.handler === "boom") {
        await options?.hostCallsAfter;
        signal();
        return { requestId: envelope.requestId, ok: false, error: { code: "E_HANDLER_ERROR", message: `Error: ${POISON}` }, usage, logs: [] };
      }
      return { requestId: envelope.requestId, ok: true, response: { status: 200, headers: {}, body: { ok: true } }, usage, logs: [] } satisfies ExecuteResult;
    });
    const gateway = world.gatewayWith({ runner });
    const t2 = bearer("bob", "t2");
    // Warm the install cache, so that the neighbours reach the audit writer within the same turns.
    expect((await gateway.handle(req("GET", "/api/ext/acme.gw/hello/warm", { headers: t2 }))).status).toBe(200);
    const poisoned = gateway.handle(req("GET", "/api/ext/acme.gw/boom", { headers: auth }));
    await started;
    const neighbours = await Promise.all(Array.from({ length: 8 }, (_, i) => gateway.handle(req("GET", `/api/ext/acme.gw/hello/n${i}`, { headers: t2 }))));
    expect(neighbours.map((response) => response.status)).toEqual(Array(8).fill(200));
    const response = await poisoned;
    expect(response.status).toBe(500);
    expect((await problemOf(response)).code).toBe("E_HANDLER_ERROR");
    await gateway.drain();
    const [line] = await world.host.audit.list({ tenant: "t1", decision: "error", order: "desc", limit: 1 });
    expect(line?.details).toMatchObject({ code: "E_HANDLER_ERROR", handler: "boom" });
    expect(String(line?.details["reason"])).toContain("poison\ufffd \ufffd");
  });

  // ── Item 2: open redirect ──────────────────────────────────────────
  /** Location values a browser could take off-site or read otherwise. */
  const OFF_SITE = [
    "/\t/evil.example/",
    "/ /evil.example/",
    " //evil.example/",
    "/\\evil.example/",
    "\\/evil.example/",
    "//evil.example/",
    "///evil.example/",
    "https://evil.example/",
    "https:evil.example",
    "https:/\\evil.example",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "http://t1.tenants.test.evil.example/",
    "http://t1.tenants.test:8080/",
    "https://t1.tenants.test/",
    "/\u0085/evil.example",
    "/\u00a0/evil.example",
    "/\u3000/evil.example",
    "/\u2028/evil.example",
    "",
  ];

  it.each(OFF_SITE)("drops a Location that a browser could take off-site or read otherwise: %j", async (location) => {
    const response = await respond({ status: 302, headers: { location }, body: null });
    expect(response.status).toBe(302);
    expect(response.headers.get("location")).toBeNull();
  });

  it("drops such a Location also with line breaks and NUL, which this runner already refuses but another runner might pass on", () => {
    const policy = new HeaderPolicy();
    const requestUrl = new URL("http://t1.tenants.test/api/ext/acme.hostile/respond");
    for (const location of [...OFF_SITE, "/\n/evil.example/", "/\r\n/evil.example/", "/\u0000/evil.example", "\u0000//evil.example"]) {
      expect(policy.fromSandbox({ location }, { requestUrl, cacheable: false }), JSON.stringify(location)).toEqual({});
    }
    for (const value of ["a\r\nset-cookie: x=1", "nul\u0000"]) {
      expect(() => policy.fromSandbox({ etag: value }, { requestUrl, cacheable: false })).toThrow(expect.objectContaining({ problem: expect.objectContaining({ code: "E_BAD_RESPONSE_HEADER" }) }));
    }
  });

  it.each([
    ["/api/ext/acme.hostile/next", "/api/ext/acme.hostile/next"],
    ["/a/../b?x=1#top", "/b?x=1#top"],
    ["next", "/api/ext/acme.hostile/next"],
    ["http://t1.tenants.test/same?site", "/same?site"],
    // A scheme-relative reference of the request's own scheme is a relative path, for browsers as for the URL parser.
    ["http:evil.example", "/api/ext/acme.hostile/evil.example"],
    ["/caf\u00e9", "/caf%C3%A9"],
    ["/%2F%2Fevil.example", "/%2F%2Fevil.example"],
  ])("keeps a same-origin Location %j, sent as the path it resolves to", async (location, sent) => {
    const response = await respond({ status: 303, headers: { location }, body: null });
    expect(response.headers.get("location")).toBe(sent);
  });

  // A same-origin redirect that resends the request keeps its method, body and headers: the host SPA's session and CSRF header.
  it.each([307, 308])("keeps a %i redirect inside the extension's own paths: elsewhere on the origin its Location is dropped", async (status) => {
    for (const [location, sent] of [
      ["/app/account/transfer", null],
      ["/api/ext/acme.other/x", null],
      ["/api/ext/acme.hostile/../acme.other/x", null],
      ["/api/ext/acme.hostile%2F..%2Facme.other/x", null],
      // Inside by their text, outside once a proxy that strips ;parameters resolves them (as inbound, see hasDotSegment).
      ["/api/ext/acme.hostile/..;/..;/..;/app/account/transfer", null],
      ["/api/ext/acme.hostile/%2e%2e;/%2E%2E;x/../app/account/transfer", null],
      ["/ext/acme.hostile/..;x/..;x/app/account/transfer", null],
      ["/api/ext/acme.hostile/.;jsessionid=1/next", null],
      ["/api/ext/acme.hostile/next;v=1", "/api/ext/acme.hostile/next;v=1"],
      ["/api/ext/acme.hostile", null],
      ["/api/ext/acme.hostile-2/x", null],
      ["/ext-ui/acme.hostile/x", null],
      ["/api/ext/acme.hostile/next?step=2", "/api/ext/acme.hostile/next?step=2"],
      ["next", "/api/ext/acme.hostile/next"],
      ["/ext/acme.hostile/public/landing", "/ext/acme.hostile/public/landing"],
    ] as const) {
      const response = await respond({ status, headers: { location }, body: null });
      expect({ location, status: response.status, sent: response.headers.get("location") }).toEqual({ location, status, sent });
    }
  });

  it("lets a redirect the browser turns into a GET (303, and 301/302 of GET, HEAD and POST) go anywhere on the origin, and holds 301/302 of other methods to the extension's paths", () => {
    const policy = new HeaderPolicy();
    const requestUrl = new URL("http://t1.tenants.test/api/ext/acme.hostile/respond");
    const ownPaths = ["/api/ext/acme.hostile/", "/ext/acme.hostile/"];
    const location = (status: number, method: string, value = "/app/settings") =>
      policy.fromSandbox({ location: value }, { requestUrl, cacheable: false, status, method, ownPaths })["location"] ?? null;
    for (const method of ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]) expect(location(303, method)).toBe("/app/settings");
    for (const method of ["GET", "HEAD", "POST", "post"]) {
      expect(location(301, method)).toBe("/app/settings");
      expect(location(302, method)).toBe("/app/settings");
    }
    for (const method of ["PUT", "DELETE", "PATCH", "delete"]) {
      expect(location(301, method)).toBeNull();
      expect(location(302, method)).toBeNull();
      expect(location(302, method, "/ext/acme.hostile/public/done")).toBe("/ext/acme.hostile/public/done");
    }
    for (const method of ["GET", "POST"]) expect(location(307, method)).toBeNull();
    // Told neither status nor method (another caller of the policy), every redirect is held to the extension's paths.
    expect(policy.fromSandbox({ location: "/app/settings" }, { requestUrl, cacheable: false, ownPaths })).toEqual({});
  });

  // ── Item 9: the gateway owns caching ───────────────────────────────
  it("keeps no-store on authenticated and webhook responses whatever the extension says, and lets public endpoints decide", async () => {
    const headers = { "cache-control": "public, max-age=600", expires: "Thu, 01 Jan 2099 00:00:00 GMT" };
    const api = await respond({ status: 200, headers, body: { secret: "per user" } });
    expect(api.status).toBe(200);
    expect(api.headers.get("cache-control")).toBe("no-store");
    expect(api.headers.get("expires")).toBeNull();

    const anonymous = await respond({ status: 200, headers, body: { same: "for everyone" } }, "public");
    expect(anonymous.headers.get("cache-control")).toBe("public, max-age=600");
    expect(anonymous.headers.get("expires")).toBe(headers.expires);
    const plain = await respond({ status: 200, headers: {}, body: {} }, "public");
    expect(plain.headers.get("cache-control")).toBe("no-store");
  });

  it("never takes headers that act on the host's whole origin, even when the host lists them", async () => {
    for (const name of ["nel", "report-to", "reporting-endpoints", "accept-ch", "set-login", "referrer-policy", "timing-allow-origin", "feature-policy", "sec-fetch-site", "age"]) {
      await expect(world.hostWith({ policy: { responseHeaders: [name] } }), name).rejects.toMatchObject({ code: "E_GATEWAY_OPTIONS" });
    }
    const response = await respond({ status: 200, headers: { nel: '{"report_to":"x","max_age":9999999}', "report-to": "{}", "referrer-policy": "unsafe-url" }, body: {} });
    expect(response.headers.get("nel")).toBeNull();
    expect(response.headers.get("report-to")).toBeNull();
    expect(response.headers.get("referrer-policy")).toBeNull();
  });

  // ── Item 11: the caller's and the extension's faults are not the host's ──
  it("answers 502 E_BAD_RESPONSE_HEADER for a response header the extension filled with characters outside Latin-1 or controls", async () => {
    for (const value of ["日本語", "emoji 😀", "bell\u0007", "del\u007f"]) {
      const response = await respond({ status: 200, headers: { "content-disposition": value }, body: {} });
      expect(response.status, JSON.stringify(value)).toBe(502);
      const problem = await problemOf(response);
      expect(problem.code).toBe("E_BAD_RESPONSE_HEADER");
      expect(problem.header).toBe("content-disposition");
    }
    // Latin-1 (obs-text) is a valid field value.
    const latin1 = await respond({ status: 200, headers: { "content-disposition": 'attachment; filename="caf\u00e9.txt"' }, body: {} });
    expect(latin1.status).toBe(200);
    await world.gateway.drain();
    const [line] = await world.host.audit.list({ tenant: "t1", decision: "error", order: "desc", limit: 1 });
    expect(line?.details).toMatchObject({ code: "E_BAD_RESPONSE_HEADER", status: 502 });
  });

  it("answers 502 E_BAD_RESPONSE_HEADER for response headers over 8 KiB, which clients refuse (a 4 MB ETag broke the response)", async () => {
    for (const headers of [{ etag: "x".repeat(100_000) }, { vary: "a".repeat(5000), "content-language": "b".repeat(5000) }]) {
      const response = await respond({ status: 200, headers, body: {} });
      expect(response.status).toBe(502);
      const problem = await problemOf(response);
      expect(problem.code).toBe("E_BAD_RESPONSE_HEADER");
      expect(problem.detail).toContain("more than 8192 bytes of headers");
    }
    // Right up to the bound they go out as given; numbers are sent as their text.
    const fits = await respond({ status: 200, headers: { etag: `"${"e".repeat(8000)}"`, "x-count": 5 }, body: {} });
    expect(fits.status).toBe(200);
    expect(fits.headers.get("etag")).toHaveLength(8002);
  });

  it("answers 400 E_JSON_TOO_DEEP for a small JSON body nested thousands deep", async () => {
    for (const depth of [5000, 129]) {
      const body = `${"[".repeat(depth)}${"]".repeat(depth)}`;
      const response = await world.gateway.handle(
        req("POST", "/api/ext/acme.hostile/respond", { headers: { ...auth, "content-type": "application/json" }, body }),
      );
      expect(response.status, String(depth)).toBe(400);
      expect(await problemOf(response)).toMatchObject({ code: "E_JSON_TOO_DEEP", maxDepth: 128 });
    }
    // Brackets inside strings do not count; 128 levels are fine.
    const flat = await respond({ status: 200, headers: {}, body: { text: "[".repeat(10_000) } });
    expect(flat.status).toBe(200);
    const ok = `${"[".repeat(127)}{"status":200,"body":1}${"]".repeat(127)}`;
    const nested = await world.gateway.handle(req("POST", "/api/ext/acme.hostile/respond", { headers: { ...auth, "content-type": "application/json" }, body: ok }));
    expect(nested.status).not.toBe(400);
  });

  it("answers a response body nested too deep to send as the extension's fault, never 500 E_INTERNAL", async () => {
    const response = await world.gateway.handle(req("GET", "/api/ext/acme.hostile/deep?depth=20000", { headers: auth }));
    expect(response.status).toBeGreaterThanOrEqual(500);
    expect((await problemOf(response)).code).not.toBe("E_INTERNAL");
  });

  it("answers 400, not 500, when the caller's body stream breaks mid-way", async () => {
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new TextEncoder().encode('{"a":'));
        controller.error(new Error("socket hang up"));
      },
    });
    const response = await world.gateway.handle(
      new Request("http://t1.tenants.test/api/ext/acme.hostile/respond", { method: "POST", headers: { ...auth, "content-type": "application/json" }, body, duplex: "half" } as RequestInit),
    );
    expect(response.status).toBe(400);
    expect((await problemOf(response)).code).toBe("E_BAD_REQUEST");
  });

  // ── Item 3: strangers cannot spend a webhook sender's budget ───────
  it("charges the install's webhook bucket only for verified deliveries: strangers without the secret cannot keep the sender at 429", async () => {
    const secrets = createMemoryWebhookSecrets({ now: clock });
    const secret = secrets.set(hostileInstall);
    const runner = scriptedRunner(world.runner, (envelope) => world.runner.execute(envelope));
    const gateway = world.gatewayWith({ runner, now: clock, webhookSecrets: secrets, policy: { rateLimits: { webhook: { requests: 3, perSeconds: 60 } } } });
    const deliver = (body: string, headers: Record<string, string>, clientAddress: string) =>
      gateway.handle(req("POST", "/ext/acme.hostile/hooks/hook", { headers: { "content-type": "application/json", ...headers }, body }), { clientAddress });

    // Strangers, from many addresses and one, send forged and unsigned deliveries.
    const forged = signWebhook("not-the-secret-at-all", "{}", ts).headers;
    const strangers = await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => deliver("{}", forged, `198.51.100.${i + 1}`)),
      ...Array.from({ length: 150 }, () => deliver("{}", {}, "203.0.113.7")),
    ]);
    expect(runner.envelopes).toHaveLength(0);

    // The real sender still gets its install's whole allowance.
    for (let i = 0; i < 3; i++) {
      const body = JSON.stringify({ id: `evt_${i}` });
      const response = await deliver(body, signWebhook(secret, body, ts).headers, "192.0.2.10");
      expect(response.status, `delivery ${i}`).toBe(200);
    }
    // Strangers spent only their own addresses' budgets: one address is refused before its body is read once its
    // failures pass that budget (120 per minute), even when it sends them all at once.
    expect(strangers.slice(0, 20).every((response) => response.status === 401)).toBe(true);
    expect(strangers.slice(20).filter((response) => response.status === 429).length).toBe(30);

    const body = JSON.stringify({ id: "evt_over" });
    const over = await deliver(body, signWebhook(secret, body, ts).headers, "192.0.2.10");
    expect(over.status).toBe(429);
    // Refused for the budget, not remembered as delivered: the sender may send it again later.
    const later = world.gatewayWith({ now: clock, webhookSecrets: secrets });
    const again = await later.handle(
      req("POST", "/ext/acme.hostile/hooks/hook", { headers: { "content-type": "application/json", ...signWebhook(secret, body, ts).headers }, body }),
      { clientAddress: "192.0.2.10" },
    );
    expect(again.status).toBe(200);
  });

  it("limits anonymous classes per client before the install's bucket, counting an IPv6 client by its /64", async () => {
    const gateway = world.gatewayWith({
      now: clock,
      policy: { rateLimits: { public: { requests: 10, perSeconds: 60 } }, clientRateLimits: { public: { requests: 3, perSeconds: 60 } } },
    });
    const call = (clientAddress: string) => gateway.handle(req("GET", "/ext/acme.hostile/public/ok"), { clientAddress });
    const greedy = [];
    for (let i = 0; i < 6; i++) greedy.push((await call(`2001:db8:1:2::${i + 1}`)).status);
    expect(greedy).toEqual([200, 200, 200, 429, 429, 429]);
    expect((await call("::ffff:192.0.2.1")).status).toBe(200);
    expect((await call("192.0.2.1")).status).toBe(200);
    expect((await call("2001:db8:1:3::1")).status).toBe(200);
  });

  // ── Item 6: replay keyed on the delivery, not the signature ────────
  it("refuses a delivery signed with two secrets during a rotation when it is replayed with the other signature", async () => {
    const secrets = createMemoryWebhookSecrets({ now: clock });
    const old = secrets.set(hostileInstall);
    const current = secrets.rotate(hostileInstall, { graceSeconds: 3600 });
    const gateway = world.gatewayWith({ now: clock, webhookSecrets: secrets });
    const body = JSON.stringify({ id: "evt_rotating" });
    const withNew = signWebhook(current, body, ts);
    const withOld = signWebhook(old, body, ts);
    const send = (signature: string) =>
      gateway.handle(
        req("POST", "/ext/acme.hostile/hooks/hook", { headers: { "content-type": "application/json", "annex-webhook-timestamp": String(ts), "annex-webhook-signature": signature }, body }),
        { clientAddress: "192.0.2.20" },
      );
    expect((await send(`${withNew.signature},${withOld.signature}`)).status).toBe(200);
    for (const signature of [withOld.signature, withNew.signature, `${withOld.signature},${withNew.signature}`]) {
      const replay = await send(signature);
      expect(replay.status, signature).toBe(409);
      expect((await problemOf(replay)).code).toBe("E_WEBHOOK_REPLAYED");
    }
    // Another body at the same second is another delivery.
    const other = JSON.stringify({ id: "evt_other" });
    const fresh = await gateway.handle(
      req("POST", "/ext/acme.hostile/hooks/hook", { headers: { "content-type": "application/json", ...signWebhook(current, other, ts).headers }, body: other }),
      { clientAddress: "192.0.2.20" },
    );
    expect(fresh.status).toBe(200);
  });

  // ── Item 4: audit rows of anonymous denials are bounded and counted ─
  it("samples audit lines of requests that never ran, per client and for anonymous callers together, and counts what it skipped", async () => {
    const gateway = world.gatewayWith({ now: clock, policy: { auditSampling: { perClient: { requests: 5, perSeconds: 60 }, anonymous: { requests: 20, perSeconds: 60 } } } });
    const lines = async () => (await world.host.audit.list({ action: "gateway.", limit: 1000, order: "desc" })).length;
    await world.gateway.drain();
    const before = await lines();

    // One client: junk paths, unknown extensions, refused preflights, allowed preflights, UI misses.
    const junk = [
      req("GET", "/api/ext/not-an-id/x"),
      req("GET", "/ext/acme.nothing/public/x"),
      req("GET", "/ext-ui/acme.hostile/sha256:zz/index.html"),
      new Request("http://t1.tenants.test/ext/acme.hostile/public/ok", { method: "OPTIONS", headers: { origin: "https://evil.example", "access-control-request-method": "GET" } }),
      new Request("http://t1.tenants.test/ext/acme.hostile/public/ok", { method: "OPTIONS", headers: { origin: "https://shop.example.com", "access-control-request-method": "GET" } }),
    ];
    for (let round = 0; round < 20; round++) {
      for (const request of junk) await gateway.handle(request.clone(), { clientAddress: "198.51.100.99" });
    }
    await gateway.drain();
    expect((await lines()) - before).toBe(5);
    expect(gateway.stats().audit).toMatchObject({ written: 5, skipped: 95, failed: 0 });

    // Many clients, one request each: all anonymous callers together get 20 lines (5 were used above).
    for (let i = 0; i < 100; i++) await gateway.handle(req("GET", "/api/ext/not-an-id/x"), { clientAddress: `203.0.113.${i}` });
    await gateway.drain();
    expect((await lines()) - before).toBe(20);
    expect(gateway.stats().audit).toMatchObject({ written: 20, skipped: 180 });

    // Requests that run are always audited, whatever the budget says.
    for (let i = 0; i < 3; i++) expect((await gateway.handle(req("GET", "/ext/acme.hostile/public/ok"), { clientAddress: "198.51.100.99" })).status).toBe(200);
    await gateway.drain();
    expect((await lines()) - before).toBe(23);

    // A signed-in user has a budget of its own; its next written line says how many were skipped before it.
    for (let i = 0; i < 8; i++) await gateway.handle(req("GET", "/api/ext/acme.hostile/nowhere", { headers: auth }));
    await gateway.drain();
    expect((await lines()) - before).toBe(28);
    expect(gateway.stats().audit.skipped).toBe(183);
  });

  it("writes every failure line of requests that ran, also when allow lines are off", async () => {
    const gateway = world.gatewayWith({ policy: { audit: "denials", auditSampling: { perClient: { requests: 1, perSeconds: 60 }, anonymous: { requests: 1, perSeconds: 60 } } } });
    for (let i = 0; i < 5; i++) {
      const response = await gateway.handle(req("POST", "/api/ext/acme.hostile/fail", { headers: { ...auth, "content-type": "application/json" }, body: '{"message":"no"}' }));
      expect(response.status).toBe(500);
    }
    await gateway.drain();
    expect(gateway.stats().audit).toMatchObject({ written: 5, skipped: 0 });
  });

  it("writes every line when sampling is turned off", async () => {
    const gateway = world.gatewayWith({ policy: { auditSampling: false } });
    for (let i = 0; i < 70; i++) await gateway.handle(req("GET", "/api/ext/not-an-id/x"), { clientAddress: "198.51.100.200" });
    await gateway.drain();
    expect(gateway.stats().audit).toMatchObject({ written: 70, skipped: 0 });
  });
});
