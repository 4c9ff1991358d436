import type { ExecuteEvent, HostMetrics } from "@annex/host";
import { summarizeUsage, usageRecordOf, type UsageRecord, type UsageSummary } from "@annex/admin";

interface MetricValue {
  labels: Record<string, string | number | undefined>;
  value: number;
  metricName?: string;
}

async function valuesOf(metrics: HostMetrics, name: string): Promise<MetricValue[]> {
  const metric = metrics.registry.getSingleMetric(name);
  if (metric === undefined) return [];
  return ((await metric.get()) as { values: MetricValue[] }).values;
}

/**
 * Per-install usage for the console's usage panel. The totals (executions,
 * errors by code, CPU) come from the host's Prometheus metrics
 * (`host.metrics`), so they cover everything since the process started;
 * latency percentiles, memory peak and the chart come from the install's
 * most recent executions (a bounded ring fed by `onExecute`), which the
 * metrics' histograms only give as bucket bounds.
 */
export class InstallUsage {
  private readonly recent = new Map<string, UsageRecord[]>();

  constructor(
    private readonly options: { perInstall?: number; maxInstalls?: number } = {},
  ) {}

  /** Pass to createHost({ onExecute }). */
  readonly onExecute = (event: ExecuteEvent): void => {
    let ring = this.recent.get(event.installId);
    if (ring === undefined) {
      ring = [];
      if (this.recent.size >= (this.options.maxInstalls ?? 1000)) this.recent.delete(this.recent.keys().next().value as string);
    }
    ring.push(usageRecordOf(event, new Date()));
    const max = this.options.perInstall ?? 500;
    if (ring.length > max) ring.splice(0, ring.length - max);
    this.recent.set(event.installId, ring);
  };

  async summary(metrics: HostMetrics | null, installId: string, bucketMs = 60_000): Promise<UsageSummary & { recentExecutions: number }> {
    const recent = summarizeUsage(this.recent.get(installId) ?? [], { bucketMs });
    if (metrics === null) return { ...recent, recentExecutions: recent.executions };
    const mine = (values: MetricValue[]) => values.filter((v) => v.labels["install"] === installId);
    const executions = mine(await valuesOf(metrics, "annex_executions_total")).reduce((sum, v) => sum + v.value, 0);
    const errorsByCode: Record<string, number> = {};
    for (const v of mine(await valuesOf(metrics, "annex_execution_errors_total"))) {
      const code = String(v.labels["code"] ?? "E_UNKNOWN");
      errorsByCode[code] = (errorsByCode[code] ?? 0) + v.value;
    }
    const cpuSeconds = mine(await valuesOf(metrics, "annex_execution_cpu_seconds_total")).reduce((sum, v) => sum + v.value, 0);
    return {
      ...recent,
      executions,
      errors: Object.values(errorsByCode).reduce((sum, n) => sum + n, 0),
      errorsByCode,
      cpuMs: { total: Math.round(cpuSeconds * 1_000_000) / 1000, p95: recent.cpuMs.p95 },
      recentExecutions: recent.executions,
    };
  }
}
