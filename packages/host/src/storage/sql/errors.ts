import { AnnexError } from "@annex/manifest";

export type SqlErrorCode =
  /** The statement is outside what an extension may run (kind, relation, function, type, setting). */
  | "E_SQL_REFUSED"
  /** The text is not one statement PostgreSQL can parse. */
  | "E_SQL_SYNTAX"
  /** The statement ran past its timeout, waited past its lock timeout, or (on PGlite) was estimated to. */
  | "E_SQL_TIMEOUT"
  /** The result has more rows than the limit. */
  | "E_SQL_TOO_MANY_ROWS"
  /** The result is larger than the byte limit. */
  | "E_SQL_RESULT_TOO_LARGE"
  /** A value in the result nests deeper than 1,000 levels (see MAX_RESULT_NESTING); its text or its parts can be read. */
  | "E_SQL_RESULT_TOO_DEEP"
  /** The install already has as many statements running and waiting as the host allows (`maxConcurrent` + `maxQueued`). */
  | "E_SQL_BUSY"
  /**
   * The install's tables take as much disk as the host allows (`maxSchemaBytes`, with their indexes and TOAST):
   * a statement that can grow them (INSERT, UPDATE, MERGE …) is refused, or rolled back when it took them past the
   * quota. Reads, DELETE and TRUNCATE still run; free space (TRUNCATE, DELETE, a migration's DROP) to write again.
   */
  | "E_SQL_QUOTA"
  /** `createHost({ sql: { limits } })` holds a limit outside its range. */
  | "E_SQL_OPTIONS"
  /** Parameters are not an array of JSON values within the limits. */
  | "E_SQL_PARAMS"
  /** PostgreSQL refused the statement (constraint, missing table …); the message is PostgreSQL's. */
  | "E_SQL_FAILED"
  /** The install has no owned schema (not granted storage.sql, or purged). */
  | "E_SQL_NO_SCHEMA"
  /** A migration file is misnamed, unreadable or contains a refused statement. */
  | "E_SQL_MIGRATION_INVALID"
  /** An applied migration's file changed since it ran. */
  | "E_SQL_MIGRATION_CHECKSUM"
  /** A migration failed and was rolled back. */
  | "E_SQL_MIGRATION_FAILED"
  /**
   * A migration would leave the install's schema with more relations (tables, indexes, sequences, views,
   * constraints, types) than the host allows (`maxSchemaRelations`); it was rolled back.
   */
  | "E_SQL_TOO_MANY_RELATIONS"
  /** The per-install database role could not be created (PostgreSQL: the host's user needs CREATEROLE). */
  | "E_SQL_ROLE";

/** A typed error of owned-schema storage. Branch on `code`, never on the message. */
export class SqlStorageError extends AnnexError {
  declare readonly code: SqlErrorCode;

  constructor(code: SqlErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

/** The guard's refusal of a statement (E_SQL_REFUSED), as every one of its checks words it. */
export function refused(message: string, details?: Record<string, unknown>): SqlStorageError {
  return new SqlStorageError("E_SQL_REFUSED", message, details);
}
