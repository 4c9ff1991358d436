export {
  createWorkerPoolRunner,
  type WorkerPoolOptions,
  type WorkerPoolRunner,
  type WorkerPoolStats,
} from "./worker-pool.js";
export type { PoolRunnerOptions } from "./worker-data.js";
