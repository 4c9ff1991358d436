/** A size for people: "512 B", "3.4 kB", "1.2 MB". */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} kB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/**
 * What a terminal would act on instead of showing: C0 controls (ESC starts
 * CSI and OSC sequences: OSC 52 writes the clipboard, CSI moves the cursor and
 * erases lines; CR rewrites the line), DEL, the C1 controls U+0080–U+009F
 * (U+009B is CSI, U+009D OSC on terminals that read 8-bit controls), the
 * bidirectional embeddings, overrides, isolates and marks (they make text
 * display as something else), and the line and paragraph separators. Tab is
 * harmless; \n is let through only where text may span lines.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE_MULTILINE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
// eslint-disable-next-line no-control-regex
const UNSAFE_SINGLE_LINE = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** JSON's escapes, so that escaped JSON text is still JSON; the short ones where JSON has them, for reading. */
const SHORT: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\b": "\\b", "\f": "\\f" };
const escape = (char: string): string => SHORT[char] ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`;

/**
 * Text that came from outside the CLI (an extension, a manifest, the host's
 * answers, the audit log), made safe to print: every character a terminal
 * would act on becomes a visible escape (`\u001b`, `\u009b`, `\r` …). By
 * default the text is one field of one line and a newline is escaped too, so
 * that a description or an error message cannot forge output lines of its
 * own; `multiline` keeps \n for text that is several lines by design (a build
 * error listing esbuild's messages). The escapes are JSON's own, so JSON text
 * stays valid JSON with the same value (see formatJson).
 */
export function terminalSafe(text: string, options: { multiline?: boolean } = {}): string {
  return text.replace(options.multiline === true ? UNSAFE_MULTILINE : UNSAFE_SINGLE_LINE, escape);
}

/**
 * `--json` output: JSON.stringify escapes C0 controls but leaves DEL, C1 and
 * bidirectional controls raw, and JSON is read on terminals too. Outside its
 * strings JSON text holds only ASCII structure, so escaping those characters
 * anywhere gives valid JSON that parses to the same value.
 */
export function formatJson(value: unknown): string {
  return terminalSafe(JSON.stringify(value, null, 2), { multiline: true });
}

/**
 * Columns padded to their widest cell, two spaces apart; the last column is
 * not padded. Cells are single-line fields, mostly the host's answers: made
 * terminal-safe before they are measured.
 */
export function formatTable(header: string[], rows: string[][]): string[] {
  const cells = rows.map((row) => row.map((cell) => terminalSafe(cell)));
  const widths = header.map((title, column) => Math.max(title.length, ...cells.map((row) => row[column]!.length)));
  return [header, ...cells].map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join("  "));
}
