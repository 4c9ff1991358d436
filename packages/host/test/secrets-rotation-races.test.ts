import { expect, it } from "vitest";
import { createHost, generateSecretsKey, type InstallOptions, type SecretsKey } from "../src/index.js";
import { describeBackends } from "./support/backends.js";
import { world } from "./support/world.js";

const EXT = "acme.hello";
const BASE = { version: "1.0.0", grants: [{ name: "log" as const }], config: { region: "eu" } } satisfies Partial<InstallOptions>;

const key = (id: string): SecretsKey & { key: string } => ({ id, key: generateSecretsKey() });

describeBackends("secrets key rotation under concurrency", (backend) => {
  // PostgreSQL only: PGlite has one session, so a writer's transaction never overlaps a re-seal batch.
  if (backend.name === "postgres") it(
    "a secret written while the key switches is never left under the old key once the rotation resolved",
    async () => {
      const { host, acme } = await world(backend);
      try {
        const tenants = ["tenant-a", "tenant-b", "tenant-c", "tenant-d"];
        for (const tenant of tenants) await host.install(tenant, EXT, { ...BASE, secrets: { API_TOKEN: "token-0" } });
        const install = (await host.getInstall("tenant-a", EXT))!;
        await host.webhookSecrets.set(install.id, undefined, { actor: "ops" });
        const stale: string[] = [];
        let last: (SecretsKey & { key: string }) | undefined;
        let hook = "";
        for (let round = 0; round < 50; round++) {
          // Each round inserts new install secrets (and replaces others) and a new webhook secret row while the key switches.
          await host.database.db.deleteFrom("annex_install_secrets").where("name", "=", "WEBHOOK_SECRET").execute();
          last = key(`r${round}`);
          const [rotated, written] = await Promise.all([
            host.rotateSecretsKey(last, { actor: "ops" }),
            host.webhookSecrets.set(install.id, undefined, { actor: "ops" }),
            ...tenants.map((tenant) => host.setSecrets(tenant, EXT, { WEBHOOK_SECRET: `secret-${round}`, API_TOKEN: `token-${round}` })),
          ]);
          hook = written as string;
          expect(rotated).toMatchObject({ keyId: last.id });
          const installRows = await host.database.db.selectFrom("annex_install_secrets").select(["install_id", "name", "key_id"]).execute();
          const hookRows = await host.database.db.selectFrom("annex_webhook_secrets").select(["id", "key_id"]).execute();
          for (const row of installRows) if (row.key_id !== last.id) stale.push(`round ${round}: install secret ${row.install_id}/${row.name} under ${row.key_id}`);
          for (const row of hookRows) if (row.key_id !== last.id) stale.push(`round ${round}: webhook secret ${row.id} under ${row.key_id}`);
        }
        expect(stale).toEqual([]);

        // The old keys can go: a host with the last key alone reads every secret.
        const newOnly = await createHost({ database: await backend.connect(), schema: host.database.schema, trust: { store: acme.trustStore }, secrets: { keys: [last!] } });
        try {
          for (const tenant of tenants) {
            expect(await newOnly.revealSecret(tenant, EXT, "API_TOKEN")).toBe("token-49");
            expect(await newOnly.revealSecret(tenant, EXT, "WEBHOOK_SECRET")).toBe("secret-49");
          }
          expect(await newOnly.webhookSecrets.secrets(install)).toEqual([hook]);
        } finally {
          await newOnly.close();
        }
      } finally {
        await host.close();
      }
    },
    120_000,
  );

  it("concurrent rotations run one after the other: each reports, and audits, the key it sealed every secret with", async () => {
    const { host, acme } = await world(backend);
    try {
      for (let i = 0; i < 5; i++) await host.install(`tenant-${i}`, EXT, { ...BASE, secrets: { API_TOKEN: `token-${i}` } });
      const hooked = (await host.getInstall("tenant-0", EXT))!;
      const hook = await host.webhookSecrets.set(hooked.id, undefined, { actor: "ops" });
      const rounds = 10;
      let final: (SecretsKey & { key: string }) | undefined;
      for (let round = 0; round < rounds; round++) {
        const a = key(`a${round}`);
        const b = key(`b${round}`);
        const results = await Promise.all([host.rotateSecretsKey(a, { actor: "ops-a" }), host.rotateSecretsKey(b, { actor: "ops-b" })]);
        expect(results.map((result) => result.keyId)).toEqual(["a" + round, "b" + round]);
        // Each moved every secret, from the key before it to its own: none was half done by the other.
        for (const result of results) expect(result).toMatchObject({ resealed: 6, installSecrets: 5, webhookSecrets: 1, unreadable: [] });
        const installKeys = await host.database.db.selectFrom("annex_install_secrets").select("key_id").distinct().execute();
        const hookKeys = await host.database.db.selectFrom("annex_webhook_secrets").select("key_id").distinct().execute();
        // The one that resolved last is the one the rows are under.
        expect(installKeys).toEqual([{ key_id: `b${round}` }]);
        expect(hookKeys).toEqual([{ key_id: `b${round}` }]);
        final = b;
      }
      // The audit log tells the same story, one rotation after the other.
      const lines = await host.audit.list({ action: "secrets.rotate", limit: 100 });
      const told = lines.map((line) => `${line.actor}:${line.decision}:${(line.details as { keyId?: string }).keyId}`);
      expect(told).toEqual(Array.from({ length: rounds }, (_, round) => [`ops-a:allow:a${round}`, `ops-b:allow:b${round}`]).flat());

      const newOnly = await createHost({ database: await backend.connect(), schema: host.database.schema, trust: { store: acme.trustStore }, secrets: { keys: [final!] } });
      try {
        for (let i = 0; i < 5; i++) expect(await newOnly.revealSecret(`tenant-${i}`, EXT, "API_TOKEN")).toBe(`token-${i}`);
        expect(await newOnly.webhookSecrets.secrets(hooked)).toEqual([hook]);
      } finally {
        await newOnly.close();
      }
    } finally {
      await host.close();
    }
  }, 120_000);
});
