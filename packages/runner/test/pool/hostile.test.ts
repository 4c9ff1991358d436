import { createWorkerPoolRunner } from "../../src/index.js";
import type { Runner } from "../../src/runner.js";
import { hostileSuite } from "../support/hostile-suite.js";

// Every case of the hostile suite, including those only a watchdog can stop, against the
// worker pool. One worker keeps the suite light on a shared machine; containment across
// workers is covered in pool.test.ts. Closing also proves no worker thread is left behind.
hostileSuite(
  "worker pool",
  ({ hostApis, limits }) => {
    const pool = createWorkerPoolRunner({ workers: 1, hostApis, limits, watchdogGraceMs: 500 });
    const runner: Runner = {
      load: (bundle) => pool.load(bundle),
      execute: (envelope) => pool.execute(envelope),
      unload: (hash) => pool.unload(hash),
      async close() {
        await pool.close();
        const live = pool.stats().liveWorkers;
        if (live !== 0) throw new Error(`${live} worker thread(s) still alive after close()`);
      },
    };
    return runner;
  },
  { watchdog: true },
);
