import { SqlStorageError } from "./errors.js";

/** A statement dropped from its lane, or cancelled, because the execution that sent it ended. */
export function executionEnded(): SqlStorageError {
  return new SqlStorageError("E_SQL_TIMEOUT", "the statement was dropped or cancelled: the execution that sent it ended", { reason: "execution-ended" });
}

/**
 * At most `maxConcurrent` statements of one install run at once, and at most
 * `maxQueued` wait for a place, in order; past those a statement fails at once
 * with E_SQL_BUSY. A waiting statement whose signal aborts (its execution
 * ended) leaves the queue without running.
 */
export function createStatementLanes(maxConcurrent: number, maxQueued: number) {
  const lanes = new Map<string, { running: number; waiting: Array<() => void> }>();
  return {
    async acquire(key: string, signal: AbortSignal | undefined): Promise<() => void> {
      if (signal?.aborted) throw executionEnded();
      let lane = lanes.get(key);
      if (lane === undefined) {
        lane = { running: 0, waiting: [] };
        lanes.set(key, lane);
      }
      const own = lane;
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        const next = own.waiting.shift();
        // The place passes to the next in line; the lane goes when nobody holds or wants one.
        if (next !== undefined) next();
        else if (--own.running === 0) lanes.delete(key);
      };
      if (own.running < maxConcurrent) {
        own.running++;
        return release;
      }
      if (own.waiting.length >= maxQueued) {
        throw new SqlStorageError(
          "E_SQL_BUSY",
          `this install already has ${maxConcurrent} statements running and ${maxQueued} waiting, the most this host allows; await some before sending more`,
          { maxConcurrent, maxQueued },
        );
      }
      await new Promise<void>((resolve, reject) => {
        const go = () => {
          signal?.removeEventListener("abort", drop);
          resolve();
        };
        const drop = () => {
          const at = own.waiting.indexOf(go);
          if (at >= 0) own.waiting.splice(at, 1);
          reject(executionEnded());
        };
        own.waiting.push(go);
        signal?.addEventListener("abort", drop, { once: true });
      });
      return release;
    },
  };
}
