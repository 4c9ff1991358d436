import { errorSummary } from "../errors.js";
import { DatabaseError } from "./errors.js";
import type { DatabaseOption } from "./open.js";

/** Codes of a database that cannot be reached or entered: a connection refused or timed out, a host not found, a login refused, no such database, a server starting or shutting down. */
const UNREACHABLE = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "28P01", "28000", "3D000", "57P03"]);

/**
 * The first statement of a host is its migration (or the check of it): a connection string that cannot be used
 * failed there with pg's own error, a bare ECONNREFUSED or a "3D000" naming neither the option nor the place.
 */
export function unreachable(error: unknown, option: DatabaseOption): DatabaseError | undefined {
  const causes = error instanceof AggregateError ? [error, ...error.errors] : [error];
  const code = causes.map((cause) => (cause as { code?: unknown } | null)?.code).find((c): c is string => typeof c === "string" && UNREACHABLE.has(c));
  if (code === undefined) return undefined;
  let where = "the database";
  if (typeof option === "string") {
    try {
      const url = new URL(option);
      where = `${url.hostname}:${url.port || "5432"}${url.pathname}`; // never the password
    } catch {
      // Checked as postgres:// by openDatabase; a string URL cannot parse is reported as it is.
    }
  }
  const reason = errorSummary(error).message;
  return new DatabaseError(
    "E_DATABASE_UNREACHABLE",
    `database: could not use ${where} (${code}: ${reason}): check that PostgreSQL runs there, the connection string's host, port, user, password and database name, and that the database exists`,
    { field: "database", code, where },
    { cause: error },
  );
}
