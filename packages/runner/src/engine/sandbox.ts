import type { QuickJSContext, QuickJSDeferredPromise, QuickJSHandle, QuickJSRuntime } from "quickjs-emscripten-core";
import type { ExecuteError, ExecuteErrorCode, LogEntry } from "../envelope.js";
import { capabilityOf, authorize, isHostMethod, type HostCall } from "../host-apis.js";
import { toGuestError } from "../errors.js";
import type { Budget } from "./budget.js";
import { mapStack, type CompiledBundle } from "./compiled.js";
import type { Execution } from "./execution.js";
import { decodeFromGuest, encodeForGuest, PayloadTooLarge } from "./marshal.js";
import { DENIED, Realm, SandboxBroken, type HelperName, type RealmHost } from "./realm.js";
import type { WasmInstance } from "./wasm.js";

/** A guest exception, described on the guest side so no getter runs on the host. */
export interface GuestErrorInfo {
  name: string;
  message: string;
  stack: string;
  code?: string | undefined;
}

export type Settled = { ok: true; value: unknown } | { ok: false; error: ExecuteError };

/** Codes a host call may raise that also name an execution outcome when the guest lets them escape. */
const SURFACED_CODES: ReadonlySet<string> = new Set<ExecuteErrorCode>([
  "E_CAPABILITY_DENIED",
  "E_EGRESS_DENIED",
  "E_HOST_CALL_LIMIT",
  "E_PAYLOAD_TOO_LARGE",
  "E_TIMEOUT",
]);

export interface SandboxOptions {
  instance: WasmInstance;
  /**
   * A realm to run in, built earlier in this instance (a RealmImage's, put
   * back in its pristine state). Without one the sandbox builds its own and
   * frees it on dispose.
   */
  realm?: Realm | undefined;
  bundle: CompiledBundle;
  memoryBytes: number;
  stackBytes: number;
  nonce: string;
  budget: Budget;
}

/**
 * One QuickJS runtime and context inside a WebAssembly instance, with the
 * bootstrap helpers loaded and the bundle's entry evaluated. A fresh sandbox
 * serves one execution and is disposed; a warm one serves many, one at a time.
 */
export class Sandbox implements RealmHost {
  readonly instance: WasmInstance;
  readonly bundle: CompiledBundle;
  readonly realm: Realm;
  readonly context: QuickJSContext;
  readonly runtime: QuickJSRuntime;
  /** Whether the realm was built for this sandbox alone (and is freed with it). */
  private readonly ownsRealm: boolean;
  private namespace: QuickJSHandle | undefined;
  private budget: Budget;
  private current: Execution | undefined;
  private readonly pending = new Set<QuickJSDeferredPromise>();
  private readonly nonce: string;
  /** Set when the sandbox must not be reused or even disposed normally (OOM, abort, host-side failure). */
  broken: string | undefined;
  executions = 0;

  private constructor(options: SandboxOptions, realm: Realm, ownsRealm: boolean) {
    this.instance = options.instance;
    this.bundle = options.bundle;
    this.nonce = options.nonce;
    this.budget = options.budget;
    this.realm = realm;
    this.ownsRealm = ownsRealm;
    this.context = realm.context;
    this.runtime = realm.runtime;
    realm.host = this;
    this.runtime.setMemoryLimit(options.memoryBytes);
    this.runtime.setMaxStackSize(options.stackBytes);
  }

  /**
   * Creates a sandbox and evaluates the bundle's entry in it, charging the
   * work to `budget`. When the entry cannot be evaluated, `failure` says why
   * and the caller disposes (or, if broken, discards) the sandbox. Throws only
   * when no realm could be built at all; the instance must then be discarded.
   */
  static async create(options: SandboxOptions): Promise<{ sandbox: Sandbox; failure?: ExecuteError }> {
    const realm = options.realm ?? Realm.create(options.instance.module, options.nonce);
    const sandbox = new Sandbox(options, realm, options.realm === undefined);
    try {
      const failure = await sandbox.evaluateEntry();
      return failure === undefined ? { sandbox } : { sandbox, failure };
    } catch (error) {
      sandbox.markBroken(error);
      return { sandbox, failure: brokenError(error) };
    }
  }

