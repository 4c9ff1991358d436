import { afterEach, describe, expect, it, vi } from "vitest";
import { createHost, generateSecretsKey, SecretsError, type InstallOptions } from "../src/index.js";
import { SecretsKeyring } from "../src/secrets/keyring.js";
import { describeBackends } from "./support/backends.js";
import { world } from "./support/world.js";

const T = "tenant-a";
const EXT = "acme.hello";
const BASE = { version: "1.0.0", grants: [{ name: "log" as const }], config: { region: "eu" } } satisfies Partial<InstallOptions>;

async function failure(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof Error)) throw new Error("expected the call to fail");
  return error;
}

const contains = (haystack: Uint8Array, needle: Uint8Array): boolean => {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
};

describe("SecretsKeyring", () => {
  it("refuses one key id with two different keys, and takes the same key twice", () => {
    const key = generateSecretsKey();
    expect(() => new SecretsKeyring({ keys: [{ id: "k1", key }, { id: "k1", key: generateSecretsKey() }] })).toThrow(
      expect.objectContaining({ code: "E_SECRETS_KEY_CONFLICT" }),
    );
    const ring = new SecretsKeyring({ keys: [{ id: "k1", key }, { id: "k1", key: Buffer.from(key, "base64") }] });
    expect(ring.currentKeyId).toBe("k1");
  });

  it("seals with a fresh nonce each time and opens only with the same additional data", async () => {
    const ring = new SecretsKeyring({ keys: [{ id: "k1", key: generateSecretsKey() }] });
    const a = await ring.seal("value", "install-1|TOKEN");
    const b = await ring.seal("value", "install-1|TOKEN");
    expect(a.keyId).toBe("k1");
    expect(a.nonce).toHaveLength(12);
    expect(Buffer.from(a.nonce).equals(Buffer.from(b.nonce))).toBe(false);
    expect(Buffer.from(a.ciphertext).equals(Buffer.from(b.ciphertext))).toBe(false);
    expect(await ring.open(a, "install-1|TOKEN", {})).toBe("value");
    await expect(ring.open(a, "install-2|TOKEN", {})).rejects.toMatchObject({ code: "E_SECRET_DECRYPT" });
    const flipped = { ...a, ciphertext: a.ciphertext.map((byte, index) => (index === 0 ? byte ^ 1 : byte)) };
    await expect(ring.open(flipped, "install-1|TOKEN", {})).rejects.toMatchObject({ code: "E_SECRET_DECRYPT" });
  });

  it("refuses bad keys, unknown key ids, and sealing without a key", async () => {
    expect(() => new SecretsKeyring({ keys: [{ id: "k1", key: "c2hvcnQ=" }] })).toThrow(SecretsError);
    expect(() => new SecretsKeyring({ keys: [{ id: "k1", key: new Uint8Array(16) }] })).toThrow(/32 random bytes/);
    // process.env.ANNEX_SECRETS_KEY! when the variable is not set: the message says there is nothing, not a wrong size.
    expect(() => new SecretsKeyring({ keys: [{ id: "k1", key: undefined as unknown as string }] })).toThrow(/has no key material \(undefined\): is the variable/);
    expect(() => new SecretsKeyring({ keys: [{ id: "k1", key: "" }] })).toThrow(/an empty string/);
    expect(() => new SecretsKeyring({ keys: [{ id: "bad id!", key: generateSecretsKey() }] })).toThrow(/key id/);
    expect(() => new SecretsKeyring({ keys: [{ id: "k1", key: generateSecretsKey() }], current: "k2" })).toThrow(/k2/);
    await expect(new SecretsKeyring().seal("x", "aad")).rejects.toMatchObject({ code: "E_SECRETS_KEY_MISSING" });
    const sealed = await new SecretsKeyring({ keys: [{ id: "old", key: generateSecretsKey() }] }).seal("x", "aad");
    await expect(new SecretsKeyring({ keys: [{ id: "new", key: generateSecretsKey() }] }).open(sealed, "aad", {})).rejects.toMatchObject({
      code: "E_SECRETS_KEY_UNKNOWN",
    });
    expect(Buffer.from(generateSecretsKey(), "base64")).toHaveLength(32);
  });
});

