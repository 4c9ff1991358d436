export type * from "./envelope.js";
export type * from "./runner.js";
export * from "./engine/index.js";
export * from "./pool/index.js";
export * from "./remote/index.js";
export { createInMemoryRunner, type InMemoryRunner, type InMemoryRunnerOptions } from "./in-memory-runner.js";
export { RunnerError, HostCallError, isRunnerError, type RunnerErrorCode, type HostCallErrorCode } from "./errors.js";
export { DEFAULT_LIMITS, effectiveLimits, type ManifestLimits } from "./limits.js";
export { serializedBody } from "./json-body.js";
export {
  ARGUMENTS_TOO_LARGE,
  authorize,
  capabilityOf,
  createHostDispatch,
  KV_CALLS_IN_FLIGHT,
  type EventsApi,
  type HostApis,
  type HostCall,
  type HostCallArgBytes,
  type HostCallScope,
  type HostCapability,
  type HostDispatch,
  type HostDispatchContext,
  type HostMethod,
  type KvApi,
  type KvListOptions,
  type KvSetCallOptions,
  type KvVersionedEntry,
  type SchemaLike,
  type SecretsApi,
  type SqlApi,
} from "./host-apis.js";
export {
  DEFAULT_EGRESS,
  checkAddress,
  hostMatchesPattern,
  type EgressLookup,
  type EgressOptions,
  type EgressResponse,
} from "./egress/index.js";
export { EXECUTION_METRIC_NAMES, createExecutionMetrics, type ExecutionLabels, type ExecutionMetrics } from "./metrics/execution-metrics.js";