  shouldInterrupt(): boolean {
    return this.budget.shouldInterrupt();
  }

  private async evaluateEntry(): Promise<ExecuteError | undefined> {
    const source = this.bundle.modules.get(this.bundle.entry)!;
    const result = this.budget.run(() => this.context.evalCode(source, this.bundle.entry, { type: "module", strict: true }));
    if (result.error) return this.classifyError(result.error, "evaluating the server entry failed");
    let namespace = result.value;
    const state = this.context.getPromiseState(namespace);
    if (state.type === "pending" || (state.type === "fulfilled" && !state.notAPromise) || state.type === "rejected") {
      if (state.type === "fulfilled") state.value.dispose();
      if (state.type === "rejected") state.error.dispose();
      // Top-level await: the entry only finishes once its promise jobs have run.
      this.runJobs();
      const settled = this.context.getPromiseState(namespace);
      namespace.dispose();
      if (this.budget.abort !== undefined) {
        if (settled.type === "fulfilled") settled.value.dispose();
        if (settled.type === "rejected") settled.error.dispose();
        return this.abortError();
      }
      if (settled.type === "pending") {
        return { code: "E_HANDLER_ERROR", message: "the server entry's top-level await never settles (there are no timers or host calls at load time)" };
      }
      if (settled.type === "rejected") return this.classifyError(settled.error, "evaluating the server entry failed");
      namespace = settled.value;
    }
    this.namespace = namespace;
    return undefined;
  }

  /** Names of the functions the entry exports (listed guest-side: the FFI's getOwnPropertyNames misreads memory in debug builds). */
  exportedFunctions(): string[] {
    if (this.namespace === undefined) return [];
    const listed = this.callHelper("exportNames", [this.namespace]);
    if (listed.error) {
      listed.error.dispose();
      return [];
    }
    return JSON.parse(listed.value.consume((h) => this.context.getString(h))) as string[];
  }

  // quickjs-emscripten drops a normaliser's error, so a refused specifier is
  // normalised to a name under DENIED and refused, with the reason, by the loader.
  loadModule(name: string): string | { error: Error } {
    if (name.startsWith(DENIED)) {
      const requested = name.slice(DENIED.length);
      return {
        error: new Error(
          `import of "${requested}" is not allowed: extensions run without host modules; bundle dependencies into the server entry with annex pack`,
        ),
      };
    }
    const source = this.bundle.modules.get(name);
    if (source === undefined) return { error: new Error(`import of "${name}" failed: it is not a JavaScript file of this bundle`) };
    return source;
  }

  normaliseModule(base: string, requested: string): string {
    if (!requested.startsWith("./") && !requested.startsWith("../")) return `${DENIED}${requested}`;
    const parts = base.split("/").slice(0, -1);
    for (const segment of requested.split("/")) {
      if (segment === "." || segment === "") continue;
      if (segment === "..") {
        if (parts.length === 0) return `${DENIED}${requested}`;
        parts.pop();
      } else parts.push(segment);
    }
    return parts.join("/");
  }

  private helper(name: HelperName): QuickJSHandle {
    return this.realm.helper(name);
  }

  /** Calls a bootstrap helper; a guest-side exception comes back as `{ error }`. */
  private callHelper(name: HelperName, args: QuickJSHandle[]): { value: QuickJSHandle; error?: undefined } | { error: QuickJSHandle } {
    const result = this.budget.run(() => this.context.callFunction(this.helper(name), this.context.undefined, args));
    return result.error ? { error: result.error } : { value: result.value };
  }

  /** Copies a host value into the guest (JSON-like plus bytes). */
  private toGuest(value: unknown, limit: number): { value: QuickJSHandle } | { error: QuickJSHandle } {
    const { json, buffers } = encodeForGuest(value, this.nonce, limit);
    const jsonHandle = this.context.newString(json);
    const list = this.context.newArray();
    try {
      buffers.forEach((bytes, index) => {
        const buffer = this.context.newArrayBuffer(bytes.slice().buffer);
        this.context.setProp(list, index, buffer);
        buffer.dispose();
      });
      return this.callHelper("decode", [jsonHandle, list]);
    } finally {
      jsonHandle.dispose();
      list.dispose();
    }
  }

