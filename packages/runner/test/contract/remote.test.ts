import { parseTrustStore } from "@annex/manifest";
import { createRemoteRunner, createRunnerServer, createWorkerPoolRunner, type WorkerPoolRunner } from "../../src/index.js";
import { runnerContract } from "../support/contract-suite.js";

const KEY = "contract-remote-key-0123456789abcdef0123456789";

runnerContract("remote (server over loopback, worker pool inside)", async ({ hostApis, limits }) => {
  let pool: WorkerPoolRunner | undefined;
  const server = createRunnerServer({
    key: KEY,
    // The fixtures' bundles are unsigned: the server accepts them only in dev mode.
    trustStore: parseTrustStore({ trustStoreVersion: 1, keys: [] }),
    mode: "dev",
    // Two workers, so that executions overlap (the compare-and-set race needs it) as in the pool subject.
    runner: (hostDispatch) => (pool = createWorkerPoolRunner({ workers: 2, hostDispatch, limits })),
  });
  const url = await server.listen(0);
  const runner = createRemoteRunner({ url, key: KEY, hostApis });
  return {
    runner,
    async dispose() {
      await runner.close();
      await server.close();
    },
    live: () => (server.server.listening ? 1 : 0) + (pool?.stats().liveWorkers ?? 0),
    serialisesBodies: true,
  };
});
