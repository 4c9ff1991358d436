/**
 * API tokens are revoked with DELETE /admin/api/tokens/:id (audited, as their creation is; another tenant's
 * token is a missing one) and expire: each is minted with an expiry (the host's default lifetime, or `expiresInDays` from 1
 * to 365), the listing shows it, and a token past it authenticates nobody (401, the answer of an unknown
 * token). A database from before expiries gets one for every token at start: created_at + the default.
 * Tokens are made only by a signed-in admin (a token cannot mint a successor that outlives its revocation),
 * and a user holds at most MAX_LIVE_API_TOKENS live ones.
 * On PGlite, and on PostgreSQL when ANNEX_TEST_DATABASE_URL is set.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "kysely";
import { createReferenceHost, type ReferenceHost } from "../src/index.js";
import { parseApiTokenDays } from "../src/config/api-token-lifetime.js";
import { MAX_LIVE_API_TOKENS } from "../src/admin/api-tokens.js";
import { backends } from "./support/backends.js";
import { Client } from "./support/http-client.js";

const DAY_MS = 86_400_000;

describe.each(backends())("API token expiry on $name", (backend) => {
  let host: ReferenceHost;
  let ada: Client;
  let csrf: string;

  beforeAll(async () => {
    host = await createReferenceHost({ ...(await backend.options()), apiTokenDays: 30 });
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
  const mint = async (body: Record<string, unknown>) => call(ada, "POST", "/tokens", body, { "x-csrf-token": csrf });
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  /** Days from now to `iso`, to the nearest hour. */
  const daysUntil = (iso: string) => Math.round((Date.parse(iso) - Date.now()) / 3_600_000) / 24;

  it("mints a token that expires after the host's default lifetime, or after expiresInDays", async () => {
    const before = Date.now();
    const byDefault = await mint({ label: "default" });
    expect(byDefault.status).toBe(201);
    const made = (await byDefault.json()) as { expiresAt: string };
    expect(daysUntil(made.expiresAt)).toBe(30);
    expect(Date.parse(made.expiresAt)).toBeGreaterThanOrEqual(before + 30 * DAY_MS);

    const week = (await (await mint({ label: "week", expiresInDays: 7 })).json()) as { expiresAt: string };
    expect(daysUntil(week.expiresAt)).toBe(7);
    const year = (await (await mint({ label: "year", expiresInDays: 365 })).json()) as { expiresAt: string };
    expect(daysUntil(year.expiresAt)).toBe(365);
  });

  it.each([0, 366, -1, 1.5, "7", null, true])("refuses expiresInDays %j with 400 naming the field", async (value) => {
    const refused = await mint({ label: "bad", expiresInDays: value });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ code: "E_BAD_REQUEST", message: expect.stringContaining("expiresInDays"), details: { field: "expiresInDays" } });
  });

  it("lists the tenant's tokens with their expiry, never the token or its hash", async () => {
    const { id, token, expiresAt } = (await (await mint({ label: "listed", expiresInDays: 3 })).json()) as { id: string; token: string; expiresAt: string };
    const listed = await call(ada, "GET", "/tokens");
    expect(listed.status).toBe(200);
    const text = await listed.text();
    expect(text).not.toContain(token);
    expect(text).not.toContain("hash");
    const entry = (JSON.parse(text) as { id: string }[]).find((t) => t.id === id);
    expect(entry).toEqual({ id, label: "listed", user: "ada@acme.test", createdAt: expect.any(String), expiresAt, expired: false });
    // Another tenant's admin sees none of acme's tokens.
    const gus = new Client(host.url);
    await gus.signIn("gus@globex.test");
    expect(((await (await call(gus, "GET", "/tokens")).json()) as { id: string }[]).map((t) => t.id)).not.toContain(id);
  });

  it("refuses an expired token with the answer of an unknown one, wherever it is used", async () => {
    const { id, token } = (await (await mint({ label: "expiring", expiresInDays: 1 })).json()) as { id: string; token: string };
    const cli = new Client(host.url);
    expect((await call(cli, "GET", "/installs", undefined, bearer(token))).status).toBe(200);

    await host.database.app.updateTable("api_tokens").set({ expires_at: new Date(Date.now() - 1000) }).where("id", "=", id).execute();
    const expired = await call(cli, "GET", "/installs", undefined, bearer(token));
    const unknown = await call(cli, "GET", "/installs", undefined, bearer("annex_not-a-token"));
    expect(expired.status).toBe(401);
    expect(await expired.json()).toEqual(await unknown.json());
    expect((await call(cli, "POST", "/tokens", { label: "renew" }, bearer(token))).status).toBe(401);

    const entry = ((await (await call(ada, "GET", "/tokens")).json()) as { id: string; expired: boolean }[]).find((t) => t.id === id);
    expect(entry?.expired).toBe(true);
  });

  const revoke = (client: Client, id: string, headers: Record<string, string>) => call(client, "DELETE", `/tokens/${id}`, undefined, headers);
  const auditOf = async (action: string) => host.annex.audit.list({ tenant: "acme", action, order: "desc", limit: 10 });

  it("revokes a token: from the next request on it authenticates nobody; creation and revocation are audited", async () => {
    const { id, token } = (await (await mint({ label: "to revoke" })).json()) as { id: string; token: string };
    const made = (await auditOf("auth.api-token.create")).find((line) => line.target === `token:${id}`);
    expect(made).toMatchObject({ actor: "user:ada@acme.test", decision: "allow", details: { label: "to revoke", via: "session" } });
    expect(JSON.stringify(made)).not.toContain(token);

    const cli = new Client(host.url);
    expect((await call(cli, "GET", "/installs", undefined, bearer(token))).status).toBe(200);
    // A session call without the session's CSRF token changes nothing.
    expect((await revoke(ada, id, {})).status).toBe(403);
    expect((await call(cli, "GET", "/installs", undefined, bearer(token))).status).toBe(200);

    const revoked = await revoke(ada, id, { "x-csrf-token": csrf });
    expect(revoked.status).toBe(204);
    expect(await revoked.text()).toBe("");
    expect((await call(cli, "GET", "/installs", undefined, bearer(token))).status).toBe(401);
    expect(((await (await call(ada, "GET", "/tokens")).json()) as { id: string }[]).map((t) => t.id)).not.toContain(id);
    const line = (await auditOf("auth.api-token.revoke")).find((entry) => entry.target === `token:${id}`);
    expect(line).toMatchObject({ actor: "user:ada@acme.test", tenant: "acme", decision: "allow", details: { label: "to revoke", user: "ada@acme.test", via: "session" } });

    // Gone is gone: a second revocation is a 404, and writes no line.
    const again = await revoke(ada, id, { "x-csrf-token": csrf });
    expect(again.status).toBe(404);
    expect(await again.json()).toMatchObject({ code: "E_TOKEN_NOT_FOUND", details: { tokenId: id } });
    expect((await auditOf("auth.api-token.revoke")).filter((entry) => entry.target === `token:${id}`)).toHaveLength(1);
  });

  it("lets a token revoke itself, and no admin revoke another tenant's token", async () => {
    const { id, token } = (await (await mint({ label: "self" })).json()) as { id: string; token: string };
    const gus = new Client(host.url);
    await gus.signIn("gus@globex.test");
    const gusCsrf = (await (await call(gus, "GET", "/session")).json()).csrfToken as string;
    const foreign = await revoke(gus, id, { "x-csrf-token": gusCsrf });
    expect(foreign.status).toBe(404);
    expect(await foreign.json()).toMatchObject({ code: "E_TOKEN_NOT_FOUND" });
    const cli = new Client(host.url);
    expect((await call(cli, "GET", "/installs", undefined, bearer(token))).status).toBe(200);

    expect((await revoke(cli, id, bearer(token))).status).toBe(204);
    expect((await call(cli, "GET", "/installs", undefined, bearer(token))).status).toBe(401);
    expect((await auditOf("auth.api-token.revoke")).find((entry) => entry.target === `token:${id}`)?.details).toMatchObject({ via: "token" });
  });

  it.each(["tok_0000000000000000", "not-a-token-id", "tok_%27%20OR%201%3D1", "x".repeat(300)])("answers a token id that names no token (%s) 404 E_TOKEN_NOT_FOUND", async (id) => {
    const answer = await revoke(ada, id, { "x-csrf-token": csrf });
    expect(answer.status).toBe(404);
    const body = (await answer.json()) as { code: string; details: { tokenId: string } };
    expect(body.code).toBe("E_TOKEN_NOT_FOUND");
    expect(body.details.tokenId.length).toBeLessThanOrEqual(64);
  });

  it("makes tokens only for a signed-in session: a token cannot mint a token that would outlive its revocation", async () => {
    const { id, token } = (await (await mint({ label: "parent", expiresInDays: 1 })).json()) as { id: string; token: string };
    const cli = new Client(host.url);
    const before = ((await (await call(ada, "GET", "/tokens")).json()) as unknown[]).length;
    const child = await call(cli, "POST", "/tokens", { label: "child", expiresInDays: 365 }, bearer(token));
    expect(child.status).toBe(403);
    const body = (await child.json()) as { code: string; message: string; token?: unknown };
    expect(body).toMatchObject({ code: "E_SESSION_REQUIRED", message: expect.stringMatching(/signed-in admin/) });
    expect(body.token).toBeUndefined();
    expect(((await (await call(ada, "GET", "/tokens")).json()) as unknown[]).length).toBe(before);
    expect((await auditOf("auth.api-token.create")).filter((line) => (line.details as { via?: string }).via === "token")).toEqual([]);
    // The token itself still works for everything else, and revoking it leaves nothing of it behind.
    expect((await call(cli, "GET", "/installs", undefined, bearer(token))).status).toBe(200);
    expect((await revoke(ada, id, { "x-csrf-token": csrf })).status).toBe(204);
    expect((await call(cli, "GET", "/installs", undefined, bearer(token))).status).toBe(401);
  });

  it(`caps a user's live tokens at ${MAX_LIVE_API_TOKENS}, naming the cap and how to revoke; expired and revoked ones do not count`, async () => {
    const gus = new Client(host.url);
    await gus.signIn("gus@globex.test");
    const gusCsrf = (await (await call(gus, "GET", "/session")).json()).csrfToken as string;
    const mintAsGus = (label: string) => call(gus, "POST", "/tokens", { label }, { "x-csrf-token": gusCsrf });
    const live = async () => ((await (await call(gus, "GET", "/tokens")).json()) as { id: string; user: string; expired: boolean }[]).filter((t) => t.user === "gus@globex.test" && !t.expired);
    const ids: string[] = [];
    for (let i = (await live()).length; i < MAX_LIVE_API_TOKENS; i += 1) {
      const made = await mintAsGus(`t${i}`);
      expect(made.status).toBe(201);
      ids.push(((await made.json()) as { id: string }).id);
    }
    const refused = await mintAsGus("one too many");
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ code: "E_TOKEN_LIMIT", message: expect.stringMatching(new RegExp(`${MAX_LIVE_API_TOKENS} live API tokens.*DELETE /admin/api/tokens/:id`)), details: { limit: MAX_LIVE_API_TOKENS } });
    expect(await live()).toHaveLength(MAX_LIVE_API_TOKENS);
    // The cap is per user: ada's tokens are not gus's.
    expect((await mint({ label: "ada is not gus" })).status).toBe(201);

    // Sent at once, as many as the cap allows and no more: the count and the insert are one step per user.
    await host.database.app.deleteFrom("api_tokens").where("id", "in", ids.slice(0, 2)).execute();
    const burst = await Promise.all(Array.from({ length: 6 }, (_, i) => mintAsGus(`burst-${i}`)));
    expect(burst.map((answer) => answer.status).sort()).toEqual([201, 201, 409, 409, 409, 409]);
    expect(await live()).toHaveLength(MAX_LIVE_API_TOKENS);

    // An expired token does not count; a revoked one is gone.
    await host.database.app.updateTable("api_tokens").set({ expires_at: new Date(Date.now() - 1000) }).where("id", "=", ids[2]!).execute();
    expect((await mintAsGus("after expiry")).status).toBe(201);
    expect((await mintAsGus("over again")).status).toBe(409);
    expect((await revoke(gus, ids[3]!, { "x-csrf-token": gusCsrf })).status).toBe(204);
    expect((await mintAsGus("after revocation")).status).toBe(201);
  });

  it("gives every token of a database from before expiries one at start: created_at + the default lifetime", async () => {
    const token = await host.createApiToken("u-ada", "old");
    const { root, appSchema } = host.database;
    const s = sql.id(appSchema);
    // What the table looked like before: no expires_at. One token made 100 days ago, one today.
    await sql`ALTER TABLE ${s}.api_tokens DROP COLUMN expires_at`.execute(root);
    await sql`UPDATE ${s}.api_tokens SET created_at = now() - interval '100 days' WHERE label = 'old'`.execute(root);
    await host.close();
    host = await createReferenceHost({ ...(await backend.options()), apiTokenDays: 30 });

    const rows = await host.database.app.selectFrom("api_tokens").select(["label", "created_at", "expires_at"]).execute();
    for (const row of rows) expect(new Date(row.expires_at).getTime() - new Date(row.created_at).getTime(), row.label).toBe(30 * DAY_MS);
    // 100 days old with a 30-day lifetime: expired the moment expiries came.
    expect((await call(new Client(host.url), "GET", "/installs", undefined, bearer(token))).status).toBe(401);

    // A process from before expiries, still running during a rolling upgrade, inserts a token without one: it gets the
    // default lifetime (90 days) instead of failing.
    const { root: now, appSchema: schema } = host.database;
    await sql`INSERT INTO ${sql.id(schema)}.api_tokens (id, token_hash, tenant, user_id, label) VALUES ('tok_legacy', 'legacy-hash', 'acme', 'u-ada', 'legacy')`.execute(now);
    const legacy = await host.database.app.selectFrom("api_tokens").select(["created_at", "expires_at"]).where("id", "=", "tok_legacy").executeTakeFirstOrThrow();
    expect(Math.round((new Date(legacy.expires_at).getTime() - new Date(legacy.created_at).getTime()) / DAY_MS)).toBe(90);
  }, 180_000);
});

describe("parseApiTokenDays (API_TOKEN_DAYS)", () => {
  it.each([
    [undefined, undefined],
    ["", undefined],
    ["1", 1],
    [" 90 ", 90],
    ["365", 365],
  ])("reads %j as %j", (raw, days) => {
    expect(parseApiTokenDays(raw)).toBe(days);
  });

  it.each(["0", "366", "-5", "1.5", "90d", "ninety"])("refuses %j with a message naming the variable and the range", (raw) => {
    expect(() => parseApiTokenDays(raw)).toThrow(/API_TOKEN_DAYS must be a whole number of days from 1 to 365/);
  });
});
