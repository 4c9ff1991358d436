import { afterAll, beforeAll, expect, it } from "vitest";
import { describeBackends } from "../support/backends.js";
import { bearer, gatewayWorld, problemOf, req, type GatewayWorld } from "./support.js";

describeBackends("gateway routing", (backend) => {
  let world: GatewayWorld;
  const auth = bearer("ada", "t1");

  beforeAll(async () => {
    world = await gatewayWorld(backend);
    await world.installFor("t1");
  });
  afterAll(() => world.close());

  it("runs the handler of a matching api endpoint with decoded path params", async () => {
    const response = await world.gateway.handle(req("GET", "/api/ext/acme.gw/hello/Ada%20Lovelace", { headers: auth }));
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(await response.json()).toEqual({ hello: "Ada Lovelace" });
  });

  it("prefers a literal segment over a parameter, whatever the manifest order", async () => {
    const literal = await world.gateway.handle(req("GET", "/api/ext/acme.gw/items/new", { headers: auth }));
    expect(await literal.json()).toEqual({ which: "new" });
    const param = await world.gateway.handle(req("GET", "/api/ext/acme.gw/items/42", { headers: auth }));
    expect(await param.json()).toEqual({ which: "item", id: "42", method: "GET" });
  });

  it("matches literal segments case-insensitively and ignores one trailing slash, like the manifest's collision rule", async () => {
    const response = await world.gateway.handle(req("GET", "/api/ext/acme.gw/HELLO/x/", { headers: auth }));
    expect(await response.json()).toEqual({ hello: "x" });
  });

  it("answers HEAD from the GET handler, with headers and no body", async () => {
    const get = await world.gateway.handle(req("GET", "/api/ext/acme.gw/hello/head", { headers: auth }));
    const head = await world.gateway.handle(req("HEAD", "/api/ext/acme.gw/hello/head", { headers: auth }));
    expect(head.status).toBe(200);
    expect(head.headers.get("content-type")).toBe("application/json");
    expect(head.headers.get("content-length")).toBe(String((await get.arrayBuffer()).byteLength));
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  });

  it("passes the query (a repeated name as an array) and the path inside the extension", async () => {
    const response = await world.gateway.handle(req("GET", "/api/ext/acme.gw/echo?x=1&x=2&y=%C3%A9", { headers: auth }));
    const body = (await response.json()) as { method: string; query: unknown; path: string };
    expect(body.method).toBe("GET");
    expect(body.query).toEqual({ x: ["1", "2"], y: "é" });
    expect(body.path).toBe("/echo");
  });

  it("answers 404 problem+json for a path no endpoint has", async () => {
    const response = await world.gateway.handle(req("GET", "/api/ext/acme.gw/nowhere", { headers: auth }));
    expect(response.status).toBe(404);
    const problem = await problemOf(response);
    expect(problem.code).toBe("E_NOT_FOUND");
    expect(problem.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("answers 405 with Allow for a path served under other methods only (HEAD listed with GET)", async () => {
    const response = await world.gateway.handle(req("PUT", "/api/ext/acme.gw/items/7", { headers: auth }));
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("DELETE, GET, HEAD");
    expect((await problemOf(response)).code).toBe("E_METHOD_NOT_ALLOWED");
  });

  it("routes DELETE to its own endpoint", async () => {
    const response = await world.gateway.handle(req("DELETE", "/api/ext/acme.gw/items/9", { headers: auth }));
    expect(await response.json()).toEqual({ which: "item", id: "9", method: "DELETE" });
  });

  it("refuses a parameter that is not valid percent-encoding with 400", async () => {
    const response = await world.gateway.handle(req("GET", "/api/ext/acme.gw/hello/%E0%A4%A", { headers: auth }));
    expect(response.status).toBe(400);
    expect((await problemOf(response)).code).toBe("E_BAD_REQUEST");
  });

  it("refuses a segment that is . or .. once a ;… path parameter is stripped, as a proxy in front would read it", async () => {
    // The URL parser leaves these alone; Tomcat- and Spring-style proxies strip ";…" and then resolve the dots.
    for (const path of ["hello/..;", "hello/..;x=1", "hello/%2e%2e;", "hello/%2E.;jsessionid=1", "hello/.;jsessionid=x", "..;/hello/x", "hello/..%3b", "items/..;/7"]) {
      const response = await world.gateway.handle(req("GET", `/api/ext/acme.gw/${path}`, { headers: auth }));
      expect(response.status, path).toBe(404);
      expect((await problemOf(response)).code, path).toBe("E_NOT_FOUND");
    }
    const [line] = await world.host.audit.list({ action: "gateway.request", decision: "deny", order: "desc", limit: 1 });
    expect(line?.details).toMatchObject({ reason: "dot segment" });
    // A semicolon elsewhere is just a character of the parameter.
    const semicolon = await world.gateway.handle(req("GET", "/api/ext/acme.gw/hello/a;b", { headers: auth }));
    expect(await semicolon.json()).toEqual({ hello: "a;b" });
    const dots = await world.gateway.handle(req("GET", "/api/ext/acme.gw/hello/...;", { headers: auth }));
    expect(await dots.json()).toEqual({ hello: "...;" });
  });

  it("never routes to endpoints of another class: api paths under the public family are 404", async () => {
    const response = await world.gateway.handle(req("GET", "/ext/acme.gw/public/hello/x"));
    expect(response.status).toBe(404);
  });

  it("never routes health endpoints from outside", async () => {
    for (const path of ["/api/ext/acme.gw/health", "/ext/acme.gw/public/health", "/ext/acme.gw/hooks/health"]) {
      const response = await world.gateway.handle(req("GET", path, { headers: auth }));
      expect(response.status, path).toBe(404);
    }
  });

  it("answers 404 for malformed extension ids and unknown families, and for extensions not installed", async () => {
    for (const path of ["/api/ext/ACME.gw/hello/x", "/api/ext/acme/hello/x", "/ext/acme.gw/secret/x", "/ext-ui/acme.gw", "/api/ext/acme.other/hello/x"]) {
      const response = await world.gateway.handle(req("GET", path, { headers: auth }));
      expect(response.status, path).toBe(404);
      expect((await problemOf(response)).code).toBe("E_NOT_FOUND");
    }
  });

  it("says which paths it owns, so adapters can pass the rest on", () => {
    expect(world.gateway.owns("/api/ext/acme.gw/hello/x")).toBe(true);
    expect(world.gateway.owns("/ext/acme.gw/hooks/events")).toBe(true);
    expect(world.gateway.owns("/ext-ui/acme.gw/sha256:00/ui/index.html")).toBe(true);
    expect(world.gateway.owns("/api/other")).toBe(false);
    expect(world.gateway.owns("/extension")).toBe(false);
  });

  it("serves the families under configured prefixes, and nothing under the default ones then", async () => {
    const gateway = world.gatewayWith({ prefixes: { api: "/annex/api", ext: "/annex/x", ui: "/annex/ui" } });
    const moved = await gateway.handle(req("GET", "/annex/api/acme.gw/hello/moved", { headers: auth }));
    expect(await moved.json()).toEqual({ hello: "moved" });
    expect(gateway.owns("/api/ext/acme.gw/hello/x")).toBe(false);
    const pub = await gateway.handle(req("GET", "/annex/x/acme.gw/public/ping"));
    expect(await pub.json()).toEqual({ pong: true });
  });

  it("answers a public request no tenant was resolved for with a 404 that says so, not as a missing endpoint", async () => {
    const response = await world.gateway.handle(new Request("http://unknown-host.test/ext/acme.gw/public/ping"));
    expect(response.status).toBe(404);
    const problem = await problemOf(response);
    expect(problem).toMatchObject({ code: "E_NOT_FOUND" });
    expect(String(problem["detail"])).toMatch(/no tenant was resolved for this request \(the host's resolveTenant/);
  });

  it("refuses prefixes that nest or are not absolute paths", async () => {
    await expect(world.hostWith({ prefixes: { api: "/x", ext: "/x/y" } })).rejects.toMatchObject({ code: "E_GATEWAY_OPTIONS" });
    await expect(world.hostWith({ prefixes: { api: "api/ext" } })).rejects.toMatchObject({ code: "E_GATEWAY_OPTIONS" });
    await expect(world.hostWith({ prefixes: { ui: "/ext-ui/" } })).rejects.toMatchObject({ code: "E_GATEWAY_OPTIONS" });
  });

  it("audits every decision: allowed requests before they run, refusals with their reason", async () => {
    await world.gateway.handle(req("GET", "/api/ext/acme.gw/hello/audited", { headers: auth }));
    await world.gateway.handle(req("GET", "/api/ext/acme.gw/missing", { headers: auth }));
    const lines = await world.host.audit.list({ action: "gateway.", order: "desc", limit: 2 });
    expect(lines.map((line) => line.decision)).toEqual(["deny", "allow"]);
    expect(lines[0]).toMatchObject({ actor: "user:ada", tenant: "t1", target: "acme.gw", details: { status: 404, code: "E_NOT_FOUND", reason: "no endpoint matches the path" } });
    expect(lines[1]).toMatchObject({ actor: "user:ada", tenant: "t1", details: { route: "/hello/:name", handler: "hello", family: "api" } });
    // The path itself may carry personal data: the route pattern is recorded, not the values.
    expect(JSON.stringify(lines[1]!.details)).not.toContain("audited");
  });
});