  /** Copies a guest value out (JSON-like plus bytes), refusing more than `limit` bytes. */
  private fromGuest(handle: QuickJSHandle, limit: number): { ok: true; value: unknown } | { ok: false; tooLarge: boolean; error?: QuickJSHandle } {
    const limitHandle = this.context.newNumber(limit);
    const packed = this.callHelper("encode", [handle, limitHandle]);
    limitHandle.dispose();
    if (packed.error) return { ok: false, tooLarge: false, error: packed.error };
    try {
      const status = this.context.getProp(packed.value, 0).consume((h) => this.context.getNumber(h));
      if (status === 1) return { ok: false, tooLarge: true };
      if (status === 2) return { ok: false, tooLarge: false, error: this.context.getProp(packed.value, 1) };
      const json = this.context.getProp(packed.value, 1).consume((h) => this.context.getString(h));
      const buffers = this.context.getProp(packed.value, 2).consume((list) => this.readBuffers(list));
      const value = decodeFromGuest(json, buffers, this.nonce, limit);
      return { ok: true, value };
    } catch (error) {
      if (error instanceof PayloadTooLarge) return { ok: false, tooLarge: true };
      throw error;
    } finally {
      packed.value.dispose();
    }
  }

  private readBuffers(list: QuickJSHandle): Uint8Array[] {
    const length = this.context.getLength(list) ?? 0;
    const out: Uint8Array[] = [];
    for (let index = 0; index < length; index++) {
      const item = this.context.getProp(list, index);
      try {
        const view = this.context.getArrayBuffer(item);
        out.push(view.value.slice());
        view.dispose();
      } finally {
        item.dispose();
      }
    }
    return out;
  }

  private newGuestError(code: string, message: string): QuickJSHandle {
    const codeHandle = this.context.newString(code);
    const messageHandle = this.context.newString(message);
    try {
      const made = this.callHelper("makeError", [codeHandle, messageHandle]);
      return made.error ?? made.value;
    } finally {
      codeHandle.dispose();
      messageHandle.dispose();
    }
  }

  private rejected(code: string, message: string): QuickJSHandle {
    const deferred = this.context.newPromise();
    const error = this.newGuestError(code, message);
    deferred.reject(error);
    error.dispose();
    return deferred.handle;
  }

  onHostCall(args: QuickJSHandle[]): QuickJSHandle | { error: QuickJSHandle } {
    const [tokenHandle, methodHandle, jsonHandle, buffersHandle] = args;
    const execution = this.current;
    const token = tokenHandle === undefined ? "" : this.context.getString(tokenHandle);
    if (execution === undefined || execution.finished || token !== execution.token) {
      return this.rejected("E_CAPABILITY_DENIED", "this ctx belongs to an execution that has ended; use the ctx passed to the current handler");
    }
    const method = methodHandle === undefined ? "" : this.context.getString(methodHandle);
    if (!isHostMethod(method)) return this.rejected("E_INVALID_ARGUMENT", `unknown host method ${method.slice(0, 64)}`);
    execution.hostCallCount++;
    if (execution.hostCallCount > execution.limits.hostCalls) {
      const message = `the handler made more than ${execution.limits.hostCalls} host calls`;
      execution.budget.setAbort({ code: "E_HOST_CALL_LIMIT", message, details: { hostCalls: execution.limits.hostCalls } });
      execution.raised.add("E_HOST_CALL_LIMIT");
      return this.rejected("E_HOST_CALL_LIMIT", message);
    }
    let call: HostCall;
    try {
      const json = this.context.getString(jsonHandle!);
      const buffers = this.readBuffers(buffersHandle!);
      const decoded = decodeFromGuest(json, buffers, this.nonce, execution.limits.responseBytes);
      call = { method, args: Array.isArray(decoded) ? decoded : [] };
    } catch (error) {
      if (error instanceof PayloadTooLarge) return this.rejected("E_PAYLOAD_TOO_LARGE", `ctx.${method} arguments are too large`);
      throw error;
    }
    const capability = capabilityOf(call);
    execution.hostCalls[capability] = (execution.hostCalls[capability] ?? 0) + 1;
    const refused = authorize(call, execution.grants);
    if (refused !== undefined) {
      execution.raised.add(refused.code);
      return this.rejected(refused.code, refused.message);
    }
    const deferred = this.context.newPromise();
    this.pending.add(deferred);
    let dispatched: Promise<unknown>;
    try {
      dispatched = execution.dispatch(call, { scope: execution.scope, grants: execution.grants, signal: execution.signal });
    } catch (error) {
      dispatched = Promise.reject(error);
    }
    dispatched.then(
      (value) => this.settle(execution, deferred, { ok: true, value }),
      (error: unknown) => this.settle(execution, deferred, { ok: false, error }),
    );
    return deferred.handle;
  }

