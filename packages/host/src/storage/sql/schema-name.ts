/** PostgreSQL truncates identifiers past 63 bytes; a name that long would silently collide. */
const MAX_IDENTIFIER_BYTES = 63;
const SHORT_ID_LENGTH = 12;

/**
 * The schema of an install: `ext_<slug>_<short install id>`, where the slug
 * is the extension id folded to `[a-z0-9_]` and cut so that the whole name
 * fits PostgreSQL's 63-byte identifier limit. The install id part keeps two
 * tenants' installs of one extension apart; the slug is for the people who
 * read `\dn`.
 */
export function installSchemaName(extensionId: string, installId: string): string {
  const short = installId.toLowerCase().replace(/[^a-z0-9]/g, "").slice(0, SHORT_ID_LENGTH);
  const room = MAX_IDENTIFIER_BYTES - "ext_".length - 1 - short.length;
  const slug = extensionId
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "")
    .slice(0, room)
    .replace(/_+$/g, "");
  return `ext_${slug}_${short}`;
}

/** The database role an install's statements run as on PostgreSQL: the schema's name, which is unique per install. */
export function installRoleName(schema: string): string {
  return schema;
}

/** Names built above are plain lowercase identifiers; quoting is for the reader of the DDL, and a guard against drift. */
export function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`not a plain identifier: ${name}`);
  return `"${name}"`;
}
