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

/**
 * The logger a host uses when given none: pino writing JSON lines to stdout,
 * named "annex", at `ANNEX_LOG_LEVEL` (default "info"; "silent" turns it off).
 */
export function defaultLogger(): Logger {
  return pino({ name: "annex", level: process.env["ANNEX_LOG_LEVEL"] ?? "info" });
}

/** Refuses a logger that would fail on the first line rather than at start. */
export function isLogger(value: unknown): value is Logger {
  if (value === null || typeof value !== "object") return false;
  const candidate = value as Record<string, unknown>;
  return ["debug", "info", "warn", "error"].every((method) => typeof candidate[method] === "function");
}
