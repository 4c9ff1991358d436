/**
 * The runner server's Prometheus metrics, in the text exposition format
 * (version 0.0.4). Small on purpose: counters by outcome, one histogram, gauges
 * read at scrape time.
 */
const DURATION_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface MetricsGauges {
  loadedBundles(): number;
  liveWorkers(): number | undefined;
  inFlightExecutions(): number;
}

export class RunnerMetrics {
  readonly #byCode = new Map<string, number>();
  readonly #rejected = new Map<string, number>();
  readonly #bucketCounts = new Array<number>(DURATION_BUCKETS_S.length).fill(0);
  #durationSum = 0;
  #durationCount = 0;
  readonly #gauges: MetricsGauges;

  constructor(gauges: MetricsGauges) {
    this.#gauges = gauges;
  }

  /** `code` is "ok" for a successful execution, else the result's error code. */
  recordExecution(code: string, durationMs: number): void {
    this.#byCode.set(code, (this.#byCode.get(code) ?? 0) + 1);
    const seconds = durationMs / 1000;
    this.#durationSum += seconds;
    this.#durationCount++;
    for (let i = 0; i < DURATION_BUCKETS_S.length; i++) {
      if (seconds <= DURATION_BUCKETS_S[i]!) this.#bucketCounts[i]!++;
    }
  }

  recordRejection(code: string): void {
    this.#rejected.set(code, (this.#rejected.get(code) ?? 0) + 1);
  }

  render(): string {
    const lines: string[] = [];
    lines.push("# HELP annex_runner_executions_total Executions by outcome (ok or the error code).");
    lines.push("# TYPE annex_runner_executions_total counter");
    for (const [code, n] of [...this.#byCode].sort()) lines.push(`annex_runner_executions_total{outcome="${code}"} ${n}`);
    lines.push("# HELP annex_runner_execution_duration_seconds Wall time of executions as seen by the server.");
    lines.push("# TYPE annex_runner_execution_duration_seconds histogram");
    DURATION_BUCKETS_S.forEach((le, i) => lines.push(`annex_runner_execution_duration_seconds_bucket{le="${le}"} ${this.#bucketCounts[i]}`));
    lines.push(`annex_runner_execution_duration_seconds_bucket{le="+Inf"} ${this.#durationCount}`);
    lines.push(`annex_runner_execution_duration_seconds_sum ${this.#durationSum}`);
    lines.push(`annex_runner_execution_duration_seconds_count ${this.#durationCount}`);
    lines.push("# HELP annex_runner_requests_rejected_total Calls refused before reaching the runner, by error code.");
    lines.push("# TYPE annex_runner_requests_rejected_total counter");
    for (const [code, n] of [...this.#rejected].sort()) lines.push(`annex_runner_requests_rejected_total{code="${code}"} ${n}`);
    lines.push("# HELP annex_runner_loaded_bundles Bundles loaded (verified by this server) and not unloaded.");
    lines.push("# TYPE annex_runner_loaded_bundles gauge");
    lines.push(`annex_runner_loaded_bundles ${this.#gauges.loadedBundles()}`);
    lines.push("# HELP annex_runner_in_flight_executions Executions currently running.");
    lines.push("# TYPE annex_runner_in_flight_executions gauge");
    lines.push(`annex_runner_in_flight_executions ${this.#gauges.inFlightExecutions()}`);
    const workers = this.#gauges.liveWorkers();
    if (workers !== undefined) {
      lines.push("# HELP annex_runner_live_workers Worker threads alive in the runner's pool.");
      lines.push("# TYPE annex_runner_live_workers gauge");
      lines.push(`annex_runner_live_workers ${workers}`);
    }
    return `${lines.join("\n")}\n`;
  }
}
