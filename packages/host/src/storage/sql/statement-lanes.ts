import { SqlStorageError } from "./errors.js";

/** A statement dropped from its lane, or cancelled, because the execution that sent it ended. */
export function executionEnded(): SqlStorageError {
  return new SqlStorageError("E_SQL_TIMEOUT", "the statement was dropped or cancelled: the execution that sent it ended", { reason: "execution-ended" });
}

/** Gives back a statement's place (once; later calls, and calls after `detach`, do nothing). */
export interface LanePlace {
  (): void;
  /**
   * Gives back the host-wide place now, and the install's own place only once
   * `until` settles: for a statement the host stopped waiting for while the
   * database still runs it (see postgres-pinned.ts), so that other installs'
   * statements run meanwhile but the install cannot have more than
   * maxConcurrent statements running in the database.
   */
  detach(until: Promise<unknown>): void;
}

export interface StatementLanes {
  /** Waits for a place for one statement of `key` (an install); answers the function that gives it back. */
  acquire(key: string, signal: AbortSignal | undefined): Promise<LanePlace>;
  /** Statements holding a place now, across all lanes. */
  readonly running: number;
}

interface Lane {
  running: number;
  /** When it last got a place (a count of places given), 0 when never since it was made. */
  servedAt: number;
  /** Its statements waiting for a place, oldest first. */
  waiting: Array<() => void>;
}

/**
 * At most `maxConcurrent` statements of one install run at once, and at most
 * `maxConcurrentTotal` of all installs together (each holds a connection of
 * the host's pool, which Annex's own queries need too); at most `maxQueued`
 * of one install wait for a place, in order; past those a statement fails at
 * once with E_SQL_BUSY. A waiting statement whose signal aborts (its
 * execution ended) leaves the queue without running.
 *
 * A freed place goes to the installs with a statement waiting in turn
 * (round robin: the one that got a place longest ago first), each install's
 * statements in their order: an install that keeps its queue full gets one
 * place per turn like any other, so another install's lone statement waits
 * for at most one statement of each install ahead of it, never for a whole
 * queue.
 */
export function createStatementLanes(maxConcurrent: number, maxQueued: number, maxConcurrentTotal = Number.POSITIVE_INFINITY): StatementLanes {
  const lanes = new Map<string, Lane>();
  /** Keys whose lane has a statement waiting, in the order they began to wait; each at most once. */
  const turns: string[] = [];
  let running = 0;
  let given = 0;

  /**
   * Gives free places to waiting statements while the host-wide cap allows:
   * each to the install below its own limit that got a place longest ago
   * (the one that began to wait first among equals).
   */
  function dispatch(): void {
    while (running < maxConcurrentTotal) {
      let at = -1;
      for (let index = 0; index < turns.length; index++) {
        const lane = lanes.get(turns[index]!)!;
        if (lane.running < maxConcurrent && (at < 0 || lane.servedAt < lanes.get(turns[at]!)!.servedAt)) at = index;
      }
      if (at < 0) return;
      const key = turns[at]!;
      const lane = lanes.get(key)!;
      const go = lane.waiting.shift()!;
      if (lane.waiting.length === 0) turns.splice(at, 1);
      lane.running++;
      lane.servedAt = ++given;
      running++;
      go();
    }
  }

  function settle(key: string, lane: Lane): void {
    if (lane.running === 0 && lane.waiting.length === 0) lanes.delete(key);
  }

  return {
    get running() {
      return running;
    },
    async acquire(key, signal) {
      if (signal?.aborted) throw executionEnded();
      let lane = lanes.get(key);
      if (lane === undefined) {
        lane = { running: 0, servedAt: 0, waiting: [] };
        lanes.set(key, lane);
      }
      const own = lane;
      let released = false;
      const release = Object.assign(
        () => {
          if (released) return;
          released = true;
          own.running--;
          running--;
          settle(key, own);
          dispatch();
        },
        {
          detach(until: Promise<unknown>) {
            if (released) return;
            released = true;
            running--;
            dispatch();
            const end = () => {
              own.running--;
              settle(key, own);
              dispatch();
            };
            until.then(end, end);
          },
        },
      );
      // Nobody waits for a place this statement could take (dispatch gives every free place it can), so it runs now.
      if (own.running < maxConcurrent && running < maxConcurrentTotal && own.waiting.length === 0) {
        own.running++;
        own.servedAt = ++given;
        running++;
        return release;
      }
      if (own.waiting.length >= maxQueued) {
        settle(key, own);
        throw new SqlStorageError(
          "E_SQL_BUSY",
          `this install already has ${maxQueued} statements waiting (and ${own.running} running; at most ${maxConcurrent} run at once), the most this host allows; await some before sending more`,
          { maxConcurrent, maxQueued, running: own.running },
        );
      }
      await new Promise<void>((resolve, reject) => {
        const go = () => {
          signal?.removeEventListener("abort", drop);
          resolve();
        };
        const drop = () => {
          const at = own.waiting.indexOf(go);
          if (at < 0) return;
          own.waiting.splice(at, 1);
          if (own.waiting.length === 0) turns.splice(turns.indexOf(key), 1);
          settle(key, own);
          reject(executionEnded());
        };
        if (own.waiting.length === 0) turns.push(key);
        own.waiting.push(go);
        signal?.addEventListener("abort", drop, { once: true });
      });
      return release;
    },
  };
}
