import type { Server } from "node:http";
import express from "express";
import { afterAll, beforeAll, expect, it } from "vitest";
import { annexRouter, incomingMessageOf } from "../../src/adapters/express.js";
import { signWebhook } from "../../src/gateway/webhook-signature.js";
import { describeBackends } from "../support/backends.js";
import { bearer, gatewayWorld, UI_FILES, type GatewayWorld } from "../gateway/support.js";
import { close, rawRequest } from "./servers.js";

describeBackends("express adapter", (backend) => {
  let world: GatewayWorld;
  let servers: Server[] = [];
  let secret: string;

  async function serve(app: express.Express): Promise<string> {
    const server = app.listen(0, "127.0.0.1");
    servers.push(server);
    await new Promise((resolve) => server.once("listening", resolve));
    const address = server.address();
    return `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`;
  }

  beforeAll(async () => {
    world = await gatewayWorld(backend, { resolveTenant: "t1" });
    const install = await world.installFor("t1");
    secret = world.webhookSecrets.set(install.id);
  });
  afterAll(async () => {
    for (const server of servers) await close(server);
    servers = [];
    await world.close();
  });

  function app(): express.Express {
    const created = express();
    created.use(annexRouter(world.gateway));
    created.use(express.json());
    created.get("/app/status", (_req, res) => void res.json({ app: "ok" }));
    created.post("/app/echo", (req, res) => void res.json(req.body));
    return created;
  }

  it("hands authenticate the Express request its middleware prepared (a session's user), through incomingMessageOf", async () => {
    // What express-session or passport would leave on req: here a middleware reading a made-up session cookie.
    const gateway = world.gatewayWith({
      authenticate: (request) => {
        const req = incomingMessageOf(request) as (express.Request & { user?: { id: string; tenant: string } }) | undefined;
        return req?.user === undefined ? null : { tenant: req.user.tenant, user: { id: req.user.id }, roles: [] };
      },
    });
    const created = express();
    created.use((req, _res, next) => {
      const cookie = req.headers.cookie ?? "";
      if (cookie.includes("session=ada")) (req as express.Request & { user?: unknown }).user = { id: "ada", tenant: "t1" };
      next();
    });
    created.use(annexRouter(gateway));
    const base = await serve(created);
    const signedIn = await fetch(`${base}/api/ext/acme.gw/echo`, { headers: { cookie: "session=ada" } });
    expect(signedIn.status).toBe(200);
    expect(((await signedIn.json()) as { principal: unknown }).principal).toMatchObject({ tenant: "t1" });
    const anonymous = await fetch(`${base}/api/ext/acme.gw/echo`);
    expect(anonymous.status).toBe(401);
    // A Request made elsewhere has none.
    expect(incomingMessageOf(new Request("http://app.example.com/api/ext/acme.gw/echo"))).toBeUndefined();
  });

  it("mounts the families and leaves the app's own routes (and their body parsers) alone", async () => {
    const base = await serve(app());
    const api = await fetch(`${base}/api/ext/acme.gw/hello/express`, { headers: bearer("ada", "t1") });
    expect(await api.json()).toEqual({ hello: "express" });
    expect(await (await fetch(`${base}/app/status`)).json()).toEqual({ app: "ok" });
    const echoed = await fetch(`${base}/app/echo`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"x":1}' });
    expect(await echoed.json()).toEqual({ x: 1 });
  });

  it("keeps the raw body of a webhook byte for byte (HMAC checked by the core)", async () => {
    const base = await serve(app());
    const body = '{ "spaced" :  true }';
    const response = await fetch(`${base}/ext/acme.gw/hooks/events`, { method: "POST", headers: { "content-type": "application/json", ...signWebhook(secret, body).headers }, body });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { body: unknown }).body).toEqual({ spaced: true });
  });

  it("streams asset bytes back with the gateway's headers", async () => {
    const base = await serve(app());
    const response = await fetch(`${base}/ext-ui/acme.gw/${world.published.contentHash}/ui/index.html`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(UI_FILES["ui/index.html"]);
    expect(response.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(response.headers.get("x-powered-by")).toBe("Express");
  });

  it("never sets cookies or CORS headers an extension asked for", async () => {
    const base = await serve(app());
    const response = await rawRequest(base, "GET", "/api/ext/acme.gw/leak", bearer("ada", "t1"));
    expect(response.status).toBe(201);
    expect(response.headers["set-cookie"]).toBeUndefined();
    expect(response.headers["access-control-allow-origin"]).toBeUndefined();
  });

  it("refuses clearly when a body parser ran before it, instead of passing a rewritten body", async () => {
    const wrong = express();
    wrong.use(express.json());
    wrong.use(annexRouter(world.gateway));
    const base = await serve(wrong);
    const body = '{"a":1}';
    const response = await fetch(`${base}/ext/acme.gw/hooks/events`, { method: "POST", headers: { "content-type": "application/json", ...signWebhook(secret, body).headers }, body });
    expect(response.status).toBe(500);
    expect(((await response.json()) as { detail: string }).detail).toContain("mount annexRouter before express.json()");
  });

  it("says so when mounted under a path, where its full-path prefixes never match, instead of passing the gateway's requests to the app", async () => {
    const mounted = express();
    mounted.use("/annex", annexRouter(world.gateway));
    mounted.get("/annex/app/status", (_req, res) => void res.json({ app: "ok" }));
    mounted.use((_req, res) => void res.status(418).end());
    const base = await serve(mounted);
    const response = await fetch(`${base}/annex/api/ext/acme.gw/hello/express`, { headers: bearer("ada", "t1") });
    expect(response.status).toBe(500);
    expect(((await response.json()) as { detail: string }).detail).toContain("annexRouter is mounted under /annex");
    // The app's own paths below the mount point go on to the app.
    expect(await (await fetch(`${base}/annex/app/status`)).json()).toEqual({ app: "ok" });
  });

  it("uses the bytes express.raw() buffered", async () => {
    const raw = express();
    raw.use(express.raw({ type: "*/*" }));
    raw.use(annexRouter(world.gateway));
    const base = await serve(raw);
    const body = '{"raw":true}';
    const response = await fetch(`${base}/ext/acme.gw/hooks/events`, { method: "POST", headers: { "content-type": "application/json", ...signWebhook(secret, body).headers }, body });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { body: unknown }).body).toEqual({ raw: true });
  });

  it("rate-limits anonymous endpoints per client (req.ip)", async () => {
    const base = await serve(app());
    const first = await fetch(`${base}/ext/acme.gw/public/counted`);
    const second = await fetch(`${base}/ext/acme.gw/public/counted`);
    expect([first.status, second.status]).toEqual([200, 429]);
  });

  it("refuses a path URL parsing would change, so an app guard in front sees the path the gateway routes", async () => {
    const guarded = express();
    // What an app mounts before annexRouter: an admin-only rule on one extension's API.
    guarded.use("/api/ext/acme.gw", (_req, res) => void res.status(403).json({ blocked: "by the app" }));
    guarded.use(annexRouter(world.gateway));
    const base = await serve(guarded);
    expect((await rawRequest(base, "GET", "/api/ext/acme.gw/hello/x", bearer("ada", "t1"))).status).toBe(403);
    for (const target of [
      "/api/ext/acme.other/../acme.gw/hello/x",
      "/api/ext/acme.other/%2e%2e/acme.gw/hello/x",
      "/api/ext/acme.other/.%2E/acme.gw/hello/x",
      "/api/ext/acme.other\\..\\acme.gw\\hello\\x",
      "/api/ext/./acme.gw/hello/x",
      "/ext/acme.other/public/../../../api/ext/acme.gw/hello/x",
    ]) {
      const response = await rawRequest(base, "GET", target, bearer("ada", "t1"));
      expect([target, response.status]).toEqual([target, 400]);
      expect(response.body.toString()).not.toContain('"hello"');
    }
  });

  it("refuses something that is not a gateway", () => {
    expect(() => annexRouter({} as never)).toThrow(expect.objectContaining({ code: "E_GATEWAY_OPTIONS" }));
  });
});
