import type { Kysely } from "kysely";
import type { AnnexTables } from "../database/tables.js";
import { SecretsError } from "./errors.js";
import type { SecretsKeyring } from "./keyring.js";

/** Rows re-sealed per transaction. */
export const RESEAL_BATCH = 100;

/** A stored secret no key opens (altered, cut short, moved): named, never shown. */
export interface UnreadableSecret {
  kind: "install" | "webhook";
  installId: string;
  /** The install secret's name, or the webhook secret's row id. */
  name: string;
  /** The key it claims to be sealed with. */
  keyId: string;
}

export interface ResealResult {
  /** Secrets re-sealed under the current key. */
  resealed: number;
  /**
   * Secrets left as they were because their ciphertext fails authentication
   * (E_SECRET_DECRYPT). No key will ever open them: set them again, or
   * remove them; until then their old key still has rows.
   */
  unreadable: UnreadableSecret[];
}

/** One transaction's worth: what it re-sealed and skipped, and where the next starts (null: no rows left). */
export interface ResealBatch<Cursor> {
  resealed: number;
  unreadable: UnreadableSecret[];
  next: Cursor | null;
}

/** Passes over the table a re-seal makes at most (see resealInBatches). */
export const RESEAL_PASSES = 3;

/**
 * Re-seals stored secrets until none is left under an older key. Each batch
 * runs in its own transaction and locks its rows (`batch` selects up to
 * RESEAL_BATCH rows not under `currentKeyId` after `cursor`, FOR UPDATE, and
 * re-seals them with that key, named: never with whatever key is current by
 * then), so a concurrent write of the same secret waits and is never
 * overwritten by a stale value, and a long rotation never holds one huge
 * transaction. The cursor moves past every row seen: one unreadable row is
 * skipped and reported, instead of failing its batch and every retry (it
 * sorted first, so a rotation could never get past it).
 *
 * A pass that re-sealed something is followed by another from the start, up
 * to RESEAL_PASSES: in this process no row can be sealed with an older key
 * once the key switched (SecretsKeyring.sealing), but another host process
 * still configured with the older key as current may have written one behind
 * the cursor. `unreadable` is what the last pass found.
 */
export async function resealInBatches<Cursor>(
  db: Kysely<AnnexTables>,
  keyring: SecretsKeyring,
  batch: (trx: Kysely<AnnexTables>, currentKeyId: string, cursor: Cursor | null) => Promise<ResealBatch<Cursor>>,
): Promise<ResealResult> {
  const current = keyring.currentKeyId;
  if (current === undefined) {
    throw new SecretsError("E_SECRETS_KEY_MISSING", "rotateSecretsKey needs a secrets key: pass one, or configure createHost({ secrets: { keys } })");
  }
  const result: ResealResult = { resealed: 0, unreadable: [] };
  for (let pass = 0; pass < RESEAL_PASSES; pass++) {
    let resealed = 0;
    const unreadable: UnreadableSecret[] = [];
    let cursor: Cursor | null = null;
    do {
      const after: Cursor | null = cursor;
      const done: ResealBatch<Cursor> = await db.transaction().execute((trx) => batch(trx, current, after));
      resealed += done.resealed;
      unreadable.push(...done.unreadable);
      cursor = done.next;
    } while (cursor !== null);
    result.resealed += resealed;
    result.unreadable = unreadable;
    if (resealed === 0) break;
  }
  return result;
}

/** Opens a sealed value, or undefined when its ciphertext fails authentication; a missing key still throws (keep old keys until rotation ran). */
export async function openOrSkip(open: () => Promise<string>): Promise<string | undefined> {
  try {
    return await open();
  } catch (error) {
    if (error instanceof SecretsError && error.code === "E_SECRET_DECRYPT") return undefined;
    throw error;
  }
}
