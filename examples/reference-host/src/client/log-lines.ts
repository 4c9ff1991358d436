/** One line of an install's ring buffer, as GET /admin/api/installs/:id/logs answers it. */
export interface LogLine {
  at: string;
  level: string;
  source: string;
  message: string;
  code?: string | undefined;
}

/**
 * Control characters (C0, DEL, C1), Unicode line and paragraph separators and bidi controls: what could make
 * one entry look like several, or reorder what the admin reads.
 */
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * A log message shown as one visible line: its controls written out (`\n`, `\u001b`). A message is the
 * extension's text, often its callers' (an issue title from anyone holding a public key): a newline in it
 * would otherwise start a line that looks like one of the host's own.
 */
export function visibleText(text: string): string {
  return text.replace(INVISIBLE, (c) => NAMED[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** The text of one entry: time, level, the runner's code for a failed execution, the message. */
export function logLineText(line: LogLine): string {
  return `${line.at} ${line.level.toUpperCase()} ${line.source === "runner" ? `[${visibleText(line.code ?? "error")}] ` : ""}${visibleText(line.message)}`;
}
