import type { QuickJSContext, QuickJSHandle, QuickJSRuntime, QuickJSWASMModule } from "quickjs-emscripten-core";
import type { ExecuteErrorCode } from "../envelope.js";
import { BOOTSTRAP_SOURCE } from "./bootstrap.js";
import { NativeCalls } from "./native.js";

export const HELPERS = ["run", "value", "plain", "makeError", "describeError", "exportNames", "firstName"] as const;
export type HelperName = (typeof HELPERS)[number];

/** Module specifiers the normaliser refused are renamed under this prefix so the loader can refuse them with a reason. */
export const DENIED = "annex:denied/";

/** Thrown when the sandbox itself failed (not the guest): the instance must be discarded. */
export class SandboxBroken extends Error {
  constructor(
    readonly code: ExecuteErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** What a realm calls back into while it serves a sandbox. */
export interface RealmHost {
  shouldInterrupt(): boolean;
  onHostCall(args: QuickJSHandle[]): QuickJSHandle | { error: QuickJSHandle };
  onHostLog(args: QuickJSHandle[]): QuickJSHandle | { error: QuickJSHandle } | undefined;
  loadModule(name: string): string | { error: Error };
  normaliseModule(base: string, requested: string): string;
}

/**
 * One QuickJS runtime and context with the bootstrap helpers installed, and
 * nothing of any extension yet. Its native entry points (host calls, logs,
 * the interrupt handler, the module loader) go to whichever sandbox it
 * currently serves, so the same realm can serve one sandbox after another
 * when a memory image puts it back in this state in between.
 */
export class Realm {
  readonly context: QuickJSContext;
  readonly runtime: QuickJSRuntime;
  /** The sandbox being served; guest code only ever runs while one is attached. */
  host: RealmHost | undefined;
  /** Fast calls into the context (its scratch area is part of the realm, and of its image). */
  readonly calls: NativeCalls;
  private readonly helpers = new Map<HelperName, QuickJSHandle>();

  private constructor(module: QuickJSWASMModule) {
    // newContext() (rather than newRuntime().newContext()) ties the runtime to this context,
    // so computeMemoryUsage needs no extra "system" context.
    this.context = module.newContext();
    this.runtime = this.context.runtime;
    this.calls = new NativeCalls(this.context);
    this.runtime.setInterruptHandler(() => this.host?.shouldInterrupt() ?? false);
    this.runtime.setModuleLoader(
      (name) => this.host?.loadModule(name) ?? { error: new Error(`import of "${name}" failed: no extension is running`) },
      (base, requested) => this.host?.normaliseModule(base, requested) ?? `${DENIED}${requested}`,
    );
  }

  /**
   * Creates the runtime and context and runs the bootstrap in it. Throws
   * (SandboxBroken when the bootstrap itself failed) after freeing what it
   * could; the caller should discard the instance.
   */
  static create(module: QuickJSWASMModule, options: { bounded: boolean }): Realm {
    const realm = new Realm(module);
    try {
      // A bounded WebAssembly memory is the one memory limit: every out-of-memory then goes through a refused
      // memory.grow, which is how the engine tells a real one from a guest's `throw new InternalError("out of
      // memory")`. (QuickJS's own limit counts 8 bytes per allocation in this build: malloc_usable_size is
      // unavailable under Emscripten, so it only ever stopped single huge allocations.)
      if (options.bounded) realm.runtime.setMemoryLimit(-1);
      realm.installBootstrap();
    } catch (error) {
      try {
        realm.dispose();
      } catch {
        // The instance is beyond use; the caller discards it.
      }
      throw error;
    }
    return realm;
  }

  private installBootstrap(): void {
    const { context } = this;
    // The bootstrap is the runner's own code: it runs before any sandbox is attached, so it is never interrupted.
    const hostCall = context.newFunction("hostCall", (...args) => this.host?.onHostCall(args));
    const hostLog = context.newFunction("hostLog", (...args) => this.host?.onHostLog(args));
    try {
      const factory = context.evalCode(BOOTSTRAP_SOURCE, "annex:bootstrap", { type: "global", strict: true });
      if (factory.error) throw this.failure(factory.error);
      const helpers = context.callFunction(factory.value, context.undefined, [hostCall, hostLog]);
      factory.value.dispose();
      if (helpers.error) throw this.failure(helpers.error);
      for (const name of HELPERS) this.helpers.set(name, context.getProp(helpers.value, name));
      helpers.value.dispose();
    } finally {
      hostCall.dispose();
      hostLog.dispose();
    }
  }

  private failure(errorHandle: QuickJSHandle): SandboxBroken {
    const info = this.context.dump(errorHandle) as { message?: string };
    errorHandle.dispose();
    return new SandboxBroken("E_SANDBOX_CRASHED", `the sandbox bootstrap failed: ${String(info?.message ?? info)}`);
  }

  helper(name: HelperName): QuickJSHandle {
    return this.helpers.get(name)!;
  }

  /** Frees the helpers, the context and its runtime. */
  dispose(): void {
    this.host = undefined;
    for (const handle of this.helpers.values()) handle.dispose();
    this.helpers.clear();
    this.calls.free();
    this.context.dispose();
  }
}
