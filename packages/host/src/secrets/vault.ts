import type { Kysely } from "kysely";
import type { AnnexTables } from "../database/tables.js";
import { SecretsError } from "./errors.js";
import type { SecretsKeyring } from "./keyring.js";
import { openOrSkip, RESEAL_BATCH, resealInBatches, type ResealResult, type UnreadableSecret } from "./reseal.js";

/** Bytes a secret value may have once UTF-8 encoded. */
export const MAX_SECRET_BYTES = 16 * 1024;

export interface SecretsVault {
  /**
   * Seals and stores values (insert or replace) for one install. Call inside
   * the lifecycle transaction: the key cannot switch until it ends.
   */
  put(trx: Kysely<AnnexTables>, installId: string, values: Record<string, string>): Promise<void>;
  /** Names only, sorted. Values never leave the vault except through `reveal`. */
  names(db: Kysely<AnnexTables>, installId: string): Promise<string[]>;
  /** The plaintext of one secret, or undefined when not set. For the runner's `secrets.read`, nothing else. */
  reveal(db: Kysely<AnnexTables>, installId: string, name: string): Promise<string | undefined>;
  remove(trx: Kysely<AnnexTables>, installId: string, names?: readonly string[]): Promise<void>;
  /** Re-seals every secret not under the keyring's current key; says how many, and which no key opens. */
  reseal(db: Kysely<AnnexTables>): Promise<ResealResult>;
}

export function createSecretsVault(keyring: SecretsKeyring): SecretsVault {
  const aad = (installId: string, name: string) => `annex:secret:v1|${installId}|${name}`;

  return {
    async put(trx, installId, values) {
      const entries = Object.entries(values);
      if (entries.length === 0) return;
      // Until this transaction ends the current key stays as it is (a rotation's switch waits).
      await keyring.sealing(trx);
      for (const [name, value] of entries) {
        if (typeof value !== "string" || new TextEncoder().encode(value).byteLength > MAX_SECRET_BYTES) {
          throw new SecretsError(
            "E_SECRET_INVALID",
            `secrets.${name} must be a string of at most ${MAX_SECRET_BYTES} bytes`,
            { secret: name },
          );
        }
        const sealed = await keyring.seal(value, aad(installId, name));
        await trx
          .insertInto("annex_install_secrets")
          .values({ install_id: installId, name, key_id: sealed.keyId, nonce: sealed.nonce, ciphertext: sealed.ciphertext })
          .onConflict((conflict) =>
            conflict.columns(["install_id", "name"]).doUpdateSet({
              key_id: sealed.keyId,
              nonce: sealed.nonce,
              ciphertext: sealed.ciphertext,
              updated_at: new Date(),
            }),
          )
          .execute();
      }
    },

    async names(db, installId) {
      const rows = await db
        .selectFrom("annex_install_secrets")
        .select("name")
        .where("install_id", "=", installId)
        .orderBy("name")
        .execute();
      return rows.map((row) => row.name);
    },

    async reveal(db, installId, name) {
      const row = await db
        .selectFrom("annex_install_secrets")
        .select(["key_id", "nonce", "ciphertext"])
        .where("install_id", "=", installId)
        .where("name", "=", name)
        .executeTakeFirst();
      if (row === undefined) return undefined;
      return keyring.open({ keyId: row.key_id, nonce: row.nonce, ciphertext: row.ciphertext }, aad(installId, name), {
        installId,
        secret: name,
      });
    },

    async remove(trx, installId, names) {
      let query = trx.deleteFrom("annex_install_secrets").where("install_id", "=", installId);
      if (names !== undefined) {
        if (names.length === 0) return;
        query = query.where("name", "in", names);
      }
      await query.execute();
    },

    async reseal(db) {
      return resealInBatches<{ installId: string; name: string }>(db, keyring, async (trx, current, after) => {
        let query = trx
          .selectFrom("annex_install_secrets")
          .select(["install_id", "name", "key_id", "nonce", "ciphertext"])
          .where("key_id", "<>", current);
        if (after !== null) query = query.where((eb) => eb(eb.refTuple("install_id", "name"), ">", eb.tuple(after.installId, after.name)));
        const rows = await query.orderBy("install_id").orderBy("name").limit(RESEAL_BATCH).forUpdate().execute();
        const unreadable: UnreadableSecret[] = [];
        for (const row of rows) {
          const what = { installId: row.install_id, secret: row.name };
          const plain = await openOrSkip(() => keyring.open({ keyId: row.key_id, nonce: row.nonce, ciphertext: row.ciphertext }, aad(row.install_id, row.name), what));
          if (plain === undefined) {
            unreadable.push({ kind: "install", installId: row.install_id, name: row.name, keyId: row.key_id });
            continue;
          }
          const sealed = await keyring.seal(plain, aad(row.install_id, row.name), current);
          await trx
            .updateTable("annex_install_secrets")
            .set({ key_id: sealed.keyId, nonce: sealed.nonce, ciphertext: sealed.ciphertext, updated_at: new Date() })
            .where("install_id", "=", row.install_id)
            .where("name", "=", row.name)
            .execute();
        }
        const last = rows.at(-1);
        return { resealed: rows.length - unreadable.length, unreadable, next: rows.length < RESEAL_BATCH || last === undefined ? null : { installId: last.install_id, name: last.name } };
      });
    },
  };
}
