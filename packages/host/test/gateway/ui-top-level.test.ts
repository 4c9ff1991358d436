/**
 * UI files are served to the extension's frame, never as top-level pages of the host's origin. Any
 * publisher's HTML (of any published bundle, installed or not) opened from a link would otherwise be a page
 * at the product's own URL with its scripts running: a sign-in look-alike under the host's address. A
 * top-level navigation says `Sec-Fetch-Dest: document`; frames say `iframe`; clients without Fetch Metadata
 * are served as before.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeBackends } from "../support/backends.js";
import { gatewayWorld, problemOf, req, type GatewayWorld } from "./support.js";

describeBackends("gateway: UI files are not top-level pages", (backend) => {
  let world: GatewayWorld;
  const file = (name: string) => `/ext-ui/acme.gw/${world.published.contentHash}/${name}`;

  beforeAll(async () => {
    world = await gatewayWorld(backend);
  });
  afterAll(() => world.close());

  it("refuses a top-level navigation to a UI file with 403 E_FORBIDDEN, whatever the site, audited", async () => {
    for (const name of ["ui/index.html", "ui/app.js", "ui/img/logo.svg"]) {
      for (const site of ["none", "same-origin", "cross-site"]) {
        const response = await world.gateway.handle(req("GET", file(name), { headers: { "sec-fetch-dest": "document", "sec-fetch-mode": "navigate", "sec-fetch-site": site } }));
        expect([name, site, response.status]).toEqual([name, site, 403]);
        expect(response.headers.get("content-type")).not.toContain("text/html");
        expect((await problemOf(response)).code).toBe("E_FORBIDDEN");
      }
    }
    await world.gateway.drain();
    const [line] = await world.host.audit.list({ action: "gateway.asset", order: "desc", limit: 1 });
    expect(line).toMatchObject({ decision: "deny", target: "acme.gw", details: { code: "E_FORBIDDEN", reason: "top-level navigation (Sec-Fetch-Dest: document)" } });
  });

  it("serves frames, fetches and clients that send no Fetch Metadata", async () => {
    for (const meta of <Array<Record<string, string>>>[{ "sec-fetch-dest": "iframe", "sec-fetch-mode": "navigate", "sec-fetch-site": "same-origin" }, { "sec-fetch-dest": "frame", "sec-fetch-site": "same-origin" }, { "sec-fetch-dest": "empty", "sec-fetch-site": "cross-site" }, {}]) {
      const response = await world.gateway.handle(req("GET", file("ui/index.html"), { headers: meta }));
      expect([meta, response.status]).toEqual([meta, 200]);
      expect(response.headers.get("content-type")).toContain("text/html");
    }
  });

  it("has UI files vary on Sec-Fetch-Dest even when the host lets its pages load extension scripts: a framed file is never a cached top-level page", async () => {
    const open = world.gatewayWith({ policy: { hostPageScripts: true } });
    const framed = await open.handle(req("GET", file("ui/index.html"), { headers: { "sec-fetch-dest": "iframe" } }));
    expect(framed.status).toBe(200);
    expect(framed.headers.get("vary")).toContain("Sec-Fetch-Dest");
    expect((await open.handle(req("GET", file("ui/index.html"), { headers: { "sec-fetch-dest": "document" } }))).status).toBe(403);
  });
});
