import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import { writeAudit } from "../audit/audit-log.js";
import type { AnnexTables } from "../database/tables.js";
import { InstallError } from "../installs/errors.js";
import { SecretsKeyring, type SecretsKeyringOptions } from "../secrets/keyring.js";
import { openOrSkip, RESEAL_BATCH, resealInBatches, type ResealResult, type UnreadableSecret } from "../secrets/reseal.js";
import { GatewayError } from "./errors.js";
import { generateWebhookSecret, type WebhookSecretStore } from "./webhook-secrets.js";

export interface DatabaseWebhookSecretsOptions {
  /** The host's database: `host.database.db`. */
  db: Kysely<AnnexTables>;
  /** Seals secrets at rest: the host's keyring, or the same `{ keys }` given to `createHost({ secrets })`. */
  keyring: SecretsKeyring | SecretsKeyringOptions;
  /** Milliseconds since the epoch; tests inject a clock. */
  now?: (() => number) | undefined;
}

export interface WebhookSecretActor {
  /** Who did it, for the audit log. */
  actor: string;
}

export interface DatabaseWebhookSecrets extends WebhookSecretStore {
  /** Makes `secret` (a fresh random one when omitted) the install's only secret and returns it. */
  set(install: string | { id: string }, secret: string | undefined, options: WebhookSecretActor): Promise<string>;
  /**
   * Makes a fresh secret current and keeps the old ones valid for `graceSeconds`
   * (default one day), so senders can switch without dropping deliveries.
   */
  rotate(install: string | { id: string }, options: WebhookSecretActor & { graceSeconds?: number | undefined }): Promise<string>;
  /** Forgets every secret of the install: its `verify: "annex"` webhooks are refused until one is set again. */
  remove(install: string | { id: string }, options?: WebhookSecretActor): Promise<void>;
  /**
   * Re-seals every stored secret not sealed with the keyring's current key;
   * says how many, and which no key opens (left as they were).
   * `host.rotateSecretsKey()` calls it; call it yourself only for a store you
   * created with `createDatabaseWebhookSecrets`.
   */
  reseal(): Promise<ResealResult>;
}

const MIN_SECRET_LENGTH = 16;
const MAX_SECRET_LENGTH = 512;
const DEFAULT_GRACE_SECONDS = 86_400;

/**
 * Webhook secrets in the host's database, sealed with the host's secrets
 * keyring (AES-256-GCM, bound to the install and the row), so every process
 * of a host sees the same secrets and a database dump does not reveal them.
 * Changes write their audit line in the same transaction; the line names the
 * install and the key, never the secret.
 */
