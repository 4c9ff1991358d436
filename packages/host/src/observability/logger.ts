import { pino } from "pino";

type LogFn = (fields: Record<string, unknown>, message: string) => void;

/**
 * What Annex logs through: the subset of pino's interface it calls, so a
 * pino logger (the default) or any logger with the same methods fits, e.g.
 * the embedding app's own `pino()` or a child of it.
 */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

/** The default logger and what `host.close()` does with it. */
export interface DefaultLogger {
  logger: Logger;
  /** Writes what is buffered and stops the flush timer (stdout itself stays open). */
  close(): Promise<void>;
}

/** Lines are written when this many bytes are buffered… */
const BUFFER_BYTES = 4096;
/** …or this often, whichever comes first. */
const FLUSH_MS = 100;

/** What the exit flush needs of a buffered destination. */
interface Flushable {
  flushSync(): void;
}

/** Destinations of hosts not yet closed: one `exit` listener flushes them all (not one listener per host). */
const unflushed = new Set<Flushable>();
let exitListener: (() => void) | undefined;

function flushOnExit(destination: Flushable): void {
  unflushed.add(destination);
  exitListener ??= () => {
    for (const each of unflushed) {
      try {
        each.flushSync();
      } catch {
        // stdout gone (EPIPE) or already ended: nothing left to save.
      }
    }
  };
  if (!process.listeners("exit").includes(exitListener)) process.on("exit", exitListener);
}

/**
 * The logger a host uses when given none: pino writing JSON lines to stdout,
 * named "annex", at `ANNEX_LOG_LEVEL` (default "info"; "silent" turns it off).
 *
 * Lines are buffered (written in 4 KiB batches, at least every 100 ms) rather
 * than written one system call per line: with one line per request, the
 * unbuffered write was ~11 % of the gateway's main thread (BENCHMARKS.md).
 * The batches are written synchronously, not by pino's asynchronous mode:
 * there, a batch in flight on libuv's thread pool when the process exits is
 * written after (or lost behind) what the exit flush writes, so lines came out
 * of order. The price of buffering: a line reaches stdout up to 100 ms late,
 * and a process killed by a signal it does not handle (SIGKILL, or SIGTERM
 * without a handler) loses up to 100 ms of lines. `host.close()`, a normal exit,
 * `process.exit()` and an uncaught exception flush them. `ANNEX_LOG_SYNC=1`
 * writes every line at once.
 */
export function defaultLogger(): DefaultLogger {
  const level = process.env["ANNEX_LOG_LEVEL"] ?? "info";
  if (process.env["ANNEX_LOG_SYNC"] === "1" || level === "silent") {
    // Named explicitly: pino's default destination writes asynchronously, so a line in flight when the
    // process exits came out after the lines the exit flush wrote.
    return { logger: pino({ name: "annex", level }, pino.destination({ dest: 1, sync: true })), close: async () => {} };
  }
  const destination = pino.destination({ dest: 1, sync: true, minLength: BUFFER_BYTES, periodicFlush: FLUSH_MS });
  flushOnExit(destination);
  const logger = pino({ name: "annex", level }, destination);
  let closed: Promise<void> | undefined;
  return {
    logger,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        unflushed.delete(destination);
        // end() writes what is buffered, then stops the timer; for fd 1 it does not close stdout.
        const done = (): void => resolve();
        destination.once("close", done);
        destination.once("error", done);
        destination.end();
      })),
  };
}

/** Refuses a logger that would fail on the first line rather than at start. */
export function isLogger(value: unknown): value is Logger {
  if (value === null || typeof value !== "object") return false;
  const candidate = value as Record<string, unknown>;
  return ["debug", "info", "warn", "error"].every((method) => typeof candidate[method] === "function");
}
