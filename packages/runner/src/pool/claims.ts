/**
 * Who gets to decide that an execution sent ahead to a worker runs there.
 *
 * The pool sends a worker more executions than it runs at once, so the worker
 * never idles waiting for the next envelope. Those waiting in the worker may
 * still be taken back: to run on a worker that became free (work stealing), or
 * because their worker is being killed (watchdog) or died. Taking one back is
 * only safe if the worker has not started it, and the two threads must not
 * both win: an execution that runs twice may call the host twice.
 *
 * Each execution sent ahead gets one cell of a SharedArrayBuffer holding its
 * token (pending). The worker starts it only after swapping the token for its
 * negation (running); the pool takes it back only after swapping the token for
 * 0 (revoked). `Atomics.compareExchange` lets exactly one of them succeed.
 * Tokens are unique per dispatch, so a stale copy of an execution left in a
 * worker's queue can never claim a cell that was reused for a later one.
 */
export const REVOKED = 0;
const TOKEN_MASK = 0x3fffffff;

export type ClaimCells = Int32Array;

export function newClaimCells(count: number): { buffer: SharedArrayBuffer; cells: ClaimCells } {
  const buffer = new SharedArrayBuffer(count * Int32Array.BYTES_PER_ELEMENT);
  return { buffer, cells: new Int32Array(buffer) };
}

/** A token for dispatch number `n`: positive, so that its negation marks it running. */
export function tokenOf(n: number): number {
  return (n & TOKEN_MASK) || 1;
}

/** Pool side: marks a cell pending for the execution with this token. */
export function offer(cells: ClaimCells, cell: number, token: number): void {
  Atomics.store(cells, cell, token);
}

/** Worker side: true if this worker may start the execution (and now must). */
export function claimToRun(cells: ClaimCells, cell: number, token: number): boolean {
  return Atomics.compareExchange(cells, cell, token, -token) === token;
}

/** Pool side: true if the execution was taken back before the worker started it. */
export function revoke(cells: ClaimCells, cell: number, token: number): boolean {
  return Atomics.compareExchange(cells, cell, token, REVOKED) === token;
}

/** Pool side: true while the worker runs the execution (it claimed it and has not been replaced). */
export function isRunning(cells: ClaimCells, cell: number, token: number): boolean {
  return Atomics.load(cells, cell) === -token;
}
