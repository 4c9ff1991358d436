import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { CliError } from "./errors.js";
import { JsonSyntaxError, parseJsonWithPosition } from "./json-location.js";

/**
 * Reads a file named on the command line; E_FILE_NOT_FOUND / E_IO name it as
 * the user wrote it (`shown`) and say what was expected.
 */
export async function readInput(path: string, what: string, shown = path): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    throw ioError(error, shown, what);
  }
}

export async function readInputText(path: string, what: string, shown = path): Promise<string> {
  return new TextDecoder().decode(await readInput(path, what, shown));
}

/** JSON text of a file people edit; a syntax error is E_JSON_SYNTAX located at `file:line:col`. */
export function parseJsonText(text: string, shownPath: string, what: string): unknown {
  try {
    return parseJsonWithPosition(text);
  } catch (error) {
    if (error instanceof JsonSyntaxError) {
      throw new CliError(
        "E_JSON_SYNTAX",
        `${shownPath}:${error.position.line}:${error.position.column}: the ${what} is not valid JSON (${error.message}): fix it there and try again.`,
        { path: shownPath, line: error.position.line, column: error.position.column },
      );
    }
    throw error;
  }
}

/**
 * Writes through a temporary file and a rename, so that a crash never leaves
 * half a bundle, signature or trust store behind. Creates missing folders.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(temp, data, { mode });
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw ioError(error, path, "output file");
  }
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

export function ioError(error: unknown, path: string, what: string): CliError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ENOENT") {
    return new CliError("E_FILE_NOT_FOUND", `${what} ${path} does not exist: check the path.`, { path }, { cause: error });
  }
  if (code === "EISDIR") {
    return new CliError("E_IO", `${path} is a folder, not the ${what} expected: pass the file.`, { path }, { cause: error });
  }
  if (code === "EACCES" || code === "EPERM") {
    return new CliError("E_IO", `permission denied on ${what} ${path}: check its permissions.`, { path }, { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new CliError("E_IO", `cannot access ${what} ${path}: ${message}`, { path }, { cause: error });
}