  private settle(execution: Execution, deferred: QuickJSDeferredPromise, outcome: { ok: true; value: unknown } | { ok: false; error: unknown }): void {
    if (!this.pending.delete(deferred)) return;
    if (execution.finished || this.current !== execution || this.broken !== undefined) {
      deferred.dispose();
      return;
    }
    try {
      if (outcome.ok) {
        let copied: { value: QuickJSHandle } | { error: QuickJSHandle };
        try {
          copied = this.toGuest(outcome.value, execution.limits.responseBytes);
        } catch (error) {
          if (!(error instanceof PayloadTooLarge)) throw error;
          copied = { error: this.newGuestError("E_PAYLOAD_TOO_LARGE", `a host call result is larger than ${execution.limits.responseBytes} bytes`) };
          execution.raised.add("E_PAYLOAD_TOO_LARGE");
        }
        if ("value" in copied) {
          deferred.resolve(copied.value);
          copied.value.dispose();
        } else {
          deferred.reject(copied.error);
          copied.error.dispose();
        }
      } else {
        const { code, message } = toGuestError(outcome.error, "the host call");
        execution.raised.add(code);
        const error = this.newGuestError(code, message);
        deferred.reject(error);
        error.dispose();
      }
    } catch (error) {
      this.markBroken(error);
    } finally {
      deferred.dispose();
      execution.wake();
    }
  }

  onHostLog(args: QuickJSHandle[]): QuickJSHandle | { error: QuickJSHandle } | undefined {
    const [tokenHandle, levelHandle, messageHandle, softHandle] = args;
    const soft = softHandle !== undefined && this.context.typeof(softHandle) === "boolean" && this.context.dump(softHandle) === true;
    const execution = this.current;
    const token = tokenHandle === undefined ? "" : this.context.getString(tokenHandle);
    if (execution === undefined || token !== execution.token || execution.finished) {
      if (soft) return undefined;
      return { error: this.newGuestError("E_CAPABILITY_DENIED", "this ctx belongs to an execution that has ended") };
    }
    if (!execution.grants.log) {
      if (soft) return undefined;
      execution.raised.add("E_CAPABILITY_DENIED");
      return { error: this.newGuestError("E_CAPABILITY_DENIED", "ctx.log needs the log capability, which this install was not granted") };
    }
    const level = levelHandle === undefined ? "info" : this.context.getString(levelHandle);
    const message = messageHandle === undefined ? "" : this.context.getString(messageHandle);
    execution.addLog((["debug", "info", "warn", "error"].includes(level) ? level : "info") as LogEntry["level"], message);
    return undefined;
  }

  /** Runs queued promise jobs until none are left or the budget aborts. */
  private runJobs(): void {
    this.budget.run(() => {
      while (this.runtime.hasPendingJob()) {
        const result = this.runtime.executePendingJobs(-1);
        if (result.error) {
          // A job threw past its promise (only uncatchable interrupts and OOM do that); the rest stay queued.
          result.error.dispose();
          if (this.budget.abort !== undefined) return;
        } else {
          result.dispose();
        }
        if (this.budget.abort !== undefined) return;
      }
    });
  }

