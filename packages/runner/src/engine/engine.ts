import type { QuickJSHandle } from "quickjs-emscripten-core";
import type { ExecuteEnvelope, ExecuteError, ExecuteResult, ExecutionLimits, Usage } from "../envelope.js";
import { RunnerError } from "../errors.js";
import { dispatchAfter, type HostCallScope, type HostDispatch } from "../host-apis.js";
import type { ExecuteOptions } from "../runner.js";
import { effectiveLimits } from "../limits.js";
import { Budget } from "./budget.js";
import { compileBundle, type BundleParts, type CompiledBundle } from "./compiled.js";
import { Execution } from "./execution.js";
import { computeEffectiveGrants } from "./grants.js";
import { guestPrincipal } from "./guest-principal.js";
import { encodeForGuest, PayloadTooLarge, type GuestBound } from "./marshal.js";
import type { MemoryImage } from "./memory-image.js";
import { RealmImage } from "./realm-image.js";
import { normaliseResponse } from "./response.js";
import { Sandbox, type GuestMeta, type Settled } from "./sandbox.js";
import { InstancePool, type EngineVariant, type InstancePoolStats, type WasmInstance } from "./wasm.js";
import { setImmediate } from "node:timers";

export interface EngineOptions {
  variant: EngineVariant;
  /** The runner's limits: defaults and maximums. */
  limits: ExecutionLimits;
  dispatch: HostDispatch;
  /** Idle WebAssembly instances kept per memory cap. Default 4. */
  maxIdleInstances?: number | undefined;
  /** Warm contexts kept per (bundle, install). Default 2. */
  maxWarmPerInstall?: number | undefined;
  /** Warm contexts kept in total; each holds a WebAssembly instance. Default 16. */
  maxWarm?: number | undefined;
}

export interface EngineStats {
  instances: InstancePoolStats;
  /**
   * Memory images of a ready realm (release build): `taken` once per new
   * instance, `restored` after every sandbox that ran in one. `enabled` is
   * false when sandboxes build their realm from scratch instead (the debug
   * build, or a QuickJS build whose internals did not check out).
   */
  images: { enabled: boolean; taken: number; restored: number; bundleStates: number };
  warmContexts: number;
  inFlight: number;
  loadedBundles: number;
}

/** Errors after which a warm context is not trusted for another call. */
const POISONING: ReadonlySet<string> = new Set(["E_TIMEOUT", "E_MEMORY", "E_STACK", "E_SANDBOX_CRASHED", "E_HOST_CALL_LIMIT"]);

/** Why a bundle could not be loaded: the code's fault (E_BUNDLE_INVALID) or a limit the runner enforced while loading. */
function loadFailure(label: string, failure: ExecuteError): RunnerError {
  const limit = failure.code === "E_TIMEOUT" || failure.code === "E_MEMORY" || failure.code === "E_STACK" || failure.code === "E_SANDBOX_CRASHED";
  if (limit) {
    const what =
      failure.code === "E_TIMEOUT"
        ? "did not finish within its time limits"
        : failure.code === "E_MEMORY"
          ? "ran out of memory"
          : failure.code === "E_STACK"
            ? "exceeded its stack size"
            : "crashed the sandbox";
    return new RunnerError(failure.code, `bundle ${label}: the server entry's top-level code ${what} while loading (${failure.message}); the publisher must fix it and publish a new version`, {
      phase: "load",
      path: "runtime.entry",
      ...(failure.details ?? {}),
    });
  }
  return new RunnerError("E_BUNDLE_INVALID", `bundle ${label}: ${failure.message}`, {
    phase: "load",
    path: "runtime.entry",
    cause: failure.code,
    ...(failure.stack ? { stack: failure.stack } : {}),
  });
}

function emptyUsage(): Usage {
  return { cpuMs: 0, wallMs: 0, memoryPeakBytes: 0, hostCalls: {}, logBytes: 0 };
}

/**
 * An instance's realm with one bundle's entry evaluated and nothing run: its
 * memory image, and the handles (namespace, handler functions) that live in
 * that memory. A fresh execution of the same bundle on that instance starts
 * from it, so the entry is not evaluated again; after the execution the
 * instance goes back to it. The image holds nothing of any execution.
 */
interface BundleState {
  contentHash: string;
  image: MemoryImage;
  namespace: QuickJSHandle;
  handlers: ReadonlyMap<string, QuickJSHandle | null>;
}

