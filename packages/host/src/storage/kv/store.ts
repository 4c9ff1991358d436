import { sql, type Kysely } from "kysely";
import type { AnnexTables } from "../../database/tables.js";
import { KvError } from "./errors.js";
import { checkKey, checkPrefix, decodeCursor, encodeCursor, prefixUpperBound, utf8Bytes } from "./keys.js";
import type { KvLimits } from "./policy.js";
import { encodeValue } from "./values.js";

/** Whose kv: every query is filtered by both, never by a key prefix. */
export interface KvNamespace {
  tenant: string;
  installId: string;
}

export interface KvEntry {
  value: unknown;
  /** Changes with every write; pass it as `ifVersion` to write only if nobody wrote in between. */
  version: number;
  expiresAt: Date | null;
}

export interface KvSetOptions {
  /** The key disappears this many seconds after the write. Default: never. */
  ttlSeconds?: number | undefined;
  /** Write only if the key's version is still this; 0 means "only if the key does not exist". */
  ifVersion?: number | undefined;
}

export interface KvDeleteOptions {
  /** Delete only if the key's version is still this. */
  ifVersion?: number | undefined;
}

export interface KvListOptions {
  prefix?: string | undefined;
  /** 1 to 1000; default 100. */
  limit?: number | undefined;
  cursor?: string | undefined;
}

export interface KvPage {
  keys: string[];
  /** Pass back as `cursor` for the next page; null at the end. */
  cursor: string | null;
}

export interface KvExportEntry {
  key: string;
  value: unknown;
  version: number;
  expiresAt: string | null;
}

export interface KvUsage {
  keys: number;
  bytes: number;
}

/**
 * The kv store behind `ctx.kv`: one table for every install, each row keyed by
 * (tenant, install, key), and a usage row per install that every write locks
 * first, so that writes to one key are atomic, compare-and-set is exact and
 * quotas hold however many handlers write at once. Expired keys are invisible
 * from the instant they expire and deleted later (`sweepExpired`, or when an
 * install's quota would otherwise refuse a write).
 */
export interface KvStore {
  get(ns: KvNamespace, key: string, limits: Pick<KvLimits, "keyBytes">): Promise<KvEntry | null>;
  set(ns: KvNamespace, key: string, value: unknown, options: KvSetOptions, limits: KvLimits): Promise<{ version: number }>;
  /** Whether a live key was deleted. */
  delete(ns: KvNamespace, key: string, options: KvDeleteOptions, limits: Pick<KvLimits, "keyBytes">): Promise<boolean>;
  list(ns: KvNamespace, options: KvListOptions): Promise<KvPage>;
  /** Every live entry, sorted by key (`db`: the caller's transaction, for export). */
  entries(ns: KvNamespace, db?: Kysely<AnnexTables>): Promise<KvExportEntry[]>;
  usage(ns: KvNamespace): Promise<KvUsage>;
  /** Deletes everything of one install (`db`: the uninstall transaction). */
  purge(ns: KvNamespace, db?: Kysely<AnnexTables>): Promise<void>;
  /** Deletes expired keys of up to `installs` installs; returns how many keys went. */
  sweepExpired(options?: { installs?: number | undefined }): Promise<number>;
}

export interface KvStoreOptions {
  db: Kysely<AnnexTables>;
  /** The schema of Annex's tables (the raw statement of `singleSession` names them itself). */
  schema?: string | undefined;
  /**
   * True when every statement on `db` runs in one session, one at a time (the
   * embedded PGlite): nothing can come between the reads and the writes of one
   * statement, so a write that needs no sweep is that one statement instead of
   * a transaction of six (see `setAlone`).
   */
  singleSession?: boolean | undefined;
  /** Clock in ms since the epoch: expiry is decided by the host's clock, not the database's. */
  now?: (() => number) | undefined;
}

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;
/** 100 years: beyond it an expiry date leaves what PostgreSQL and Date can hold long before the key matters. */
const MAX_TTL_SECONDS = 100 * 366 * 24 * 3600;

