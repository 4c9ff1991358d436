/**
 * How fast one frame may talk to the host. Shared (not host-only) so an
 * extension page can read the defaults it is held to and pace its calls.
 *
 * `maxConcurrentCalls` bounds calls in flight, not calls per second: a frame
 * whose calls finish at once (getContext, resize) could still post tens of
 * thousands of them and keep the host page's event loop busy for seconds.
 * These limits bound the rate, per frame.
 */
export interface BridgeRateLimits {
  /** Host API calls one frame may make per second, sustained. */
  maxCallsPerSecond: number;
  /** Calls one frame may make at once after a quiet spell (the token bucket's size). */
  maxCallBurst: number;
  /** Refused messages reported to onRejectedMessage per second for one frame; the rest are counted in one summary. */
  maxReportsPerSecond: number;
  /**
   * Messages refused within one second (over the rate, or dropped by the
   * host's guard) after which the frame's connection is closed and the frame
   * disposed: refusing a flood one message at a time still costs the host
   * page each message's delivery and decoding (a 10-second flood froze it for
   * seconds). Default 5 × maxCallBurst (1,000).
   */
  cutOffAfterRefusals: number;
}

/**
 * Defaults no normal extension page meets: it calls on load (getContext,
 * onThemeChange, a few fetches), on user input, and resize at most once a
 * rendered frame (60 a second on most screens). 100 a second leaves room for
 * a 60 Hz resize animation plus fetches; a burst of 200 lets a dashboard
 * fire all its first fetches at once. A flood, though, is cut to 100 served
 * calls a second, every other call costing the host only a cheap refusal.
 * An honest frame causes no reports at all, so 10 a second shows what a
 * misbehaving one sends without turning a flood into a flood of log lines.
 * A host that sets only maxCallsPerSecond gets a burst of twice that.
 */
export const DEFAULT_RATE_LIMITS: Readonly<BridgeRateLimits> = Object.freeze({
  maxCallsPerSecond: 100,
  maxCallBurst: 200,
  maxReportsPerSecond: 10,
  cutOffAfterRefusals: 1000,
});
