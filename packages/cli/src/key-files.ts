import { open, stat } from "node:fs/promises";
import { parsePrivateKey, type PrivateKey } from "@annex/manifest";
import { CliError } from "./errors.js";
import { ioError, readInputText } from "./fs-utils.js";

/** A key id as a file name: `:` (the default key id's separator) and other characters Windows refuses become `_`. */
export function keyFileBase(keyId: string): string {
  return keyId.replace(/[<>:"/\\|?*]/g, "_");
}

/** What a key file holds, judged by its fields only (never echoing them): private keys have `privateKey`, public ones only `publicKey`. */
export function keyFileKind(text: string): "private" | "public" | "unknown" {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return "unknown";
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "unknown";
  if (Object.hasOwn(value, "privateKey")) return "private";
  return Object.hasOwn(value, "publicKey") ? "public" : "unknown";
}

/**
 * Reads a private key file, refusing one that group or others can read: a
 * signing key that leaked to another account can sign as the publisher. A
 * public key file given where the private key belongs is named as such
 * (rather than asking to chmod a file that may well be world-readable).
 */
export async function readPrivateKeyFile(path: string, shown: string): Promise<PrivateKey> {
  const stats = await stat(path).catch((error: unknown) => {
    throw ioError(error, shown, "key file");
  });
  const text = await readInputText(path, "key file", shown);
  if (keyFileKind(text) === "public") {
    const sibling = /\.pub$/i.test(shown) ? shown.replace(/\.pub$/i, ".key") : undefined;
    throw new CliError(
      "E_KEY_PUBLIC",
      `${shown} is a public key: it lets hosts verify signatures but cannot sign; pass the private key file annex keygen wrote beside it${sibling === undefined ? " (<keyId>.key)" : ` (${sibling})`}.`,
      { path: shown },
    );
  }
  if (process.platform !== "win32" && (stats.mode & 0o077) !== 0) {
    const mode = (stats.mode & 0o777).toString(8).padStart(4, "0");
    throw new CliError(
      "E_KEY_PERMISSIONS",
      `key file ${shown} is readable by group or others (mode ${mode}); a private key must be private: run \`chmod 600 ${shown}\` and try again.`,
      { path: shown, mode },
    );
  }
  return parsePrivateKey(text);
}

/** Creates a file that must not exist yet with exactly `mode`, whatever the umask. */
export async function writeNewFile(path: string, shown: string, text: string, mode: number): Promise<void> {
  let handle;
  try {
    handle = await open(path, "wx", mode);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") {
      throw new CliError("E_KEY_EXISTS", `${shown} already exists; annex keygen never overwrites a key: pass another --out or --key-id.`, {
        path: shown,
      });
    }
    throw ioError(error, shown, "key file");
  }
  try {
    await handle.chmod(mode);
    await handle.writeFile(text);
  } finally {
    await handle.close();
  }
}
