import { BridgeError, type BridgeErrorCode } from "../errors.js";

const WINDOW_MS = 1000;

/**
 * Caps the reports of refused messages for one frame: at most `maxPerSecond`
 * reach the sink, the rest are only counted, and one summary per second says
 * how many there were and of which codes. Without it a flood of refused
 * messages became a flood of audit calls or log lines on the host page.
 *
 * A report is built only when it will be sent: building a BridgeError
 * (message, details, stack capture) for every refused message of a flood
 * would cost the host about as much as the flood itself.
 */
export class ReportThrottle {
  readonly #sink: (error: BridgeError) => void;
  readonly #max: number;
  readonly #now: () => number;
  #windowStart: number | null = null;
  #sent = 0;
  #suppressed = 0;
  #byCode = new Map<BridgeErrorCode, number>();
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** `now` returns milliseconds from a monotonic clock. */
  constructor(sink: (error: BridgeError) => void, maxPerSecond: number, now: () => number) {
    this.#sink = sink;
    this.#max = maxPerSecond;
    this.#now = now;
  }

  report(code: BridgeErrorCode, build: () => BridgeError): void {
    const now = this.#now();
    if (this.#windowStart === null || now - this.#windowStart >= WINDOW_MS) {
      this.#endWindow();
      this.#windowStart = now;
    }
    if (this.#sent < this.#max) {
      this.#sent += 1;
      this.#sink(build());
      return;
    }
    this.#suppressed += 1;
    this.#byCode.set(code, (this.#byCode.get(code) ?? 0) + 1);
    // The flood may stop right here: its summary must not wait for the next refusal.
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.#endWindow();
    }, Math.max(0, this.#windowStart + WINDOW_MS - now));
  }

  /** Sends the pending summary now, if there is one: the frame is going away. */
  flush(): void {
    this.#endWindow();
  }

  #endWindow(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const suppressed = this.#suppressed;
    const byCode = this.#byCode;
    this.#windowStart = null;
    this.#sent = 0;
    this.#suppressed = 0;
    this.#byCode = new Map();
    if (suppressed > 0) this.#sink(summary(suppressed, byCode, this.#max));
  }
}

function summary(suppressed: number, byCode: ReadonlyMap<BridgeErrorCode, number>, max: number): BridgeError {
  const counts = [...byCode].sort((a, b) => b[1] - a[1]);
  const codes = Object.fromEntries(counts);
  const list = counts.map(([code, n]) => `${code} ${n.toLocaleString("en-US")}`).join(", ");
  // The most frequent code, so a host that routes reports by code files the summary with its kind.
  const code = counts[0]?.[0] ?? "E_BRIDGE_PROTOCOL";
  return new BridgeError(
    code,
    `${max > 0 ? `… and ${suppressed.toLocaleString("en-US")} more` : suppressed.toLocaleString("en-US")} refused in the last second (${list}), not reported one by one: at most ${max} reports a second per frame`,
    { reason: "summary", suppressed, codes, windowMs: WINDOW_MS },
  );
}
