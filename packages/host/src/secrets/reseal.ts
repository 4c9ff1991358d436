import type { Kysely } from "kysely";
import type { AnnexTables } from "../database/tables.js";
import { SecretsError } from "./errors.js";
import type { SecretsKeyring } from "./keyring.js";

/** Rows re-sealed per transaction. */
export const RESEAL_BATCH = 100;

/**
 * Re-seals stored secrets until none is left under an older key. Each batch
 * runs in its own transaction and locks its rows (`batch` selects up to
 * RESEAL_BATCH rows not under `currentKeyId` FOR UPDATE and re-seals them), so
 * a concurrent write of the same secret waits and is never overwritten by a
 * stale value, and a long rotation never holds one huge transaction.
 */
export async function resealInBatches(
  db: Kysely<AnnexTables>,
  keyring: SecretsKeyring,
  batch: (trx: Kysely<AnnexTables>, currentKeyId: string) => Promise<number>,
): Promise<number> {
  const current = keyring.currentKeyId;
  if (current === undefined) {
    throw new SecretsError("E_SECRETS_KEY_MISSING", "rotateSecretsKey needs a secrets key: pass one, or configure createHost({ secrets: { keys } })");
  }
  let count = 0;
  for (;;) {
    const resealed = await db.transaction().execute((trx) => batch(trx, current));
    if (resealed === 0) return count;
    count += resealed;
  }
}
