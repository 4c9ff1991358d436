import { parseTrustStore } from "@annex/manifest";
import { createRemoteRunner, createRunnerServer, createWorkerPoolRunner, type WorkerPoolRunner } from "../../src/index.js";
import type { Runner } from "../../src/runner.js";
import { hostileSuite } from "../support/hostile-suite.js";

const KEY = "hostile-remote-key-0123456789abcdef0123456789";

// The hostile suite through the whole remote path: client → authenticated HTTP →
// server → worker pool (with its watchdog). Host calls, egress included, run in
// the client's process with the client's host APIs and egress policy.
hostileSuite(
  "remote runner (worker pool behind a server)",
  async ({ hostApis, limits }) => {
    let pool: WorkerPoolRunner | undefined;
    const server = createRunnerServer({
      key: KEY,
      trustStore: parseTrustStore({ trustStoreVersion: 1, keys: [] }),
      mode: "dev",
      runner: (hostDispatch) => (pool = createWorkerPoolRunner({ workers: 1, hostDispatch, limits, watchdogGraceMs: 500 })),
    });
    const client = createRemoteRunner({ url: await server.listen(0), key: KEY, hostApis });
    const runner: Runner = {
      load: (bundle) => client.load(bundle),
      execute: (envelope) => client.execute(envelope),
      unload: (hash) => client.unload(hash),
      async close() {
        await client.close();
        await server.close();
        const live = (pool?.stats().liveWorkers ?? 0) + (server.server.listening ? 1 : 0);
        if (live !== 0) throw new Error(`${live} worker thread(s) or listening server(s) left after close()`);
      },
    };
    return runner;
  },
  { watchdog: true },
);
