import { clearTimeout, setTimeout } from "node:timers";
/**
 * Work under way, counted so that shutting down can wait for it: the
 * gateway's requests, the calls made on the host. A counter, not a set of
 * promises: the gateway enters and leaves once per request on its hot path.
 */
export interface InFlight {
  /** Runs `work`, counted until it settles. */
  run<T>(work: () => Promise<T>): Promise<T>;
  /** Counts `result` until it settles when it is a promise; returns it as it is. */
  track<T>(result: T): T;
  /** Resolves when nothing is under way, or after `boundMs` (each piece of work ends by its own deadline; the bound is for one that hangs). */
  idle(boundMs: number): Promise<void>;
}

export function createInFlight(): InFlight {
  let active = 0;
  let waiters: Array<() => void> = [];

  function leave(): void {
    active -= 1;
    if (active === 0 && waiters.length > 0) {
      const waiting = waiters;
      waiters = [];
      for (const resolve of waiting) resolve();
    }
  }

  return {
    async run(work) {
      active += 1;
      try {
        return await work();
      } finally {
        leave();
      }
    },
    track(result) {
      if (result === null || typeof (result as { then?: unknown } | undefined)?.then !== "function") return result;
      active += 1;
      (result as PromiseLike<unknown>).then(leave, leave);
      return result;
    },
    idle(boundMs) {
      if (active === 0) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, boundMs);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