  /**
   * Records QuickJS's memory use when the guest yields. computeMemoryUsage walks
   * the heap, so while the guest runs it is sampled at most every 10 ms.
   */
  private sampleMemory(execution: Execution | undefined, force = false): void {
    if (execution === undefined) return;
    const now = performance.now();
    if (!force && now - execution.lastMemorySample < 10) return;
    execution.lastMemorySample = now;
    try {
      const usage = this.runtime.computeMemoryUsage();
      const used = this.context.getProp(usage, "memory_used_size");
      const bytes = this.context.getNumber(used);
      used.dispose();
      usage.dispose();
      if (bytes > execution.memoryPeakBytes) execution.memoryPeakBytes = bytes;
    } catch {
      // Sampling allocates inside the sandbox; at the memory cap it may fail, which the outcome already reports.
    }
  }

  private abortError(): ExecuteError {
    const reason = this.budget.abort!;
    return { code: reason.code, message: reason.message, ...(reason.details ? { details: reason.details } : {}) };
  }

  /** Turns a guest exception into a typed error (and disposes the handle). */
  private classifyError(errorHandle: QuickJSHandle, prefix?: string): ExecuteError {
    if (this.budget.abort !== undefined) {
      errorHandle.dispose();
      return this.abortError();
    }
    let info: GuestErrorInfo;
    const described = this.callHelper("describeError", [errorHandle]);
    errorHandle.dispose();
    if (described.error) {
      described.error.dispose();
      info = { name: "Error", message: "the guest threw a value that could not be described", stack: "" };
    } else {
      info = JSON.parse(described.value.consume((h) => this.context.getString(h))) as GuestErrorInfo;
    }
    const message = `${info.name}: ${info.message}`;
    if (info.name === "InternalError" && (info.message === "out of memory" || info.message === "string too long")) {
      this.broken ??= "out of memory";
      return { code: "E_MEMORY", message: `the handler ran out of memory (${info.message})`, details: { guestMessage: info.message } };
    }
    if (info.message === "stack overflow" && (info.name === "InternalError" || info.name === "SyntaxError" || info.name === "RangeError")) {
      return { code: "E_STACK", message: "the handler exceeded its stack size", details: { guestMessage: message } };
    }
    if (info.name === "InternalError" && info.message === "interrupted") {
      return { code: "E_TIMEOUT", message: "the handler was interrupted" };
    }
    if (info.code !== undefined && SURFACED_CODES.has(info.code) && this.current?.raised.has(info.code)) {
      return { code: info.code as ExecuteErrorCode, message: info.message };
    }
    return {
      code: "E_HANDLER_ERROR",
      message: prefix === undefined ? message : `${prefix}: ${message}`,
      stack: mapStack(info.stack, this.bundle),
      ...(info.code === undefined ? {} : { details: { guestCode: info.code } }),
    };
  }

  private markBroken(error: unknown): void {
    this.broken ??= error instanceof Error ? error.message : String(error);
  }

