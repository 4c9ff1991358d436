/**
 * The host answers only its own names (DNS rebinding). `npm run demo` and `annex dev` run it on
 * http://127.0.0.1:3000 with seeded admins whose password is printed and the same everywhere; a web page
 * the developer opens can rebind its own name to 127.0.0.1 and talk to the host as a same-origin page:
 * every cross-site defence (SameSite, CSRF tokens, the gateway's Origin check) sees a same-origin request.
 * Only the Host header still names the other site: anything but the listen address, localhost, 127.0.0.1
 * and [::1] at the listening port, PUBLIC_ORIGIN's host and ALLOWED_HOSTS gets 421 before any route
 * (Annex's included) runs.
 */
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createReferenceHost, type ReferenceHost } from "../src/index.js";
import { backends } from "./support/backends.js";

/** One HTTP request with an explicit Host header (fetch does not let a caller set it). */
function send(base: string, method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path: url.pathname + url.search, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe.each(backends().slice(0, 1))("DNS rebinding on $name", (backend) => {
  let host: ReferenceHost;
  let port: string;
  const rebound = () => `rebind.attacker.example:${port}`;

  beforeAll(async () => {
    host = await createReferenceHost({ ...(await backend.options()), publicOrigin: "https://app.example.com", allowedHosts: ["intranet.example"] });
    port = new URL(host.url).port;
  }, 120_000);
  afterAll(async () => {
    await host?.close();
    await backend.cleanup();
  });

  it("still answers its own address", async () => {
    expect((await send(host.url, "GET", "/login", { host: `127.0.0.1:${port}` })).status).toBe(200);
  });

  it("answers its local names at its port, the public origin's host and the allowed hosts", async () => {
    for (const name of [`localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`, "app.example.com", `intranet.example:${port}`, "intranet.example:8443"]) {
      expect((await send(host.url, "GET", "/login", { host: name })).status, name).toBe(200);
    }
  });

  it("refuses a request whose Host is another site's name (a rebound DNS name) with 421, before any route", async () => {
    const page = await send(host.url, "GET", "/login", { host: rebound() });
    expect(page.status).toBe(421);
    expect(page.text).not.toContain('name="_csrf"');
    expect(page.headers["set-cookie"]).toBeUndefined();
    const annex = await send(host.url, "GET", "/ext/acme.hello/public/anything?tenant=acme", { host: rebound(), accept: "application/json" });
    expect(annex.status).toBe(421);
    expect(JSON.parse(annex.text)).toMatchObject({ code: "E_MISDIRECTED_REQUEST" });
  });

  it("refuses its local names at another port, the public host at another port, and a malformed Host", async () => {
    for (const name of [`localhost:${Number(port) + 1}`, "app.example.com:8080", "localhost", "127.0.0.1.attacker.example", "a b", "evil.example/x"]) {
      expect((await send(host.url, "GET", "/login", { host: name })).status, name).toBe(421);
    }
  });

  it("does not let a rebound page sign in as the demo admin and mint an API token", async () => {
    const page = await send(host.url, "GET", "/login", { host: rebound() });
    const cookie = ([] as string[]).concat(page.headers["set-cookie"] ?? []).map((line) => line.split(";")[0]).join("; ");
    const token = /name="_csrf" value="([^"]+)"/.exec(page.text)?.[1] ?? "";
    const form = new URLSearchParams({ _csrf: token, email: "ada@acme.test", password: host.password, next: "/" }).toString();
    const signIn = await send(host.url, "POST", "/login", { host: rebound(), origin: `http://${rebound()}`, cookie, "content-type": "application/x-www-form-urlencoded" }, form);
    const session = ([] as string[]).concat(signIn.headers["set-cookie"] ?? []).map((line) => line.split(";")[0]).join("; ") || cookie;
    const who = await send(host.url, "GET", "/admin/api/session", { host: rebound(), cookie: session, accept: "application/json" });
    const csrf = who.status === 200 ? (JSON.parse(who.text) as { csrfToken: string }).csrfToken : "";
    const minted = await send(host.url, "POST", "/admin/api/tokens", { host: rebound(), origin: `http://${rebound()}`, cookie: session, "x-csrf-token": csrf, "content-type": "application/json", accept: "application/json" }, JSON.stringify({ label: "rebind" }));
    expect(minted.status).not.toBe(201);
    expect(minted.text).not.toMatch(/annex_[A-Za-z0-9_-]{20,}/);
  });
});
