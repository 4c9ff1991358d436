import { DatabaseError } from "./errors.js";

type PGliteModule = typeof import("@electric-sql/pglite");

const PGLITE = "@electric-sql/pglite";

/**
 * Loads PGlite, an optional peer dependency: only the embedded database needs
 * it, so an app on PostgreSQL does not install a WebAssembly PostgreSQL. When
 * it is absent the caller learns what to do instead of reading a resolver error.
 */
export async function importPGlite(specifier: string = PGLITE): Promise<PGliteModule> {
  try {
    return (await import(specifier)) as PGliteModule;
  } catch (error) {
    if (!isMissing(error, specifier)) throw error;
    throw new DatabaseError(
      "E_PGLITE_MISSING",
      `database: the embedded database needs the optional peer dependency ${PGLITE}, which is not installed. ` +
        `Install it (npm i ${PGLITE}) or pass a PostgreSQL connection string (database: "postgres://…") or a Kysely instance.`,
      { package: PGLITE },
      { cause: error },
    );
  }
}

/** Node's resolver error (or a bundler's) for that very package, not an error thrown while loading it. */
function isMissing(error: unknown, specifier: string): boolean {
  if (typeof error !== "object" || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof message !== "string" || !message.includes(specifier)) return false;
  return code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND" || /cannot find (package|module)|failed to (load|resolve)/i.test(message);
}
