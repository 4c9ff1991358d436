import { parseTrustStore, type TrustStore } from "@annex/manifest";
import { parseJsonText, readInputText } from "./fs-utils.js";
import type { CommandContext } from "./io.js";
import { createJsonLocator } from "./json-location.js";

/**
 * Reads and checks a trust-store file. A field error (E_TRUST_STORE) is
 * preceded on stderr by `file:line:col field`, found from the field it names.
 */
export async function readTrustStoreFile(path: string, ctx: CommandContext): Promise<TrustStore> {
  const shown = ctx.show(path);
  const text = await readInputText(path, "trust store", shown);
  const json = parseJsonText(text, shown, "trust store");
  try {
    return parseTrustStore(json);
  } catch (error) {
    const field = (error as { details?: { field?: unknown } }).details?.field;
    if (typeof field === "string" && field !== "") {
      const where = createJsonLocator(text)(field);
      ctx.err(`${shown}:${where.line}:${where.column} ${field}`);
    }
    throw error;
  }
}

export function emptyTrustStore(): TrustStore {
  return { trustStoreVersion: 1, keys: [] };
}
