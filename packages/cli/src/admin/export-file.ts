import { lstat, open, unlink, type FileHandle } from "node:fs/promises";
import { CliError } from "../errors.js";

/** The file `annex admin uninstall --purge --export <file>` writes the export into. */
export interface ExportFile {
  /** The path as messages show it. */
  readonly shown: string;
  /** Writes the export, flushed to disk, and closes the file; throws the fs error when that fails. */
  write(text: string): Promise<void>;
  /** Closes and removes the (still empty) file: the purge did not happen. */
  discard(): Promise<void>;
}

/**
 * Creates the export file before anything is purged: once the host has
 * deleted the data, this file is the only copy, so a path that cannot take it
 * must stop the command while the data is still there. "wx" (O_CREAT|O_EXCL)
 * never writes over an existing file, which would keep its own mode and
 * owner, and refuses a symlink at the path (even a dangling one) instead of
 * following it; the file is the owner's alone (0600, whatever the umask).
 */
export async function createExportFile(path: string, shown: string): Promise<ExportFile> {
  let handle: FileHandle;
  try {
    handle = await open(path, "wx", 0o600);
  } catch (error) {
    throw openError(error, shown);
  }
  try {
    await handle.chmod(0o600);
  } catch (error) {
    await discard(handle, path);
    throw openError(error, shown);
  }
  return {
    shown,
    async write(text) {
      try {
        await handle.writeFile(text, "utf8");
        await handle.sync();
      } finally {
        await handle.close().catch(() => undefined);
      }
    },
    discard: () => discard(handle, path),
  };
}

/** Removes the file only if the path still names the one created here. */
async function discard(handle: FileHandle, path: string): Promise<void> {
  const ours = await handle.stat().catch(() => null);
  await handle.close().catch(() => undefined);
  const now = await lstat(path).catch(() => null);
  if (ours !== null && now !== null && ours.ino === now.ino && ours.dev === now.dev) await unlink(path).catch(() => undefined);
}

function openError(error: unknown, shown: string): CliError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const nothing = "nothing was uninstalled or purged";
  if (code === "EEXIST") {
    return new CliError(
      "E_IO",
      `--export ${shown} exists already (a file, folder or symlink): ${nothing}. The export is written to a new file only, made for you alone (mode 0600): pass a path that does not exist yet, or move ${shown} away, and run the command again.`,
      { path: shown },
      { cause: error },
    );
  }
  if (code === "ENOENT" || code === "ENOTDIR") {
    return new CliError("E_FILE_NOT_FOUND", `the folder of --export ${shown} does not exist: ${nothing}. Create it, or pass a path in a folder that exists, and run the command again.`, { path: shown }, { cause: error });
  }
  if (code === "EACCES" || code === "EPERM" || code === "EROFS") {
    return new CliError("E_IO", `cannot create --export ${shown} (${code === "EROFS" ? "read-only file system" : "permission denied"}): ${nothing}. Pass a path in a folder you may write to, and run the command again.`, { path: shown }, { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new CliError("E_IO", `cannot create --export ${shown}: ${message}; ${nothing}. Pass another path, and run the command again.`, { path: shown }, { cause: error });
}
