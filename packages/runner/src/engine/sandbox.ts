import type { QuickJSContext, QuickJSDeferredPromise, QuickJSHandle, QuickJSRuntime } from "quickjs-emscripten-core";
import type { ExecuteError, ExecuteErrorCode, LogEntry } from "../envelope.js";
import { argumentsTooLarge, authorize, authorizeMethod, capabilityOf, isHostMethod, type HostCall, type HostMethod } from "../host-apis.js";
import { toGuestError, type HostCallError } from "../errors.js";
import type { AbortReason, Budget } from "./budget.js";
import { mapStack, type CompiledBundle } from "./compiled.js";
import type { Execution } from "./execution.js";
import { BjsonError, BjsonTooLarge, encodeForGuest, PayloadTooLarge, readNative, type GuestBound } from "./marshal.js";
import { writeNative } from "./native.js";
import { DENIED, Realm, SandboxBroken, type HelperName, type RealmHost } from "./realm.js";
import type { WasmInstance } from "./wasm.js";

/** A guest exception, described on the guest side through property descriptors, so no getter runs. */
export interface GuestErrorInfo {
  name: string;
  message: string;
  stack: string;
  code?: string | undefined;
}

export type Settled = { ok: true; value: unknown } | { ok: false; error: ExecuteError };

/** What the guest's ctx describes, from the envelope. */
export interface GuestMeta {
  requestId: string;
  install: { id: string; tenant: string; config: Record<string, unknown> };
  principal: unknown;
  /** What started the execution, for `ctx.event` / `ctx.job`: absent for endpoints. */
  call?: { kind: "event"; id: string; type: string } | { kind: "job"; name: string; scheduledAt: string } | undefined;
}

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
  /** QuickJS's own limit, used only where no bounded linear memory caps the instance (the debug build). */
  memoryBytes: number;
  stackBytes: number;
  budget: Budget;
}

/** A value copied out of the sandbox, or why it could not be. */
type CopiedOut = { ok: true; value: unknown; bytes: number } | { ok: false; tooLarge: number; /** Its binary form was over the bound, not its JSON. */ binary?: boolean } | { ok: false; error: ExecuteError };

function abortToError(reason: AbortReason): ExecuteError {
  return { code: reason.code, message: reason.message, ...(reason.details ? { details: reason.details } : {}) };
}

const NO_TIMERS = "there are no timers in the sandbox: await host calls instead, and schedule later work as a job (jobs in annex.json)";
const NO_NETWORK = (name: string) => `the sandbox has no ${name}: use ctx.http.fetch (with the http.fetch capability)`;

/** What to use instead of a Node or browser global that code brought into the sandbox expects (see the runner's README). */
const MISSING_GLOBALS: ReadonlyMap<string, string> = new Map([
  ["fetch", NO_NETWORK("fetch")],
  ["XMLHttpRequest", NO_NETWORK("XMLHttpRequest")],
  ["setTimeout", NO_TIMERS],
  ["setInterval", NO_TIMERS],
  ["setImmediate", NO_TIMERS],
  ["clearTimeout", NO_TIMERS],
  ["clearInterval", NO_TIMERS],
  ["require", "the sandbox has no require: import modules, and let annex pack bundle dependencies into the server entry"],
  ["process", "the sandbox has no process: read settings from ctx.install.config and secrets with ctx.secrets.get"],
]);

/** The hint for a ReferenceError of a missing global (QuickJS says "'fetch' is not defined"), if it is one authors meet. */
function missingGlobalHint(info: GuestErrorInfo): string | undefined {
  if (info.name !== "ReferenceError" || info.code !== undefined) return undefined;
  const name = /^'([A-Za-z_$][\w$]*)' is not defined$/.exec(info.message)?.[1];
  return name === undefined ? undefined : MISSING_GLOBALS.get(name);
}

function looksLikeStackOverflow(info: GuestErrorInfo): boolean {
  return info.message === "stack overflow" && (info.name === "InternalError" || info.name === "SyntaxError" || info.name === "RangeError");
}

function looksLikeOutOfMemory(info: GuestErrorInfo): boolean {
  return info.name === "Thrown" ? info.message === "null" : info.name === "InternalError" && (info.message === "out of memory" || info.message === "string too long");
}

function outOfMemory(message: string): ExecuteError {
  return { code: "E_MEMORY", message };
}

