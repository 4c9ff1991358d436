import { isAbsolute, relative, resolve } from "node:path";

/** Where a CLI run writes and what it resolves relative paths against; tests pass their own. */
export interface CliIO {
  stdout?: { write(text: string): unknown };
  stderr?: { write(text: string): unknown };
  /** Relative paths on the command line resolve against this folder. Default: process.cwd(). */
  cwd?: string;
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
}

export function createContext(io: CliIO): CommandContext {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const cwd = io.cwd ?? process.cwd();
  const line = (text: string) => (text.endsWith("\n") ? text : `${text}\n`);
  return {
    cwd,
    out: (text) => void stdout.write(line(text)),
    err: (text) => void stderr.write(line(text)),
    progress: (text) => void stderr.write(line(text)),
    resolve: (path) => resolve(cwd, path),
    show: (path) => {
      const rel = relative(cwd, resolve(cwd, path));
      return rel === "" ? "." : rel.startsWith("..") || isAbsolute(rel) ? resolve(cwd, path) : rel;
    },
  };
}
