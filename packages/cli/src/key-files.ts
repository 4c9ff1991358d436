import { open, stat } from "node:fs/promises";
import { parsePrivateKey, type PrivateKey } from "@annex/manifest";
import { CliError } from "./errors.js";
import { ioError, readInputText } from "./fs-utils.js";

/** A key id as a file name: `:` (the default key id's separator) and other characters Windows refuses become `_`. */
export function keyFileBase(keyId: string): string {
  return keyId.replace(/[<>:"/\\|?*]/g, "_");
}

/**
 * Reads a private key file, refusing one that group or others can read: a
 * signing key that leaked to another account can sign as the publisher.
 */
export async function readPrivateKeyFile(path: string, shown: string): Promise<PrivateKey> {
  const stats = await stat(path).catch((error: unknown) => {
    throw ioError(error, shown, "key file");
  });
  if (process.platform !== "win32" && (stats.mode & 0o077) !== 0) {
    const mode = (stats.mode & 0o777).toString(8).padStart(4, "0");
    throw new CliError(
      "E_KEY_PERMISSIONS",
      `key file ${shown} is readable by group or others (mode ${mode}); a private key must be private: run \`chmod 600 ${shown}\` and try again.`,
      { path: shown, mode },
    );
  }
  return parsePrivateKey(await readInputText(path, "key file", shown));
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
