/**
 * The admin API over HTTP, as the console and the CLI call it: admins only,
 * CSRF tokens for session calls, bearer tokens for the CLI, every call
 * scoped to the caller's tenant, typed errors, and the upgrade policy
 * (automatic when a version widens nothing, consent when it widens).
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createReferenceHost, loadDemoKeys, type ReferenceHost } from "../src/index.js";
import { backends } from "./support/backends.js";
import { Client } from "./support/http-client.js";
import { releaseVariant } from "./support/variants.js";

const GREETER = join(fileURLToPath(new URL(".", import.meta.url)), "fixtures/greeter");
const ORDER_SYNC = join(fileURLToPath(new URL(".", import.meta.url)), "fixtures/order-sync");
/** A busy machine answers slowly: poll for up to 20 s. */
const poll = <T>(read: () => T | Promise<T>) => expect.poll(read, { timeout: 20_000, interval: 100 });

describe.each(backends())("admin API on $name", (backend) => {
  let host: ReferenceHost;
  let ada: Client;
  let csrf: string;

  beforeAll(async () => {
    // Two attempts, 50 ms apart: a failing handler reaches the dead letters in a moment.
    host = await createReferenceHost({ ...(await backend.options()), extraExtensions: [GREETER, ORDER_SYNC], events: { maxAttempts: 2, backoff: { baseMs: 50, maxMs: 100 }, pollIntervalMs: 50 } });
    ada = new Client(host.url);
    await ada.signIn("ada@acme.test");
    csrf = (await (await ada.get("/admin/api/session")).json()).csrfToken as string;
  }, 180_000);
  afterAll(async () => {
    await host?.close();
    await backend.cleanup();
  });

  const call = (client: Client, method: string, path: string, json?: unknown, headers: Record<string, string> = {}) =>
    client.request(method, `/admin/api${path}`, { json, headers: { accept: "application/json", ...headers } });

  it("refuses anonymous callers, members, and session calls without the CSRF token", async () => {
    expect((await call(new Client(host.url), "GET", "/catalogue")).status).toBe(401);
    const max = new Client(host.url);
    await max.signIn("max@acme.test");
    expect((await call(max, "GET", "/catalogue")).status).toBe(403);
    const forged = await call(ada, "POST", "/installs", { extensionId: "acme.hello", grants: [{ name: "log" }, { name: "user.read" }] });
    expect(forged.status).toBe(403);
    expect(await forged.json()).toMatchObject({ code: "E_CSRF" });
    expect(await host.annex.getInstall("acme", "acme.hello")).toBeNull();
  });

  it("installs with the session and its CSRF token, answering typed errors with their status", async () => {
    const missing = await call(ada, "POST", "/installs", { extensionId: "acme.greeter", grants: [] }, { "x-csrf-token": csrf });
    expect(missing.status).toBe(422);
    expect(await missing.json()).toMatchObject({ code: "E_GRANTS_MISSING" });
    const created = await call(ada, "POST", "/installs", { extensionId: "acme.greeter", version: "1.0.0", grants: [{ name: "log" }] }, { "x-csrf-token": csrf });
    expect(created.status).toBe(201);
    const invalid = await call(ada, "PUT", "/installs/acme.greeter/config", { config: { greeting: "Hallo" } }, { "x-csrf-token": csrf });
    expect(invalid.status).toBe(422);
    expect((await invalid.json()).issues).toEqual([expect.objectContaining({ path: "config.greeting" })]);
    const secrets = await call(ada, "PUT", "/installs/acme.greeter/secrets", { secrets: { SIGNING_KEY: "k-123" } }, { "x-csrf-token": csrf });
    expect(await secrets.json()).toEqual({ secretNames: ["SIGNING_KEY"] });
    const detail = await (await call(ada, "GET", "/installs/acme.greeter")).text();
    expect(detail).not.toContain("k-123");
  });

  it("lets an admin's API token act for that tenant without a cookie or CSRF token", async () => {
    const made = await call(ada, "POST", "/tokens", { label: "cli" }, { "x-csrf-token": csrf });
    expect(made.status).toBe(201);
    const { token } = (await made.json()) as { token: string };
    const cli = new Client(host.url);
    const auth = { authorization: `Bearer ${token}` };
    const installs = (await (await call(cli, "GET", "/installs", undefined, auth)).json()) as { extensionId: string }[];
    expect(installs.map((i) => i.extensionId)).toEqual(["acme.greeter"]);
    expect((await call(cli, "POST", "/installs/acme.greeter/disable", undefined, auth)).status).toBe(200);
    expect((await call(cli, "POST", "/installs/acme.greeter/enable", undefined, auth)).status).toBe(200);
    expect((await call(cli, "GET", "/installs", undefined, { authorization: "Bearer annex_not-a-token" })).status).toBe(401);
    const [line] = (await (await call(cli, "GET", "/audit?action=install.enable", undefined, auth)).json()).entries as { actor: string }[];
    expect(line?.actor).toBe("user:ada@acme.test");
  });

  it("refuses other sites' requests and every navigation with 403 E_CROSS_SITE (Fetch Metadata), before anything runs; same-origin fetches and callers without Fetch Metadata pass", async () => {
    const exports = async () => (await host.annex.audit.list({ tenant: "acme", action: "install.export" })).length;
    const before = await exports();
    const browser = (site: string, mode: string, dest: string) => ({ "sec-fetch-site": site, "sec-fetch-mode": mode, "sec-fetch-dest": dest });
    for (const headers of [
      // Another site sends the admin's browser to the URL (the SameSite=Lax cookie goes along), or loads it as an image.
      browser("cross-site", "navigate", "document"),
      browser("cross-site", "no-cors", "image"),
      // A sibling subdomain is another party too.
      browser("same-site", "navigate", "document"),
      browser("same-site", "cors", "empty"),
      // /login?next=/admin/api/…: after sign-in this site's own redirect, so same-origin, but a navigation.
      browser("same-origin", "navigate", "document"),
      browser("none", "navigate", "document"),
    ]) {
      // Through node:http: fetch would send its own Sec-Fetch-Mode.
      const refused = await ada.raw("GET", "/admin/api/installs/acme.greeter/export", { accept: "application/json", ...headers });
      expect(refused.status, JSON.stringify(headers)).toBe(403);
      expect(refused.headers["cache-control"]).toBe("no-store");
      expect(JSON.parse(refused.text)).toMatchObject({ code: "E_CROSS_SITE", message: expect.any(String) });
    }
    // A state-changing call from another site is refused even with the session's CSRF token.
    const disable = await ada.raw("POST", "/admin/api/installs/acme.greeter/disable", { ...browser("cross-site", "cors", "empty"), "x-csrf-token": csrf, accept: "application/json" });
    expect(disable.status).toBe(403);
    expect((await host.annex.getInstall("acme", "acme.greeter"))?.state).toBe("active");
    // None of them exported anything.
    expect(await exports()).toBe(before);

    // The console's own calls: fetch from this origin.
    expect((await ada.raw("GET", "/admin/api/installs/acme.greeter/export", { accept: "application/json", ...browser("same-origin", "cors", "empty") })).status).toBe(200);
    // No Fetch Metadata at all (the CLI with a bearer token, curl): as before.
    const { token } = (await (await call(ada, "POST", "/tokens", { label: "no metadata" }, { "x-csrf-token": csrf })).json()) as { token: string };
    expect((await new Client(host.url).raw("GET", "/admin/api/installs/acme.greeter/export", { authorization: `Bearer ${token}`, accept: "application/json" })).status).toBe(200);
    expect(await exports()).toBe(before + 2);
  });

  it("never shows or changes another tenant's installs or audit lines", async () => {
    const gus = new Client(host.url);
    await gus.signIn("gus@globex.test");
    const token = (await (await call(gus, "GET", "/session")).json()).csrfToken as string;
    expect(await (await call(gus, "GET", "/installs")).json()).toEqual([]);
    expect((await call(gus, "GET", "/installs/acme.greeter")).status).toBe(404);
    expect((await call(gus, "POST", "/installs/acme.greeter/disable", undefined, { "x-csrf-token": token })).status).toBe(404);
    // Gus sees his own refused attempt, and nothing of acme's.
    const audit = (await (await call(gus, "GET", "/audit?target=acme.greeter")).json()) as { entries: { tenant: string; actor: string }[] };
    expect(audit.entries.map((e) => [e.tenant, e.actor])).toEqual([["globex", "user:gus@globex.test"]]);
    expect((await host.annex.getInstall("acme", "acme.greeter"))?.state).toBe("active");
  });

  it("filters the audit log by dates from 1970 to 9999 and refuses others with 400 naming the parameter", async () => {
    expect((await call(ada, "GET", "/audit?since=1970-01-01&until=9999-12-31T23:59:59.999Z")).status).toBe(200);
    expect((await (await call(ada, "GET", `/audit?since=${new Date(Date.now() + 3_600_000).toISOString()}`)).json()).entries).toEqual([]);
    for (const [field, value] of [
      ["since", "99999-01-01"],
      ["until", "+010000-01-01T00:00:00Z"],
      ["since", "1969-12-31T23:59:59Z"],
      ["until", "-000001-01-01"],
      ["since", "tomorrow"],
    ] as const) {
      const refused = await call(ada, "GET", `/audit?${field}=${encodeURIComponent(value)}`);
      expect(refused.status, `${field}=${value}`).toBe(400);
      expect(await refused.json(), `${field}=${value}`).toMatchObject({ code: "E_BAD_REQUEST", message: expect.stringContaining(field), details: { field } });
    }
  });

  it("upgrades automatically when a version widens nothing, and waits for consent when it widens", async () => {
    const key = (await loadDemoKeys((await backend.options()).dataDir!, ["acme"])).publisherKeys.get("acme")!;
    const patch = await releaseVariant(GREETER, key, (m) => {
      m["version"] = "1.0.1";
      m["description"] = "Greets people; now with fewer bugs.";
    });
    expect((await host.publish(patch.bytes, patch.signature)).upgraded).toEqual([{ tenant: "acme", from: "1.0.0", to: "1.0.1", ok: true }]);
    expect((await host.annex.getInstall("acme", "acme.greeter"))?.version).toBe("1.0.1");

    const wider = await releaseVariant(GREETER, key, (m) => {
      m["version"] = "1.1.0";
      (m["capabilities"] as unknown[]).push({ name: "ui.toast", reason: "Says when a greeting was sent." });
    });
    expect((await host.publish(wider.bytes, wider.signature)).upgraded).toEqual([]);
    const plan = await (await call(ada, "GET", "/installs/acme.greeter/upgrade?version=1.1.0")).json();
    expect(plan).toMatchObject({ from: "1.0.1", to: "1.1.0", policy: "consent", diff: { added: [expect.objectContaining({ name: "ui.toast" })] } });
    const refused = await call(ada, "POST", "/installs/acme.greeter/upgrade", { version: "1.1.0" }, { "x-csrf-token": csrf });
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ code: "E_CONSENT_REQUIRED" });
    const consented = await call(ada, "POST", "/installs/acme.greeter/upgrade", { version: "1.1.0", grants: [{ name: "log" }, { name: "ui.toast" }] }, { "x-csrf-token": csrf });
    expect(consented.status).toBe(200);
    expect((await host.annex.getInstall("acme", "acme.greeter"))?.version).toBe("1.1.0");
  });

  it("waits for consent when a version with the same capabilities exposes the install to anonymous callers; the endpoint stays closed meanwhile", async () => {
    const key = (await loadDemoKeys((await backend.options()).dataDir!, ["acme"])).publisherKeys.get("acme")!;
    const exposing = await releaseVariant(GREETER, key, (m) => {
      m["version"] = "1.1.1";
      m["capabilities"] = [...(m["capabilities"] as unknown[]), { name: "ui.toast", reason: "Says when a greeting was sent." }];
      // Same capabilities as 1.1.0; the member-only `api` greeting becomes reachable by anyone on the internet.
      (m["endpoints"] as Record<string, unknown>[])[0]!["class"] = "public";
    });
    expect((await host.publish(exposing.bytes, exposing.signature)).upgraded).toEqual([]);
    expect((await host.annex.getInstall("acme", "acme.greeter"))?.version).toBe("1.1.0");
    const anonymous = await fetch(`${host.url}/ext/acme.greeter/public/greet/x?tenant=acme`);
    expect(anonymous.status).toBe(404);

    const plan = await (await call(ada, "GET", "/installs/acme.greeter/upgrade?version=1.1.1")).json();
    expect(plan).toMatchObject({ from: "1.1.0", to: "1.1.1", policy: "consent", diff: { added: [], widened: [] }, exposure: { requiresConsent: true, widened: [expect.objectContaining({ change: "class", from: "api", to: "public", path: "/greet/:name" })] } });
    const refused = await call(ada, "POST", "/installs/acme.greeter/upgrade", { version: "1.1.1" }, { "x-csrf-token": csrf });
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ code: "E_CONSENT_REQUIRED", details: { exposed: [expect.objectContaining({ to: "public" })] } });
    // Not consented to here: the install stays on 1.1.0, its greeting for signed-in users only.
    expect((await host.annex.getInstall("acme", "acme.greeter"))?.version).toBe("1.1.0");
  });

  it("reports per-install usage from the metrics and the install's recent log lines", async () => {
    // The first execution of the version just upgraded to loads its bundle in a pool worker; on a machine loaded
    // far past its cores that can outlast the gateway's timeout (504 E_TIMEOUT): ask again, as a user would.
    let answer = await ada.get("/api/ext/acme.greeter/greet/Usage");
    for (let attempt = 0; attempt < 2 && answer.status === 504; attempt++) answer = await ada.get("/api/ext/acme.greeter/greet/Usage");
    expect(answer.status).toBe(200);
    const usage = await (await call(ada, "GET", "/installs/acme.greeter/usage")).json();
    expect(usage.executions).toBeGreaterThanOrEqual(1);
    expect(usage.errors).toBe(usage.errorsByCode["E_TIMEOUT"] ?? 0);
    const logs = (await (await call(ada, "GET", "/installs/acme.greeter/logs")).json()) as { message: string }[];
    expect(logs.map((l) => l.message)).toContain("greeting Usage");
  });

  it("lists the tenant's dead letters, replays one after the fix and discards another, audited with the admin as actor; never another tenant's", async () => {
    await host.annex.install("acme", "acme.order-sync", { grants: [{ name: "log" }, { name: "events.subscribe", types: ["order.created"] }], actor: "test" });
    await host.annex.events.publish("acme", "order.created", { order: 1 });
    await host.annex.events.publish("acme", "order.created", { order: 2 });
    type Letters = { items: { deliveryId: string; type: string; extensionId: string; attempts: number; lastError: { code: string; message: string }; payload: { order: number } }[]; cursor: string | null };
    const letters = async (query = "") => (await (await call(ada, "GET", `/dead-letters${query}`)).json()) as Letters;
    await poll(async () => (await letters()).items.length).toBe(2);
    const { items, cursor } = await letters("?extensionId=acme.order-sync");
    expect(cursor).toBeNull();
    expect(items.map((l) => [l.type, l.extensionId, l.attempts, l.payload.order])).toEqual([
      ["order.created", "acme.order-sync", 2, 1],
      ["order.created", "acme.order-sync", 2, 2],
    ]);
    expect(items[0]!.lastError.message).toContain("no warehouse configured");
    expect((await letters("?limit=1")).cursor).not.toBeNull();
    expect((await call(ada, "GET", "/dead-letters?extensionId=acme.nothing")).status).toBe(404);
    expect((await call(ada, "GET", "/dead-letters?cursor=abc")).status).toBe(400);

    // Another tenant's admin sees none of them and can touch none of them.
    const gus = new Client(host.url);
    await gus.signIn("gus@globex.test");
    const gusCsrf = (await (await call(gus, "GET", "/session")).json()).csrfToken as string;
    expect((await (await call(gus, "GET", "/dead-letters")).json()).items).toEqual([]);
    const stolen = await call(gus, "POST", `/dead-letters/${items[0]!.deliveryId}/discard`, undefined, { "x-csrf-token": gusCsrf });
    expect(stolen.status).toBe(404);
    expect(await stolen.json()).toMatchObject({ code: "E_DEAD_LETTER_NOT_FOUND" });
    // Without the CSRF token, nothing happens either.
    expect((await call(ada, "POST", `/dead-letters/${items[0]!.deliveryId}/replay`)).status).toBe(403);
    expect((await letters()).items).toHaveLength(2);

    // The fix (a warehouse), then a replay: delivered. The other is discarded.
    await call(ada, "PUT", "/installs/acme.order-sync/config", { config: { warehouse: "Berlin" } }, { "x-csrf-token": csrf });
    const replayed = await call(ada, "POST", `/dead-letters/${items[0]!.deliveryId}/replay`, undefined, { "x-csrf-token": csrf });
    expect(await replayed.json()).toEqual({ deliveryId: items[0]!.deliveryId, replayed: true });
    expect((await call(ada, "POST", `/dead-letters/${items[1]!.deliveryId}/discard`, undefined, { "x-csrf-token": csrf })).status).toBe(200);
    const install = (await host.annex.getInstall("acme", "acme.order-sync"))!;
    await poll(() => host.logs.recent(install.id, 50).map((l) => l.message)).toContain("order 1 sent to Berlin");
    expect(host.logs.recent(install.id, 50).map((l) => l.message)).not.toContain("order 2 sent to Berlin");
    expect((await letters()).items).toEqual([]);
    expect((await call(ada, "POST", `/dead-letters/${items[1]!.deliveryId}/discard`, undefined, { "x-csrf-token": csrf })).status).toBe(404);
    const audit = (await (await call(ada, "GET", "/audit?action=event.dead-letter.")).json()) as { entries: { action: string; actor: string }[] };
    expect(audit.entries.map((e) => [e.action, e.actor])).toEqual(
      expect.arrayContaining([
        ["event.dead-letter.replay", "user:ada@acme.test"],
        ["event.dead-letter.discard", "user:ada@acme.test"],
      ]),
    );
    expect(audit.entries.some((e) => e.actor === "user:gus@globex.test")).toBe(false);
  });

  it("lists the tenant's jobs, runs one now with the CSRF token and shows its runs; admins of the tenant only", async () => {
    const install = await host.annex.install("acme", "acme.web-analytics", { grants: [{ name: "log" }, { name: "storage.sql" }], actor: "test" });
    type Job = { installId: string; extensionId: string; name: string; cron: string; timezone: string; nextRunAt: string | null; lastRun?: { outcome: string } };
    const jobs = (await (await call(ada, "GET", "/jobs")).json()) as Job[];
    expect(jobs).toEqual([expect.objectContaining({ installId: install.id, extensionId: "acme.web-analytics", name: "rollup", cron: "2 * * * *", timezone: "UTC", nextRunAt: expect.any(String) })]);
    const path = `/jobs/${install.id}/rollup`;

    // A member, another tenant's admin, and a session call without the CSRF token run nothing.
    const max = new Client(host.url);
    await max.signIn("max@acme.test");
    expect((await call(max, "GET", "/jobs")).status).toBe(403);
    const gus = new Client(host.url);
    await gus.signIn("gus@globex.test");
    const gusCsrf = (await (await call(gus, "GET", "/session")).json()).csrfToken as string;
    expect(await (await call(gus, "GET", "/jobs")).json()).toEqual([]);
    const stolen = await call(gus, "POST", `${path}/run`, undefined, { "x-csrf-token": gusCsrf });
    expect(stolen.status).toBe(404);
    expect(await stolen.json()).toMatchObject({ code: "E_JOB_NOT_FOUND", details: { field: "installId" } });
    expect((await call(gus, "GET", `${path}/runs`)).status).toBe(404);
    expect((await call(ada, "POST", `${path}/run`)).status).toBe(403);
    expect((await host.annex.jobs.runs({ installId: install.id })).items).toEqual([]);

    // Typed refusals: no such job (404), a disabled install (409).
    expect(await (await call(ada, "POST", `/jobs/${install.id}/nope/run`, undefined, { "x-csrf-token": csrf })).json()).toMatchObject({ code: "E_JOB_NOT_FOUND", details: { field: "name", jobs: ["rollup"] } });
    expect((await call(ada, "GET", `/jobs/${install.id}/nope/runs`)).status).toBe(404);
    await host.annex.disable("acme", "acme.web-analytics", { actor: "test" });
    const paused = await call(ada, "POST", `${path}/run`, undefined, { "x-csrf-token": csrf });
    expect(paused.status).toBe(409);
    expect(await paused.json()).toMatchObject({ code: "E_JOB_INSTALL_NOT_ACTIVE" });
    await host.annex.enable("acme", "acme.web-analytics", { actor: "test" });

    const ran = await call(ada, "POST", `${path}/run`, undefined, { "x-csrf-token": csrf });
    expect(ran.status).toBe(200);
    const run = (await ran.json()) as { runId: string; outcome: string; trigger: string; actor: string; durationMs: number };
    expect(run).toMatchObject({ outcome: "ok", trigger: "manual", actor: "user:ada@acme.test", durationMs: expect.any(Number) });
    const runs = (await (await call(ada, "GET", `${path}/runs`)).json()) as { items: { runId: string; outcome: string }[]; cursor: string | null };
    expect(runs).toEqual({ items: [expect.objectContaining({ runId: run.runId, outcome: "ok" })], cursor: null });
    const [listed] = (await (await call(ada, "GET", "/jobs")).json()) as Job[];
    expect(listed!.lastRun).toMatchObject({ outcome: "ok" });
    const audit = (await (await call(ada, "GET", "/audit?action=job.run")).json()) as { entries: { actor: string; decision: string; details: { runId?: string } }[] };
    expect(audit.entries.map((e) => [e.actor, e.decision])).toEqual([
      ["user:ada@acme.test", "allow"],
      ["user:ada@acme.test", "deny"],
      ["user:ada@acme.test", "deny"],
    ]);
    await host.annex.uninstall("acme", "acme.web-analytics", { purge: true, actor: "test" });
  });

  it("shows each install's storage: the owned schema's migrations and the kv's usage against its quotas; admins of the tenant only", async () => {
    type Storage = { installId: string; extensionId: string; state: string; kv: { usage: { keys: number; bytes: number }; limits: Record<string, number> } | null; sql: { schema: string; version: string | null; status: string; migrations: { version: string; name: string; checksum: string; durationMs: number }[]; lastError: unknown } | null };
    const analytics = await host.annex.install("acme", "acme.web-analytics", { grants: [{ name: "log" }, { name: "storage.sql" }], actor: "test" });
    // A kv extension asking for fewer keys than the host's policy allows, and more bytes than it allows (capped).
    const key = (await loadDemoKeys((await backend.options()).dataDir!, ["acme"])).publisherKeys.get("acme")!;
    const notes = await releaseVariant(GREETER, key, (m) => {
      Object.assign(m, { id: "acme.notes", name: "Notes", version: "1.0.0" });
      (m["capabilities"] as unknown[]).push({ name: "storage.kv", reason: "Keeps notes." });
      m["storage"] = { kind: "kv", limits: { keys: 50, totalBytes: 2 ** 40 } };
    });
    await host.publish(notes.bytes, notes.signature);
    const kvInstall = await host.annex.install("acme", "acme.notes", { grants: [{ name: "log" }, { name: "storage.kv" }], actor: "test" });
    await host.annex.kv.install(kvInstall.id).set("a", { text: "hello" });
    await host.annex.kv.install(kvInstall.id).set("b", "<script>alert(1)</script>");

    const listed = (await (await call(ada, "GET", "/storage")).json()) as Storage[];
    // Installs without storage (the greeter) are left out.
    expect(listed.map((entry) => entry.extensionId).sort()).toEqual(["acme.notes", "acme.web-analytics"]);
    const sql = listed.find((entry) => entry.installId === analytics.id)!;
    expect(sql).toMatchObject({ extensionId: "acme.web-analytics", state: "active", kv: null, sql: { status: "ready", version: "0001", lastError: null } });
    expect(sql.sql!.migrations).toEqual([expect.objectContaining({ version: "0001", name: "0001_page_views.sql", checksum: expect.stringMatching(/^sha256:[0-9a-f]{64}$/), durationMs: expect.any(Number) })]);
    const kv = listed.find((entry) => entry.installId === kvInstall.id)!;
    const usage = await host.annex.kv.install(kvInstall.id).usage();
    expect(usage.keys).toBe(2);
    expect(kv).toMatchObject({ sql: null, kv: { usage, limits: { keys: 50, totalBytes: host.annex.kv.policy.totalBytes, valueBytes: host.annex.kv.policy.valueBytes } } });
    // One install by extension id: the same entry.
    expect(await (await call(ada, "GET", "/installs/acme.notes/storage")).json()).toEqual(kv);

    // A member is refused; another tenant's admin sees none of it, and acme's install is a 404 as if it did not exist.
    const max = new Client(host.url);
    await max.signIn("max@acme.test");
    expect((await call(max, "GET", "/storage")).status).toBe(403);
    expect((await call(max, "GET", "/installs/acme.notes/storage")).status).toBe(403);
    const gus = new Client(host.url);
    await gus.signIn("gus@globex.test");
    expect(await (await call(gus, "GET", "/storage")).json()).toEqual([]);
    const hidden = await call(gus, "GET", "/installs/acme.notes/storage");
    expect(hidden.status).toBe(404);
    expect(await hidden.json()).toMatchObject({ code: "E_INSTALL_NOT_FOUND" });
    expect((await call(gus, "GET", "/installs/acme.nothing/storage")).status).toBe(404);

    await host.annex.uninstall("acme", "acme.notes", { purge: true, actor: "test" });
    await host.annex.uninstall("acme", "acme.web-analytics", { purge: true, actor: "test" });
    expect(await (await call(ada, "GET", "/storage")).json()).toEqual([]);
  });

  it("uninstalls with purge and returns the export", async () => {
    const result = await (await call(ada, "POST", "/installs/acme.greeter/uninstall", { purge: true }, { "x-csrf-token": csrf })).json();
    expect(result.export).toMatchObject({ secretNames: ["SIGNING_KEY"], config: { greeting: "Hello" } });
    expect(await host.annex.getInstall("acme", "acme.greeter")).toBeNull();
  });
});