export function createDatabaseWebhookSecrets(options: DatabaseWebhookSecretsOptions): DatabaseWebhookSecrets {
  const { db } = options;
  const keyring = options.keyring instanceof SecretsKeyring ? options.keyring : new SecretsKeyring(options.keyring);
  const now = options.now ?? Date.now;
  const aad = (installId: string, rowId: string) => `annex:webhook-secret:v1|${installId}|${rowId}`;

  /**
   * Locks the install row, so concurrent changes to one install's secrets run one after another (and after
   * lifecycle calls, which take the same lock). The lock lets foreign-key checks of rows pointing at the install through.
   */
  const lockInstall = async (trx: Kysely<AnnexTables>, installId: string) => {
    const row = await trx.selectFrom("annex_installs").select(["id", "tenant"]).where("id", "=", installId).forNoKeyUpdate().executeTakeFirst();
    if (row === undefined) {
      throw new InstallError("E_INSTALL_NOT_FOUND", `webhook secrets: install ${installId} does not exist; pass the id returned by host.install`, { installId });
    }
    return row;
  };

  const insertCurrent = async (trx: Kysely<AnnexTables>, installId: string, secret: string) => {
    const id = randomUUID();
    // Until this transaction ends the current key stays as it is (a rotation's switch waits).
    await keyring.sealing(trx);
    const sealed = await keyring.seal(secret, aad(installId, id));
    await trx
      .insertInto("annex_webhook_secrets")
      .values({ id, install_id: installId, key_id: sealed.keyId, nonce: sealed.nonce, ciphertext: sealed.ciphertext, valid_until: null })
      .execute();
    return sealed.keyId;
  };

  return {
    async secrets(install) {
      const at = new Date(now());
      const rows = await db
        .selectFrom("annex_webhook_secrets")
        .select(["id", "key_id", "nonce", "ciphertext", "valid_until"])
        .where("install_id", "=", install.id)
        .where((eb) => eb.or([eb("valid_until", "is", null), eb("valid_until", ">", at)]))
        .execute();
      // Current first, then the most recently rotated out.
      rows.sort((a, b) => until(b.valid_until) - until(a.valid_until));
      return Promise.all(
        rows.map((row) =>
          keyring.open({ keyId: row.key_id, nonce: row.nonce, ciphertext: row.ciphertext }, aad(install.id, row.id), { installId: install.id, secret: "webhook" }),
        ),
      );
    },

    async set(install, secret, setOptions) {
      const installId = idOf(install);
      const actor = actorOf(setOptions, "set");
      const value = checkSecret(secret ?? generateWebhookSecret());
      return db.transaction().execute(async (trx) => {
        const { tenant } = await lockInstall(trx, installId);
        await trx.deleteFrom("annex_webhook_secrets").where("install_id", "=", installId).execute();
        const keyId = await insertCurrent(trx, installId, value);
        await writeAudit(trx, {
          actor,
          tenant,
          action: "webhook.secret.set",
          target: `install:${installId}`,
          decision: "allow",
          details: { keyId, generated: secret === undefined },
        });
        return value;
      });
    },

    async rotate(install, rotateOptions) {
      const installId = idOf(install);
      const actor = actorOf(rotateOptions, "rotate");
      const grace = rotateOptions.graceSeconds ?? DEFAULT_GRACE_SECONDS;
      if (typeof grace !== "number" || !Number.isFinite(grace) || grace < 0) {
        throw new GatewayError("E_WEBHOOK_SECRET", "webhook secrets rotate: graceSeconds must be a number of seconds, 0 or more", { installId });
      }
      const at = now();
      const graceEnd = new Date(at + grace * 1000);
      const value = generateWebhookSecret();
      return db.transaction().execute(async (trx) => {
        const { tenant } = await lockInstall(trx, installId);
        // Old secrets end at the grace period, never later than they already would.
        await trx
          .updateTable("annex_webhook_secrets")
          .set({ valid_until: graceEnd })
          .where("install_id", "=", installId)
          .where((eb) => eb.or([eb("valid_until", "is", null), eb("valid_until", ">", graceEnd)]))
          .execute();
        await trx.deleteFrom("annex_webhook_secrets").where("install_id", "=", installId).where("valid_until", "<=", new Date(at)).execute();
        const keyId = await insertCurrent(trx, installId, value);
        await writeAudit(trx, {
          actor,
          tenant,
          action: "webhook.secret.rotate",
          target: `install:${installId}`,
          decision: "allow",
          details: { keyId, graceSeconds: grace, previousValidUntil: graceEnd.toISOString() },
        });
        return value;
      });
    },

    async reseal() {
      return resealInBatches<string>(db, keyring, async (trx, current, after) => {
        let query = trx.selectFrom("annex_webhook_secrets").select(["id", "install_id", "key_id", "nonce", "ciphertext"]).where("key_id", "<>", current);
        if (after !== null) query = query.where("id", ">", after);
        const rows = await query.orderBy("id").limit(RESEAL_BATCH).forUpdate().execute();
        const unreadable: UnreadableSecret[] = [];
        for (const row of rows) {
          const what = { installId: row.install_id, secret: "webhook" };
          const plain = await openOrSkip(() => keyring.open({ keyId: row.key_id, nonce: row.nonce, ciphertext: row.ciphertext }, aad(row.install_id, row.id), what));
          if (plain === undefined) {
            unreadable.push({ kind: "webhook", installId: row.install_id, name: String(row.id), keyId: row.key_id });
            continue;
          }
          const sealed = await keyring.seal(plain, aad(row.install_id, row.id), current);
          await trx
            .updateTable("annex_webhook_secrets")
            .set({ key_id: sealed.keyId, nonce: sealed.nonce, ciphertext: sealed.ciphertext })
            .where("id", "=", row.id)
            .execute();
        }
        const last = rows.at(-1);
        return { resealed: rows.length - unreadable.length, unreadable, next: rows.length < RESEAL_BATCH || last === undefined ? null : last.id };
      });
    },

    async remove(install, removeOptions) {
      const installId = idOf(install);
      const actor = removeOptions === undefined ? "system" : actorOf(removeOptions, "remove");
      await db.transaction().execute(async (trx) => {
        const row = await trx.selectFrom("annex_installs").select("tenant").where("id", "=", installId).executeTakeFirst();
        const removed = await trx.deleteFrom("annex_webhook_secrets").where("install_id", "=", installId).executeTakeFirst();
        if (row === undefined || removed.numDeletedRows === 0n) return;
        await writeAudit(trx, {
          actor,
          tenant: row.tenant,
          action: "webhook.secret.remove",
          target: `install:${installId}`,
          decision: "allow",
          details: { removed: Number(removed.numDeletedRows) },
        });
      });
    },
  };
}

function until(date: Date | null): number {
  return date === null ? Infinity : date.getTime();
}

function idOf(install: string | { id: string }): string {
  const id = typeof install === "string" ? install : install?.id;
  if (typeof id !== "string" || id.length === 0) {
    throw new GatewayError("E_WEBHOOK_SECRET", "webhook secrets: install must be an install id (string) or an object with its id");
  }
  return id;
}

function actorOf(options: WebhookSecretActor | undefined, verb: string): string {
  const actor = options?.actor;
  if (typeof actor !== "string" || actor.length === 0) {
    throw new GatewayError("E_WEBHOOK_SECRET", `webhook secrets ${verb}: options.actor must name who is acting (it goes to the audit log)`);
  }
  return actor;
}

function checkSecret(secret: unknown): string {
  if (typeof secret !== "string" || secret.length < MIN_SECRET_LENGTH || secret.length > MAX_SECRET_LENGTH) {
    throw new GatewayError(
      "E_WEBHOOK_SECRET",
      `webhook secrets set: secret must be a string of ${MIN_SECRET_LENGTH} to ${MAX_SECRET_LENGTH} characters; omit it (or call generateWebhookSecret()) for a random one`,
    );
  }
  return secret;
}