  /**
   * Runs one handler for one execution. `payload` is the first argument
   * (request, job or event), `meta` what the guest's ctx describes.
   */
  async run(execution: Execution, handler: string, payload: unknown, meta: unknown): Promise<Settled> {
    this.current = execution;
    this.budget = execution.budget;
    this.executions++;
    let promise: QuickJSHandle | undefined;
    try {
      if (this.namespace === undefined) return { ok: false, error: { code: "E_HANDLER_NOT_FOUND", message: "the server entry has no exports" } };
      const fn = this.context.getProp(this.namespace, handler);
      if (this.context.typeof(fn) !== "function") {
        fn.dispose();
        return {
          ok: false,
          error: { code: "E_HANDLER_NOT_FOUND", message: `the server entry does not export a function named ${handler}` },
        };
      }
      const token = this.context.newString(execution.token);
      // The request and ctx's data cross in one copy: one decode in the guest instead of two.
      const copied = this.toGuest([payload, meta], Number.MAX_SAFE_INTEGER);
      if ("error" in copied) {
        fn.dispose();
        token.dispose();
        return { ok: false, error: this.classifyError(copied.error, "preparing the handler's arguments failed") };
      }
      const input = { value: this.context.getProp(copied.value, 0) };
      const metaHandle = this.context.getProp(copied.value, 1);
      copied.value.dispose();
      const argLimit = this.context.newNumber(execution.limits.responseBytes);
      const logCap = this.context.newNumber(execution.limits.logBytes);
      const ctx = this.callHelper("makeCtx", [token, metaHandle, argLimit, logCap]);
      token.dispose();
      argLimit.dispose();
      logCap.dispose();
      metaHandle.dispose();
      if ("error" in ctx && ctx.error !== undefined) {
        fn.dispose();
        input.value.dispose();
        return { ok: false, error: this.classifyError(ctx.error, "preparing the handler's arguments failed") };
      }
      const invoked = this.callHelper("invoke", [fn, input.value, ctx.value!]);
      fn.dispose();
      input.value.dispose();
      ctx.value!.dispose();
      if (invoked.error) return { ok: false, error: this.classifyError(invoked.error) };
      promise = invoked.value;
      for (;;) {
        this.runJobs();
        this.sampleMemory(execution);
        if (this.budget.abort !== undefined) return { ok: false, error: this.abortError() };
        if (this.broken !== undefined) throw new SandboxBroken("E_SANDBOX_CRASHED", `the sandbox failed: ${this.broken}`);
        const state = this.context.getPromiseState(promise);
        if (state.type === "fulfilled") {
          const copied = this.fromGuest(state.value, execution.limits.responseBytes);
          state.value.dispose();
          if (copied.ok) return { ok: true, value: copied.value };
          if (copied.tooLarge) {
            return {
              ok: false,
              error: {
                code: "E_PAYLOAD_TOO_LARGE",
                message: `the handler's response is larger than ${execution.limits.responseBytes} bytes`,
                details: { limit: execution.limits.responseBytes },
              },
            };
          }
          return { ok: false, error: this.classifyError(copied.error!, "the handler's result cannot be copied out of the sandbox") };
        }
        if (state.type === "rejected") return { ok: false, error: this.classifyError(state.error) };
        if (this.pending.size === 0 && !this.runtime.hasPendingJob()) {
          return {
            ok: false,
            error: {
              code: "E_HANDLER_ERROR",
              message: "the handler's promise can never settle: it awaits something other than a host call (the sandbox has no timers)",
            },
          };
        }
        await execution.nextWake();
      }
    } catch (error) {
      if (error instanceof SandboxBroken) {
        this.markBroken(error);
        return { ok: false, error: { code: error.code, message: error.message } };
      }
      this.markBroken(error);
      return { ok: false, error: brokenError(error) };
    } finally {
      try {
        promise?.dispose();
        this.sampleMemory(execution, true);
        for (const deferred of this.pending) deferred.dispose();
        this.pending.clear();
      } catch (error) {
        this.markBroken(error);
      }
      this.current = undefined;
    }
  }

  /** Re-arms a warm sandbox for the next execution's limits and budget. */
  applyLimits(limits: { memoryBytes: number; stackBytes: number }, budget: Budget): void {
    this.budget = budget;
    this.runtime.setMemoryLimit(limits.memoryBytes);
    this.runtime.setMaxStackSize(limits.stackBytes);
  }

  /** Whether the sandbox may serve another execution (warm reuse). */
  get reusable(): boolean {
    return this.broken === undefined && this.context.alive;
  }

  /**
   * Lets go of the realm: frees it when the sandbox built its own, or just
   * detaches from it when it came from an image (which the caller then
   * restores). Returns false when that was not possible (the C side aborted,
   * e.g. on QuickJS's `list_empty(&rt->gc_obj_list)` assertion after an
   * out-of-memory) or the sandbox is broken: the caller must then discard the
   * whole instance.
   */
  dispose(): boolean {
    if (this.realm.host === this) this.realm.host = undefined;
    if (this.broken !== undefined) return false;
    try {
      this.namespace?.dispose();
      this.namespace = undefined;
      if (this.ownsRealm) this.realm.dispose();
      return true;
    } catch (error) {
      this.markBroken(error);
      return false;
    }
  }
}

function brokenError(error: unknown): ExecuteError {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof RangeError && /call stack/i.test(message)) {
    return { code: "E_STACK", message: "the handler exhausted the host's stack; the sandbox was discarded" };
  }
  return { code: "E_SANDBOX_CRASHED", message: `the sandbox crashed and was discarded: ${message.slice(0, 500)}` };
}
