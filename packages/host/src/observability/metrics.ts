import { createExecutionMetrics, type ExecutionMetrics } from "@annex/runner";
import { Counter, Histogram, Registry } from "prom-client";
import type { ExecuteEvent } from "../execution/executor.js";

/**
 * The host's Prometheus metrics (prom-client): per-install execution metrics
 * under the names the remote runner uses too, and the gateway's own.
 * Labels name tenants and installs: serve them to your monitoring only, not
 * to the public.
 */
export interface HostMetrics {
  /** The prom-client registry holding Annex's metrics (yours, when you passed one). */
  readonly registry: Registry;
  /** The exposition format's content type, for the response header. */
  readonly contentType: string;
  /** Every metric in the text exposition format. */
  text(): Promise<string>;
  /** A web Response with the text, for a route of your app (`GET /metrics`). */
  response(): Promise<Response>;
}

export interface HostMetricsOptions {
  /** Register Annex's metrics in this registry (e.g. your app's), instead of a registry of their own. */
  registry?: Registry | undefined;
}

/** What the host records into; not part of the public API. */
export interface MetricsRecorder extends HostMetrics {
  observe(event: ExecuteEvent): void;
  /** One gateway answer: its family and status, and the error code of a refusal. */
  request(family: string, status: number, code: string | undefined): void;
  /** A request refused by a rate limit, per install. */
  rateLimited(labels: { tenant: string; extension: string; install: string; family: string }): void;
  /** One delivery settled: delivered, failed (will retry), dead, dropped (reason uninstalled/unsubscribed/discarded), stale. */
  eventDelivery(outcome: "delivered" | "failed" | "dead" | "dropped" | "stale", reason: string): void;
  /** Events written to the outbox, by who published them (app or extension). */
  eventsPublished(source: "app" | "extension", count: number): void;
  /** One job run finished (or was skipped). */
  jobRun(outcome: "ok" | "error" | "skipped"): void;
  /** How late a scheduled job run started after its scheduled time, in seconds. */
  jobDelay(seconds: number): void;
}

export function createHostMetrics(options: HostMetricsOptions = {}): MetricsRecorder {
  const registry = options.registry ?? new Registry();
  const executions: ExecutionMetrics = createExecutionMetrics(registry);
  const requests = new Counter({
    name: "annex_gateway_requests_total",
    help: "Requests answered by the gateway, by path family, status and error code (empty when allowed).",
    labelNames: ["family", "status", "code"],
    registers: [registry],
  });
  const limited = new Counter({
    name: "annex_rate_limited_total",
    help: "Requests refused by a rate limit, per install and path family.",
    labelNames: ["tenant", "extension", "install", "family"],
    registers: [registry],
  });
  const deliveries = new Counter({
    name: "annex_event_deliveries_total",
    help: "Event deliveries settled, by outcome (delivered, failed, dead, dropped, stale) and reason (error code, or why dropped).",
    labelNames: ["outcome", "reason"],
    registers: [registry],
  });
  const published = new Counter({
    name: "annex_events_published_total",
    help: "Events written to the outbox, by source (app, extension).",
    labelNames: ["source"],
    registers: [registry],
  });
  const jobRuns = new Counter({
    name: "annex_job_runs_total",
    help: "Scheduled job runs, by outcome (ok, error, skipped).",
    labelNames: ["outcome"],
    registers: [registry],
  });
  const jobDelay = new Histogram({
    name: "annex_job_start_delay_seconds",
    help: "How late scheduled job runs started after their scheduled time.",
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300],
    registers: [registry],
  });
  return {
    registry,
    get contentType() {
      return registry.contentType;
    },
    text: () => registry.metrics(),
    async response() {
      return new Response(await registry.metrics(), { status: 200, headers: { "content-type": registry.contentType, "cache-control": "no-store" } });
    },
    observe(event) {
      executions.observe({ tenant: event.tenant, extension: event.extensionId, install: event.installId, trigger: event.trigger }, event.result);
    },
    request(family, status, code) {
      requests.inc({ family, status: String(status), code: code ?? "" });
    },
    rateLimited(labels) {
      limited.inc(labels);
    },
    eventDelivery(outcome, reason) {
      deliveries.inc({ outcome, reason });
    },
    eventsPublished(source, count) {
      published.inc({ source }, count);
    },
    jobRun(outcome) {
      jobRuns.inc({ outcome });
    },
    jobDelay(seconds) {
      jobDelay.observe(Math.max(0, seconds));
    },
  };
}
