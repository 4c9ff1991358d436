import { sql, type Kysely } from "kysely";
import { MigrationError } from "./errors.js";
import { ANNEX_MIGRATIONS, type Migration } from "./migrations.js";
import type { MigrationsTable } from "./tables.js";
import { quoteSchema } from "./schema-name.js";

export interface MigrateOptions {
  /** Run inside this PostgreSQL schema (created when missing); default: the connection's search_path. */
  schema?: string | undefined;
  /** Defaults to Annex's own migrations. Tests pass edited copies to exercise the ledger. */
  migrations?: readonly Migration[] | undefined;
}

export interface MigrateResult {
  /** Names of the migrations this call applied, in order; empty when the database was up to date. */
  applied: string[];
}

export interface LedgerEntry {
  name: string;
  checksum: string;
  appliedAt: Date;
}

/**
 * Brings Annex's tables up to date, in one transaction under an advisory lock
 * so that several hosts starting at once apply each migration exactly once.
 * The ledger (`annex_migrations`) records name, checksum and time; an applied
 * migration whose checksum changed, or one this code does not know, stops the
 * start rather than guess.
 */
export async function migrate(db: Kysely<any>, options: MigrateOptions = {}): Promise<MigrateResult> {
  const migrations = options.migrations ?? ANNEX_MIGRATIONS;
  const checksums = await Promise.all(migrations.map((migration) => migrationChecksum(migration)));

  return db.transaction().execute(async (trx) => {
    const ledger = trx as unknown as Kysely<{ annex_migrations: MigrationsTable }>;
    await sql`SELECT pg_advisory_xact_lock(hashtext(${`annex:migrate:${options.schema ?? ""}`}))`.execute(trx);
    if (options.schema !== undefined) {
      const schema = quoteSchema(options.schema);
      await sql.raw(`CREATE SCHEMA IF NOT EXISTS ${schema}`).execute(trx);
      await sql.raw(`SET LOCAL search_path TO ${schema}`).execute(trx);
    }
    await sql`CREATE TABLE IF NOT EXISTS annex_migrations (
      name text PRIMARY KEY,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`.execute(trx);

    const applied = await ledger.selectFrom("annex_migrations").select(["name", "checksum"]).orderBy("name").execute();
    const known = new Map(migrations.map((migration, index) => [migration.name, { index, checksum: checksums[index]! }]));
    let lastAppliedIndex = -1;
    for (const row of applied) {
      const entry = known.get(row.name);
      if (entry === undefined) {
        throw new MigrationError(
          "E_MIGRATION_UNKNOWN",
          `annex_migrations lists "${row.name}", which this version of Annex does not ship; the database was migrated by a newer Annex: upgrade @annex/host or use another schema`,
          { migration: row.name, schema: options.schema ?? null },
        );
      }
      if (entry.checksum !== row.checksum) {
        throw new MigrationError(
          "E_MIGRATION_CHECKSUM",
          `migration "${row.name}" was applied with checksum ${row.checksum} but the shipped migration has ${entry.checksum}; applied migrations must never change: restore it and add a new migration instead`,
          { migration: row.name, applied: row.checksum, shipped: entry.checksum, schema: options.schema ?? null },
        );
      }
      lastAppliedIndex = Math.max(lastAppliedIndex, entry.index);
    }

    const appliedNames = new Set(applied.map((row) => row.name));
    const pending = migrations.filter((migration) => !appliedNames.has(migration.name));
    const skipped = pending.find((migration) => known.get(migration.name)!.index < lastAppliedIndex);
    if (skipped !== undefined) {
      throw new MigrationError(
        "E_MIGRATION_UNKNOWN",
        `migration "${skipped.name}" sorts before migrations already applied; migrations are forward-only: append new ones at the end`,
        { migration: skipped.name, schema: options.schema ?? null },
      );
    }

    for (const migration of pending) {
      try {
        for (const statement of migration.statements) await sql.raw(statement).execute(trx);
      } catch (error) {
        throw new MigrationError(
          "E_MIGRATION_FAILED",
          `migration "${migration.name}" failed and was rolled back: ${error instanceof Error ? error.message : String(error)}`,
          { migration: migration.name, schema: options.schema ?? null },
          { cause: error },
        );
      }
      await ledger
        .insertInto("annex_migrations")
        .values({ name: migration.name, checksum: known.get(migration.name)!.checksum })
        .execute();
    }
    return { applied: pending.map((migration) => migration.name) };
  });
}

/**
 * With `migrate: false` a deploy step runs the migrations; a host started before it ran (or against the
 * wrong schema) failed every call with raw "relation does not exist" errors, and its relay and scheduler
 * logged them every second. Refuses to start instead, naming what is missing and how to apply it.
 */
export async function checkMigrated(db: Kysely<any>, options: Pick<MigrateOptions, "schema" | "migrations"> = {}): Promise<void> {
  const migrations = options.migrations ?? ANNEX_MIGRATIONS;
  const where = options.schema === undefined ? "the connection's search_path" : `schema ${options.schema}`;
  const fix = `run migrate(db${options.schema === undefined ? "" : `, { schema: "${options.schema}" }`}) from @annex/host in a deploy step first, or leave createHost's migrate option on`;
  let applied: Set<string>;
  try {
    applied = new Set((await readLedger(db, options.schema)).map((entry) => entry.name));
  } catch (error) {
    if ((error as { code?: unknown }).code !== "42P01") throw error;
    throw new MigrationError("E_MIGRATION_PENDING", `migrate is false and ${where} holds no Annex tables (no annex_migrations): ${fix}`, {
      schema: options.schema ?? null,
      pending: migrations.length,
    });
  }
  const pending = migrations.filter((migration) => !applied.has(migration.name));
  if (pending.length > 0) {
    throw new MigrationError(
      "E_MIGRATION_PENDING",
      `migrate is false and ${where} lacks ${pending.length} of this version's migrations (first: ${pending[0]!.name}): ${fix}`,
      { schema: options.schema ?? null, pending: pending.length, first: pending[0]!.name },
    );
  }
}

/** What the ledger holds, oldest first. */
export async function readLedger(db: Kysely<any>, schema?: string): Promise<LedgerEntry[]> {
  const scoped = (schema === undefined ? db : db.withSchema(schema)) as Kysely<{ annex_migrations: MigrationsTable }>;
  const rows = await scoped.selectFrom("annex_migrations").selectAll().orderBy("name").execute();
  return rows.map((row) => ({ name: row.name, checksum: row.checksum, appliedAt: row.applied_at }));
}

/** `sha256:<hex>` over the statements exactly as shipped: any edit, even whitespace, changes it. */
export async function migrationChecksum(migration: Migration): Promise<string> {
  const bytes = new TextEncoder().encode(JSON.stringify(migration.statements));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return `sha256:${Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("")}`;
}
