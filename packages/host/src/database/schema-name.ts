import { DatabaseError } from "./errors.js";

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Schema names are interpolated into DDL, so only plain lowercase identifiers are accepted. */
export function assertSchemaName(schema: string): string {
  if (!SCHEMA_NAME.test(schema) || schema.startsWith("pg_")) {
    throw new DatabaseError(
      "E_DATABASE_SCHEMA",
      `schema "${schema}" is not usable: use 1 to 63 lowercase letters, digits and underscores, starting with a letter or underscore, and not "pg_…"`,
      { schema },
    );
  }
  return schema;
}

export function quoteSchema(schema: string): string {
  return `"${assertSchemaName(schema)}"`;
}
