/**
 * At most `max` host calls of one kind of one execution at a time; the others
 * wait their turn, in order, and leave when the execution ends (its signal
 * aborts) without having done anything. A guest can start all its host calls
 * at once without awaiting them, and return: each fetch may buffer a whole
 * response on the host's thread (a thousand at once held ~590 MiB), and each
 * kv read parses and copies a value there (200 reads of a 240 KB value of
 * 80,000 objects kept the host's thread busy 4–8 s after the guest was done).
 */
export class InFlightLimit {
  readonly #executions = new Map<string, { active: number; waiting: (() => void)[] }>();

  constructor(readonly max: number) {}

  /** Runs `work` once fewer than `max` of `key`'s are running; rejects with the signal's reason if it ends first. */
  async run<T>(key: string, signal: AbortSignal, work: () => Promise<T>): Promise<T> {
    let execution = this.#executions.get(key);
    if (execution === undefined) {
      execution = { active: 0, waiting: [] };
      this.#executions.set(key, execution);
    }
    if (execution.active < this.max) {
      execution.active++;
    } else {
      const queue = execution;
      // A slot is handed over by the one releasing it (active stays the same), so nothing can take it in between.
      await new Promise<void>((resolve, reject) => {
        const go = () => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        };
        const onAbort = () => {
          queue.waiting.splice(queue.waiting.indexOf(go), 1);
          reject(signal.reason);
        };
        if (signal.aborted) return reject(signal.reason);
        queue.waiting.push(go);
        signal.addEventListener("abort", onAbort, { once: true });
      });
    }
    try {
      return await work();
    } finally {
      const next = execution.waiting.shift();
      if (next !== undefined) next();
      else if (--execution.active === 0) this.#executions.delete(key);
    }
  }

  /** Executions with calls running or waiting (for leak checks). */
  get size(): number {
    return this.#executions.size;
  }
}
