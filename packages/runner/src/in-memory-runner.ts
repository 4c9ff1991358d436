import type { VerifiedBundle } from "@annex/manifest";
import { isVerifiedBundle } from "@annex/manifest/runtime";
import type { ExecuteEnvelope, ExecuteResult, ExecutionLimits } from "./envelope.js";
import { isRunnerError, RunnerError } from "./errors.js";
import { createHostDispatch, type HostApis, type HostDispatch } from "./host-apis.js";
import { resolveRunnerLimits } from "./limits.js";
import type { ExecuteOptions, LoadedBundle, Runner } from "./runner.js";
import type { BundleParts, CompiledBundle } from "./engine/compiled.js";
import { Engine, type EngineStats } from "./engine/engine.js";
import { validateEnvelope } from "./engine/validate-envelope.js";
import type { EngineVariant } from "./engine/wasm.js";

export interface InMemoryRunnerOptions {
  /** The implementations behind `ctx` (kv, sql, secrets, events, host capabilities) and the egress policy. */
  hostApis?: HostApis | undefined;
  /** Defaults and maximums for every execution; manifests and envelopes may only lower them. */
  limits?: Partial<ExecutionLimits> | undefined;
  /**
   * QuickJS build: `release` (default) or `debug` (assertions and leak checks, for tests). Fresh
   * executions on `release` start from a memory image of a ready realm; `debug` builds every realm
   * from scratch so its leak checks see each one freed.
   */
  variant?: EngineVariant | undefined;
  /** Idle WebAssembly instances kept per memory cap. Default 4. */
  maxIdleInstances?: number | undefined;
  /** Warm contexts kept per (bundle, install). Default 2. */
  maxWarmPerInstall?: number | undefined;
  /** Warm contexts kept in total. Default 16. */
  maxWarm?: number | undefined;
}

export interface InMemoryRunner extends Runner {
  /** Sandboxes, realm images, warm contexts and executions currently held. */
  stats(): EngineStats;
}

const engines = new WeakMap<InMemoryRunner, Engine>();

function checkCount(value: number | undefined, path: string): void {
  if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) {
    throw new RunnerError("E_BAD_OPTIONS", `${path} must be a non-negative integer, got ${String(value)}`, { path });
  }
}

function loaded(bundle: CompiledBundle): LoadedBundle {
  return { contentHash: bundle.contentHash, extensionId: bundle.extensionId, version: bundle.version, handlers: [...bundle.exportedHandlers] };
}

function build(options: InMemoryRunnerOptions, dispatch: HostDispatch): InMemoryRunner {
  const variant = options.variant ?? "release";
  if (variant !== "release" && variant !== "debug") {
    throw new RunnerError("E_BAD_OPTIONS", `variant must be "release" or "debug", got ${String(variant)}`, { path: "variant" });
  }
  checkCount(options.maxIdleInstances, "maxIdleInstances");
  checkCount(options.maxWarmPerInstall, "maxWarmPerInstall");
  checkCount(options.maxWarm, "maxWarm");
  const engine = new Engine({
    variant,
    limits: resolveRunnerLimits(options.limits),
    dispatch,
    maxIdleInstances: options.maxIdleInstances,
    maxWarmPerInstall: options.maxWarmPerInstall,
    maxWarm: options.maxWarm,
  });
  const loading = new Map<string, Promise<CompiledBundle>>();
  let closed = false;

  function unavailable(): RunnerError {
    return new RunnerError("E_RUNNER_UNAVAILABLE", "the runner is closed; create a new one");
  }

  async function loadParts(parts: BundleParts): Promise<LoadedBundle> {
    if (closed) throw unavailable();
    let pending = loading.get(parts.contentHash);
    if (pending === undefined) {
      pending = engine.load(parts);
      loading.set(parts.contentHash, pending);
      pending.then(
        () => loading.delete(parts.contentHash),
        () => loading.delete(parts.contentHash),
      );
    }
    return loaded(await pending);
  }

  const runner: InMemoryRunner = {
    async load(bundle: VerifiedBundle): Promise<LoadedBundle> {
      if (closed) throw unavailable();
      if (!isVerifiedBundle(bundle)) {
        throw new RunnerError(
          "E_BUNDLE_UNVERIFIED",
          "load() accepts only bundles returned by verifyBundle() from @annex/manifest; verify the bundle's signature against the trust store first",
        );
      }
      return loadParts({ contentHash: bundle.contentHash, manifest: bundle.manifest, files: bundle.files });
    },

    async execute(envelope: ExecuteEnvelope, options?: ExecuteOptions): Promise<ExecuteResult> {
      const requestId =
        envelope !== null && typeof envelope === "object" && typeof (envelope as { requestId?: unknown }).requestId === "string"
          ? envelope.requestId
          : "";
      const failed = (error: RunnerError): ExecuteResult => ({
        requestId,
        ok: false,
        error: error.toExecuteError(),
        usage: { cpuMs: 0, wallMs: 0, memoryPeakBytes: 0, hostCalls: {}, logBytes: 0 },
        logs: [],
      });
      if (closed) return failed(unavailable());
      try {
        validateEnvelope(envelope);
      } catch (error) {
        if (isRunnerError(error)) return failed(error);
        throw error;
      }
      const bundle = engine.getBundle(envelope.extension.contentHash);
      if (bundle === undefined) {
        return failed(
          new RunnerError(
            "E_BUNDLE_NOT_LOADED",
            `no verified bundle with content hash ${envelope.extension.contentHash} is loaded in this runner; call load() with the verified bundle first`,
            { contentHash: envelope.extension.contentHash },
          ),
        );
      }
      if (bundle.extensionId !== envelope.extension.id || bundle.version !== envelope.extension.version) {
        return failed(
          new RunnerError(
            "E_BAD_ENVELOPE",
            `envelope.extension says ${envelope.extension.id}@${envelope.extension.version} but content hash ${bundle.contentHash} is ${bundle.extensionId}@${bundle.version}`,
            { path: "extension" },
          ),
        );
      }
      return engine.execute(bundle, envelope, options);
    },

    async unload(contentHash: string): Promise<void> {
      engine.unload(contentHash);
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await engine.close();
    },

    stats(): EngineStats {
      return engine.stats();
    },
  };
  engines.set(runner, engine);
  internals.set(runner, {
    loadParts,
    adoptParts(parts, handlers) {
      if (closed) throw unavailable();
      return loaded(engine.adopt(parts, handlers));
    },
  });
  return runner;
}