/**
 * Compiles bundles, leases WebAssembly instances and runs executions in
 * fresh or warm sandboxes. Runner implementations wrap it (the in-memory runner
 * directly; the worker pool inside each worker).
 */
export class Engine {
  private readonly pool: InstancePool;
  private readonly bundles = new Map<string, CompiledBundle>();
  private readonly warm = new Map<string, Sandbox[]>();
  private warmCount = 0;
  private readonly inFlight = new Set<Execution>();
  private readonly images = new WeakMap<WasmInstance, RealmImage>();
  /** The bundle each imaged instance is specialised to, if any (see BundleState). */
  private readonly states = new WeakMap<WasmInstance, BundleState>();
  private imagesTaken = 0;
  private imagesRestored = 0;
  private statesTaken = 0;
  /** Set once an image could not be taken: the engine then builds every realm from scratch, as the debug build always does. */
  private imagesUnsupported = false;
  private closed = false;

  constructor(private readonly options: EngineOptions) {
    this.pool = new InstancePool({
      variant: options.variant,
      maxIdle: options.maxIdleInstances ?? 4,
      recycleAboveBytes: 32 * 1024 * 1024,
      collectAboveBytes: 16 * 1024 * 1024,
      prepare: (instance) => this.takeImage(instance),
    });
  }

  /** Builds a new instance's realm and images it, before anything else runs in the instance. */
  private takeImage(instance: WasmInstance): void {
    if (this.imagesUnsupported || instance.layout === undefined) return;
    let image: RealmImage | undefined;
    try {
      image = RealmImage.capture(instance);
    } catch {
      image = undefined;
    }
    if (image === undefined) {
      this.imagesUnsupported = true;
      return;
    }
    this.images.set(instance, image);
    this.imagesTaken++;
  }

  /**
   * Leases an instance and opens a sandbox for `bundle` in it: from the
   * instance's state for this bundle when it has one (the entry already
   * evaluated, restored when last retired); else in the instance's imaged
   * realm, evaluating the entry and taking a state for next time; else in a
   * realm built for this sandbox alone.
   */
  private async open(bundle: CompiledBundle, limits: ExecutionLimits, budget: Budget): Promise<{ sandbox: Sandbox; failure?: ExecuteError }> {
    const instance = await this.pool.acquire(limits.memoryBytes, (candidate) => this.states.get(candidate)?.contentHash === bundle.contentHash);
    const image = this.images.get(instance);
    const state = this.states.get(instance);
    const options = { instance, bundle, memoryBytes: limits.memoryBytes, stackBytes: limits.stackBytes, budget };
    try {
      if (image !== undefined && state !== undefined) {
        if (state.contentHash === bundle.contentHash) return { sandbox: Sandbox.resume({ ...options, realm: image.realm, namespace: state.namespace, handlers: state.handlers }) };
        // Specialised to another bundle: back to the pristine realm (that state's handles go with it).
        this.states.delete(instance);
        if (!image.reset()) throw new Error("the instance's realm image no longer matches it");
      }
      const opened = await Sandbox.create({ ...options, realm: image?.realm });
      if (image !== undefined && opened.failure === undefined && bundle.exportedHandlers.length > 0) this.specialise(instance, image, opened.sandbox, bundle.exportedHandlers);
      return opened;
    } catch (error) {
      this.dropInstance(instance);
      throw error;
    }
  }

  /** Takes the state of an instance whose sandbox just evaluated its bundle's entry (before it runs anything). */
  private specialise(instance: WasmInstance, image: RealmImage, sandbox: Sandbox, handlers: readonly string[]): void {
    const handles = sandbox.handOver(handlers);
    if (handles === undefined) return;
    const memory = image.captureState();
    if (memory === undefined) {
      // Nothing imaged: the handles stay the sandbox's, freed with it.
      sandbox.takeBack();
      return;
    }
    this.states.set(instance, { contentHash: sandbox.bundle.contentHash, image: memory, ...handles });
    this.statesTaken++;
  }

  get limits(): ExecutionLimits {
    return this.options.limits;
  }

  getBundle(contentHash: string): CompiledBundle | undefined {
    return this.bundles.get(contentHash);
  }

