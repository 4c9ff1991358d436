/**
 * The session cookie of a request that came over HTTPS (directly, or through a proxy the host trusts) is
 * `__Host-refhost.sid`: browsers accept a cookie of that name only with Secure and Path=/ and without
 * Domain, so a sibling subdomain or a plain-http answer cannot plant or overwrite it. Pages and the Annex
 * gateway read that name only on such a request; over plain http (local dev) the cookie stays
 * `refhost.sid`. On PGlite.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createReferenceHost, type ReferenceHost } from "../src/index.js";
import { backends } from "./support/backends.js";
import { Client } from "./support/http-client.js";

/** A browser behind the TLS-terminating proxy: every request says it came over HTTPS. */
class HttpsClient extends Client {
  override request(method: string, path: string, init: Parameters<Client["request"]>[2] = {}): Promise<Response> {
    return super.request(method, path, { ...init, headers: { "x-forwarded-proto": "https", ...init.headers } });
  }
}

const sessionLine = (response: Response, name: string) => response.headers.getSetCookie().find((line) => line.startsWith(`${name}=`));
/** Hello's authenticated GET endpoint: 200 only when the gateway's authenticate reads the session. */
const HELLO = "/api/ext/acme.hello/hello/ada";

describe.each(backends().slice(0, 1))("session cookie name on $name", (backend) => {
  let host: ReferenceHost;

  beforeAll(async () => {
    host = await createReferenceHost({ ...(await backend.options()), demoInstalls: true, trustProxy: 1, publicOrigin: "https://app.example.test" });
  }, 120_000);
  afterAll(async () => {
    await host?.close();
    await backend.cleanup();
  });

  it("over HTTPS names it __Host-refhost.sid, Secure, Path=/, without Domain, and signs in with it", async () => {
    const client = new HttpsClient(host.url);
    const signedIn = await client.signIn("ada@acme.test");
    expect(signedIn.status).toBe(303);
    const line = sessionLine(signedIn, "__Host-refhost.sid");
    expect(line).toBeDefined();
    expect(line).toMatch(/;\s*Secure(;|$)/i);
    expect(line).toMatch(/;\s*Path=\/(;|$)/i);
    expect(line).toMatch(/;\s*HttpOnly(;|$)/i);
    expect(line).not.toMatch(/;\s*Domain=/i);
    expect(sessionLine(signedIn, "refhost.sid")).toBeUndefined();

    const value = client.cookie("__Host-refhost.sid")!;
    expect((await client.get("/")).status).toBe(200);
    expect((await client.get(HELLO, { accept: "application/json" })).status).toBe(200);
    // The same session under the plain name is no session over HTTPS, for the pages and the gateway alike.
    const planted = new HttpsClient(host.url);
    expect((await planted.get("/", { cookie: `refhost.sid=${value}` })).status).toBe(303);
    expect((await planted.get(HELLO, { cookie: `refhost.sid=${value}`, accept: "application/json" })).status).toBe(401);
  });

  it("signs out over HTTPS by clearing __Host-refhost.sid with the attributes it was set with", async () => {
    const client = new HttpsClient(host.url);
    await client.signIn("ada@acme.test");
    const csrf = await client.csrfFrom("/");
    const out = await client.request("POST", "/logout", { form: { _csrf: csrf } });
    expect(out.status).toBe(303);
    const cleared = sessionLine(out, "__Host-refhost.sid");
    expect(cleared).toMatch(/Expires=Thu, 01 Jan 1970/i);
    expect(cleared).toMatch(/;\s*Secure(;|$)/i);
    expect(cleared).toMatch(/;\s*Path=\/(;|$)/i);
    expect((await client.get("/")).status).toBe(303);
  });

  it("over plain http keeps refhost.sid (not Secure), for the pages and the gateway", async () => {
    const client = new Client(host.url);
    const signedIn = await client.signIn("ada@acme.test");
    expect(signedIn.status).toBe(303);
    const line = sessionLine(signedIn, "refhost.sid");
    expect(line).toBeDefined();
    expect(line).not.toMatch(/;\s*Secure/i);
    expect(sessionLine(signedIn, "__Host-refhost.sid")).toBeUndefined();
    expect((await client.get("/")).status).toBe(200);
    expect((await client.get(HELLO, { accept: "application/json" })).status).toBe(200);
  });
});