interface RunnerInternals {
  loadParts(parts: BundleParts): Promise<LoadedBundle>;
  adoptParts(parts: BundleParts, handlers: readonly string[]): LoadedBundle;
}

const internals = new WeakMap<InMemoryRunner, RunnerInternals>();

/**
 * Runs extensions in QuickJS sandboxes inside the current process. For tests,
 * development and trusted code only: a built-in that never reaches the
 * interrupt handler can block this thread, which only the worker pool's
 * watchdog can stop.
 */
export function createInMemoryRunner(options: InMemoryRunnerOptions = {}): InMemoryRunner {
  return build(options, createHostDispatch(options.hostApis ?? {}));
}

/*
 * Internal to @annex/runner (not exported from the package entry): the worker
 * pool runs an in-memory runner inside each worker thread.
 */

/**
 * An in-memory runner whose host calls go to `dispatch` instead of local
 * implementations: the worker pool forwards them to the main thread, which
 * re-checks grants and runs the real HostApis there.
 */
export function createInMemoryRunnerWithDispatch(options: Omit<InMemoryRunnerOptions, "hostApis">, dispatch: HostDispatch): InMemoryRunner {
  return build(options, dispatch);
}

/**
 * Loads bundle parts without the `isVerifiedBundle` check. Safe only for parts
 * that came from a VerifiedBundle in the same process tree: the pool's main
 * thread checks `isVerifiedBundle` before posting the parts to its workers,
 * and a worker only receives messages from that main thread, so the main
 * thread is the trust boundary. (The brand cannot survive a postMessage, which
 * is why this exists.) Never expose this to anything a caller can reach.
 */
export function loadVerifiedParts(
  runner: InMemoryRunner,
  parts: { contentHash: string; manifest: unknown; files: ReadonlyMap<string, Uint8Array> | Readonly<Record<string, Uint8Array>> },
): Promise<LoadedBundle> {
  const internal = internals.get(runner);
  if (internal === undefined) throw new RunnerError("E_BAD_OPTIONS", "loadVerifiedParts needs a runner made by createInMemoryRunner");
  return internal.loadParts(parts);
}

/** Debug variant only: throws when an idle sandbox instance still holds QuickJS handles or allocations. */
export function assertNoLeakedHandles(runner: InMemoryRunner): void {
  engines.get(runner)?.assertNoLeaks();
}

/**
 * Takes parts that a runner of the same pool already loaded, with the
 * handlers that load found, without running their top-level code (see
 * Engine.adopt). The same trust rule as `loadVerifiedParts`: only for parts
 * from the pool's main thread, which loaded them from a VerifiedBundle.
 */
export function adoptVerifiedParts(
  runner: InMemoryRunner,
  parts: { contentHash: string; manifest: unknown; files: ReadonlyMap<string, Uint8Array> | Readonly<Record<string, Uint8Array>> },
  handlers: readonly string[],
): LoadedBundle {
  const internal = internals.get(runner);
  if (internal === undefined) throw new RunnerError("E_BAD_OPTIONS", "adoptVerifiedParts needs a runner made by createInMemoryRunner");
  return internal.adoptParts(parts, handlers);
}