  /**
   * Compiles a verified bundle's entry once, evaluating it in a throwaway
   * sandbox to list its exports. The entry's top-level code runs under the
   * bundle's own CPU and wall limits (runner ∩ manifest), as it will before
   * every fresh execution. Throws E_BUNDLE_INVALID when the code is wrong
   * (syntax, top-level throw, forbidden import, missing export), and the
   * engine's own code when loading hit a limit: E_TIMEOUT, E_MEMORY, E_STACK,
   * E_SANDBOX_CRASHED, with `details.phase: "load"`.
   */
  async load(parts: BundleParts): Promise<CompiledBundle> {
    this.assertOpen();
    const cached = this.bundles.get(parts.contentHash);
    if (cached !== undefined) return cached;
    const bundle = compileBundle(parts);
    const limits = effectiveLimits(this.options.limits, bundle.limits);
    let exported: string[] = [];
    let failure: ExecuteError | undefined;
    this.pool.collectDropped();
    const opened = await this.open(bundle, limits, new Budget(limits.cpuMs, limits.wallMs));
    failure = opened.failure;
    try {
      if (failure === undefined) {
        exported = opened.sandbox.exportedFunctions();
        // The first execution on this instance then starts from the evaluated entry.
        const { instance } = opened.sandbox;
        const image = this.images.get(instance);
        if (image !== undefined && !this.states.has(instance)) this.specialise(instance, image, opened.sandbox, exported.filter((name) => bundle.declaredHandlers.has(name)));
      }
    } finally {
      this.retire(opened.sandbox);
    }
    const label = `${bundle.extensionId}@${bundle.version}`;
    if (failure !== undefined) throw loadFailure(label, failure);
    const missing = [...bundle.declaredHandlers].filter((name) => !exported.includes(name));
    if (missing.length > 0) {
      throw new RunnerError(
        "E_BUNDLE_INVALID",
        `bundle ${label}: the manifest names handler${missing.length > 1 ? "s" : ""} ${missing.join(", ")} but ${bundle.entry} does not export ${missing.length > 1 ? "them" : "it"} as a function`,
        { path: "runtime.entry", missing },
      );
    }
    bundle.exportedHandlers = exported;
    this.bundles.set(bundle.contentHash, bundle);
    return bundle;
  }

  /**
   * Takes a bundle that an engine of the same runner already loaded, with the
   * exports that load listed, without evaluating its entry: a worker the pool
   * starts after bundles were loaded (a replacement, an overflow worker)
   * adopts them, so that it is ready at once instead of after every bundle's
   * top-level code has run again (~1 ms a bundle). The first execution of
   * each then evaluates the entry, under that execution's own limits and the
   * pool's watchdog, as every fresh execution does.
   */
  adopt(parts: BundleParts, exportedHandlers: readonly string[]): CompiledBundle {
    this.assertOpen();
    const cached = this.bundles.get(parts.contentHash);
    if (cached !== undefined) return cached;
    const bundle = compileBundle(parts);
    bundle.exportedHandlers = [...exportedHandlers];
    this.bundles.set(bundle.contentHash, bundle);
    return bundle;
  }

  unload(contentHash: string): boolean {
    this.dropWarm((key) => key.startsWith(`${contentHash}|`));
    return this.bundles.delete(contentHash);
  }