export function createKvStore(options: KvStoreOptions): KvStore {
  const { db } = options;
  const clock = options.now ?? Date.now;

  const inNamespace = <Q extends { where: Function }>(query: Q, ns: KvNamespace): Q =>
    (query.where as any)("tenant", "=", ns.tenant).where("install_id", "=", ns.installId) as Q;

  /** Takes the install's usage row (creating it), which serializes the install's writes until commit. */
  async function lockUsage(trx: Kysely<AnnexTables>, ns: KvNamespace): Promise<KvUsage & { lastVersion: number }> {
    const row = await trx
      .insertInto("annex_kv_usage")
      .values({ tenant: ns.tenant, install_id: ns.installId, keys: 0, bytes: 0 })
      .onConflict((conflict) => conflict.columns(["tenant", "install_id"]).doUpdateSet({ keys: (eb) => eb.ref("annex_kv_usage.keys") }))
      .returning(["keys", "bytes", "last_version"])
      .executeTakeFirstOrThrow();
    return { keys: Number(row.keys), bytes: Number(row.bytes), lastVersion: Number(row.last_version) };
  }

  /** Inside a write: deletes the install's expired keys (but `keep`), returning what they held. */
  async function sweepInstall(trx: Kysely<AnnexTables>, ns: KvNamespace, now: Date, keep?: string): Promise<KvUsage> {
    let query = inNamespace(trx.deleteFrom("annex_kv"), ns).where("expires_at", "<=", now);
    if (keep !== undefined) query = query.where("key", "<>", keep);
    const gone = await query.returning("size_bytes").execute();
    return { keys: gone.length, bytes: gone.reduce((sum, row) => sum + row.size_bytes, 0) };
  }

  function conflict(key: string, expected: number, actual: number): KvError {
    return new KvError(
      "E_KV_VERSION_CONFLICT",
      actual === 0
        ? `kv key ${JSON.stringify(key.slice(0, 64))} does not exist (expected version ${expected}); someone else deleted it: read it again and decide`
        : expected === 0
          ? `kv key ${JSON.stringify(key.slice(0, 64))} already exists (version ${actual}); ifVersion 0 writes only a new key`
          : `kv key ${JSON.stringify(key.slice(0, 64))} is at version ${actual}, not ${expected}: someone else wrote it first; read it again and retry`,
      { expected, actual },
    );
  }

  function checkIfVersion(value: unknown): number | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
      throw new KvError("E_KV_OPTIONS", "ifVersion must be a version read with getEntry (a whole number), or 0 for a key that must not exist yet", { expected: String(value) });
    }
    return value;
  }

  function overQuota(limit: "keys" | "totalBytes", max: number, actual: number): KvError {
    return new KvError(
      "E_KV_QUOTA_EXCEEDED",
      limit === "keys"
        ? `kv holds ${max} keys, the keys limit of this install; delete keys (or let them expire) before adding more`
        : `kv would hold ${actual} bytes, over the totalBytes limit of ${max} for this install; delete keys or store less`,
      { limit, max, actual },
    );
  }

  const table = (name: "annex_kv" | "annex_kv_usage") => (options.schema === undefined ? sql.id(name) : sql.id(options.schema, name));
  /** The key's row (live or expired), for the one-statement writes. */
  const keyRow = (ns: KvNamespace, key: string) =>
    sql`SELECT size_bytes, version, expires_at FROM ${table("annex_kv")} WHERE tenant = ${ns.tenant} AND install_id = ${ns.installId} AND key = ${key}`;
  /** Over `current` (a LEFT JOINed keyRow): its version if it is live at `now`, else 0 — what ifVersion is compared with. */
  const liveVersion = (now: Date) =>
    sql`CASE WHEN current.version IS NOT NULL AND (current.expires_at IS NULL OR current.expires_at > ${now}::timestamptz) THEN current.version ELSE 0 END`;
  /** Whether `actual` passes `ifVersion` (no ifVersion: always). */
  const versionMatches = (ifVersion: number | undefined) => sql`(${ifVersion ?? null}::bigint IS NULL OR actual = ${ifVersion ?? null}::bigint)`;

  /**
   * The whole of a `set` in one statement, for a single session only: with
   * another session between its reads and its writes the quotas would not
   * hold (the transaction's lock on the usage row is what serialises
   * sessions). It writes only when the write passes the quotas as they stand
   * and `ifVersion` matches; otherwise it writes nothing and says what it
   * found (`version` null), and the caller throws the conflict or falls back
   * to the transaction, which sweeps expired keys first. Same reads, same
   * arithmetic and same rows as that transaction.
   */
  async function setAlone(
    ns: KvNamespace,
    key: string,
    json: string,
    size: number,
    expiresAt: Date | null,
    now: Date,
    ifVersion: number | undefined,
    limits: KvLimits,
  ): Promise<{ version: number | null; actual: number }> {
    const kv = table("annex_kv");
    const usage = table("annex_kv_usage");
    const { rows } = await sql<{ version: string | number | null; actual: string | number }>`
      WITH used AS (
        SELECT coalesce(max(keys), 0) AS keys, coalesce(max(bytes), 0) AS bytes, coalesce(max(last_version), 0) AS last_version
        FROM ${usage} WHERE tenant = ${ns.tenant} AND install_id = ${ns.installId}
      ), current AS (${keyRow(ns, key)}
      ), next AS (
        SELECT used.keys + CASE WHEN current.version IS NULL THEN 1 ELSE 0 END AS keys,
               used.bytes - coalesce(current.size_bytes, 0) + ${size}::integer AS bytes,
               used.last_version + 1 AS version,
               ${liveVersion(now)} AS actual
        FROM used LEFT JOIN current ON true
      ), allowed AS (
        SELECT keys, bytes, version FROM next
        WHERE keys <= ${limits.keys}::integer AND bytes <= ${limits.totalBytes}::bigint AND ${versionMatches(ifVersion)}
      ), written AS (
        INSERT INTO ${kv} (tenant, install_id, key, value, size_bytes, version, expires_at, updated_at)
        SELECT ${ns.tenant}, ${ns.installId}, ${key}, ${json}, ${size}::integer, version, ${expiresAt}::timestamptz, ${now}::timestamptz FROM allowed
        ON CONFLICT (tenant, install_id, key) DO UPDATE SET
          value = excluded.value, size_bytes = excluded.size_bytes, expires_at = excluded.expires_at,
          -- The install's next number, as for a new row.
          updated_at = excluded.updated_at, version = excluded.version
        RETURNING version
      ), counted AS (
        INSERT INTO ${usage} (tenant, install_id, keys, bytes, last_version)
        SELECT ${ns.tenant}, ${ns.installId}, keys, bytes, version FROM allowed
        ON CONFLICT (tenant, install_id) DO UPDATE SET keys = excluded.keys, bytes = excluded.bytes, last_version = excluded.last_version
      )
      SELECT (SELECT version FROM written) AS version, next.actual FROM next`.execute(db);
    const row = rows[0]!;
    return { version: row.version === null ? null : Number(row.version), actual: Number(row.actual) };
  }

  /**
   * The whole of a `delete` in one statement, for a single session only (see
   * `setAlone`): the row goes, and the usage row with it, only when
   * `ifVersion` matches; `actual` is the live version found (0: none).
   */
  async function deleteAlone(ns: KvNamespace, key: string, now: Date, ifVersion: number | undefined): Promise<{ actual: number }> {
    const kv = table("annex_kv");
    const usage = table("annex_kv_usage");
    const { rows } = await sql<{ actual: string | number }>`
      WITH current AS (${keyRow(ns, key)}
      ), found AS (
        SELECT current.version IS NOT NULL AS present, ${liveVersion(now)} AS actual
        FROM (SELECT 1) AS one LEFT JOIN current ON true
      ), gone AS (
        DELETE FROM ${kv}
        WHERE tenant = ${ns.tenant} AND install_id = ${ns.installId} AND key = ${key}
          AND EXISTS (SELECT 1 FROM found WHERE present AND ${versionMatches(ifVersion)})
        RETURNING size_bytes
      ), counted AS (
        UPDATE ${usage} SET keys = keys - 1, bytes = bytes - (SELECT size_bytes FROM gone)
        WHERE tenant = ${ns.tenant} AND install_id = ${ns.installId} AND EXISTS (SELECT 1 FROM gone)
      )
      SELECT actual FROM found`.execute(db);
    return { actual: Number(rows[0]!.actual) };
  }

  const store: KvStore = {
    async get(ns, key, limits) {
      const checked = checkKey(key, limits);
      const now = new Date(clock());
      const row = await inNamespace(db.selectFrom("annex_kv"), ns)
        .select(["value", "version", "expires_at"])
        .where("key", "=", checked)
        .where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", ">", now)]))
        .executeTakeFirst();
      if (row === undefined) return null;
      return { value: JSON.parse(row.value), version: Number(row.version), expiresAt: row.expires_at };
    },

    async set(ns, key, value, setOptions, limits) {
      const checked = checkKey(key, limits);
      const encoded = encodeValue(value, limits);
      const ifVersion = checkIfVersion(setOptions.ifVersion);
      const ttl = setOptions.ttlSeconds;
      if (ttl !== undefined && !(Number.isSafeInteger(ttl) && ttl > 0 && ttl <= MAX_TTL_SECONDS)) {
        throw new KvError("E_KV_OPTIONS", `kv set: ttlSeconds must be a positive whole number of seconds, at most ${MAX_TTL_SECONDS} (100 years)`, { field: "ttlSeconds" });
      }
      const size = utf8Bytes(checked) + encoded.bytes;
      if (size > limits.totalBytes) throw overQuota("totalBytes", limits.totalBytes, size);
      const now = new Date(clock());
      const expiresAt = ttl === undefined ? null : new Date(now.getTime() + ttl * 1000);
      if (options.singleSession === true) {
        const alone = await setAlone(ns, checked, encoded.json, size, expiresAt, now, ifVersion, limits);
        if (alone.version !== null) return { version: alone.version };
        if (ifVersion !== undefined && alone.actual !== ifVersion) throw conflict(checked, ifVersion, alone.actual);
        // Over a quota before expired keys are swept: the transaction below sweeps and decides.
      }
      return db.transaction().execute(async (trx) => {
        const usage = await lockUsage(trx, ns);
        const current = await inNamespace(trx.selectFrom("annex_kv"), ns)
          .select(["size_bytes", "version", "expires_at"])
          .where("key", "=", checked)
          .forUpdate()
          .executeTakeFirst();
        if (ifVersion !== undefined) {
          const live = current !== undefined && (current.expires_at === null || current.expires_at > now);
          const actual = live ? Number(current.version) : 0;
          if (actual !== ifVersion) throw conflict(checked, ifVersion, actual);
        }
        let keys = usage.keys + (current === undefined ? 1 : 0);
        let bytes = usage.bytes - (current?.size_bytes ?? 0) + size;
        if (keys > limits.keys || bytes > limits.totalBytes) {
          const swept = await sweepInstall(trx, ns, now, checked);
          keys -= swept.keys;
          bytes -= swept.bytes;
          if (keys > limits.keys) throw overQuota("keys", limits.keys, keys);
          if (bytes > limits.totalBytes) throw overQuota("totalBytes", limits.totalBytes, bytes);
        }
        // The install's next number (its usage row is locked above), for a new row and an overwrite alike.
        const version = usage.lastVersion + 1;
        await trx
          .insertInto("annex_kv")
          .values({ tenant: ns.tenant, install_id: ns.installId, key: checked, value: encoded.json, size_bytes: size, version, expires_at: expiresAt, updated_at: now })
          .onConflict((onConflict) =>
            onConflict.columns(["tenant", "install_id", "key"]).doUpdateSet({ value: encoded.json, size_bytes: size, version, expires_at: expiresAt, updated_at: now }),
          )
          .execute();
        await inNamespace(trx.updateTable("annex_kv_usage").set({ keys, bytes, last_version: version }), ns).execute();
        return { version };
      });
    },

    async delete(ns, key, deleteOptions, limits) {
      const checked = checkKey(key, limits);
      const ifVersion = checkIfVersion(deleteOptions.ifVersion);
      const now = new Date(clock());
      if (options.singleSession === true) {
        const alone = await deleteAlone(ns, checked, now, ifVersion);
        if (ifVersion !== undefined && alone.actual !== ifVersion) throw conflict(checked, ifVersion, alone.actual);
        return alone.actual !== 0;
      }
      return db.transaction().execute(async (trx) => {
        const usage = await lockUsage(trx, ns);
        const gone = await inNamespace(trx.deleteFrom("annex_kv"), ns)
          .where("key", "=", checked)
          .returning(["size_bytes", "version", "expires_at"])
          .executeTakeFirst();
        const live = gone !== undefined && (gone.expires_at === null || gone.expires_at > now);
        if (ifVersion !== undefined) {
          const actual = live ? Number(gone.version) : 0;
          // Throwing rolls the delete back.
          if (actual !== ifVersion) throw conflict(checked, ifVersion, actual);
        }
        if (gone !== undefined) {
          await inNamespace(trx.updateTable("annex_kv_usage").set({ keys: usage.keys - 1, bytes: usage.bytes - gone.size_bytes }), ns).execute();
        }
        return live;
      });
    },

    async list(ns, listOptions) {
      const prefix = checkPrefix(listOptions.prefix);
      const after = decodeCursor(listOptions.cursor);
      const limit = listOptions.limit ?? DEFAULT_PAGE;
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE) {
        throw new KvError("E_KV_OPTIONS", `kv list: limit must be a whole number from 1 to ${MAX_PAGE}`);
      }
      const now = new Date(clock());
      let query = inNamespace(db.selectFrom("annex_kv"), ns)
        .select("key")
        .where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", ">", now)]));
      if (prefix !== "") {
        // A range of the key index, not LIKE: % and _ in a prefix are just characters.
        query = query.where("key", ">=", prefix).where(sql<boolean>`starts_with(key, ${prefix})`);
        const upper = prefixUpperBound(prefix);
        if (upper !== undefined) query = query.where("key", "<", upper);
      }
      if (after !== undefined) query = query.where("key", ">", after);
      const rows = await query.orderBy("key").limit(limit + 1).execute();
      const keys = rows.slice(0, limit).map((row) => row.key);
      return { keys, cursor: rows.length > limit ? encodeCursor(keys[keys.length - 1]!) : null };
    },

    async entries(ns, reader = db) {
      const now = new Date(clock());
      const rows = await inNamespace(reader.selectFrom("annex_kv"), ns)
        .select(["key", "value", "version", "expires_at"])
        .where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", ">", now)]))
        .orderBy("key")
        .execute();
      return rows.map((row) => ({
        key: row.key,
        value: JSON.parse(row.value),
        version: Number(row.version),
        expiresAt: row.expires_at === null ? null : row.expires_at.toISOString(),
      }));
    },

    async usage(ns) {
      const row = await inNamespace(db.selectFrom("annex_kv_usage"), ns).select(["keys", "bytes"]).executeTakeFirst();
      return row === undefined ? { keys: 0, bytes: 0 } : { keys: Number(row.keys), bytes: Number(row.bytes) };
    },

    async purge(ns, writer = db) {
      await inNamespace(writer.deleteFrom("annex_kv"), ns).execute();
      await inNamespace(writer.deleteFrom("annex_kv_usage"), ns).execute();
    },

    async sweepExpired(sweepOptions = {}) {
      const now = new Date(clock());
      const installs = await db
        .selectFrom("annex_kv")
        .select(["tenant", "install_id"])
        .distinct()
        .where("expires_at", "<=", now)
        .limit(sweepOptions.installs ?? 100)
        .execute();
      let swept = 0;
      for (const row of installs) {
        const ns = { tenant: row.tenant, installId: row.install_id };
        swept += await db.transaction().execute(async (trx) => {
          const usage = await lockUsage(trx, ns);
          const gone = await sweepInstall(trx, ns, now);
          await inNamespace(trx.updateTable("annex_kv_usage").set({ keys: usage.keys - gone.keys, bytes: usage.bytes - gone.bytes }), ns).execute();
          return gone.keys;
        });
      }
      return swept;
    },
  };
  return store;
}
