import type { VerifiedBundle } from "@annex/manifest";
import { isUiPath } from "@annex/manifest/runtime";
import type { InMemoryRunnerOptions } from "../in-memory-runner.js";

/** What each worker's in-memory runner is created with: everything but the host APIs, which stay on the main thread. */
export type PoolRunnerOptions = Omit<InMemoryRunnerOptions, "hostApis">;

/** The parts of a verified bundle a worker needs to run it (the brand of a VerifiedBundle does not survive postMessage). */
export interface WorkerBundleParts {
  contentHash: string;
  manifest: unknown;
  files: Map<string, Uint8Array>;
}

/** A bundle some worker of the pool loaded, as a worker started later takes it. */
export interface InheritedBundle extends WorkerBundleParts {
  handlers: readonly string[];
}

export interface WorkerData {
  runnerOptions: PoolRunnerOptions;
  /**
   * The bundles the pool loaded before this worker started (a replacement, an
   * overflow worker), with the handlers their load found: the worker adopts
   * them without running their top-level code again (see Engine.adopt).
   */
  bundles: InheritedBundle[];
  /** Executions the worker runs at once; more wait in its queue. */
  concurrency: number;
  /** The claim cells of the executions sent to this worker (claims.ts). */
  claims: SharedArrayBuffer;
  /** How long the worker keeps running while host calls are pending, before it sleeps (WorkerPoolOptions.hostCallSpinMicros). */
  spinMicros: number;
}

export function workerRunnerOptions(options: PoolRunnerOptions): PoolRunnerOptions {
  const out: PoolRunnerOptions = {};
  if (options.limits !== undefined) out.limits = { ...options.limits };
  if (options.variant !== undefined) out.variant = options.variant;
  if (options.maxIdleInstances !== undefined) out.maxIdleInstances = options.maxIdleInstances;
  if (options.maxWarmPerInstall !== undefined) out.maxWarmPerInstall = options.maxWarmPerInstall;
  if (options.maxWarm !== undefined) out.maxWarm = options.maxWarm;
  return out;
}

/**
 * Server code only: UI assets (under `ui.root`) never run in a sandbox, so
 * they are not copied into every worker.
 */
export function bundleParts(bundle: VerifiedBundle): WorkerBundleParts {
  const files = new Map<string, Uint8Array>();
  // The same rule the engine applies when it compiles: one definition (@annex/manifest's isUiPath) for all runners.
  for (const [path, bytes] of bundle.files) if (!isUiPath(bundle.manifest, path)) files.set(path, bytes);
  return { contentHash: bundle.contentHash, manifest: bundle.manifest, files };
}
