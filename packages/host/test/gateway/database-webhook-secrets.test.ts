import { afterAll, beforeAll, expect, it } from "vitest";
import { createDatabaseWebhookSecrets, type DatabaseWebhookSecrets } from "../../src/gateway/database-webhook-secrets.js";
import { GatewayError } from "../../src/gateway/errors.js";
import { signWebhook } from "../../src/gateway/webhook-signature.js";
import { SecretsKeyring } from "../../src/secrets/keyring.js";
import { describeBackends } from "../support/backends.js";
import { gatewayWorld, problemOf, req, type GatewayWorld } from "./support.js";

const NOW = 1_750_000_000_000;
// The key gatewayWorld gives its host.
const KEYS = { keys: [{ id: "k1", key: Buffer.alloc(32, 7).toString("base64") }] };
const ADMIN = { actor: "admin@t1" };

const contains = (haystack: Uint8Array, needle: string): boolean => Buffer.from(haystack).includes(Buffer.from(needle));

describeBackends("database webhook secrets", (backend) => {
  let world: GatewayWorld;
  let clock = NOW;
  let installId: string;
  let otherInstallId: string;
  let store: DatabaseWebhookSecrets;
  let sent = 0;

  beforeAll(async () => {
    world = await gatewayWorld(backend);
    installId = (await world.installFor("t1")).id;
    otherInstallId = (await world.installFor("t2")).id;
    store = createDatabaseWebhookSecrets({ db: world.host.database.db, keyring: KEYS, now: () => clock });
  });
  afterAll(() => world.close());

  /** A signed delivery to t1 through a gateway reading secrets from `secrets`; each body is unique, so replays never interfere. */
  const deliver = (secrets: DatabaseWebhookSecrets, key: string, tenant = "t1") => {
    const body = JSON.stringify({ n: ++sent });
    const gateway = world.gatewayWith({ webhookSecrets: secrets, now: () => clock });
    return gateway.handle(
      req("POST", "/ext/acme.gw/hooks/events", { tenant, headers: { "content-type": "application/json", ...signWebhook(key, body, Math.floor(clock / 1000)).headers }, body }),
    );
  };

  const rows = () => world.host.database.db.selectFrom("annex_webhook_secrets").selectAll().orderBy("created_at").execute();

  it("verifies a real signed webhook with the secret an admin set, and refuses any other", async () => {
    const secret = await store.set(installId, undefined, ADMIN);
    expect(secret.length).toBeGreaterThanOrEqual(32);
    expect(await store.secrets({ id: installId, tenant: "t1", extensionId: "acme.gw" })).toEqual([secret]);
    const ok = await deliver(store, secret);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { body: unknown }).body).toEqual({ n: sent });
    const wrong = await deliver(store, "not-the-secret-at-all-0123456789");
    expect(wrong.status).toBe(401);
    expect((await problemOf(wrong)).code).toBe("E_WEBHOOK_SIGNATURE");
  });

  it("keeps a chosen secret across a new store instance over the same database", async () => {
    const chosen = "whsec_chosen_by_the_admin_0001";
    expect(await store.set({ id: installId }, chosen, ADMIN)).toBe(chosen);
    const reopened = createDatabaseWebhookSecrets({ db: world.host.database.db, keyring: new SecretsKeyring(KEYS), now: () => clock });
    expect((await deliver(reopened, chosen)).status).toBe(200);
    // The other tenant's install has no secret: its deliveries are refused, even signed with t1's secret.
    expect((await deliver(reopened, chosen, "t2")).status).toBe(401);
  });

  it("keeps the old secret valid for the grace period of a rotation, then refuses it", async () => {
    const before = await store.set(installId, undefined, ADMIN);
    const after = await store.rotate(installId, { graceSeconds: 60, actor: "admin@t1" });
    expect(after).not.toBe(before);
    expect(await store.secrets({ id: installId, tenant: "t1", extensionId: "acme.gw" })).toEqual([after, before]);
    expect((await deliver(store, before)).status).toBe(200);
    expect((await deliver(store, after)).status).toBe(200);
    clock += 61_000;
    expect((await deliver(store, before)).status).toBe(401);
    expect((await deliver(store, after)).status).toBe(200);
    // A second rotation drops the expired row and never extends a grace period already running.
    const third = await store.rotate(installId, { graceSeconds: 0, actor: "admin@t1" });
    expect((await deliver(store, after)).status).toBe(401);
    expect((await deliver(store, third)).status).toBe(200);
    const current = (await rows()).filter((row) => row.install_id === installId);
    expect(current.filter((row) => row.valid_until === null)).toHaveLength(1);
    expect(current).toHaveLength(1);
    clock = NOW;
  });

  it("never stores or audits a secret as plaintext, and audits set and rotate with the actor", async () => {
    const secret = await store.set(installId, "whsec_plaintext_probe_4242", { actor: "alice" });
    const rotated = await store.rotate(installId, { graceSeconds: 30, actor: "bob" });
    const stored = await rows();
    expect(stored.length).toBeGreaterThan(0);
    for (const row of stored) {
      for (const value of [secret, rotated]) {
        expect(contains(row.ciphertext, value)).toBe(false);
        expect(JSON.stringify({ ...row, nonce: undefined, ciphertext: undefined })).not.toContain(value);
      }
      expect(row.key_id).toBe("k1");
    }
    const lines = await world.host.audit.list({ action: "webhook.", limit: 1000 });
    const text = JSON.stringify(lines);
    expect(text).not.toContain(secret);
    expect(text).not.toContain(rotated);
    const mine = lines.filter((line) => line.actor === "alice" || line.actor === "bob");
    expect(mine.map((line) => [line.actor, line.action, line.target, line.tenant])).toEqual([
      ["alice", "webhook.secret.set", `install:${installId}`, "t1"],
      ["bob", "webhook.secret.rotate", `install:${installId}`, "t1"],
    ]);
  });

  it("refuses bad secrets and bad options with GatewayError E_WEBHOOK_SECRET, changing nothing", async () => {
    const good = await store.set(installId, undefined, ADMIN);
    const auditBefore = (await world.host.audit.list({ action: "webhook.", limit: 1000 })).length;
    const attempts: Array<() => Promise<unknown>> = [
      () => store.set(installId, "short", ADMIN),
      () => store.set(installId, "x".repeat(513), ADMIN),
      () => store.set(installId, 12345678901234567890 as unknown as string, ADMIN),
      () => store.set(installId, undefined, { actor: "" }),
      () => store.set(installId, undefined, undefined as unknown as { actor: string }),
      () => store.rotate(installId, { graceSeconds: -1, actor: "admin" }),
      () => store.rotate(installId, { graceSeconds: Number.NaN, actor: "admin" }),
      () => store.rotate("", { actor: "admin" }),
    ];
    for (const attempt of attempts) {
      const error = await attempt().catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(GatewayError);
      expect(error).toMatchObject({ code: "E_WEBHOOK_SECRET" });
    }
    await expect(store.set("no-such-install", undefined, ADMIN)).rejects.toMatchObject({ code: "E_INSTALL_NOT_FOUND" });
    expect(await store.secrets({ id: installId, tenant: "t1", extensionId: "acme.gw" })).toEqual([good]);
    expect((await world.host.audit.list({ action: "webhook.", limit: 1000 })).length).toBe(auditBefore);
  });

  it("refuses a sealed secret moved to another install instead of accepting it there", async () => {
    const secret = await store.set(installId, undefined, ADMIN);
    await world.host.database.db.updateTable("annex_webhook_secrets").set({ install_id: otherInstallId }).where("install_id", "=", installId).execute();
    await expect(store.secrets({ id: otherInstallId, tenant: "t2", extensionId: "acme.gw" })).rejects.toMatchObject({ code: "E_SECRET_DECRYPT" });
    const response = await deliver(store, secret, "t2");
    expect(response.status).toBeGreaterThanOrEqual(400);
    await world.host.database.db.deleteFrom("annex_webhook_secrets").where("install_id", "=", otherInstallId).execute();
  });

  it("refuses deliveries once the secrets are removed, and audits the removal", async () => {
    const secret = await store.set(installId, undefined, ADMIN);
    await store.remove(installId, { actor: "carol" });
    expect(await store.secrets({ id: installId, tenant: "t1", extensionId: "acme.gw" })).toEqual([]);
    expect((await deliver(store, secret)).status).toBe(401);
    const [line] = await world.host.audit.list({ actor: "carol" });
    expect(line).toMatchObject({ action: "webhook.secret.remove", target: `install:${installId}`, tenant: "t1" });
  });
});
