/**
 * The data behind an extension's admin-slot pages is the tenant's admins' only. The product shows
 * `/admin/apps/{id}` to admins alone, but a page's visibility protects nothing of its data: the page's
 * calls go to the extension's `api` endpoints, which the gateway opens to every signed-in user of the
 * tenant. So web-analytics' stats and error-tracking's issues (crash messages, user data) and their
 * status changes must be refused to a member by the extensions themselves (`ctx.principal.roles`).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createReferenceHost, type ReferenceHost } from "../src/index.js";
import { backends } from "./support/backends.js";
import { Client } from "./support/http-client.js";

const KEY = "0123456789abcdef0123456789abcdef";

describe.each(backends().slice(0, 1))("a member and the extensions' admin data on $name", (backend) => {
  let host: ReferenceHost;
  let ada: Client;
  let max: Client;

  beforeAll(async () => {
    host = await createReferenceHost({ ...(await backend.options()) });
    await host.annex.install("acme", "acme.web-analytics", { grants: [{ name: "log" }, { name: "storage.sql" }], config: { ignoreBots: false }, actor: "test" });
    await host.annex.install("acme", "acme.error-tracking", {
      grants: [{ name: "log" }, { name: "storage.sql" }, { name: "events.publish", types: ["issue.created"] }],
      config: { publicKey: KEY },
      actor: "test",
    });
    // A crash report arrives from the tenant's app (the public ingest endpoint, as Sentry's SDKs send it).
    const id = "a".repeat(32);
    // A busy machine may time the first executions out: retry until the report is taken.
    let status = 0;
    for (let attempt = 0; attempt < 10 && status !== 200; attempt += 1) {
      const ingest = await fetch(`${host.url}/ext/acme.error-tracking/public/api/42/envelope/?tenant=acme&sentry_key=${KEY}&sentry_version=7`, {
        method: "POST",
        body: `{"event_id":"${id}"}\n{"type":"event"}\n{"event_id":"${id}","message":"payment failed for card 4242 of jane@customer.example"}\n`,
      });
      status = ingest.status;
    }
    expect(status).toBe(200);
    ada = new Client(host.url);
    await ada.signIn("ada@acme.test");
    max = new Client(host.url);
    await max.signIn("max@acme.test");
  }, 180_000);
  afterAll(async () => {
    await host?.close();
    await backend.cleanup();
  });

  it("shows the admin pages of web-analytics and error-tracking to admins only", async () => {
    expect((await ada.get("/admin/apps/acme.web-analytics")).status).toBe(200);
    expect((await max.get("/admin/apps/acme.web-analytics")).status).toBe(403);
    expect((await max.get("/admin/apps/acme.error-tracking")).status).toBe(403);
  });

  it("does not let a member read the web analytics behind the admin-only page", async () => {
    expect((await ada.get("/api/ext/acme.web-analytics/stats")).status).toBe(200);
    const stats = await max.get("/api/ext/acme.web-analytics/stats");
    expect(stats.status).toBe(403);
    expect(await stats.json()).toMatchObject({ error: { code: "E_FORBIDDEN" } });
  });

  it("does not let a member read the error tracker's issues behind the admin-only page", async () => {
    const asAdmin = await ada.get("/api/ext/acme.error-tracking/issues");
    expect(asAdmin.status).toBe(200);
    expect(JSON.stringify(await asAdmin.json())).toContain("payment failed");
    const asMember = await max.get("/api/ext/acme.error-tracking/issues");
    const text = await asMember.text();
    expect(text).not.toContain("jane@customer.example");
    expect([403, 404]).toContain(asMember.status);
  });

  it("does not let a member change an issue's status", async () => {
    const issues = (await (await ada.get("/api/ext/acme.error-tracking/issues")).json()) as unknown;
    const list = (Array.isArray(issues) ? issues : ((issues as { issues?: unknown[] }).issues ?? [])) as { id: number }[];
    const id = list[0]!.id;
    const changed = await max.request("PUT", `/api/ext/acme.error-tracking/issues/${id}/status`, { json: { status: "resolved" }, headers: { origin: host.url } });
    expect([403, 404]).toContain(changed.status);
    const after = JSON.stringify(await (await ada.get(`/api/ext/acme.error-tracking/issues/${id}`)).json());
    expect(after).not.toContain('"resolved"');
  });
});
