import { AnnexError } from "@annex/manifest";
import { createInFlight } from "./in-flight.js";

export type HostClosedErrorCode = "E_HOST_CLOSED";

/** A host method was called after `host.close()`: a closed host does nothing more; create a new one. */
export class HostClosedError extends AnnexError {
  declare readonly code: HostClosedErrorCode;

  constructor(method: string, cut?: { cause: string }) {
    super(
      "E_HOST_CLOSED",
      cut === undefined
        ? `host.${method}(): the host is closed (host.close() was called); create a new one with createHost()`
        : `host.${method}(): the host was closed while this call ran (it took longer than close() waits for it) and the database went from under it: ${cut.cause}; an install it was changing may be left installing or upgrading: host.recover() it on a new host, then retry`,
      cut === undefined ? { method } : { method, cutOff: true, cause: cut.cause },
    );
  }
}

/**
 * An error that says nothing typed: what a closed database or runner throws ("driver has already been destroyed"),
 * with no `code`, or wrapped by the SQL storage as E_SQL_FAILED without a SQLSTATE (PostgreSQL did not send it).
 */
function untyped(error: unknown): boolean {
  const { code, details } = (error ?? {}) as { code?: unknown; details?: { sqlstate?: unknown } };
  if (typeof code !== "string") return true;
  return code === "E_SQL_FAILED" && details?.sqlstate === undefined;
}

/** The names of T's methods that return a promise: the ones a closed host refuses. */
export type AsyncMethodsOf<T> = {
  [K in keyof T]-?: T[K] extends (...args: never[]) => Promise<unknown> ? K : never;
}[keyof T] &
  string;

/** Every async method of T, checked by the compiler: a method added to T and not listed here fails the build. */
export function asyncMethods<T>(listed: Record<AsyncMethodsOf<T>, true>): AsyncMethodsOf<T>[] {
  return Object.keys(listed) as AsyncMethodsOf<T>[];
}

/**
 * The host's shutdown: from `close()` on, the guarded methods reject with
 * E_HOST_CLOSED instead of failing somewhere inside with whatever the closed
 * database or runner throws ("PGlite is closed", "driver has already been
 * destroyed"), which tells the caller neither what happened nor what to do;
 * and `idle()` lets the calls made before it finish, so that a manual job
 * run or an app's publish is not cut off by the runner or the database
 * closing under it.
 */
export interface ShutdownGate {
  isClosed(): boolean;
  /** Refuses every later call of a guarded method. */
  close(): void;
  /**
   * Replaces each named method on `target` itself; `prefix` names the object
   * in the error ("jobs." → `host.jobs.runNow()`). Internal parts that hold the
   * originals (the jobs, the relay, the gateway) are not affected, so shutting
   * down never trips over it: guard a copy of an object they share.
   */
  guard<T extends object>(target: T, methods: readonly AsyncMethodsOf<T>[], prefix?: string): T;
  /** Resolves when no guarded call is running, or after `boundMs` (each ends by its own deadline; the bound is for one that hangs). */
  idle(boundMs: number): Promise<void>;
}

export function createShutdownGate(): ShutdownGate {
  let closed = false;
  const calls = createInFlight();

  return {
    isClosed: () => closed,
    close() {
      closed = true;
    },
    guard(target, methods, prefix = "") {
      for (const name of methods) {
        const original = target[name];
        if (typeof original !== "function") continue;
        const guarded = function (this: unknown, ...args: unknown[]): unknown {
          if (closed) return Promise.reject(new HostClosedError(`${prefix}${name}`));
          const running = (original as (...a: unknown[]) => unknown).apply(this, args);
          // Cut off by close() (past its bound), a call fails with whatever the closed database throws: say what happened.
          const answered =
            running instanceof Promise
              ? running.catch((error: unknown) => {
                  throw closed && untyped(error) ? new HostClosedError(`${prefix}${name}`, { cause: String((error as Error)?.message ?? error).slice(0, 200) }) : error;
                })
              : running;
          return calls.track(answered);
        };
        Object.defineProperty(guarded, "name", { value: name });
        (target as Record<string, unknown>)[name] = guarded;
      }
      return target;
    },
    // Calls made while waiting (by the calls being waited for: a capability's handler) are refused, so this ends.
    idle: (boundMs) => calls.idle(boundMs),
  };
}