/**
 * One QuickJS runtime and context inside a WebAssembly instance, with the
 * bootstrap helpers loaded and the bundle's entry evaluated. A fresh sandbox
 * serves one execution and is disposed; a warm one serves many, one at a time.
 *
 * Every call into the sandbox that can run guest code (and with a Proxy or a
 * getter on a built-in prototype, almost any can) runs inside the budget, so
 * its time counts against the CPU limit and the interrupt handler can stop it.
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
  /** Handler functions read from the namespace, kept while the sandbox lives (a warm one serves many calls). */
  private readonly handlers = new Map<string, QuickJSHandle | null>();
  /**
   * Whether the namespace and handler handles are this sandbox's to free. Not
   * when they belong to a bundle state (a memory image of the realm with the
   * entry evaluated, see Engine): restoring that image brings them back.
   */
  private ownsHandles = true;
  private budget: Budget;
  private current: Execution | undefined;
  /** Host calls the guest is waiting on, with their method (named in the warning when the handler returns without them). */
  private readonly pending = new Map<QuickJSDeferredPromise, string>();
  private stackBytes = 0;
  private memoryBytes = 0;
  /** The install and principal JSON the guest's run() last received here (it keeps them). */
  private lastInstall: string | undefined;
  private lastPrincipal: string | undefined;
  /** Out-of-memory events of the instance before the current piece of guest work started. */
  private oomBaseline: number;
  /** Set when the sandbox failed (an abort, a host-side failure): it must not run on, be reused or even be disposed normally. */
  broken: string | undefined;
  /**
   * Set once memory ran out in it, even if the guest caught the error and went
   * on: the C heap may be inconsistent, so the instance is never reused or
   * disposed normally, but the execution under way may still finish.
   */
  outOfMemorySeen = false;
  executions = 0;

  private constructor(options: SandboxOptions, realm: Realm, ownsRealm: boolean) {
    this.instance = options.instance;
    this.bundle = options.bundle;
    this.budget = options.budget;
    this.realm = realm;
    this.ownsRealm = ownsRealm;
    this.context = realm.context;
    this.runtime = realm.runtime;
    this.oomBaseline = options.instance.watch.oomEvents;
    realm.host = this;
    this.applyLimits(options, options.budget);
  }

  /**
   * Creates a sandbox and evaluates the bundle's entry in it, charging the
   * work to `budget`. When the entry cannot be evaluated, `failure` says why
   * and the caller disposes (or, if broken, discards) the sandbox. Throws only
   * when no realm could be built at all; the instance must then be discarded.
   */
  static async create(options: SandboxOptions): Promise<{ sandbox: Sandbox; failure?: ExecuteError }> {
    const realm = options.realm ?? Realm.create(options.instance.module, { bounded: options.instance.memory !== undefined });
    const sandbox = new Sandbox(options, realm, options.realm === undefined);
    try {
      const failure = await sandbox.evaluateEntry();
      sandbox.outOfMemory();
      return failure === undefined ? { sandbox } : { sandbox, failure };
    } catch (error) {
      sandbox.markBroken(error);
      return { sandbox, failure: brokenError(error) };
    }
  }

  /**
   * A sandbox on a realm restored to a bundle state: the entry was evaluated
   * when the state was taken, so nothing is evaluated now. The state's
   * handles stay the state's.
   */
  static resume(options: SandboxOptions & { realm: Realm; namespace: QuickJSHandle; handlers: ReadonlyMap<string, QuickJSHandle | null> }): Sandbox {
    const sandbox = new Sandbox(options, options.realm, false);
    sandbox.namespace = options.namespace;
    for (const [name, fn] of options.handlers) sandbox.handlers.set(name, fn);
    sandbox.ownsHandles = false;
    return sandbox;
  }

  /**
   * Hands the namespace and the handler functions named (read now) over to a
   * bundle state about to be imaged, if this sandbox is in a state worth
   * imaging: entry evaluated, nothing broken, no job or limit pending.
   */
  handOver(names: readonly string[]): { namespace: QuickJSHandle; handlers: Map<string, QuickJSHandle | null> } | undefined {
    if (this.namespace === undefined || this.broken !== undefined || this.outOfMemorySeen || this.budget.abort !== undefined) return undefined;
    for (const name of names) this.handlerFunction(name);
    if (this.runtime.hasPendingJob()) return undefined;
    this.ownsHandles = false;
    return { namespace: this.namespace, handlers: new Map(this.handlers) };
  }

  /** Undoes handOver when no state could be imaged after all. */
  takeBack(): void {
    this.ownsHandles = true;
  }

  shouldInterrupt(): boolean {
    return this.budget.shouldInterrupt();
  }

  /** Starts a piece of guest work: what it does to memory and the stack is judged against this point. */
  private arm(): void {
    this.oomBaseline = this.instance.watch.oomEvents;
    this.instance.watch.armStack(this.stackBytes);
  }

  private outOfMemory(): boolean {
    const failed = this.instance.watch.oomEvents > this.oomBaseline;
    // After an out-of-memory the C heap may be inconsistent: the instance is never reused, even if the guest caught it.
    if (failed) this.outOfMemorySeen = true;
    return failed;
  }

  /**
   * How the guest's work ended as far as the runner's own state says: closed
   * runner, out of memory, or a limit the budget recorded. Never from the
   * guest's words.
   */
  private stateFailure(): ExecuteError | undefined {
    const abort = this.budget.abort;
    if (abort?.code === "E_RUNNER_UNAVAILABLE") return abortToError(abort);
    if (this.outOfMemory()) return outOfMemory(`the handler ran out of memory (its limit is ${this.instance.capBytes} bytes)`);
    return abort === undefined ? undefined : abortToError(abort);
  }

  private async evaluateEntry(): Promise<ExecuteError | undefined> {
    this.arm();
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
      const failed = this.stateFailure();
      if (failed !== undefined) {
        if (settled.type === "fulfilled") settled.value.dispose();
        if (settled.type === "rejected") settled.error.dispose();
        return failed;
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

  /** Calls a bootstrap helper inside the budget; a guest-side exception comes back as `{ error }`. */
  private callHelper(name: HelperName, args: QuickJSHandle[]): { value: QuickJSHandle; error?: undefined } | { error: QuickJSHandle } {
    return this.budget.run(() => this.realm.calls.call(this.helper(name), args));
  }

  /** Makes the argument handles for a value going in: its JSON, its byte paths and each buffer. */
  private inbound(value: GuestBound): QuickJSHandle[] {
    const handles = [this.realm.calls.string(value.json), value.paths === undefined ? this.context.undefined : this.context.newString(value.paths)];
    for (const bytes of value.buffers) handles.push(this.context.newArrayBuffer(bytes.slice().buffer));
    return handles;
  }

  private static release(handles: QuickJSHandle[]): void {
    // The static `undefined` handle among them ignores dispose.
    for (const handle of handles) if (handle.alive) handle.dispose();
  }

  /**
   * Copies a guest value out: QuickJS's native writer first (no guest code
   * runs), and for values it refuses (functions, accessors, Maps …) a plain
   * copy made by the bootstrap (still no accessor called), then written
   * natively. Bounded by `limit` bytes as JSON, and in its binary form by
   * `binaryLimit` (default `limit`): a number takes 9 bytes there and may take
   * 2 as JSON. Runs inside the budget.
   */
  private copyOut(handle: QuickJSHandle, limit: number, what: string, binaryLimit = limit): CopiedOut {
    let written = this.budget.run(() => writeNative(this.context, handle, binaryLimit));
    if (!written.ok && "error" in written) {
      written.error.dispose();
      const copied = this.callHelper("plain", [handle]);
      if (copied.error !== undefined) return { ok: false, error: this.classifyError(copied.error, `${what} cannot be copied out of the sandbox`) };
      written = copied.value.consume((h) => this.budget.run(() => writeNative(this.context, h, binaryLimit)));
      if (!written.ok && "error" in written) return { ok: false, error: this.classifyError(written.error, `${what} cannot be copied out of the sandbox`) };
    }
    if (!written.ok) return { ok: false, tooLarge: written.tooLarge, binary: true };
    try {
      // Bounded again as JSON, which is how the value leaves the host: its binary form can be far smaller.
      const bytes = written.bytes;
      return { ok: true, value: this.budget.run(() => readNative(bytes, limit)), bytes: bytes.byteLength };
    } catch (error) {
      if (error instanceof BjsonTooLarge) return { ok: false, tooLarge: error.size };
      if (!(error instanceof BjsonError)) throw error;
      return { ok: false, error: { code: "E_HANDLER_ERROR", message: `${what} cannot be copied out of the sandbox: ${error.message}` } };
    }
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
    this.budget.run(() => deferred.reject(error));
    error.dispose();
    return deferred.handle;
  }

  onHostCall(args: QuickJSHandle[]): QuickJSHandle | { error: QuickJSHandle } {
    const [tokenHandle, methodHandle, argsHandle] = args;
    const execution = this.current;
    const token = tokenHandle === undefined ? "" : this.context.getString(tokenHandle);
    if (execution === undefined || execution.finished || token !== execution.token) {
      return this.rejected("E_CAPABILITY_DENIED", "this ctx belongs to an execution that has ended; use the ctx passed to the current handler");
    }
    const method = methodHandle === undefined ? "" : this.context.getString(methodHandle);
    if (!isHostMethod(method)) return this.rejected("E_INVALID_ARGUMENT", `unknown host method ${method.slice(0, 64)}`);
    const limited = this.countHostCall(execution);
    if (limited !== undefined) return this.rejected("E_HOST_CALL_LIMIT", limited);
    // The host's own bound for this method, where lower: what it would refuse is refused here, before the host's
    // thread deserialises and walks it (a 4.5 MB array of empty objects cost it ~2 s to refuse).
    const hostBound = execution.argBytes[method];
    const argLimit = hostBound !== undefined && hostBound < execution.limits.responseBytes ? hostBound : execution.limits.responseBytes;
    // Its binary form stays bounded by responseBytes, as before: numbers take more room there than as JSON.
    const copied = this.copyOut(argsHandle!, argLimit, `ctx.${method} arguments`, execution.limits.responseBytes);
    if (!copied.ok) {
      if (!("tooLarge" in copied)) return this.rejected("E_INVALID_ARGUMENT", copied.error.message);
      // A call the install may not make is refused (and counted) as such, whatever its size: by its method, and
      // where the grant names what it may be called with (a secret, an event type, a host API), by that name.
      const byMethod = authorizeMethod(method, execution.grants);
      const denied = byMethod !== undefined ? { capability: capabilityOf({ method, args: [] }), error: byMethod } : this.authorizeByName(method, argsHandle!, execution);
      if (denied !== undefined) return this.refuse(execution, denied.capability, denied.error);
      if (argLimit === execution.limits.responseBytes || copied.binary === true) {
        return this.rejected("E_PAYLOAD_TOO_LARGE", `ctx.${method} arguments are larger than ${execution.limits.responseBytes} bytes`);
      }
      const tooLarge = argumentsTooLarge(method, argLimit);
      return this.rejected(tooLarge.code, tooLarge.message);
    }
    const bytesRefused = this.chargeBytes(execution, copied.bytes);
    if (bytesRefused !== undefined) return this.rejected("E_HOST_CALL_LIMIT", bytesRefused);
    if (execution.inFlightBytes + copied.bytes > execution.inFlightLimit) {
      execution.raise("E_HOST_CALL_LIMIT");
      return this.rejected(
        "E_HOST_CALL_LIMIT",
        `ctx.${method}: more than ${execution.inFlightLimit} bytes of host-call arguments would be in flight; await earlier calls first`,
      );
    }
    const call: HostCall = { method, args: Array.isArray(copied.value) ? copied.value : [] };
    const capability = execution.usageKey(capabilityOf(call));
    execution.hostCalls[capability] = (execution.hostCalls[capability] ?? 0) + 1;
    const refused = authorize(call, execution.grants);
    if (refused !== undefined) return this.refuse(execution, capability, refused);
    const deferred = this.context.newPromise();
    this.pending.set(deferred, method);
    execution.inFlightBytes += copied.bytes;
    let dispatched: Promise<unknown>;
    try {
      dispatched = execution.dispatch(call, { scope: execution.scope, grants: execution.grants, signal: execution.signal });
    } catch (error) {
      dispatched = Promise.reject(error);
    }
    dispatched.then(
      (value) => this.settle(execution, deferred, copied.bytes, { ok: true, value }, method),
      (error: unknown) => this.settle(execution, deferred, copied.bytes, { ok: false, error }, method),
    );
    return deferred.handle;
  }

  /**
   * For a call too large to copy: whether the grants refuse it by the name it
   * was called with (its first argument, read without running guest code).
   */
  private authorizeByName(method: HostMethod, argsHandle: QuickJSHandle, execution: Execution): { capability: string; error: HostCallError } | undefined {
    if (method !== "events.publish" && method !== "secrets.get" && method !== "host.call") return undefined;
    const read = this.callHelper("firstName", [argsHandle]);
    if (read.error !== undefined) {
      read.error.dispose();
      return undefined;
    }
    const name = read.value.consume((h) => (this.context.typeof(h) === "string" ? this.context.getString(h) : undefined));
    const call: HostCall = { method, args: [name] };
    const error = authorize(call, execution.grants);
    return error === undefined ? undefined : { capability: execution.usageKey(capabilityOf(call)), error };
  }

  /** A call the grants refuse: counted against its capability (the host audits refusals), raised, and rejected in the guest. */
  private refuse(execution: Execution, capability: string, refused: HostCallError): QuickJSHandle {
    if (refused.code === "E_CAPABILITY_DENIED") (execution.deniedCalls ??= {})[capability] = (execution.deniedCalls[capability] ?? 0) + 1;
    execution.raise(refused.code);
    return this.rejected(refused.code, refused.message);
  }

  /** Counts one host call (log calls included); past the limit the execution stops. Returns the refusal, if any. */
  private countHostCall(execution: Execution): string | undefined {
    execution.hostCallCount++;
    if (execution.hostCallCount <= execution.limits.hostCalls) return undefined;
    const message = `the handler made more than ${execution.limits.hostCalls} host calls (log calls included)`;
    execution.budget.setAbort({ code: "E_HOST_CALL_LIMIT", message, details: { limit: "hostCalls", hostCalls: execution.limits.hostCalls } });
    execution.raise("E_HOST_CALL_LIMIT");
    return message;
  }

  /** Charges host-call bytes to the execution; past its limit the execution stops. Returns the refusal, if any. */
  private chargeBytes(execution: Execution, bytes: number): string | undefined {
    execution.hostCallBytes += bytes;
    if (execution.hostCallBytes <= execution.limits.hostCallBytes) return undefined;
    const message = `the handler passed more than ${execution.limits.hostCallBytes} bytes through host calls`;
    execution.budget.setAbort({ code: "E_HOST_CALL_LIMIT", message, details: { limit: "hostCallBytes", hostCallBytes: execution.limits.hostCallBytes } });
    execution.raise("E_HOST_CALL_LIMIT");
    return message;
  }

  private settle(
    execution: Execution,
    deferred: QuickJSDeferredPromise,
    argumentBytes: number,
    outcome: { ok: true; value: unknown } | { ok: false; error: unknown },
    method: string,
  ): void {
    execution.inFlightBytes -= argumentBytes;
    if (!this.pending.delete(deferred)) return;
    if (execution.finished || this.current !== execution || this.broken !== undefined) {
      deferred.dispose();
      return;
    }
    try {
      // Resolving reads `then` of the value, which a guest may have defined on Object.prototype: guest time.
      this.budget.run(() => {
        if (outcome.ok) this.resolveWith(execution, deferred, outcome.value, method);
        else {
          const { code, message } = toGuestError(outcome.error, "the host call");
          execution.raise(code);
          const error = this.newGuestError(code, message);
          try {
            deferred.reject(error);
          } finally {
            error.dispose();
          }
        }
      });
    } catch (error) {
      // An interrupt (a limit) while the guest's code ran inside resolve is the budget's business, not a crash.
      if (this.stateFailure() === undefined) this.markBroken(error);
    } finally {
      deferred.dispose();
      execution.wake();
    }
  }

  private resolveWith(execution: Execution, deferred: QuickJSDeferredPromise, value: unknown, method: string): void {
    const limit = execution.limits.responseBytes;
    // An http.fetch answer carries its body twice: as bytes, and for a textual type as the text the host decoded from
    // them. Each form is held to the limit, not their sum, which failed every textual answer past half of it (a 3 MiB
    // JSON answer, within the egress cap of 5 MiB).
    const twoForms = method === "http.fetch";
    let inbound: GuestBound;
    try {
      inbound = encodeForGuest(value, twoForms ? 2 * limit : limit);
      if (twoForms) {
        const bytes = inbound.buffers.reduce((sum, buffer) => sum + buffer.byteLength, 0);
        if (bytes > limit || inbound.size - bytes > limit) throw new PayloadTooLarge(Math.max(bytes, inbound.size - bytes));
      }
    } catch (error) {
      if (!(error instanceof PayloadTooLarge)) throw error;
      execution.raise("E_PAYLOAD_TOO_LARGE");
      return this.rejectWith(deferred, "E_PAYLOAD_TOO_LARGE", `a host call result is larger than ${limit} bytes`);
    }
    const refused = this.chargeBytes(execution, inbound.size);
    if (refused !== undefined) return this.rejectWith(deferred, "E_HOST_CALL_LIMIT", refused);
    const handles = this.inbound(inbound);
    let made: { value: QuickJSHandle; error?: undefined } | { error: QuickJSHandle };
    try {
      made = this.callHelper("value", handles);
    } finally {
      Sandbox.release(handles);
    }
    if (made.error !== undefined) {
      try {
        deferred.reject(made.error);
      } finally {
        made.error.dispose();
      }
      return;
    }
    try {
      deferred.resolve(made.value);
    } finally {
      made.value.dispose();
    }
  }

  private rejectWith(deferred: QuickJSDeferredPromise, code: string, message: string): void {
    const error = this.newGuestError(code, message);
    try {
      deferred.reject(error);
    } finally {
      error.dispose();
    }
  }

  /** Returns 1 to the guest when the log is full, so that later calls stop formatting their arguments. */
  onHostLog(args: QuickJSHandle[]): QuickJSHandle | { error: QuickJSHandle } | undefined {
    const [tokenHandle, levelHandle, messageHandle, softHandle] = args;
    const soft = softHandle !== undefined && this.context.typeof(softHandle) === "boolean" && this.context.dump(softHandle) === true;
    const execution = this.current;
    const token = tokenHandle === undefined ? "" : this.context.getString(tokenHandle);
    if (execution === undefined || token !== execution.token || execution.finished) {
      if (soft) return undefined;
      return { error: this.newGuestError("E_CAPABILITY_DENIED", "this ctx belongs to an execution that has ended") };
    }
    const limited = this.countHostCall(execution);
    if (limited !== undefined) return { error: this.newGuestError("E_HOST_CALL_LIMIT", limited) };
    execution.hostCalls["log"] = (execution.hostCalls["log"] ?? 0) + 1;
    if (!execution.logGranted) {
      (execution.deniedCalls ??= {})["log"] = (execution.deniedCalls["log"] ?? 0) + 1;
      execution.raise("E_CAPABILITY_DENIED");
      return { error: this.newGuestError("E_CAPABILITY_DENIED", "ctx.log needs the log capability, which this install was not granted: request log in annex.json's capabilities, with a reason, and have an admin grant it (at install or upgrade)") };
    }
    // Past the log limit nothing more is read: a dropped call costs a crossing and a count, nothing else.
    if (execution.logsFull) return this.context.newNumber(1);
    const level = levelHandle === undefined ? "info" : this.context.getString(levelHandle);
    const message = messageHandle === undefined ? "" : this.context.getString(messageHandle);
    execution.addLog((["debug", "info", "warn", "error"].includes(level) ? level : "info") as LogEntry["level"], message);
    return execution.logsFull ? this.context.newNumber(1) : undefined;
  }

  /** Runs queued promise jobs until none are left or the budget aborts. */
  private runJobs(): void {
    this.budget.run(() => {
      while (this.runtime.hasPendingJob()) {
        const result = this.runtime.executePendingJobs(-1);
        if (result.error) {
          // A job threw past its promise (only uncatchable interrupts and OOM do that); the rest stay queued.
          result.error.dispose();
          if (this.budget.abort !== undefined || this.instance.watch.oomEvents > this.oomBaseline) return;
        } else {
          result.dispose();
        }
        if (this.budget.abort !== undefined) return;
      }
    });
  }

  /**
   * Records the heap's extent when the guest yields. Read from the allocator's
   * break (one word of linear memory); the debug build, which has no layout,
   * walks QuickJS's heap instead, at most every 10 ms.
   */
  private sampleMemory(execution: Execution | undefined, force = false): void {
    if (execution === undefined) return;
    const bytes = this.instance.watch.heapBytes();
    if (bytes !== undefined) {
      if (bytes > execution.memoryPeakBytes) execution.memoryPeakBytes = bytes;
      return;
    }
    const now = performance.now();
    if (!force && now - execution.lastMemorySample < 10) return;
    execution.lastMemorySample = now;
    try {
      const usage = this.runtime.computeMemoryUsage();
      const used = this.context.getProp(usage, "memory_used_size");
      const walked = this.context.getNumber(used);
      used.dispose();
      usage.dispose();
      if (walked > execution.memoryPeakBytes) execution.memoryPeakBytes = walked;
    } catch {
      // Sampling allocates inside the sandbox; at the memory cap it may fail, which the outcome already reports.
    }
  }

  /** Turns a guest exception into a typed error (and disposes the handle). */
  private classifyError(errorHandle: QuickJSHandle, prefix?: string): ExecuteError {
    const before = this.stateFailure();
    if (before !== undefined) {
      errorHandle.dispose();
      return before;
    }
    let info: GuestErrorInfo;
    const described = this.callHelper("describeError", [errorHandle]);
    errorHandle.dispose();
    if (described.error) {
      described.error.dispose();
      info = { name: "Error", message: "the guest threw a value that could not be described", stack: "" };
    } else {
      info = guestErrorInfo(described.value.consume((h) => this.context.getString(h)));
    }
    // Describing may itself have run guest code (a Proxy trap) that hit a limit.
    const after = this.stateFailure();
    if (after !== undefined) return after;
    const message = `${info.name}: ${info.message}`;
    if (this.instance.watch.exact) {
      if (looksLikeStackOverflow(info) && this.instance.watch.stackReached(this.stackBytes)) {
        return { code: "E_STACK", message: "the handler exceeded its stack size", details: { guestMessage: message } };
      }
    } else if (looksLikeOutOfMemory(info)) {
      // The debug build has no bounded memory to watch: its out-of-memory is known only from QuickJS's error.
      this.outOfMemorySeen = true;
      return outOfMemory(`the handler ran out of memory (${info.message})`);
    } else if (looksLikeStackOverflow(info)) {
      return { code: "E_STACK", message: "the handler exceeded its stack size", details: { guestMessage: message } };
    }
    if (info.code !== undefined && SURFACED_CODES.has(info.code) && this.current?.wasRaised(info.code)) {
      return { code: info.code as ExecuteErrorCode, message: info.message };
    }
    // A host call's error keeps its code in the text (an author reading the log sees E_SQL_FAILED, not just "Error"),
    // and the platform's own frames (the bootstrap that made the error) are no lead to the author's line.
    const hint = missingGlobalHint(info);
    const shown = info.code === undefined ? (hint === undefined ? message : `${message} (${hint})`) : `${info.name} (${String(info.code).slice(0, 64)}): ${info.message}`;
    return {
      code: "E_HANDLER_ERROR",
      message: prefix === undefined ? shown : `${prefix}: ${shown}`,
      stack: mapStack(withoutPlatformFrames(info.stack), this.bundle),
      ...(info.code === undefined ? {} : { details: { guestCode: info.code } }),
    };
  }

  private markBroken(error: unknown): void {
    this.broken ??= error instanceof Error ? error.message : String(error);
  }

  /**
   * Runs one handler for one execution. `input` is the first argument
   * (request, job or event) already serialised, `meta` what the guest's ctx describes.
   */
  async run(execution: Execution, handler: string, input: GuestBound, meta: GuestMeta): Promise<Settled> {
    this.current = execution;
    this.budget = execution.budget;
    this.executions++;
    this.arm();
    let promise: QuickJSHandle | undefined;
    // Whether the handler itself returned or threw (not stopped by a limit): host calls still pending then were left behind.
    let handlerEnded = false;
    try {
      const fn = this.handlerFunction(handler);
      if (fn === undefined) {
        return {
          ok: false,
          error: { code: "E_HANDLER_NOT_FOUND", message: `the server entry does not export a function named ${handler}` },
        };
      }
      // The token and log state travel with the request, in one string: the guest's run() keeps them to itself.
      const logMode = execution.logGranted ? (execution.logsFull ? 2 : 1) : 0;
      const install = JSON.stringify(meta.install);
      const principal = JSON.stringify(meta.principal ?? null);
      const metaText =
        `{"r":${JSON.stringify(meta.requestId)},"t":"${execution.token}","m":${logMode},"c":${execution.limits.logBytes},` +
        `"i":${install === this.lastInstall ? "0" : install},"p":${principal === this.lastPrincipal ? "0" : principal}${callMeta(meta.call)}}`;
      const data = this.inbound(combine(input, { json: metaText, paths: undefined, buffers: [], size: metaText.length }));
      let invoked: { value: QuickJSHandle; error?: undefined } | { error: QuickJSHandle };
      try {
        invoked = this.callHelper("run", [fn, ...data]);
      } finally {
        Sandbox.release(data);
      }
      // run() keeps what it parsed unless it failed before (then the next execution sends it in full).
      if (invoked.error === undefined) {
        this.lastInstall = install;
        this.lastPrincipal = principal;
      } else {
        this.lastInstall = this.lastPrincipal = undefined;
      }
      if (invoked.error) {
        handlerEnded = true;
        return { ok: false, error: this.classifyError(invoked.error) };
      }
      promise = invoked.value;
      for (;;) {
        this.runJobs();
        this.sampleMemory(execution);
        // A limit ends the execution (an out-of-memory the guest caught does not: it may still answer).
        if (this.budget.abort !== undefined) return { ok: false, error: this.stateFailure()! };
        if (this.broken !== undefined) throw new SandboxBroken("E_SANDBOX_CRASHED", `the sandbox failed: ${this.broken}`);
        const state = this.context.getPromiseState(promise);
        if (state.type !== "pending") handlerEnded = true;
        if (state.type === "fulfilled") {
          const copied = this.copyOut(state.value, execution.limits.responseBytes, "the handler's result");
          // A plain answer (no promise) is its own handle, disposed below with the others.
          if (!state.notAPromise) state.value.dispose();
          if (this.budget.abort !== undefined) return { ok: false, error: this.stateFailure()! };
          if (copied.ok) return { ok: true, value: copied.value };
          if ("tooLarge" in copied) {
            return {
              ok: false,
              error: {
                code: "E_PAYLOAD_TOO_LARGE",
                message: `the handler's response is larger than ${execution.limits.responseBytes} bytes (limits.responseBytes): send less per response (page the result, or return a link to it)`,
                details: { limit: execution.limits.responseBytes },
              },
            };
          }
          return { ok: false, error: copied.error };
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
        if (handlerEnded && this.pending.size > 0) execution.notePendingHostCalls([...this.pending.values()]);
        for (const deferred of this.pending.keys()) deferred.dispose();
        this.pending.clear();
        // Whatever happened, an out-of-memory during this execution means the instance is not reused.
        this.outOfMemory();
      } catch (error) {
        this.markBroken(error);
      }
      this.current = undefined;
    }
  }

  /** The exported function named `handler`, read once per sandbox; undefined when there is none. */
  private handlerFunction(handler: string): QuickJSHandle | undefined {
    let fn = this.handlers.get(handler);
    if (fn === undefined) {
      if (this.namespace === undefined) return undefined;
      const read = this.context.getProp(this.namespace, handler);
      if (this.context.typeof(read) === "function") fn = read;
      else {
        read.dispose();
        fn = null;
      }
      this.handlers.set(handler, fn);
    }
    return fn ?? undefined;
  }

  /** Re-arms the sandbox for an execution's limits and budget (a warm sandbox between executions). */
  applyLimits(limits: { memoryBytes: number; stackBytes: number }, budget: Budget): void {
    this.budget = budget;
    if (this.instance.memory === undefined && limits.memoryBytes !== this.memoryBytes) this.runtime.setMemoryLimit(limits.memoryBytes);
    this.memoryBytes = limits.memoryBytes;
    if (limits.stackBytes !== this.stackBytes) this.runtime.setMaxStackSize(limits.stackBytes);
    this.stackBytes = limits.stackBytes;
  }

  /** Whether the sandbox may serve another execution (warm reuse). */
  get reusable(): boolean {
    return this.broken === undefined && !this.outOfMemorySeen && this.context.alive;
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
    if (this.broken !== undefined || this.outOfMemorySeen) return false;
    try {
      if (this.ownsHandles) {
        for (const fn of this.handlers.values()) fn?.dispose();
        this.namespace?.dispose();
      }
      this.handlers.clear();
      this.namespace = undefined;
      if (this.ownsRealm) this.realm.dispose();
      return true;
    } catch (error) {
      this.markBroken(error);
      return false;
    }
  }
}

/** [input, meta] as one value going in, without serialising the input twice. */
function combine(input: GuestBound, meta: GuestBound): GuestBound {
  const json = `[${input.json},${meta.json}]`;
  if (input.paths === undefined && meta.paths === undefined) return { json, paths: undefined, buffers: [], size: input.size + meta.size };
  const prefixed = (paths: string | undefined, index: string) => (paths === undefined ? [] : (JSON.parse(paths) as string[][]).map((path) => [index, ...path]));
  return {
    json,
    paths: JSON.stringify([...prefixed(input.paths, "0"), ...prefixed(meta.paths, "1")]),
    buffers: [...input.buffers, ...meta.buffers],
    size: input.size + meta.size,
  };
}

function brokenError(error: unknown): ExecuteError {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof RangeError && /call stack/i.test(message)) {
    return { code: "E_STACK", message: "the handler exhausted the host's stack; the sandbox was discarded" };
  }
  return { code: "E_SANDBOX_CRASHED", message: `the sandbox crashed and was discarded: ${message.slice(0, 500)}` };
}

/** The `e` (event) or `j` (job) key of the per-call meta: the guest's `ctx.event` / `ctx.job`. Endpoints send none. */
function callMeta(call: GuestMeta["call"]): string {
  if (call === undefined) return "";
  if (call.kind === "event") return `,"e":${JSON.stringify({ id: call.id, type: call.type })}`;
  return `,"j":${JSON.stringify({ name: call.name, scheduledAt: call.scheduledAt })}`;
}

/** A guest stack without the lines of the platform's bootstrap script (`annex:bootstrap`), which only made the error. */
/**
 * What describeError answered, as the host uses it: strings within the
 * bootstrap's caps, whatever the guest changed in its realm before throwing.
 * The bootstrap holds its own copies of what it calls; this is the second
 * line, so that a guest that got past the first can neither hand the host a
 * stack that is not a string (which failed here as E_SANDBOX_CRASHED, an
 * engine code) nor megabytes of message past responseBytes.
 */
function guestErrorInfo(text: string): GuestErrorInfo {
  const unreadable: GuestErrorInfo = { name: "Error", message: "the guest threw a value that could not be described", stack: "" };
  // The caps' worth of text, each character escaped as \uXXXX, and the keys.
  if (text.length > 6 * (200 + 4000 + 16000 + 100) + 200) return unreadable;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return unreadable;
  }
  if (value === null || typeof value !== "object") return unreadable;
  const { name, message, stack, code } = value as Record<string, unknown>;
  const capped = (v: unknown, max: number, fallback: string) => (typeof v === "string" ? v.slice(0, max) : fallback);
  return {
    name: capped(name, 200, "Error"),
    message: capped(message, 4000, ""),
    stack: capped(stack, 16000, ""),
    ...(typeof code === "string" ? { code: code.slice(0, 100) } : {}),
  };
}

function withoutPlatformFrames(stack: string): string {
  return stack
    .split("\n")
    .filter((line) => !line.includes("annex:bootstrap"))
    .join("\n");
}
