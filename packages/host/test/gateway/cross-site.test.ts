import { afterAll, beforeAll, expect, it } from "vitest";
import { describeBackends } from "../support/backends.js";
import { bearer, gatewayWorld, problemOf, req, type GatewayWorld } from "./support.js";

describeBackends("gateway cross-site check", (backend) => {
  let world: GatewayWorld;
  const auth = bearer("ada", "t1");
  const own = "http://t1.tenants.test";

  beforeAll(async () => {
    world = await gatewayWorld(backend);
    await world.installFor("t1");
  });
  afterAll(() => world.close());

  const post = (headers: Record<string, string>, gateway = world.gateway) =>
    gateway.handle(req("POST", "/api/ext/acme.gw/echo", { headers: { ...auth, "content-type": "application/json", ...headers }, body: '{"a":1}' }));

  it("refuses a state-changing api request from another origin, with a valid session, before the handler runs", async () => {
    for (const method of ["POST", "DELETE"] as const) {
      const path = method === "POST" ? "/api/ext/acme.gw/echo" : "/api/ext/acme.gw/items/7";
      const response = await world.gateway.handle(req(method, path, { headers: { ...auth, origin: "https://evil.test" }, ...(method === "POST" ? { body: "{}" } : {}) }));
      expect(response.status, method).toBe(403);
      expect((await problemOf(response)).code).toBe("E_CROSS_SITE");
    }
    await world.gateway.drain();
    const [line] = await world.host.audit.list({ action: "gateway.request", order: "desc", limit: 1 });
    expect(line).toMatchObject({ decision: "deny", actor: "user:ada", details: { code: "E_CROSS_SITE", reason: expect.stringContaining("https://evil.test") } });
  });

  it("says in the answer what it saw and what to do: the caller's Origin (bounded), the host's own origin, and where origins are set", async () => {
    const refused = await problemOf(await post({ origin: "https://app.example.com" }));
    expect(refused.code).toBe("E_CROSS_SITE");
    expect(refused.detail).toBe(
      'this request comes from another site than the host\'s: its Origin is "https://app.example.com", and the host\'s origin for this request is http://t1.tenants.test. ' +
        "State-changing requests must come from the host's own pages. If that origin is one of them (the public origin behind a proxy, whose X-Forwarded-* headers " +
        'and Express\'s "trust proxy" this check does not read, or a tenant\'s custom domain), list it in createHost({ gateway: { origins } })',
    );
    const long = await problemOf(await post({ origin: `https://${"a".repeat(5000)}.test` }));
    expect(long.detail).toContain(`"https://${"a".repeat(192)}"`);
    expect(String(long.detail).length).toBeLessThan(700);
    const opaque = await problemOf(await post({ origin: "null" }));
    expect(opaque.detail).toContain('its Origin is "null" (a sandboxed frame or a privacy context), which is never trusted');
    expect(opaque.detail).toContain("through the bridge (api.fetch)");
    const noOrigin = await problemOf(await post({ "sec-fetch-site": "cross-site" }));
    expect(noOrigin.detail).toContain('it has no Origin header and Sec-Fetch-Site: "cross-site"');
  });

  it("refuses the opaque origin of sandboxed frames and privacy contexts", async () => {
    expect((await post({ origin: "null" })).status).toBe(403);
  });

  it("lets the host's own origin through, and safe methods from anywhere", async () => {
    expect((await post({ origin: own })).status).toBe(200);
    const get = await world.gateway.handle(req("GET", "/api/ext/acme.gw/hello/ada", { headers: { ...auth, origin: "https://evil.test" } }));
    expect(get.status).toBe(200);
  });

  it("judges requests without Origin by Sec-Fetch-Site, and lets non-browser clients through", async () => {
    expect((await post({ "sec-fetch-site": "cross-site" })).status).toBe(403);
    expect((await post({ "sec-fetch-site": "same-site" })).status).toBe(403);
    expect((await post({ "sec-fetch-site": "same-origin" })).status).toBe(200);
    // A server-to-server client with a token sends neither: forgery needs a browser.
    expect((await post({})).status).toBe(200);
  });

  it("trusts the origins the app configures, as a list or per request", async () => {
    const listed = world.gatewayWith({ origins: ["https://app.example.com"] });
    expect((await post({ origin: "https://app.example.com" }, listed)).status).toBe(200);
    expect((await post({ origin: "https://app.example.com.evil.test" }, listed)).status).toBe(403);
    expect((await post({ origin: own }, listed)).status).toBe(200);

    const seen: string[] = [];
    const decided = world.gatewayWith({
      origins: (origin) => {
        seen.push(origin);
        return origin.endsWith(".custom.example");
      },
    });
    expect((await post({ origin: "https://acme.custom.example" }, decided)).status).toBe(200);
    expect((await post({ origin: "https://evil.test" }, decided)).status).toBe(403);
    // The opaque origin never reaches the app's function.
    expect((await post({ origin: "null" }, decided)).status).toBe(403);
    expect(seen).toEqual(["https://acme.custom.example", "https://evil.test"]);
  });

  it("refuses origins that are not origins, and answers 500 when the app's function throws", async () => {
    for (const origins of [["https://app.example.com/"], ["app.example.com"], ["https://app.example.com/path"], "https://app.example.com"]) {
      await expect(world.hostWith({ origins: origins as never }), JSON.stringify(origins)).rejects.toMatchObject({ code: "E_GATEWAY_OPTIONS", details: { field: expect.stringMatching(/^gateway\.origins/) } });
    }
    const throwing = world.gatewayWith({
      origins: () => {
        throw new Error("tenant directory down");
      },
    });
    const response = await post({ origin: "https://acme.custom.example" }, throwing);
    expect(response.status).toBe(500);
  });
});