describeBackends("install secrets", (backend) => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("stores values encrypted under the host key, lists names only, and reveals them to the host alone", async () => {
    const { host } = await world(backend);
    const install = await host.install(T, EXT, { ...BASE, secrets: { API_TOKEN: "plain-token-value", WEBHOOK_SECRET: "whsec-value" } });
    expect(await host.listSecretNames(T, EXT)).toEqual(["API_TOKEN", "WEBHOOK_SECRET"]);
    expect(JSON.stringify(install)).not.toContain("plain-token-value");
    expect(JSON.stringify(await host.getInstall(T, EXT))).not.toContain("plain-token-value");

    const rows = await host.database.db.selectFrom("annex_install_secrets").selectAll().orderBy("name").execute();
    expect(rows.map((row) => [row.name, row.key_id])).toEqual([
      ["API_TOKEN", "k1"],
      ["WEBHOOK_SECRET", "k1"],
    ]);
    for (const row of rows) {
      expect(row.nonce).toHaveLength(12);
      expect(contains(row.ciphertext, new TextEncoder().encode("plain-token-value"))).toBe(false);
      expect(contains(row.ciphertext, new TextEncoder().encode("whsec-value"))).toBe(false);
    }
    expect(await host.revealSecret(T, EXT, "API_TOKEN")).toBe("plain-token-value");
    expect(await host.revealSecret(T, EXT, "MISSING")).toBeUndefined();

    await host.setSecrets(T, EXT, { API_TOKEN: "rotated-token" }, { actor: "admin" });
    expect(await host.revealSecret(T, EXT, "API_TOKEN")).toBe("rotated-token");
    const [set] = await host.audit.list({ action: "install.secrets.set" });
    expect(set?.details).toMatchObject({ secretNames: ["API_TOKEN"] });
    await host.close();
  });

  it("refuses undeclared names and non-string values, and secrets on a host without a key", async () => {
    const { host, acme } = await world(backend);
    const undeclared = await failure(host.install(T, EXT, { ...BASE, secrets: { NOT_DECLARED: "x" } }));
    expect(undeclared).toMatchObject({ code: "E_SECRET_UNDECLARED" });
    expect(undeclared.message).toContain("NOT_DECLARED");
    expect(undeclared.message).toContain("API_TOKEN");
    expect((await failure(host.install(T, EXT, { ...BASE, secrets: { API_TOKEN: 42 as never } }))).code).toBe("E_SECRET_INVALID");
    expect(await host.getInstall(T, EXT)).toBeNull();

    const keyless = await createHost({
      database: await backend.connect(),
      schema: host.database.schema,
      trust: { store: acme.trustStore },
    });
    const noKey = await failure(keyless.install(T, EXT, { ...BASE, secrets: { API_TOKEN: "x" } }));
    expect(noKey.code).toBe("E_SECRETS_KEY_MISSING");
    expect(noKey.message).toContain("generateSecretsKey");
    expect(await keyless.getInstall(T, EXT)).toBeNull();
    expect((await keyless.install(T, EXT, BASE)).state).toBe("active");
    await host.close();
    await keyless.close();
  });

  it("binds each ciphertext to its install: a row copied to another tenant's install does not decrypt", async () => {
    const { host } = await world(backend);
    const a = await host.install("tenant-a", EXT, { ...BASE, secrets: { API_TOKEN: "token-of-a" } });
    const b = await host.install("tenant-b", EXT, { ...BASE, secrets: { API_TOKEN: "token-of-b" } });
    const stolen = await host.database.db
      .selectFrom("annex_install_secrets")
      .selectAll()
      .where("install_id", "=", b.id)
      .executeTakeFirstOrThrow();
    await host.database.db
      .updateTable("annex_install_secrets")
      .set({ nonce: stolen.nonce, ciphertext: stolen.ciphertext })
      .where("install_id", "=", a.id)
      .execute();
    const error = await failure(host.revealSecret("tenant-a", EXT, "API_TOKEN"));
    expect(error.code).toBe("E_SECRET_DECRYPT");
    expect(error.message).not.toContain("token-of-b");
    await host.close();
  });

  it("rotates the host key: every secret re-sealed, readable with the new key alone, not with the old one", async () => {
    const { host, secretsKey, acme } = await world(backend);
    await host.install("tenant-a", EXT, { ...BASE, secrets: { API_TOKEN: "a1", WEBHOOK_SECRET: "a2" } });
    await host.install("tenant-b", EXT, { ...BASE, secrets: { API_TOKEN: "b1" } });
    const k2 = { id: "k2", key: generateSecretsKey() };

    // Webhook secrets too: one current, one rotated out but still inside its grace period.
    const a = (await host.getInstall("tenant-a", EXT))!;
    const firstHook = await host.webhookSecrets.set(a.id, undefined, { actor: "ops" });
    const secondHook = await host.webhookSecrets.rotate(a.id, { actor: "ops", graceSeconds: 3600 });

    const rotated = await host.rotateSecretsKey(k2, { actor: "ops" });
    expect(rotated).toEqual({ keyId: "k2", resealed: 5, installSecrets: 3, webhookSecrets: 2, unreadable: [] });
    const keyIds = await host.database.db.selectFrom("annex_install_secrets").select("key_id").distinct().execute();
    expect(keyIds).toEqual([{ key_id: "k2" }]);
    const hookKeyIds = await host.database.db.selectFrom("annex_webhook_secrets").select("key_id").distinct().execute();
    expect(hookKeyIds).toEqual([{ key_id: "k2" }]);
    expect(await host.rotateSecretsKey()).toMatchObject({ resealed: 0, installSecrets: 0, webhookSecrets: 0 });

    // New secrets go under k2 as well.
    await host.setSecrets("tenant-b", EXT, { WEBHOOK_SECRET: "b2" });

    const schema = host.database.schema;
    const database = await backend.connect();
    const newOnly = await createHost({ database, schema, trust: { store: acme.trustStore }, secrets: { keys: [k2] } });
    expect(await newOnly.revealSecret("tenant-a", EXT, "WEBHOOK_SECRET")).toBe("a2");
    expect(await newOnly.revealSecret("tenant-b", EXT, "WEBHOOK_SECRET")).toBe("b2");
    // The gateway of a host holding only the new key still verifies both webhook secrets, newest first.
    expect(await newOnly.webhookSecrets.secrets(a)).toEqual([secondHook, firstHook]);
    const oldOnly = await createHost({ database, schema, trust: { store: acme.trustStore }, secrets: { keys: [secretsKey] } });
    const error = await failure(oldOnly.revealSecret("tenant-b", EXT, "API_TOKEN"));
    expect(error.code).toBe("E_SECRETS_KEY_UNKNOWN");
    expect(error.message).toContain("k2");
    await expect(oldOnly.webhookSecrets.secrets(a)).rejects.toMatchObject({ code: "E_SECRETS_KEY_UNKNOWN" });

    const audit = await host.audit.list({ action: "secrets.rotate" });
    expect(audit.map((entry) => entry.details)).toEqual([{ keyId: "k2" }, { keyId: "k2" }]);
    expect(JSON.stringify(audit)).not.toContain(k2.key);
    await Promise.all([host.close(), newOnly.close(), oldOnly.close()]);
  });

  it("rotates past a secret no key opens: it is skipped, named in the result and the audit log, and the rest are re-sealed", async () => {
    const { host } = await world(backend);
    const installs = [];
    for (const tenant of ["tenant-a", "tenant-b", "tenant-c", "tenant-d"]) installs.push(await host.install(tenant, EXT, { ...BASE, secrets: { API_TOKEN: `${tenant}-token` } }));
    const hook = await host.webhookSecrets.set(installs[0]!.id, undefined, { actor: "ops" });
    // The row that sorts first, cut short (what a torn write or a tamperer leaves); and a webhook secret altered.
    const [first] = [...installs].sort((x, y) => (x.id < y.id ? -1 : 1));
    await host.database.db.updateTable("annex_install_secrets").set({ ciphertext: new Uint8Array(3) }).where("install_id", "=", first!.id).execute();
    const hookRow = await host.database.db.selectFrom("annex_webhook_secrets").select(["id", "ciphertext"]).executeTakeFirstOrThrow();
    const altered = Uint8Array.from(hookRow.ciphertext);
    altered[0] = altered[0]! ^ 1;
    await host.database.db.updateTable("annex_webhook_secrets").set({ ciphertext: altered }).where("id", "=", hookRow.id).execute();

    const rotated = await host.rotateSecretsKey({ id: "k2", key: generateSecretsKey() }, { actor: "ops" });
    expect(rotated).toEqual({
      keyId: "k2",
      resealed: 3,
      installSecrets: 3,
      webhookSecrets: 0,
      unreadable: [
        { kind: "install", installId: first!.id, name: "API_TOKEN", keyId: "k1" },
        { kind: "webhook", installId: installs[0]!.id, name: hookRow.id, keyId: "k1" },
      ],
    });
    const under = await host.database.db.selectFrom("annex_install_secrets").select(["install_id", "key_id"]).orderBy("install_id").execute();
    expect(under.map((row) => [row.install_id === first!.id, row.key_id])).toEqual(expect.arrayContaining([[true, "k1"], [false, "k2"]]));
    expect(under.filter((row) => row.key_id === "k2")).toHaveLength(3);
    for (const [index, install] of installs.entries()) {
      if (install.id !== first!.id) expect(await host.revealSecret(install.tenant, EXT, "API_TOKEN")).toBe(`tenant-${"abcd"[index]}-token`);
    }
    const lines = await host.audit.list({ action: "secrets.rotate" });
    expect(lines.map((line) => [line.decision, line.details["unreadable"] ?? null])).toEqual([["allow", null], ["error", 2]]);
    expect(JSON.stringify(lines)).not.toContain(hook);
    // Setting the broken secret again heals it; the next rotation has nothing left behind.
    await host.setSecrets(first!.tenant, EXT, { API_TOKEN: "fresh" });
    await host.webhookSecrets.remove(installs[0]!.id, { actor: "ops" });
    expect(await host.rotateSecretsKey()).toMatchObject({ resealed: 0, unreadable: [] });
    await host.close();
  });

  it("refuses a rotation to other key material under a key id the host already has, and audits the refusal", async () => {
    const { host, secretsKey } = await world(backend);
    await host.install("tenant-a", EXT, { ...BASE, secrets: { API_TOKEN: "a1" } });
    const impostor = { id: secretsKey.id, key: generateSecretsKey() };
    const error = await failure(host.rotateSecretsKey(impostor, { actor: "ops" }));
    expect(error.code).toBe("E_SECRETS_KEY_CONFLICT");
    expect(error.message).toContain(`"${secretsKey.id}"`);
    expect(error.message).not.toContain(impostor.key);
    // Nothing changed: the secret opens with the original key, and the rotation is recorded as refused.
    expect(await host.revealSecret("tenant-a", EXT, "API_TOKEN")).toBe("a1");
    const audit = await host.audit.list({ action: "secrets.rotate" });
    expect(audit.map((entry) => [entry.decision, entry.details["keyId"], (entry.details["error"] as { code?: string } | undefined)?.code])).toEqual([
      ["deny", secretsKey.id, "E_SECRETS_KEY_CONFLICT"],
    ]);
    expect(JSON.stringify(audit)).not.toContain(impostor.key);

    // The same material again is not a conflict: the rotation is idempotent.
    expect(await host.rotateSecretsKey({ ...secretsKey }, { actor: "ops" })).toMatchObject({ keyId: secretsKey.id, resealed: 0 });
    // An invalid key is refused and audited too.
    expect((await failure(host.rotateSecretsKey({ id: "k9", key: "short" }, { actor: "ops" }))).code).toBe("E_SECRETS_KEY_INVALID");
    expect((await host.audit.list({ action: "secrets.rotate", decision: "deny" })).length).toBe(2);
    await host.close();
  });

  it("never lets a secret value reach an error, the audit log, the install rows or the console", async () => {
    const secret = `s3cr3t-${crypto.randomUUID()}`;
    const logged: string[] = [];
    for (const level of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
        logged.push(args.map(String).join(" "));
      });
    }
    const { host, published } = await world(backend);
    const errors: unknown[] = [];
    const attempt = async (call: () => Promise<unknown>) => {
      try {
        await call();
      } catch (error) {
        errors.push(error);
      }
    };

    await attempt(() => host.install(T, EXT, { ...BASE, secrets: { API_TOKEN: secret, NOPE: secret } }));
    await attempt(() => host.install(T, EXT, { ...BASE, secrets: { API_TOKEN: secret.repeat(2000) } }));
    await attempt(() => host.install(T, EXT, { ...BASE, grants: [], secrets: { API_TOKEN: secret } }));
    await attempt(() => host.install(T, EXT, { ...BASE, config: { region: secret }, secrets: { API_TOKEN: secret } }));
    await host.install(T, EXT, { ...BASE, secrets: { API_TOKEN: secret, WEBHOOK_SECRET: secret } });
    await attempt(() => host.install(T, EXT, { ...BASE, secrets: { API_TOKEN: secret } }));
    await attempt(() => host.setSecrets(T, EXT, { [secret.toUpperCase().replaceAll("-", "_")]: secret }));
    await attempt(() => host.upgrade(T, EXT, { version: "2.0.0", secrets: { API_TOKEN: secret } }));
    await attempt(() => host.upgrade(T, EXT, { version: "1.1.0", secrets: { WEBHOOK_SECRET: secret, EXTRA: secret } }));
    await host.upgrade(T, EXT, { version: "1.1.0", secrets: { API_TOKEN: secret } });
    await host.database.db.updateTable("annex_blobs").set({ bytes: new TextEncoder().encode(secret) }).where("hash", "=", published["2.0.0"]!.contentHash).execute();
    await attempt(() =>
      host.upgrade(T, EXT, { version: "2.0.0", grants: [{ name: "log" }, { name: "http.fetch", hosts: ["api.example.com"] }], secrets: { API_TOKEN: secret } }),
    );
    const exported = await host.exportData(T, EXT);
    await host.uninstall(T, EXT, { purge: true });

    expect(errors.length).toBeGreaterThanOrEqual(8);
    const codes = errors.map((error) => (error as { code?: string }).code);
    expect(codes).toEqual(expect.arrayContaining(["E_SECRET_UNDECLARED", "E_SECRET_INVALID", "E_GRANTS_MISSING", "E_CONFIG_INVALID", "E_INSTALL_EXISTS"]));
    for (const error of errors) {
      const text = [String(error), (error as Error).stack ?? "", JSON.stringify(error), JSON.stringify((error as { details?: unknown }).details ?? null)].join("\n");
      expect(text, (error as { code?: string }).code).not.toContain(secret);
    }
    const audit = await host.audit.list({ limit: 1000 });
    expect(audit.length).toBeGreaterThan(10);
    expect(JSON.stringify(audit)).not.toContain(secret);
    const installs = await host.database.db.selectFrom("annex_installs").selectAll().execute();
    expect(JSON.stringify(installs)).not.toContain(secret);
    expect(JSON.stringify(exported)).not.toContain(secret);
    expect(logged.join("\n")).not.toContain(secret);
    await host.close();
  });
});
