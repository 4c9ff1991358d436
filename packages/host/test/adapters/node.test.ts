import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createNodeHandler } from "../../src/adapters/node.js";
import { signWebhook } from "../../src/gateway/webhook-signature.js";
import { describeBackends } from "../support/backends.js";
import { bearer, gatewayWorld, UI_FILES, type GatewayWorld } from "../gateway/support.js";
import { close, listen, rawRequest } from "./servers.js";

describeBackends("node:http adapter", (backend) => {
  let world: GatewayWorld;
  let server: Server;
  let base: string;
  let secret: string;

  beforeAll(async () => {
    world = await gatewayWorld(backend, { resolveTenant: "t1", policy: { maxBodyBytes: 1024 } });
    const install = await world.installFor("t1");
    secret = world.webhookSecrets.set(install.id);
    server = createServer(
      createNodeHandler(world.gateway, {
        next: (_req, res) => {
          res.writeHead(200, { "content-type": "text/plain" });
          res.end("the app's own route");
        },
      }),
    );
    base = await listen(server);
  });
  afterAll(async () => {
    await close(server);
    await world.close();
  });

  it("serves an api endpoint over HTTP", async () => {
    const response = await fetch(`${base}/api/ext/acme.gw/hello/node`, { headers: bearer("ada", "t1") });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ hello: "node" });
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("passes paths outside the gateway's families to next", async () => {
    const response = await fetch(`${base}/dashboard`);
    expect(await response.text()).toBe("the app's own route");
  });

  it("streams a request body into the gateway and keeps it byte for byte for a signed webhook", async () => {
    const body = JSON.stringify({ event: "paid", amount: 12.5 });
    const response = await fetch(`${base}/ext/acme.gw/hooks/events`, {
      method: "POST",
      headers: { "content-type": "application/json", ...signWebhook(secret, body).headers },
      body,
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { body: unknown }).body).toEqual({ event: "paid", amount: 12.5 });
  });

  it("refuses a body over the limit with 413", async () => {
    const response = await rawRequest(base, "POST", "/api/ext/acme.gw/echo", { ...bearer("ada", "t1"), "content-type": "text/plain" }, "x".repeat(5000));
    expect(response.status).toBe(413);
    expect(response.headers["content-type"]).toBe("application/problem+json");
    // The unread rest of the upload must not be parsed as the next request on this connection.
    expect(response.headers["connection"]).toBe("close");
  });

  it("answers HEAD with headers only", async () => {
    const response = await rawRequest(base, "HEAD", `/ext-ui/acme.gw/${world.published.contentHash}/ui/app.js`);
    expect(response.status).toBe(200);
    expect(response.headers["content-length"]).toBe(String(UI_FILES["ui/app.js"]!.length));
    expect(response.body.byteLength).toBe(0);
  });

  it("answers HEAD of an endpoint with the headers of its GET answer and no body", async () => {
    const get = await rawRequest(base, "GET", "/api/ext/acme.gw/hello/node", bearer("ada", "t1"));
    const head = await rawRequest(base, "HEAD", "/api/ext/acme.gw/hello/node", bearer("ada", "t1"));
    expect(head.status).toBe(200);
    expect(head.headers["content-length"]).toBe(String(get.body.byteLength));
    expect(head.headers["content-type"]).toBe(get.headers["content-type"]);
    expect(head.headers["x-content-type-options"]).toBe("nosniff");
    expect(head.body.byteLength).toBe(0);
  });

  it("serves a gateway whose handle was replaced through that handle, never around it", async () => {
    const seen: string[] = [];
    // A wrapper spreading the gateway copies its internal entry point too; the adapter must still call the wrapper.
    const wrapped = {
      ...world.gateway,
      handle: async (request: Request, info?: { clientAddress?: string }) => {
        seen.push(new URL(request.url).pathname);
        const response = await world.gateway.handle(request, info);
        return new Response(response.body, { status: response.status, headers: { ...Object.fromEntries(response.headers), "x-wrapped": "yes" } });
      },
    };
    const wrapper = createServer(createNodeHandler(wrapped));
    const wrapperBase = await listen(wrapper);
    try {
      const response = await fetch(`${wrapperBase}/api/ext/acme.gw/hello/wrapped`, { headers: bearer("ada", "t1") });
      expect(response.status).toBe(200);
      expect(response.headers.get("x-wrapped")).toBe("yes");
      expect(await response.json()).toEqual({ hello: "wrapped" });
      expect(seen).toEqual(["/api/ext/acme.gw/hello/wrapped"]);
    } finally {
      await close(wrapper);
    }
  });

  it("serves assets and refuses raw traversal spellings sent on the wire", async () => {
    const hash = world.published.contentHash;
    const ok = await rawRequest(base, "GET", `/ext-ui/acme.gw/${hash}/ui/style.css`);
    expect(ok.body.toString()).toBe(UI_FILES["ui/style.css"]);
    for (const path of ["ui/../annex.json", "ui/%2e%2e/annex.json", "ui/..%2fannex.json", "ui/..\\annex.json", "ui/%00x", "ui//app.js"]) {
      const response = await rawRequest(base, "GET", `/ext-ui/acme.gw/${hash}/${path}`);
      // Never a bundle file: a path URL parsing would change (dot segments, encoded dots, backslashes) is 400, the rest 404.
      expect(response.body.toString(), path).not.toContain("manifestVersion");
      expect([path, response.status]).toEqual([path, /\.\.(\/|\\)|%2e%2e/.test(path) ? 400 : 404]);
    }
  });

  it("does not build the request URL from an invalid Host header", async () => {
    const response = await rawRequest(base, "GET", "/api/ext/acme.gw/hello/x", { ...bearer("ada", "t1"), host: "evil.example/../x@y" });
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body.toString())).toEqual({ hello: "x" });
  });

  it("limits anonymous endpoints per client address (the socket's)", async () => {
    const first = await fetch(`${base}/ext/acme.gw/public/counted`);
    const second = await fetch(`${base}/ext/acme.gw/public/counted`);
    expect([first.status, second.status]).toEqual([200, 429]);
    expect(second.headers.get("retry-after")).toBe("10");
  });
});
