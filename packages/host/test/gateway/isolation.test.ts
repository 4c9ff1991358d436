import { afterAll, beforeAll, expect, it } from "vitest";
import { describeBackends } from "../support/backends.js";
import { bearer, gatewayWorld, problemOf, req, scriptedRunner, type GatewayWorld } from "./support.js";

describeBackends("gateway tenants, principals and installs", (backend) => {
  let world: GatewayWorld;

  beforeAll(async () => {
    world = await gatewayWorld(backend);
    await world.installFor("t1");
    // t2 has the extension too: its install must never serve t1's users, nor the reverse.
    await world.installFor("t2");
  });
  afterAll(() => world.close());

  it("answers 401 to an api request without a principal, and never runs the handler", async () => {
    const runner = scriptedRunner(world.runner, (envelope) => world.runner.execute(envelope));
    const gateway = world.gatewayWith({ runner });
    const response = await gateway.handle(req("GET", "/api/ext/acme.gw/hello/x"));
    expect(response.status).toBe(401);
    expect((await problemOf(response)).code).toBe("E_UNAUTHENTICATED");
    expect(runner.envelopes).toHaveLength(0);
  });

  it("serves each principal from its own tenant's install", async () => {
    const runner = scriptedRunner(world.runner, (envelope) => world.runner.execute(envelope));
    const gateway = world.gatewayWith({ runner });
    const a = await gateway.handle(req("GET", "/api/ext/acme.gw/echo", { headers: bearer("ada", "t1") }));
    const b = await gateway.handle(req("GET", "/api/ext/acme.gw/echo", { headers: bearer("bob", "t2") }));
    expect(((await a.json()) as { tenant: string }).tenant).toBe("t1");
    expect(((await b.json()) as { tenant: string }).tenant).toBe("t2");
    const [first, second] = runner.envelopes;
    expect(first!.install.tenant).toBe("t1");
    expect(second!.install.tenant).toBe("t2");
    expect(first!.install.id).not.toBe(second!.install.id);
  });

  it("refuses a principal of tenant A on tenant B's address (E_TENANT_MISMATCH), whatever the URL says", async () => {
    const gateway = world.gatewayWith({ resolveTenant: (request) => new URL(request.url).hostname.split(".")[0] ?? null });
    const response = await gateway.handle(req("GET", "/api/ext/acme.gw/echo", { tenant: "t2", headers: bearer("ada", "t1") }));
    expect(response.status).toBe(403);
    expect((await problemOf(response)).code).toBe("E_TENANT_MISMATCH");
    const [line] = await world.host.audit.list({ action: "gateway.request", decision: "deny", order: "desc", limit: 1 });
    expect(line).toMatchObject({ tenant: "t1", actor: "user:ada", details: { code: "E_TENANT_MISMATCH" } });
  });

  it("answers 404 to a principal whose tenant has not installed the extension, even though another tenant has", async () => {
    const response = await world.gateway.handle(req("GET", "/api/ext/acme.gw/hello/x", { headers: bearer("eve", "t3") }));
    expect(response.status).toBe(404);
  });

  it("runs anonymous endpoints for the tenant the host resolves, and 404 when it resolves none", async () => {
    const one = await world.gateway.handle(req("POST", "/ext/acme.gw/public/ingest", { tenant: "t2", body: "{}", headers: { "content-type": "application/json" } }));
    expect(((await one.json()) as { tenant: string }).tenant).toBe("t2");
    const none = await world.gateway.handle(new Request("http://example.com/ext/acme.gw/public/ping"));
    expect(none.status).toBe(404);
  });

  it("builds the envelope from the registry: grants, config and version of the install, never from the request", async () => {
    const runner = scriptedRunner(world.runner, (envelope) => world.runner.execute(envelope));
    const gateway = world.gatewayWith({ runner });
    await gateway.handle(
      req("POST", "/api/ext/acme.gw/echo", {
        headers: { ...bearer("ada", "t1", ["admin"]), "content-type": "application/json", "x-annex-grants": '[{"name":"http.fetch"}]' },
        body: JSON.stringify({ grants: [{ name: "storage.sql" }], install: { tenant: "t2" } }),
      }),
    );
    const envelope = runner.envelopes[0]!;
    const install = await world.host.getInstall("t1", "acme.gw");
    expect(envelope.grants).toEqual(install!.grants);
    expect(envelope.install).toEqual({ id: install!.id, tenant: "t1", config: install!.config });
    expect(envelope.extension).toEqual({ id: "acme.gw", version: "1.0.0", contentHash: world.published.contentHash });
    // acme.gw has no user.read: the user's identity stays with the gateway (user-read.test.ts).
    expect(envelope.principal).toEqual({ tenant: "t1", roles: ["admin"] });
  });

  it("passes only the principal's defined fields, never the rest of the host's session object", async () => {
    const runner = scriptedRunner(world.runner, (envelope) => world.runner.execute(envelope));
    const gateway = world.gatewayWith({
      runner,
      authenticate: () => ({ tenant: "t1", user: { id: "ada", email: "ada@example.com", sessionToken: "tok" }, roles: ["r"], accessToken: "secret" }) as never,
    });
    await gateway.handle(req("GET", "/api/ext/acme.gw/echo"));
    expect(runner.envelopes[0]!.principal).toEqual({ tenant: "t1", roles: ["r"] });
  });

  it("gives anonymous endpoints no principal even when the caller is signed in", async () => {
    const runner = scriptedRunner(world.runner, (envelope) => world.runner.execute(envelope));
    const gateway = world.gatewayWith({ runner });
    await gateway.handle(req("POST", "/ext/acme.gw/public/ingest", { headers: bearer("ada", "t1"), body: "x" }));
    expect(runner.envelopes[0]!.principal).toBeUndefined();
  });

  it("asks authorize per endpoint, with the principal, the endpoint and the install; false is 403", async () => {
    const calls: Array<{ user: string; path: string; tenant: string }> = [];
    const gateway = world.gatewayWith({
      authorize: (principal, endpoint, install) => {
        calls.push({ user: principal.user.id, path: endpoint.path, tenant: install.tenant });
        return principal.roles.includes("admin") || endpoint.method === "GET";
      },
    });
    const read = await gateway.handle(req("GET", "/api/ext/acme.gw/items/1", { headers: bearer("ada", "t1") }));
    expect(read.status).toBe(200);
    const del = await gateway.handle(req("DELETE", "/api/ext/acme.gw/items/1", { headers: bearer("ada", "t1") }));
    expect(del.status).toBe(403);
    expect((await problemOf(del)).code).toBe("E_FORBIDDEN");
    const admin = await gateway.handle(req("DELETE", "/api/ext/acme.gw/items/1", { headers: bearer("root", "t1", ["admin"]) }));
    expect(admin.status).toBe(200);
    expect(calls).toEqual([
      { user: "ada", path: "/items/:id", tenant: "t1" },
      { user: "ada", path: "/items/:id", tenant: "t1" },
      { user: "root", path: "/items/:id", tenant: "t1" },
    ]);
  });

  it("fails closed with 500 when a hook throws or authenticate returns something that is not a principal", async () => {
    const throwing = world.gatewayWith({ authenticate: () => { throw new Error("session store down"); } });
    const thrown = await throwing.handle(req("GET", "/api/ext/acme.gw/hello/x"));
    expect(thrown.status).toBe(500);
    expect(await thrown.text()).not.toContain("session store down");
    const shapeless = world.gatewayWith({ authenticate: () => ({ tenant: "t1" }) as never });
    expect((await shapeless.handle(req("GET", "/api/ext/acme.gw/hello/x"))).status).toBe(500);
    const denying = world.gatewayWith({ authorize: () => { throw new Error("policy engine down"); } });
    expect((await denying.handle(req("GET", "/api/ext/acme.gw/hello/x", { headers: bearer("ada", "t1") }))).status).toBe(500);
    const [line] = await world.host.audit.list({ action: "gateway.request", decision: "error", order: "desc", limit: 1 });
    expect(line!.details["reason"]).toContain("authorize threw");
  });

  it("answers 404 while an install is disabled, and serves it again once enabled", async () => {
    await world.host.disable("t2", "acme.gw");
    world.gateway.invalidate("t2", "acme.gw");
    const disabled = await world.gateway.handle(req("GET", "/api/ext/acme.gw/hello/x", { headers: bearer("bob", "t2") }));
    expect(disabled.status).toBe(404);
    const [line] = await world.host.audit.list({ tenant: "t2", action: "gateway.request", order: "desc", limit: 1 });
    expect(line).toMatchObject({ decision: "deny", details: { reason: "no serving install for this tenant" } });
    // Other tenants are unaffected.
    expect((await world.gateway.handle(req("GET", "/api/ext/acme.gw/hello/x", { headers: bearer("ada", "t1") }))).status).toBe(200);
    await world.host.enable("t2", "acme.gw");
    expect((await world.gateway.handle(req("GET", "/api/ext/acme.gw/hello/x", { headers: bearer("bob", "t2") }))).status).toBe(200);
  });

  it("reuses a serving install for installCacheMs: a change made elsewhere applies after it, or at once after invalidate()", async () => {
    await world.installFor("t5");
    let clock = 50_000_000;
    // Not listening for install changes (see install-changes.test.ts for what listening changes).
    const gateway = world.gatewayWith({ now: () => clock, policy: { installCacheMs: 2000 }, notifications: false });
    const call = async () => (await gateway.handle(req("GET", "/api/ext/acme.gw/hello/x", { headers: bearer("cy", "t5") }))).status;
    expect(await call()).toBe(200);
    await world.host.disable("t5", "acme.gw");
    expect(await call()).toBe(200); // still within the TTL
    clock += 2001;
    expect(await call()).toBe(404);
    await world.host.enable("t5", "acme.gw");
    // Nothing serving is cached: the enable applies at once.
    expect(await call()).toBe(200);
    await world.host.disable("t5", "acme.gw");
    gateway.invalidate("t5");
    expect(await call()).toBe(404);
    // With the cache off every request reads the install.
    await world.host.enable("t5", "acme.gw");
    const uncached = world.gatewayWith({ policy: { installCacheMs: 0 }, notifications: false });
    expect((await uncached.handle(req("GET", "/api/ext/acme.gw/hello/x", { headers: bearer("cy", "t5") }))).status).toBe(200);
    await world.host.disable("t5", "acme.gw");
    expect((await uncached.handle(req("GET", "/api/ext/acme.gw/hello/x", { headers: bearer("cy", "t5") }))).status).toBe(404);
  });
});
