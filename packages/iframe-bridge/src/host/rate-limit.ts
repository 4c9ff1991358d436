import { BridgeError, type BridgeErrorCode } from "../errors.js";
import { validId, type Admit } from "../guard.js";
import { DEFAULT_RATE_LIMITS, type BridgeRateLimits } from "../protocol/rate-limits.js";
import type { WireResult } from "../protocol/wire.js";
import { positiveInt } from "./positive-int.js";
import { TokenBucket } from "./token-bucket.js";

const MAX_RATE = 100_000;

/**
 * The host's options for one frame's rate limit, validated and defaulted.
 * No option turns the limit off: a host that trusts a frame more raises it.
 */
export function resolveRateLimits(options: { [K in keyof BridgeRateLimits]?: unknown }): BridgeRateLimits {
  const maxCallsPerSecond = positiveInt(options.maxCallsPerSecond, "maxCallsPerSecond", DEFAULT_RATE_LIMITS.maxCallsPerSecond, MAX_RATE);
  // Twice the rate: a second's worth of calls made in one go (a page loading) passes with room to spare.
  const maxCallBurst = positiveInt(options.maxCallBurst, "maxCallBurst", Math.min(2 * maxCallsPerSecond, MAX_RATE), MAX_RATE);
  // 0 is allowed: only the once-a-second summaries are reported.
  const maxReportsPerSecond = positiveInt(options.maxReportsPerSecond, "maxReportsPerSecond", DEFAULT_RATE_LIMITS.maxReportsPerSecond, 1_000, 0);
  const cutOffAfterRefusals = positiveInt(options.cutOffAfterRefusals, "cutOffAfterRefusals", FLOOD_BURSTS * maxCallBurst, 10 * MAX_RATE);
  return { maxCallsPerSecond, maxCallBurst, maxReportsPerSecond, cutOffAfterRefusals };
}

/**
 * Refusals within one second, as a multiple of the burst, that make a frame's
 * messages a flood rather than a burst (the default cutOffAfterRefusals): an
 * honest page over its rate is refused a few times and slows down; one
 * refused 5 × its burst in a second keeps posting whatever it is told.
 */
const FLOOD_BURSTS = 5;
const FLOOD_WINDOW_MS = 1000;

export interface FrameRateGateOptions {
  limits: Pick<BridgeRateLimits, "maxCallsPerSecond" | "maxCallBurst" | "cutOffAfterRefusals">;
  /** Milliseconds from a monotonic clock. */
  now: () => number;
  /** Reports a refusal; `build` runs only when the report is actually sent (report-throttle.ts). */
  report: (code: BridgeErrorCode, build: () => BridgeError) => void;
  /**
   * The frame floods (cutOffAfterRefusals): refusing its messages one by one still
   * cost the host page their delivery and decoding, seconds of a frozen page
   * for a 10-second flood, so the session closes the frame's ports.
   */
  flood: (error: BridgeError) => void;
}

/**
 * One frame's budget. The frame posts to the host on more than one port: its
 * bridge port, and each theme-callback port it handed over (its answers to
 * theme deliveries arrive there). All of them spend from one bucket and count
 * toward one cut-off, or a frame would flood through whichever port was not
 * counted (a theme port took 118,000 messages in 6 s, the host page frozen
 * for 1.5 s at a time).
 */
export interface FrameRateGate {
  /**
   * The first check for one of the frame's ports (guard.ts `Admit`). `reply`
   * posts on that port, to answer a refused call; a port the frame makes no
   * calls on (a theme port) has none, and what is refused there is only counted.
   */
  admit(reply?: (message: unknown) => void): Admit;
  /**
   * Counts a message that was admitted and then refused (the guard's filter)
   * toward the cut-off: within its rate a frame can send nothing but garbage,
   * and a host that raised the rate would otherwise never cut that off.
   */
  refused(): void;
}

/**
 * The first check on every message a frame posts to the host's ports, before
 * the guard's filter, argument validation, comlink and the handlers: a
 * message over the frame's rate is answered here and goes no further. Every
 * message spends a token, well-formed or not, so garbage cannot flood either.
 *
 * A refused call is still answered, because the client's promise for it
 * waits for an answer (or its own timeout, 30 s by default) and an honest
 * page that bursts should learn at once to slow down. The answer is made
 * cheap: one result envelope per frame, built once and reused for every
 * refusal, no stack, only the comlink id differs. Messages that are not calls
 * get no answer, as no one waits for one.
 */
export function createFrameRateGate(options: FrameRateGateOptions): FrameRateGate {
  const { maxCallsPerSecond, maxCallBurst } = options.limits;
  const bucket = new TokenBucket(maxCallsPerSecond, maxCallBurst, options.now);
  const message = `this frame called the host more than ${maxCallsPerSecond} times a second (bursts up to ${maxCallBurst}), so the call was refused: slow down, or batch the work into fewer calls`;
  const refusal: WireResult<never> = { ok: false, error: { code: "E_BRIDGE_RATE_LIMITED", message, details: { maxCallsPerSecond, maxCallBurst } } };
  const build = () => new BridgeError("E_BRIDGE_RATE_LIMITED", message, { maxCallsPerSecond, maxCallBurst });
  const floodAt = options.limits.cutOffAfterRefusals;
  let windowStart = -Infinity;
  let refused = 0;
  let flooded = false;

  /** Counts one refusal; true when the frame is (now) cut off. */
  function countRefusal(): boolean {
    if (flooded) return true;
    const now = options.now();
    if (now - windowStart >= FLOOD_WINDOW_MS) {
      windowStart = now;
      refused = 0;
    }
    if (++refused < floodAt) return false;
    flooded = true;
    options.flood(
      new BridgeError(
        "E_BRIDGE_RATE_LIMITED",
        `this frame sent ${refused} messages the host refused (over its rate, or malformed) within a second (its burst is ${maxCallBurst}): it floods the host page, so its connection was closed; mount the frame again to reconnect`,
        { maxCallsPerSecond, maxCallBurst, cutOff: true },
      ),
    );
    return true;
  }

  return {
    admit: (reply) => (data) => {
      // Cut off: the ports are closing, and what is already queued on them must not be read, within the rate or not.
      if (flooded) return false;
      if (bucket.take()) return true;
      if (countRefusal()) return false;
      const id = callId(data);
      if (id !== null && reply !== undefined) reply({ type: "RAW", value: refusal, id });
      options.report("E_BRIDGE_RATE_LIMITED", build);
      return false;
    },
    refused: () => void countRefusal(),
  };
}

/** The comlink id of a call (APPLY), or null for anything no one waits an answer to. */
function callId(data: unknown): string | null {
  if (typeof data !== "object" || data === null) return null;
  const { id, type } = data as { id?: unknown; type?: unknown };
  return type === "APPLY" && validId(id) ? (id as string) : null;
}
