import type { BuildFailure, Message } from "esbuild";
import { BuildError } from "./errors.js";

/** esbuild throws a BuildFailure (with its messages) when a build has errors. */
export function isBuildFailure(error: unknown): error is BuildFailure {
  return error instanceof Error && Array.isArray((error as Partial<BuildFailure>).errors);
}

/**
 * The BuildError a plugin threw (Confinement's E_PACK_PATH): esbuild keeps
 * the thrown value as the message's detail, and it names the file and what to
 * do better than the message esbuild made of it.
 */
export function pluginError(messages: readonly Message[]): BuildError | undefined {
  return messages.map((message): unknown => message.detail).find((detail): detail is BuildError => detail instanceof BuildError);
}

/** One esbuild message as an indented `file:line:col: text` line, with its notes. */
export function formatMessage(message: Message): string {
  const where = message.location ? `${message.location.file}:${message.location.line}:${message.location.column + 1}: ` : "";
  const notes = message.notes.map((note) => `\n    note: ${note.text}`).join("");
  return `  ${where}${message.text}${notes}`;
}
