import { createHmac } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { annexRouter } from "../../src/adapters/express.js";
import { describeBackends } from "../support/backends.js";
import { bearer } from "./support.js";
import { rawRequest as raw } from "../adapters/servers.js";
import { wireWorld, type WireWorld } from "./support-wire.js";
import { createWorkerPoolRunner } from "@annex/runner";

/**
 * What an extension's answer may do to the host's users, through both
 * adapters over real HTTP: what it redirects, what another site can load of
 * it, what a CDN may keep of it, and the exact bytes a webhook handler gets.
 */
describeBackends("answers over the wire", (backend) => {
  let wire: WireWorld;
  beforeAll(async () => {
    wire = await wireWorld(backend, { policy: { responseHeaders: ["cdn-cache-control", "surrogate-control", "x-accel-expires"] } });
  });
  afterAll(() => wire.close());

  describe("a redirect that resends the host SPA's request", () => {
    let server: Server;
    let base: string;
    const received: Array<{ method: string; csrf: unknown; authorization: unknown; body: unknown }> = [];

    beforeAll(async () => {
      const app = express();
      app.use(annexRouter(wire.world.gateway));
      app.use(express.json());
      // The host app's own route, protected by the SPA's CSRF header and session.
      app.post("/app/account/transfer", (req, res) => {
        received.push({ method: req.method, csrf: req.headers["x-csrf-token"], authorization: req.headers.authorization, body: req.body });
        res.json({ transferred: true });
      });
      server = createServer(app);
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });

    it.each([307, 308])("never takes the SPA's POST, session and CSRF header to a host route (%i)", async (status) => {
      // The SPA calls the extension's endpoint as it calls any api: session, CSRF header, fetch's default redirect mode.
      const response = await fetch(`${base}/api/ext/acme.wire/respond`, {
        method: "POST",
        headers: { ...bearer("ada", "t1"), "x-csrf-token": "spa-token", "content-type": "application/json" },
        body: JSON.stringify({ status, headers: { location: "/app/account/transfer" }, body: { amount: 1000 } }),
      });
      expect(response.status).toBe(status);
      expect(response.headers.get("location")).toBeNull();
      await response.arrayBuffer();
      expect(received).toEqual([]);
    });

    it("still sends one inside the extension's own paths", async () => {
      const response = await fetch(`${base}/api/ext/acme.wire/respond`, {
        method: "POST",
        redirect: "manual",
        headers: { ...bearer("ada", "t1"), "content-type": "application/json" },
        body: JSON.stringify({ status: 307, headers: { location: "/api/ext/acme.wire/respond?step=2" }, body: null }),
      });
      expect(response.status).toBe(307);
      expect(response.headers.get("location")).toBe("/api/ext/acme.wire/respond?step=2");
    });
  });

  it.each(["script", "style"])("lets no other site read a signed-in user's answer through a <%s> load", async (destination) => {
    const answer = { headers: { "content-type": destination === "script" ? "text/javascript" : "text/css" }, body: "leak({ user: 'ada', balance: 1234 })" };
    for (const base of [wire.nodeBase, wire.expressBase]) {
      const response = await raw(base, "GET", `/api/ext/acme.wire/respond?r=${encodeURIComponent(JSON.stringify(answer))}`, {
        ...bearer("ada", "t1"), // stands for the SameSite=None session cookie the browser attaches
        "sec-fetch-dest": destination,
        "sec-fetch-mode": "no-cors",
        "sec-fetch-site": "cross-site",
      });
      expect({ base, corp: response.headers["cross-origin-resource-policy"] }).toEqual({ base, corp: "same-origin" });
    }
    // A public answer is anonymous and may be embedded anywhere: the extension's CORS, not CORP, governs it.
    const open = await raw(wire.nodeBase, "GET", `/ext/acme.wire/public/respond?r=${encodeURIComponent(JSON.stringify(answer))}`);
    expect(open.status).toBe(200);
    expect(open.headers["cross-origin-resource-policy"]).toBeUndefined();
  });

  it("sends text and JSON bodies as UTF-8 with the length of their bytes, through both adapters, HEAD included", async () => {
    const text = "héllo ✓ 😀 \u2028 end";
    const json = { name: "Zoë", flag: "🇫🇷", note: "«ünïcode»" };
    for (const base of [wire.nodeBase, wire.expressBase]) {
      const asText = await raw(base, "POST", "/api/ext/acme.wire/respond", { ...bearer("ada", "t1"), "content-type": "application/json" }, JSON.stringify({ body: text }));
      expect({ base, length: asText.headers["content-length"], body: asText.body.toString("utf8") }).toEqual({ base, length: String(Buffer.byteLength(text)), body: text });
      const asJson = await raw(base, "POST", "/api/ext/acme.wire/respond", { ...bearer("ada", "t1"), "content-type": "application/json" }, JSON.stringify({ body: json }));
      expect(asJson.headers["content-length"]).toBe(String(asJson.body.byteLength));
      expect(JSON.parse(asJson.body.toString("utf8"))).toEqual(json);
      // A refusal's problem document names the path it was asked for, non-ASCII included.
      const refused = await raw(base, "GET", `/api/ext/acme.wire/${encodeURIComponent("nöwhere-✓")}`, bearer("ada", "t1"));
      expect(refused.status).toBe(404);
      expect(refused.headers["content-length"]).toBe(String(refused.body.byteLength));
      expect(JSON.parse(refused.body.toString("utf8"))).toMatchObject({ code: "E_NOT_FOUND" });
      const head = await raw(base, "HEAD", `/api/ext/acme.wire/respond?r=${encodeURIComponent(JSON.stringify({ body: text }))}`, bearer("ada", "t1"));
      expect({ status: head.status, length: head.headers["content-length"], bytes: head.body.byteLength }).toEqual({ status: 200, length: String(Buffer.byteLength(text)), bytes: 0 });
    }
  });

  it("drops the cache headers a CDN reads before Cache-Control from api answers, and lets public ones set them", async () => {
    const headers = { "cdn-cache-control": "public, max-age=600", "surrogate-control": "max-age=600", "x-accel-expires": "600" };
    const api = await raw(wire.nodeBase, "POST", "/api/ext/acme.wire/respond", { ...bearer("ada", "t1"), "content-type": "application/json" }, JSON.stringify({ headers, body: { user: "ada" } }));
    expect(api.status).toBe(200);
    expect(api.headers["cache-control"]).toBe("no-store");
    expect(Object.keys(headers).map((name) => api.headers[name] ?? null)).toEqual([null, null, null]);
    const open = await raw(wire.nodeBase, "POST", "/ext/acme.wire/public/respond", { "content-type": "application/json" }, JSON.stringify({ headers, body: { same: "for all" } }));
    expect(Object.keys(headers).map((name) => open.headers[name] ?? null)).toEqual(Object.values(headers));
  });

  it("hands an extension-verified webhook the raw body re-encoding to exactly the bytes sent, a byte order mark included", async () => {
    const sent = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('<?xml version="1.0"?><event id="evt_1"/>')]);
    const signature = createHmac("sha256", "whsec_test").update(sent).digest("hex");
    for (const base of [wire.nodeBase, wire.expressBase]) {
      const response = await raw(base, "POST", "/ext/acme.gw/hooks/stripe", { "content-type": "application/xml", "stripe-signature": signature }, sent);
      expect(response.status).toBe(200);
      const { raw: received } = JSON.parse(response.body.toString("utf8")) as { raw: unknown };
      expect(typeof received).toBe("string");
      expect({ base, hex: Buffer.from(received as string, "utf8").toString("hex") }).toEqual({ base, hex: sent.toString("hex") });
    }
  });

  describe("on the worker pool, where a JSON body is serialised in the worker", () => {
    let pooled: WireWorld;
    const pool = createWorkerPoolRunner({ workers: 1 });
    beforeAll(async () => {
      pooled = await wireWorld(backend, { runner: pool });
    });
    afterAll(async () => {
      await pooled.close();
      await pool.close();
    });

    it("answers the same bytes and length, non-ASCII and large bodies included, through both adapters", async () => {
      const large = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, i % 7 === 0 ? "ünï ✓" : i]));
      for (const body of [{ name: "Zoë", flag: "🇫🇷", note: "«ünïcode»", list: [1, null, true] }, large, [], ["a"]]) {
        for (const base of [pooled.nodeBase, pooled.expressBase]) {
          const answer = await raw(base, "POST", "/api/ext/acme.wire/respond", { ...bearer("ada", "t1"), "content-type": "application/json" }, JSON.stringify({ body }));
          expect(answer.status).toBe(200);
          expect(answer.headers["content-type"]).toBe("application/json");
          expect(answer.headers["content-length"]).toBe(String(answer.body.byteLength));
          expect(answer.body.toString("utf8")).toBe(JSON.stringify(body));
        }
      }
    });
  });
});
