import { setImmediate } from "node:timers";

/**
 * Spin, then sleep: each call of the returned function keeps this thread's
 * event loop turning for `spinMs` from then (a pending immediate makes it poll
 * without blocking) for as long as `waiting()` holds, instead of sleeping in the
 * kernel. A message from the other side of the pool then finds this thread
 * running: no wake-up, which on a virtual machine costs more than a small host
 * call itself (an interrupt to an idle core). One turn at a time, however many
 * calls; nothing when `spinMs` is 0.
 */
export function stayAwake(spinMs: number, waiting: () => boolean): () => void {
  let until = 0;
  let spinning = false;
  const turn = (): void => {
    if (waiting() && performance.now() < until) setImmediate(turn);
    else spinning = false;
  };
  return () => {
    if (spinMs <= 0) return;
    until = performance.now() + spinMs;
    if (spinning) return;
    spinning = true;
    setImmediate(turn);
  };
}
