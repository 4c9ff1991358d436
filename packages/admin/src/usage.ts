import { AdminError } from "./errors.js";
import { toDate } from "./internal/dates.js";
import type { UsageRecord, UsageSummary } from "./types.js";

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

function finite(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value) && value >= 0;
}

/**
 * Aggregates executions into what the usage panel shows: counts, errors by
 * code, latency percentiles (nearest rank), CPU and memory, and a series in
 * `bucketMs` buckets (default: one hour).
 */
export function summarizeUsage(records: readonly UsageRecord[], options: { bucketMs?: number } = {}): UsageSummary {
  const bucketMs = options.bucketMs ?? 3_600_000;
  if (!Number.isInteger(bucketMs) || bucketMs <= 0) throw new AdminError("E_ADMIN_INVALID_DATA", "bucketMs must be a positive whole number of milliseconds", { field: "bucketMs" });
  const errorsByCode: Record<string, number> = {};
  const wall: number[] = [];
  const cpu: number[] = [];
  let memory = 0;
  let errors = 0;
  const buckets = new Map<number, { executions: number; errors: number; wall: number[] }>();
  records.forEach((record, index) => {
    const at = toDate(record?.at);
    if (at === null || typeof record.ok !== "boolean" || !finite(record.wallMs) || !finite(record.cpuMs) || !finite(record.memoryPeakBytes)) {
      throw new AdminError("E_ADMIN_INVALID_DATA", `records[${index}] must be { at, ok, errorCode?, wallMs, cpuMs, memoryPeakBytes } with a valid date and non-negative numbers`, { field: `records[${index}]` });
    }
    wall.push(record.wallMs);
    cpu.push(record.cpuMs);
    memory = Math.max(memory, record.memoryPeakBytes);
    if (!record.ok) {
      errors += 1;
      const code = record.errorCode ?? "E_UNKNOWN";
      errorsByCode[code] = (errorsByCode[code] ?? 0) + 1;
    }
    const key = Math.floor(at.getTime() / bucketMs) * bucketMs;
    const bucket = buckets.get(key) ?? { executions: 0, errors: 0, wall: [] };
    bucket.executions += 1;
    if (!record.ok) bucket.errors += 1;
    bucket.wall.push(record.wallMs);
    buckets.set(key, bucket);
  });
  wall.sort((a, b) => a - b);
  const cpuSorted = [...cpu].sort((a, b) => a - b);
  return {
    executions: records.length,
    errors,
    errorsByCode,
    latencyMs: { p50: percentile(wall, 50), p95: percentile(wall, 95), max: wall.at(-1) ?? 0 },
    cpuMs: { total: Math.round(cpu.reduce((sum, ms) => sum + ms, 0) * 1000) / 1000, p95: percentile(cpuSorted, 95) },
    memoryPeakBytes: { max: memory },
    series: [...buckets.entries()]
      .sort(([a], [b]) => a - b)
      .map(([t, bucket]) => ({ t, executions: bucket.executions, errors: bucket.errors, p95Ms: percentile(bucket.wall.sort((a, b) => a - b), 95) })),
  };
}

/**
 * One `ExecuteEvent` of @annex/host (what `onExecute` receives) as a usage
 * record, stamped with `at` (the event carries no time of its own).
 */
export function usageRecordOf(
  event: { result: { ok: boolean; error?: { code: string } | undefined; usage: { wallMs: number; cpuMs: number; memoryPeakBytes: number } } },
  at: Date = new Date(),
): UsageRecord {
  const { result } = event;
  return {
    at,
    ok: result.ok,
    ...(result.ok || result.error === undefined ? {} : { errorCode: result.error.code }),
    wallMs: result.usage.wallMs,
    cpuMs: result.usage.cpuMs,
    memoryPeakBytes: result.usage.memoryPeakBytes,
  };
}
