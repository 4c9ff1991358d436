/** A node of libpg-query's parse tree: its fields, by name. */
export type Node = Record<string, unknown>;

/** The last part of a qualified name list (`pg_catalog.lower` → `lower`), or "" when the list holds none. */
export function lastName(list: unknown): string {
  if (!Array.isArray(list)) return "";
  const value = (list.at(-1) as { String?: { sval?: unknown } } | undefined)?.String?.sval;
  return typeof value === "string" ? value : "";
}
