import { afterAll, beforeAll, expect, it } from "vitest";
import { describeBackends } from "../support/backends.js";
import { bearer, gatewayWorld, problemOf, req, type GatewayWorld } from "./support.js";

describeBackends("gateway: the host's own pages do not load extension content as code", (backend) => {
  let world: GatewayWorld;
  const auth = bearer("ada", "t1");

  beforeAll(async () => {
    world = await gatewayWorld(backend);
    await world.installFor("t1");
  });
  afterAll(() => world.close());

  const paths = () => [
    { path: "/ext/acme.gw/public/ping", headers: {} },
    { path: "/api/ext/acme.gw/hello/ada", headers: auth },
    { path: `/ext-ui/acme.gw/${world.published.contentHash}/ui/app.js`, headers: {} },
    { path: `/ext-ui/acme.gw/${world.published.contentHash}/ui/style.css`, headers: {} },
  ];

  it("refuses a same-origin or same-site page loading an answer or a UI file as a script, stylesheet or worker, before anything runs", async () => {
    for (const { path, headers } of paths()) {
      for (const [dest, site] of [["script", "same-origin"], ["style", "same-origin"], ["serviceworker", "same-origin"], ["worker", "same-site"], ["script", "same-site"]] as const) {
        const response = await world.gateway.handle(req("GET", path, { headers: { ...headers, "sec-fetch-dest": dest, "sec-fetch-site": site } }));
        expect([path, dest, site, response.status]).toEqual([path, dest, site, 403]);
        const problem = await problemOf(response);
        expect(problem.code).toBe("E_HOST_PAGE_LOAD");
        expect(problem.detail ?? problem.title).toMatch(/frame the extension's UI instead/);
      }
    }
    await world.gateway.drain();
    const [line] = await world.host.audit.list({ action: "gateway.asset", order: "desc", limit: 1 });
    expect(line).toMatchObject({ decision: "deny", details: { code: "E_HOST_PAGE_LOAD", reason: "Sec-Fetch-Dest: script from a same-site page" } });
  });

  it("serves sandboxed frames (opaque origin: cross-site), other sites, documents (UI files aside: ui-top-level.test.ts), fetches and clients without Fetch Metadata", async () => {
    for (const { path, headers } of paths()) {
      for (const meta of <Array<Record<string, string>>>[
        { "sec-fetch-dest": "script", "sec-fetch-site": "cross-site" },
        { "sec-fetch-dest": "style", "sec-fetch-site": "cross-site" },
        { "sec-fetch-dest": "empty", "sec-fetch-site": "same-origin" },
        { "sec-fetch-dest": "iframe", "sec-fetch-site": "same-origin" },
        ...(path.startsWith("/ext-ui/") ? [] : [{ "sec-fetch-dest": "document", "sec-fetch-site": "none" }]),
        {},
      ]) {
        const response = await world.gateway.handle(req("GET", path, { headers: { ...headers, ...meta } }));
        expect([path, meta, response.status]).toEqual([path, meta, 200]);
      }
    }
  });

  it("has every answer vary on Fetch Metadata, so no cache hands an answer loaded as an image to a script tag", async () => {
    const asset = `/ext-ui/acme.gw/${world.published.contentHash}/ui/app.js`;
    const first = await world.gateway.handle(req("GET", asset));
    const etag = first.headers.get("etag")!;
    const revalidated = await world.gateway.handle(req("GET", asset, { headers: { "if-none-match": etag } }));
    expect(revalidated.status).toBe(304);
    const refused = await world.gateway.handle(req("GET", asset, { headers: { "sec-fetch-dest": "script", "sec-fetch-site": "same-origin" } }));
    for (const response of [first, revalidated, refused, ...(await Promise.all(paths().map(({ path, headers }) => world.gateway.handle(req("GET", path, { headers })))))]) {
      expect(response.headers.get("vary")).toMatch(/Sec-Fetch-Dest, Sec-Fetch-Site$/);
    }
  });

  it("lets a host that opts in (policy.hostPageScripts) load them", async () => {
    const open = world.gatewayWith({ policy: { hostPageScripts: true } });
    const response = await open.handle(req("GET", "/ext/acme.gw/public/ping", { headers: { "sec-fetch-dest": "script", "sec-fetch-site": "same-origin" } }));
    expect(response.status).toBe(200);
  });
});
