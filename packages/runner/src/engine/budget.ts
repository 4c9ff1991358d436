import type { ExecuteErrorCode } from "../envelope.js";

export interface AbortReason {
  code: ExecuteErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

/**
 * CPU and wall-clock accounting for one execution. Guest CPU is the time spent
 * inside synchronous calls into the sandbox (evaluating, calling the handler,
 * running promise jobs); the interrupt handler, which QuickJS calls every few
 * thousand instructions, compares it with the limit, and so does the end of
 * each call into the sandbox. Once an abort reason is set
 * the interrupt fires at the next check: QuickJS makes that interruption
 * uncatchable, so a guest cannot swallow it with try/catch.
 */
export class Budget {
  cpuUsedMs = 0;
  abort: AbortReason | undefined;
  readonly startedAt = performance.now();
  private sliceStart = 0;
  private depth = 0;

  constructor(
    readonly cpuLimitMs: number,
    readonly wallLimitMs: number,
  ) {}

  get wallDeadline(): number {
    return this.startedAt + this.wallLimitMs;
  }

  wallUsedMs(): number {
    return performance.now() - this.startedAt;
  }

  /**
   * Runs synchronous guest work, charging its time to the CPU budget. Re-entrant.
   * The limits are checked again when the outermost slice ends: QuickJS asks
   * the interrupt handler by count of bytecode steps, not by time, and a native
   * call (BigInt arithmetic, a long string operation) takes none, so a few
   * of them can overrun cpuMs and return before the handler is asked.
   */
  run<T>(fn: () => T): T {
    if (this.depth++ === 0) this.sliceStart = performance.now();
    try {
      return fn();
    } finally {
      if (--this.depth === 0) {
        this.cpuUsedMs += performance.now() - this.sliceStart;
        this.shouldInterrupt();
      }
    }
  }

  setAbort(reason: AbortReason): void {
    this.abort ??= reason;
  }

  shouldInterrupt(): boolean {
    if (this.abort !== undefined) return true;
    const now = performance.now();
    const cpu = this.cpuUsedMs + (this.depth > 0 ? now - this.sliceStart : 0);
    if (cpu > this.cpuLimitMs) {
      this.setAbort({
        code: "E_TIMEOUT",
        message: `the handler used more than its ${this.cpuLimitMs} ms of CPU time`,
        details: { limit: "cpuMs", cpuMs: this.cpuLimitMs },
      });
      return true;
    }
    if (now > this.wallDeadline) {
      this.setAbort(wallTimeout(this.wallLimitMs));
      return true;
    }
    return false;
  }
}

export function wallTimeout(wallMs: number): AbortReason {
  return {
    code: "E_TIMEOUT",
    message: `the handler did not finish within its ${wallMs} ms wall-clock limit`,
    details: { limit: "wallMs", wallMs },
  };
}
