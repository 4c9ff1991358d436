import { afterEach, expect } from "vitest";
import { createWorkerPoolRunner, type WorkerPoolRunner } from "../../src/index.js";

/**
 * A pool factory for one test file: every pool it made is closed after each
 * test, and must have no worker left alive.
 */
export function usePools(): (options: Parameters<typeof createWorkerPoolRunner>[0]) => WorkerPoolRunner {
  const pools: WorkerPoolRunner[] = [];
  afterEach(async () => {
    for (const p of pools.splice(0)) {
      await p.close();
      expect(p.stats().liveWorkers, "workers left alive after close").toBe(0);
    }
  });
  return (options) => {
    const p = createWorkerPoolRunner(options);
    pools.push(p);
    return p;
  };
}
