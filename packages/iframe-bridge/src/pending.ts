import { BridgeError } from "./errors.js";

/**
 * Calls in flight across the bridge, each with a deadline. A MessagePort has
 * no reliable "closed" signal, so without a deadline a call to a side that
 * went away would wait forever; and on dispose every pending call is
 * rejected at once instead of being left to hang.
 */
export class PendingCalls {
  readonly #rejects = new Set<(error: BridgeError) => void>();
  #closed: BridgeError | null = null;

  get size(): number {
    return this.#rejects.size;
  }

  run<T>(work: Promise<T>, timeoutMs: number, operation: string): Promise<T> {
    if (this.#closed) return Promise.reject(this.#closed);
    return new Promise<T>((resolve, reject) => {
      const settle = (error: BridgeError | null, value?: T) => {
        clearTimeout(timer);
        this.#rejects.delete(fail);
        if (error) reject(error);
        else resolve(value as T);
      };
      const fail = (error: BridgeError) => settle(error);
      const timer = setTimeout(
        () => fail(new BridgeError("E_BRIDGE_TIMEOUT", `${operation} got no answer within ${timeoutMs} ms; retry, or raise the call timeout`, { operation, timeoutMs })),
        timeoutMs,
      );
      this.#rejects.add(fail);
      work.then(
        (value) => settle(null, value),
        (error: unknown) =>
          settle(error instanceof BridgeError ? error : new BridgeError("E_BRIDGE_PROTOCOL", `${operation} failed on the other side of the bridge`, { operation }, { cause: error })),
      );
    });
  }

  /** Rejects every pending call with `error` and every later one too. */
  close(error: BridgeError): void {
    this.#closed = error;
    for (const fail of [...this.#rejects]) fail(error);
  }
}