  /** Runs one validated envelope against a loaded bundle. Never throws for guest failures. */
  async execute(bundle: CompiledBundle, envelope: ExecuteEnvelope, options: ExecuteOptions = {}): Promise<ExecuteResult> {
    const started = performance.now();
    const fail = (error: ExecuteError, usage: Usage = emptyUsage()): ExecuteResult => ({
      requestId: envelope.requestId,
      ok: false,
      error,
      usage: { ...usage, wallMs: usage.wallMs || Math.round(performance.now() - started) },
      logs: [],
    });
    if (this.closed) return fail({ code: "E_RUNNER_UNAVAILABLE", message: "the runner is closed" });
    if (options.abandoned !== undefined) {
      // This runner starts at once, so only a caller who gave up before calling is seen: one turn of the microtask
      // queue lets an already settled promise say so. (The worker pool and the remote runner also drop what waits.)
      let gaveUp = false;
      const giveUp = () => (gaveUp = true);
      options.abandoned.then(giveUp, giveUp);
      await undefined;
      if (gaveUp) return fail({ code: "E_TIMEOUT", message: "the caller stopped waiting before the execution started: it never ran" });
    }
    // Memory of an instance dropped by an earlier execution is freed before this one can add to it.
    this.pool.collectDropped();
    const { invocation } = envelope;
    if (!bundle.declaredHandlers.has(invocation.handler)) {
      return fail({
        code: "E_HANDLER_NOT_FOUND",
        message: `${bundle.extensionId}@${bundle.version} declares no endpoint, job or event handler named ${invocation.handler}`,
      });
    }
    const limits = effectiveLimits(this.options.limits, bundle.limits, envelope.limits ?? undefined);
    const payload = invocation.kind === "endpoint" ? invocation.request : invocation.kind === "job" ? invocation.job : invocation.event;
    let input: GuestBound;
    try {
      input = encodeForGuest(payload, limits.requestBytes);
    } catch (error) {
      if (error instanceof PayloadTooLarge) {
        return fail({
          code: "E_PAYLOAD_TOO_LARGE",
          message: `the request is ${error.size} bytes, more than the ${limits.requestBytes} allowed`,
          details: { limit: limits.requestBytes, size: error.size },
        });
      }
      return fail({ code: "E_BAD_ENVELOPE", message: `envelope.invocation cannot be serialised: ${(error as Error).message}` });
    }
    const scope: HostCallScope = {
      requestId: envelope.requestId,
      extensionId: bundle.extensionId,
      extensionVersion: bundle.version,
      contentHash: bundle.contentHash,
      installId: envelope.install.id,
      tenant: envelope.install.tenant,
      principal: envelope.principal ?? undefined,
    };
    // The full intersection is only needed for host calls; what every execution needs is checked by name.
    const granted = (name: string) => bundle.requested.has(name) && envelope.grants.some((grant) => grant?.name === name);
    const execution = new Execution(
      limits,
      () => computeEffectiveGrants(envelope.grants, bundle.capabilities),
      granted("log"),
      scope,
      dispatchAfter(options.dispatch ?? this.options.dispatch, options.hostCallsAfter),
      envelope.hostCallArgBytes ?? {},
      bundle.requested,
    );
    const meta: GuestMeta = {
      requestId: envelope.requestId,
      install: { id: envelope.install.id, tenant: envelope.install.tenant, config: envelope.install.config },
      principal: guestPrincipal(envelope.principal, granted("user.read")),
      call:
        invocation.kind === "event"
          ? { kind: "event", id: String(invocation.event.id), type: String(invocation.event.type) }
          : invocation.kind === "job"
            ? { kind: "job", name: String(invocation.job.name), scheduledAt: String(invocation.job.scheduledAt) }
            : undefined,
    };
    this.inFlight.add(execution);
    let settled: Settled;
    try {
      const useWarm = envelope.context === "warm" && bundle.warmContext;
      settled = useWarm
        ? await this.runWarm(bundle, envelope.install.id, execution, invocation.handler, input, meta)
        : await this.runFresh(bundle, execution, invocation.handler, input, meta);
    } catch (error) {
      // Infrastructure failures (an instance that cannot be created) still come back as a result, never a throw.
      settled = {
        ok: false,
        error: { code: "E_SANDBOX_CRASHED", message: `the sandbox could not run: ${error instanceof Error ? error.message : String(error)}` },
      };
    } finally {
      execution.finish();
      this.inFlight.delete(execution);
    }
    const usage: Usage = {
      cpuMs: Math.round(execution.budget.cpuUsedMs * 1000) / 1000,
      wallMs: Math.round((performance.now() - started) * 1000) / 1000,
      memoryPeakBytes: settled.ok || settled.error.code !== "E_MEMORY" ? execution.memoryPeakBytes : Math.max(execution.memoryPeakBytes, limits.memoryBytes),
      hostCalls: { ...execution.hostCalls },
      logBytes: execution.logBytes,
      ...(execution.deniedCalls === undefined ? {} : { deniedCalls: { ...execution.deniedCalls } }),
    };
    if (!settled.ok) return { requestId: envelope.requestId, ok: false, error: settled.error, usage, logs: execution.logs };
    const normalised = normaliseResponse(settled.value);
    if (!normalised.ok) return { requestId: envelope.requestId, ok: false, error: normalised.error, usage, logs: execution.logs };
    return { requestId: envelope.requestId, ok: true, response: normalised.response, usage, logs: execution.logs };
  }

