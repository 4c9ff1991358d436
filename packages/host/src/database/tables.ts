import type { ColumnType, Insertable, Selectable } from "kysely";

/**
 * Annex's own tables, all prefixed `annex_`. JSON columns are written as JSON
 * text (a JS array handed to `pg` would become a PostgreSQL array) and read
 * back parsed.
 */
type Json<T> = ColumnType<T, string, string>;
type CreatedAt = ColumnType<Date, Date | undefined, never>;
type UpdatedAt = ColumnType<Date, Date | undefined, Date>;

export interface MigrationsTable {
  name: string;
  checksum: string;
  applied_at: ColumnType<Date, Date | undefined, never>;
}

export interface ExtensionsTable {
  id: string;
  publisher: string;
  created_at: CreatedAt;
}

export interface ExtensionVersionsTable {
  extension_id: string;
  version: string;
  content_hash: string;
  manifest: Json<unknown>;
  signature: Json<unknown> | null;
  provenance: Json<unknown>;
  size_bytes: number;
  published_by: string;
  published_at: CreatedAt;
}

export interface BlobsTable {
  hash: string;
  bytes: Uint8Array;
  size_bytes: number;
  created_at: CreatedAt;
}

export interface InstallsTable {
  id: string;
  tenant: string;
  extension_id: string;
  version: string;
  /** Of `version`, kept here so that resolving an install is one indexed read. */
  content_hash: string;
  state: string;
  /** While upgrading: the state to return to, whatever the outcome. */
  resume_state: string | null;
  /** While upgrading: the version being moved to. */
  target_version: string | null;
  grants: Json<unknown>;
  config: Json<unknown>;
  /** Bumped by every lifecycle change; callers may pass it back to refuse stale writes. */
  revision: ColumnType<number, number | undefined, number>;
  last_error: Json<unknown> | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface InstallSecretsTable {
  install_id: string;
  name: string;
  key_id: string;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
  updated_at: UpdatedAt;
}

export interface WebhookSecretsTable {
  /** Random; part of the sealed value's additional data, so a row cannot be swapped for another. */
  id: string;
  install_id: string;
  key_id: string;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
  /** Null for the current secret; the end of the grace period for one rotated out. */
  valid_until: Date | null;
  created_at: CreatedAt;
}

export interface AuditTable {
  /** bigserial: `pg` returns it as a string, PGlite may not; read it through String(). */
  id: ColumnType<string, never, never>;
  at: ColumnType<Date, never, never>;
  actor: string;
  tenant: string | null;
  action: string;
  target: string;
  decision: string;
  details: Json<unknown>;
}

export interface EventsTable {
  seq: ColumnType<string, never, never>;
  id: string;
  tenant: string;
  type: string;
  payload: Json<unknown>;
  /** `host`, or `install:<id>` for an event an extension published. */
  source: string;
  /** 0 for an event the app published; one more than the delivered event for one a handler published. */
  depth: number;
  occurred_at: Date;
  fanned_out_at: Date | null;
  /** The payload's JSON bytes as an extension published it; null for the app's events (not budgeted). */
  payload_bytes: number | null;
}

/** What the outbox holds per publisher (`install:<id>`): the events counted in `payload_bytes`, and their sum. */
export interface EventHoldingsTable {
  source: string;
  events: string;
  bytes: string;
}

export interface EventDeliveriesTable {
  seq: ColumnType<string, never, never>;
  id: string;
  event_id: string;
  tenant: string;
  install_id: string;
  type: string;
  state: "pending" | "leased" | "done" | "dead" | "dropped";
  attempts: number;
  next_attempt_at: Date;
  lease: string | null;
  lease_owner: string | null;
  lease_until: Date | null;
  last_error: Json<unknown> | null;
  created_at: Date;
  updated_at: Date;
}

export interface KvTable {
  tenant: string;
  install_id: string;
  key: string;
  /** JSON text, stored as written. */
  value: string;
  /** UTF-8 bytes of key and value together. */
  size_bytes: number;
  /** bigint, the install's own count of kv writes (annex_kv_usage.last_version): `pg` returns a string, PGlite a number; read it through Number(). */
  version: ColumnType<string | number, number, number>;
  expires_at: Date | null;
  updated_at: Date;
}

export interface KvUsageTable {
  tenant: string;
  install_id: string;
  keys: number;
  bytes: ColumnType<string | number, number, number>;
  /** The last kv version handed to this install: each write takes the next one. */
  last_version: ColumnType<string | number, number | undefined, number>;
}

export interface AnnexTables {
  annex_migrations: MigrationsTable;
  annex_extensions: ExtensionsTable;
  annex_extension_versions: ExtensionVersionsTable;
  annex_blobs: BlobsTable;
  annex_installs: InstallsTable;
  annex_install_secrets: InstallSecretsTable;
  annex_audit: AuditTable;
  annex_webhook_secrets: WebhookSecretsTable;
  annex_kv: KvTable;
  annex_kv_usage: KvUsageTable;
  annex_sql_schemas: SqlSchemasTable;
  annex_sql_migrations: SqlMigrationsTable;
  annex_events: EventsTable;
  annex_event_deliveries: EventDeliveriesTable;
  annex_event_holdings: EventHoldingsTable;
}

export interface SqlSchemasTable {
  install_id: string;
  schema_name: string;
  /** PostgreSQL: the install's role; null on PGlite, where roles are no boundary. */
  role_name: string | null;
  /** The last applied migration's version (`0003`), null before the first. */
  version: string | null;
  status: string;
  last_error: Json<unknown> | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface SqlMigrationsTable {
  install_id: string;
  version: string;
  name: string;
  checksum: string;
  applied_at: ColumnType<Date, Date | undefined, never>;
  duration_ms: number;
}

export type InstallRow = Selectable<InstallsTable>;
export type NewInstallRow = Insertable<InstallsTable>;
export type VersionRow = Selectable<ExtensionVersionsTable>;
export type AuditRow = Selectable<AuditTable>;
