import { createWorkerPoolRunner } from "../../src/index.js";
import { runnerContract } from "../support/contract-suite.js";

runnerContract("worker pool", async ({ hostApis, limits }) => {
  const runner = createWorkerPoolRunner({ workers: 2, hostApis, limits });
  return { runner, dispose: () => runner.close(), live: () => runner.stats().liveWorkers, serialisesBodies: true };
});
