import { createInMemoryRunner } from "../../src/index.js";
import { runnerContract } from "../support/contract-suite.js";

runnerContract("in-memory", async ({ hostApis, limits }) => {
  const runner = createInMemoryRunner({ hostApis, limits });
  return { runner, dispose: () => runner.close() };
});