  private async runFresh(
    bundle: CompiledBundle,
    execution: Execution,
    handler: string,
    input: GuestBound,
    meta: GuestMeta,
  ): Promise<Settled> {
    const { sandbox, failure } = await this.open(bundle, execution.limits, execution.budget);
    try {
      if (failure !== undefined) return { ok: false, error: failure };
      return await sandbox.run(execution, handler, input, meta);
    } finally {
      this.retire(sandbox);
    }
  }

  private async runWarm(
    bundle: CompiledBundle,
    installId: string,
    execution: Execution,
    handler: string,
    input: GuestBound,
    meta: GuestMeta,
  ): Promise<Settled> {
    // Warm contexts are kept per install: globals a guest leaves behind never reach another install's calls.
    const key = `${bundle.contentHash}|${installId}|${InstancePool.hardCapBytes(execution.limits.memoryBytes)}`;
    let sandbox = this.warm.get(key)?.pop();
    if (sandbox !== undefined) {
      this.warmCount--;
      sandbox.applyLimits(execution.limits, execution.budget);
    } else {
      const created = await this.open(bundle, execution.limits, execution.budget);
      sandbox = created.sandbox;
      if (created.failure !== undefined) {
        this.retire(sandbox);
        return { ok: false, error: created.failure };
      }
    }
    const settled = await sandbox.run(execution, handler, input, meta);
    const poisoned = !settled.ok && POISONING.has(settled.error.code);
    const list = this.warm.get(key) ?? [];
    if (
      !poisoned &&
      sandbox.reusable &&
      !this.closed &&
      this.bundles.has(bundle.contentHash) &&
      list.length < (this.options.maxWarmPerInstall ?? 2) &&
      this.warmCount < (this.options.maxWarm ?? 16)
    ) {
      list.push(sandbox);
      this.warm.set(key, list);
      this.warmCount++;
    } else {
      this.retire(sandbox);
    }
    return settled;
  }

  /**
   * Disposes a sandbox and returns its instance to the pool, its imaged realm
   * restored to pristine, or discards the instance when either is unsafe.
   */
  private retire(sandbox: Sandbox): void {
    const { instance } = sandbox;
    const image = this.images.get(instance);
    const state = this.states.get(instance);
    const target = state?.contentHash === sandbox.bundle.contentHash ? state.image : undefined;
    if (!sandbox.dispose() || (image !== undefined && !image.reset(target))) {
      this.dropInstance(instance);
      return;
    }
    // Restored to the pristine realm: a state of another bundle (and its handles) is gone.
    if (state !== undefined && target === undefined) this.states.delete(instance);
    if (image !== undefined) this.imagesRestored++;
    this.pool.release(instance);
  }

  private dropInstance(instance: WasmInstance): void {
    this.images.delete(instance);
    this.states.delete(instance);
    this.pool.discard(instance);
  }

  private dropWarm(match: (key: string) => boolean): void {
    for (const [key, list] of this.warm) {
      if (!match(key)) continue;
      for (const sandbox of list) this.retire(sandbox);
      this.warmCount -= list.length;
      this.warm.delete(key);
    }
  }

  stats(): EngineStats {
    return { instances: this.pool.stats(), images: {
        enabled: this.options.variant === "release" && !this.imagesUnsupported,
        taken: this.imagesTaken,
        restored: this.imagesRestored,
        bundleStates: this.statesTaken,
      }, warmContexts: this.warmCount, inFlight: this.inFlight.size, loadedBundles: this.bundles.size };
  }

  /** Debug variant only: throws when an idle instance still holds QuickJS allocations. */
  assertNoLeaks(): void {
    this.pool.assertNoLeaks();
  }

  private assertOpen(): void {
    if (this.closed) throw new RunnerError("E_RUNNER_UNAVAILABLE", "the runner is closed; create a new one");
  }

  /** Stops in-flight executions (they fail with E_RUNNER_UNAVAILABLE), frees warm contexts and instances. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const execution of this.inFlight) {
      execution.budget.setAbort({ code: "E_RUNNER_UNAVAILABLE", message: "the runner was closed while the handler ran" });
      execution.abort(() => new Error("runner closed"));
      execution.wake();
    }
    while (this.inFlight.size > 0) await new Promise((resolve) => setImmediate(resolve));
    this.dropWarm(() => true);
    this.bundles.clear();
    this.pool.close();
  }
}
