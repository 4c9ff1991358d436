import { Counter, Gauge, Registry } from "prom-client";
import type { ExecuteEnvelope, ExecuteResult } from "../envelope.js";
import { createExecutionMetrics, type ExecutionLabels, type ExecutionMetrics } from "../metrics/execution-metrics.js";

export interface MetricsGauges {
  loadedBundles(): number;
  liveWorkers(): number | undefined;
  inFlightExecutions(): number;
}

/**
 * The runner server's Prometheus metrics: the per-install execution metrics
 * under the names the host uses (`annex_executions_total` …), so one
 * dashboard reads both, plus the server's own (refused calls, loaded
 * bundles, in-flight executions, live workers).
 */
export class RunnerMetrics {
  readonly registry = new Registry();
  readonly #executions: ExecutionMetrics;
  readonly #rejected: Counter<"code">;

  constructor(gauges: MetricsGauges) {
    this.#executions = createExecutionMetrics(this.registry);
    this.#rejected = new Counter({
      name: "annex_runner_requests_rejected_total",
      help: "Calls refused before reaching the runner, by error code.",
      labelNames: ["code"],
      registers: [this.registry],
    });
    const gauge = (name: string, help: string, read: () => number | undefined) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          const value = read();
          if (value !== undefined) this.set(value);
        },
      });
    gauge("annex_runner_loaded_bundles", "Bundles loaded (verified by this server) and not unloaded.", gauges.loadedBundles);
    gauge("annex_runner_in_flight_executions", "Executions currently running.", gauges.inFlightExecutions);
    gauge("annex_runner_live_workers", "Worker threads alive in the runner's pool.", gauges.liveWorkers);
  }

  recordExecution(envelope: ExecuteEnvelope, result: ExecuteResult): void {
    this.#executions.observe(labelsOf(envelope), result);
  }

  recordRejection(code: string): void {
    this.#rejected.inc({ code });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}

/** The envelope came from an authenticated host but is not validated yet: label what is there, as strings. */
function labelsOf(envelope: ExecuteEnvelope): ExecutionLabels {
  const text = (value: unknown) => (typeof value === "string" ? value.slice(0, 128) : "unknown");
  const kind = envelope?.invocation?.kind;
  return {
    tenant: text(envelope?.install?.tenant),
    extension: text(envelope?.extension?.id),
    install: text(envelope?.install?.id),
    trigger: kind === "job" || kind === "event" ? kind : "endpoint",
  };
}
