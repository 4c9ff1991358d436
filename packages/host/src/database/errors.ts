import { AnnexError } from "@annex/manifest";

export type DatabaseErrorCode = "E_DATABASE_CONFIG" | "E_DATABASE_SCHEMA" | "E_DATABASE_LOCKED" | "E_DATABASE_UNREACHABLE" | "E_PGLITE_MISSING";

/** The database option given to the host cannot be used. */
export class DatabaseError extends AnnexError {
  declare readonly code: DatabaseErrorCode;

  constructor(code: DatabaseErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

export type MigrationErrorCode = "E_MIGRATION_CHECKSUM" | "E_MIGRATION_UNKNOWN" | "E_MIGRATION_FAILED" | "E_MIGRATION_PENDING";

/**
 * The migration ledger disagrees with the migrations this version of Annex
 * ships, or a migration failed (and was rolled back).
 */
export class MigrationError extends AnnexError {
  declare readonly code: MigrationErrorCode;

  constructor(code: MigrationErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}
