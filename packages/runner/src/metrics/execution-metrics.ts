import { Counter, Histogram, Registry } from "prom-client";
import type { ExecuteResult } from "../envelope.js";

/** Who an execution was for: the labels of every execution metric. */
export interface ExecutionLabels {
  tenant: string;
  extension: string;
  install: string;
  /** `endpoint`, `job` or `event`. */
  trigger: string;
}

/**
 * Per-install execution metrics in Prometheus format, with the same names
 * wherever an execution is observed: the host (`host.metrics`) and the
 * remote runner server (`GET /metrics`). Labels identify the install, never
 * the request: `tenant`, `extension`, `install`, `trigger` (endpoint, job,
 * event), plus `code` on errors and `capability` on host calls.
 */
export interface ExecutionMetrics {
  readonly registry: Registry;
  /** Records one finished execution. */
  observe(labels: ExecutionLabels, result: ExecuteResult): void;
}

export const EXECUTION_METRIC_NAMES = {
  executions: "annex_executions_total",
  errors: "annex_execution_errors_total",
  duration: "annex_execution_duration_seconds",
  cpu: "annex_execution_cpu_seconds_total",
  memory: "annex_execution_memory_peak_bytes",
  hostCalls: "annex_host_calls_total",
} as const;

const LABELS = ["tenant", "extension", "install", "trigger"] as const;
const DURATION_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const MEMORY_BUCKETS = [256 * 1024, 1 << 20, 4 << 20, 16 << 20, 32 << 20, 64 << 20, 128 << 20, 256 << 20];

/** Registers the execution metrics in `registry` (a fresh one by default: never prom-client's global registry). */
export function createExecutionMetrics(registry: Registry = new Registry()): ExecutionMetrics {
  const executions = new Counter({ name: EXECUTION_METRIC_NAMES.executions, help: "Executions of extension handlers.", labelNames: LABELS, registers: [registry] });
  const errors = new Counter({
    name: EXECUTION_METRIC_NAMES.errors,
    help: "Executions that failed, by error code (E_TIMEOUT, E_MEMORY, E_HANDLER_ERROR …).",
    labelNames: [...LABELS, "code"],
    registers: [registry],
  });
  const duration = new Histogram({
    name: EXECUTION_METRIC_NAMES.duration,
    help: "Wall time of executions, including waits on host calls.",
    labelNames: LABELS,
    buckets: DURATION_BUCKETS_S,
    registers: [registry],
  });
  const cpu = new Counter({ name: EXECUTION_METRIC_NAMES.cpu, help: "Guest CPU time spent by executions.", labelNames: LABELS, registers: [registry] });
  const memory = new Histogram({
    name: EXECUTION_METRIC_NAMES.memory,
    help: "Peak sandbox memory of executions.",
    labelNames: LABELS,
    buckets: MEMORY_BUCKETS,
    registers: [registry],
  });
  const hostCalls = new Counter({
    name: EXECUTION_METRIC_NAMES.hostCalls,
    help: "Host calls made by executions, by capability (storage.kv, http.fetch, host:<name> …).",
    labelNames: [...LABELS, "capability"],
    registers: [registry],
  });

  return {
    registry,
    observe(given, result) {
      const labels = { tenant: given.tenant, extension: given.extension, install: given.install, trigger: given.trigger };
      executions.inc(labels);
      if (!result.ok) errors.inc({ ...labels, code: result.error?.code ?? "E_SANDBOX_CRASHED" });
      const usage = result.usage;
      duration.observe(labels, usage.wallMs / 1000);
      if (usage.cpuMs > 0) cpu.inc(labels, usage.cpuMs / 1000);
      if (usage.memoryPeakBytes > 0) memory.observe(labels, usage.memoryPeakBytes);
      for (const [capability, count] of Object.entries(usage.hostCalls)) {
        if (count > 0) hostCalls.inc({ ...labels, capability }, count);
      }
    },
  };
}
