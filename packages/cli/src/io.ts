import { isAbsolute, relative, resolve } from "node:path";
import { terminalSafe } from "./format.js";

/** Where a CLI run writes and what it resolves relative paths against; tests pass their own. */
export interface CliIO {
  stdout?: { write(text: string): unknown };
  stderr?: { write(text: string): unknown };
  /** Relative paths on the command line resolve against this folder. Default: process.cwd(). */
  cwd?: string;
  /** Environment variables the commands read (ANNEX_ADMIN_TOKEN, ANNEX_HOST). Default: process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Stops a long-running command (`annex dev`) when aborted; it then resolves with its exit code. */
  signal?: AbortSignal;
}

/** What a command gets: output channels and path resolution, never the process itself. */
export interface CommandContext {
  /** A line (or lines) of the command's result, to stdout. */
  out(text: string): void;
  /** A diagnostic line to stderr (warnings, errors). */
  err(text: string): void;
  /** A progress line for a long step, to stderr so that stdout stays parseable. */
  progress(text: string): void;
  /** Resolves a command-line path against the run's working folder. */
  resolve(path: string): string;
  /** A path for messages: relative to the working folder when inside it, absolute otherwise. */
  show(path: string): string;
  readonly cwd: string;
  /** The environment the commands read. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Aborted when the caller wants a long-running command to stop. */
  readonly signal: AbortSignal | undefined;
}

export function createContext(io: CliIO): CommandContext {
  const stdout = writer(io.stdout ?? process.stdout);
  const stderr = writer(io.stderr ?? process.stderr);
  const cwd = io.cwd ?? process.cwd();
  // The last line of defence: whatever a command prints, no escape sequence reaches the terminal
  // (fields from outside are escaped where they are printed, newlines included; see terminalSafe).
  const line = (text: string) => {
    const safe = terminalSafe(text, { multiline: true });
    return safe.endsWith("\n") ? safe : `${safe}\n`;
  };
  return {
    cwd,
    env: io.env ?? process.env,
    signal: io.signal,
    out: (text) => stdout(line(text)),
    err: (text) => stderr(line(text)),
    progress: (text) => stderr(line(text)),
    resolve: (path) => resolve(cwd, path),
    show: (path) => {
      const rel = relative(cwd, resolve(cwd, path));
      return rel === "" ? "." : rel.startsWith("..") || isAbsolute(rel) ? resolve(cwd, path) : rel;
    },
  };
}

/** Streams whose reader went away (`annex verify … | head -1`): writes to them are dropped. */
const gone = new WeakSet<object>();
const watched = new WeakSet<object>();

/**
 * Writes to `stream`, quietly dropping what nobody reads any more. A reader
 * that closes the pipe early (`| head -1`) makes the next write fail with
 * EPIPE, emitted as an 'error' event: unhandled, that crashed the CLI with a
 * stack trace. The command goes on and exits with its own code; only its
 * output past the reader's end is lost, as the reader asked.
 */
function writer(stream: { write(text: string): unknown }): (text: string) => void {
  const emitter = stream as { on?: (event: string, listener: (error: unknown) => void) => unknown };
  if (typeof emitter.on === "function" && !watched.has(stream)) {
    watched.add(stream);
    // Any write error (EPIPE, EIO on a closed terminal …) means the output cannot be delivered: stop writing.
    emitter.on("error", () => gone.add(stream));
  }
  return (text) => {
    if (gone.has(stream)) return;
    try {
      stream.write(text);
    } catch {
      gone.add(stream);
    }
  };
}
