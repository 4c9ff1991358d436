import { createInMemoryRunner } from "../../src/in-memory-runner.js";
import { hostileSuite } from "../support/hostile-suite.js";

// The in-memory runner has no watchdog: cases that only worker.terminate() can stop run against the pool and remote runners.
hostileSuite("in-memory runner", ({ hostApis, limits }) => createInMemoryRunner({ hostApis, limits }), { watchdog: false });
