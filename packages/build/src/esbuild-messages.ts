import type { BuildFailure, Message } from "esbuild";

/** esbuild throws a BuildFailure (with its messages) when a build has errors. */
export function isBuildFailure(error: unknown): error is BuildFailure {
  return error instanceof Error && Array.isArray((error as Partial<BuildFailure>).errors);
}

/** One esbuild message as an indented `file:line:col: text` line, with its notes. */
export function formatMessage(message: Message): string {
  const where = message.location ? `${message.location.file}:${message.location.line}:${message.location.column + 1}: ` : "";
  const notes = message.notes.map((note) => `\n    note: ${note.text}`).join("");
  return `  ${where}${message.text}${notes}`;
}
