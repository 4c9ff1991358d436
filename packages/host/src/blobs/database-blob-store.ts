import type { Kysely } from "kysely";
import type { AnnexTables } from "../database/tables.js";
import { assertBlobKey, type BlobStore } from "./blob-store.js";

/** The default store: blobs in `annex_blobs`, beside the registry that points at them. */
export function createDatabaseBlobStore(db: Kysely<AnnexTables>): BlobStore {
  return {
    async put(hash, bytes) {
      assertBlobKey(hash);
      const inserted = await db
        .insertInto("annex_blobs")
        .values({ hash, bytes, size_bytes: bytes.byteLength })
        .onConflict((conflict) => conflict.column("hash").doNothing())
        .returning("hash")
        .executeTakeFirst();
      return inserted !== undefined;
    },
    async get(hash) {
      assertBlobKey(hash);
      const row = await db.selectFrom("annex_blobs").select("bytes").where("hash", "=", hash).executeTakeFirst();
      return row === undefined ? null : toUint8Array(row.bytes);
    },
    async has(hash) {
      assertBlobKey(hash);
      const row = await db.selectFrom("annex_blobs").select("hash").where("hash", "=", hash).executeTakeFirst();
      return row !== undefined;
    },
    async delete(hash) {
      assertBlobKey(hash);
      await db.deleteFrom("annex_blobs").where("hash", "=", hash).execute();
    },
  };
}

/** `pg` returns a Buffer, PGlite a Uint8Array: callers get a plain Uint8Array either way. */
function toUint8Array(bytes: Uint8Array): Uint8Array {
  return bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
