import { AnnexError } from "@annex/manifest";

export type HostClosedErrorCode = "E_HOST_CLOSED";

/** A host method was called after `host.close()`: a closed host does nothing more; create a new one. */
export class HostClosedError extends AnnexError {
  declare readonly code: HostClosedErrorCode;

  constructor(method: string) {
    super("E_HOST_CLOSED", `host.${method}(): the host is closed (host.close() was called); create a new one with createHost()`, { method });
  }
}

/**
 * Makes each named method reject with E_HOST_CLOSED once `closed()` says so,
 * instead of failing somewhere inside with whatever the closed database or
 * runner throws ("PGlite is closed", "driver has already been destroyed"),
 * which tells the caller neither what happened nor what to do. Replaces the
 * methods on `target` itself: internal parts that hold the originals (the
 * jobs, the relay) are not affected, so shutting down never trips over it.
 */
export function refuseAfterClose<T extends object>(target: T, closed: () => boolean, methods: readonly (keyof T & string)[]): void {
  for (const name of methods) {
    const original = target[name];
    if (typeof original !== "function") continue;
    const guarded = function (this: unknown, ...args: unknown[]): unknown {
      if (closed()) return Promise.reject(new HostClosedError(name));
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    };
    Object.defineProperty(guarded, "name", { value: name });
    (target as Record<string, unknown>)[name] = guarded;
  }
}
