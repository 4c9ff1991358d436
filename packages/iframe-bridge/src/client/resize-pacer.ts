import { BridgeError } from "../errors.js";

/** Resizes a second at most: leaves most of the host's per-frame call budget (100 a second by default) to the page's own calls. */
export const RESIZES_PER_SECOND = 20;

/**
 * Paces auto-resize so that an animation cannot spend the frame's call
 * budget: ResizeObserver reports every rendered frame (144 a second on some
 * screens), and the host refuses calls past its rate limit. At most one
 * resize is sent per interval and one is in flight at a time; heights seen in
 * between are folded into the latest, which is always sent in the end, so the
 * iframe settles at the page's last height. A resize the host refused for
 * the rate (the page's own calls used the budget) is sent again after an
 * interval, if no newer height replaced it; any other failure is dropped, as
 * before (a disconnected bridge has no frame to size).
 */
export function paceResizes(send: (height: number) => Promise<unknown>, perSecond = RESIZES_PER_SECOND): { report(height: number): void; stop(): void } {
  const interval = 1000 / perSecond;
  let latest: number | null = null;
  let lastSent = Number.NEGATIVE_INFINITY;
  let inFlight = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  const schedule = (delay: number) => {
    if (timer !== undefined || stopped) return;
    timer = setTimeout(() => {
      timer = undefined;
      flush();
    }, delay);
  };

  const flush = () => {
    if (stopped || inFlight || latest === null) return;
    const wait = lastSent + interval - performance.now();
    if (wait > 0) return schedule(wait);
    const height = latest;
    latest = null;
    inFlight = true;
    lastSent = performance.now();
    send(height).then(
      () => {
        inFlight = false;
        flush();
      },
      (error: unknown) => {
        inFlight = false;
        if (error instanceof BridgeError && error.code === "E_BRIDGE_RATE_LIMITED") latest ??= height;
        flush();
      },
    );
  };

  return {
    report(height) {
      latest = height;
      flush();
    },
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}
