import { createHash } from "node:crypto";
import type { Bundle } from "@annex/manifest";
import { SqlStorageError } from "./errors.js";
import { checkSql, type CheckedStatement } from "./guard.js";

/** One file of a bundle's migrations folder, checked and split into statements. */
export interface BundleMigration {
  /** The four digits the file name starts with, e.g. `0002`; the ledger's key. */
  version: string;
  /** The file name, e.g. `0002_add_orders.sql`. */
  name: string;
  /** `sha256:<hex>` of the file's bytes. */
  checksum: string;
  statements: CheckedStatement[];
}

const MIGRATION_FILE = /^(\d{4})_[a-z0-9][a-z0-9_]*\.sql$/;

/**
 * The migrations of a bundle's `storage.migrations` folder, in version order,
 * each statement already checked by the guard (in migration mode), so that a
 * refused statement stops the install before anything has run.
 */
export function readBundleMigrations(bundle: Bundle, folder: string, schema: string, interruptible: boolean): BundleMigration[] {
  const prefix = `${folder.replace(/\/+$/, "")}/`;
  const migrations: BundleMigration[] = [];
  const seen = new Map<string, string>();
  for (const [path, bytes] of bundle.files) {
    if (!path.startsWith(prefix)) continue;
    const name = path.slice(prefix.length);
    const match = MIGRATION_FILE.exec(name);
    if (match === null) {
      throw new SqlStorageError(
        "E_SQL_MIGRATION_INVALID",
        `${path}: migration files are named NNNN_name.sql (four digits, then lowercase letters, digits and underscores), e.g. 0001_create_items.sql`,
        { file: path },
      );
    }
    const version = match[1]!;
    if (seen.has(version)) {
      throw new SqlStorageError("E_SQL_MIGRATION_INVALID", `${path}: version ${version} is also used by ${seen.get(version)}; give each migration its own number`, { file: path, version });
    }
    seen.set(version, name);
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      throw new SqlStorageError("E_SQL_MIGRATION_INVALID", `${path} is not UTF-8 text`, { file: path });
    }
    let statements: CheckedStatement[];
    try {
      statements = checkSql(text, { schema, mode: "migration", interruptible });
    } catch (error) {
      const reason = error instanceof SqlStorageError ? error.message : String(error);
      // A syntax error says where, as an editor would: the file's line and column.
      const position = (error as SqlStorageError).details?.["position"];
      const at = typeof position === "number" && position >= 0 ? lineAndColumn(text, position) : undefined;
      throw new SqlStorageError("E_SQL_MIGRATION_INVALID", `${path}${at === undefined ? "" : `:${at.line}:${at.column}`}: ${reason}`, {
        file: path,
        version,
        reason: (error as SqlStorageError).code,
        ...(at === undefined ? {} : { line: at.line, column: at.column }),
      });
    }
    migrations.push({ version, name, checksum: `sha256:${createHash("sha256").update(bytes).digest("hex")}`, statements });
  }
  return migrations.sort((a, b) => a.version.localeCompare(b.version));
}

/** Line and column (both from 1) of the parser's cursor position (libpg-query's: from 0, in characters). */
function lineAndColumn(text: string, position: number): { line: number; column: number } {
  const before = [...text].slice(0, position).join("");
  const lines = before.split("\n");
  return { line: lines.length, column: [...lines[lines.length - 1]!].length + 1 };
}
