import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import {
  newQuickJSWASMModuleFromVariant,
  newVariant,
  TestQuickJSWASMModule,
  type QuickJSSyncVariant,
  type QuickJSWASMModule,
} from "quickjs-emscripten-core";
import { collectGarbage } from "./collect-garbage.js";
import { InstanceWatch } from "./instance-watch.js";
import { readMemoryLayout, type MemoryLayout } from "./memory-layout.js";
import { setImmediate } from "node:timers";

/**
 * Which QuickJS build runs guests. `release` is the production build.
 * `debug` adds assertions and a leak sanitizer so tests can prove that no
 * QuickJS handle or allocation outlives an execution; it is much slower and
 * is not memory-capped by a bounded WebAssembly.Memory (it sizes its own).
 */
export type EngineVariant = "release" | "debug";

const PAGE = 64 * 1024;
/** The release build's WebAssembly memory starts at 16 MiB; a bounded memory can not be smaller. */
const RELEASE_INITIAL_BYTES = 16 * 1024 * 1024;

const require = createRequire(import.meta.url);
interface LoadedVariant {
  variant: QuickJSSyncVariant;
  wasm: WebAssembly.Module;
  layout: MemoryLayout | undefined;
}

const compiled = new Map<EngineVariant, Promise<LoadedVariant>>();

async function loadVariant(kind: EngineVariant): Promise<LoadedVariant> {
  let pending = compiled.get(kind);
  if (pending === undefined) {
    pending = (async () => {
      const pkg = kind === "release" ? "@jitl/quickjs-wasmfile-release-sync" : "@jitl/quickjs-wasmfile-debug-sync";
      const imported = (await import(pkg)) as { default: QuickJSSyncVariant };
      // Compile once per process; every instance then only instantiates, which is cheap.
      const bytes = readFileSync(require.resolve(`${pkg}/wasm`));
      const wasm = await WebAssembly.compile(bytes);
      // Memory images are taken only of the release build, whose memory the pool bounds itself.
      return { variant: imported.default, wasm, layout: kind === "release" ? readMemoryLayout(bytes) : undefined };
    })();
    compiled.set(kind, pending);
    pending.catch(() => compiled.delete(kind));
  }
  return pending;
}

/**
 * One WebAssembly instance of QuickJS with its own linear memory. The memory
 * is created at its hard maximum and never grows (the OS commits its pages
 * only as they are touched), which is what really bounds a guest: QuickJS's
 * own `setMemoryLimit` has been seen to let the module's memory grow to 2 GB.
 * An instance hosts one execution at a time, and is discarded (never reused)
 * after an out-of-memory, an abort or anything else that may have left the
 * C heap inconsistent.
 */
export interface WasmInstance {
  readonly id: number;
  readonly module: QuickJSWASMModule;
  /** Absent for the debug variant, which sizes its own memory. */
  readonly memory: WebAssembly.Memory | undefined;
  readonly capBytes: number;
  /** Messages the C side printed while aborting, for diagnostics. */
  readonly aborts: string[];
  readonly test: TestQuickJSWASMModule | undefined;
  /** Where state lives in linear memory, when it can be imaged (release build only). */
  readonly layout: MemoryLayout | undefined;
  /** Out-of-memory events, stack reach and heap extent, read from the instance itself. */
  readonly watch: InstanceWatch;
}

export interface InstancePoolOptions {
  variant: EngineVariant;
  /** Idle instances kept per memory cap for reuse. */
  maxIdle: number;
  /** Instances whose heap grew past this are discarded on release, returning the memory to the OS. */
  recycleAboveBytes: number;
  /**
   * A discarded instance whose heap reached this many bytes is collected at
   * once (`collectGarbage`), rather than whenever the collector gets to it:
   * otherwise a burst of memory bombs stacks up one dead linear memory each.
   */
  collectAboveBytes?: number | undefined;
  /** Runs once on every new instance before anything else uses it (the engine takes its realm image there). */
  prepare?: ((instance: WasmInstance) => void) | undefined;
}

export interface InstancePoolStats {
  created: number;
  discarded: number;
  idle: number;
  leased: number;
}

let nextInstanceId = 1;

export class InstancePool {
  private readonly idle = new Map<number, WasmInstance[]>();
  private readonly leased = new Set<WasmInstance>();
  private created = 0;
  private discarded = 0;
  private closed = false;
  private collectPending = false;

  constructor(private readonly options: InstancePoolOptions) {}

  /** Rounds a memory cap to what a bounded WebAssembly.Memory can express. */
  static hardCapBytes(capBytes: number): number {
    return Math.max(RELEASE_INITIAL_BYTES, Math.ceil(capBytes / PAGE) * PAGE);
  }

  /** An instance for this cap: an idle one (`prefer`red ones first), else a new one. */
  async acquire(capBytes: number, prefer?: (instance: WasmInstance) => boolean): Promise<WasmInstance> {
    const hard = InstancePool.hardCapBytes(capBytes);
    const list = this.idle.get(hard);
    let reusable: WasmInstance | undefined;
    if (list !== undefined && prefer !== undefined) {
      for (let i = list.length - 1; i >= 0; i--) {
        if (prefer(list[i]!)) {
          reusable = list.splice(i, 1)[0];
          break;
        }
      }
    }
    reusable ??= list?.pop();
    if (reusable !== undefined) {
      this.leased.add(reusable);
      return reusable;
    }
    const instance = await this.create(hard);
    if (this.closed) throw new Error("instance pool closed");
    this.leased.add(instance);
    return instance;
  }

  private async create(capBytes: number): Promise<WasmInstance> {
    const { variant, wasm, layout } = await loadVariant(this.options.variant);
    const aborts: string[] = [];
    const memory =
      this.options.variant === "release" ? new WebAssembly.Memory({ initial: capBytes / PAGE, maximum: capBytes / PAGE }) : undefined;
    const watch = new InstanceWatch(memory, memory === undefined ? undefined : layout);
    watch.hookGrow();
    const customised = newVariant(variant, {
      wasmModule: wasm,
      ...(memory === undefined ? {} : { wasmMemory: memory }),
      // printErr/print are honoured by Emscripten although quickjs-emscripten's types omit them.
      emscriptenModule: {
        // The C side reports aborts (failed assertions) on stderr; keep them for diagnostics instead.
        printErr: (message: string) => {
          if (aborts.length < 20) aborts.push(String(message).slice(0, 500));
        },
        print: () => {},
      } as NonNullable<Parameters<typeof newVariant>[1]["emscriptenModule"]>,
    });
    let module = await newQuickJSWASMModuleFromVariant(customised);
    let test: TestQuickJSWASMModule | undefined;
    if (this.options.variant === "debug") {
      test = new TestQuickJSWASMModule(module);
      module = test as unknown as QuickJSWASMModule;
    }
    this.created++;
    const instance: WasmInstance = { id: nextInstanceId++, module, memory, capBytes, aborts, test, layout: memory === undefined ? undefined : layout, watch };
    this.options.prepare?.(instance);
    return instance;
  }

  /** Returns a healthy instance for reuse (or drops it when the pool is full or it grew large). */
  release(instance: WasmInstance): void {
    if (!this.leased.delete(instance)) return;
    instance.watch.heapBytes();
    const grown = instance.watch.highWater > this.options.recycleAboveBytes;
    const list = this.idle.get(instance.capBytes) ?? [];
    if (this.closed || grown || list.length >= this.options.maxIdle) {
      this.dropped(instance);
      return;
    }
    list.push(instance);
    this.idle.set(instance.capBytes, list);
  }

  /** Drops an instance for good: its memory goes with it once nothing references it. */
  discard(instance: WasmInstance): void {
    if (this.leased.delete(instance)) this.dropped(instance);
  }

  private dropped(instance: WasmInstance): void {
    this.discarded++;
    instance.watch.heapBytes();
    const { watch } = instance;
    if (this.collectPending || (watch.oomEvents === 0 && watch.highWater < (this.options.collectAboveBytes ?? Infinity))) return;
    this.collectPending = true;
    // Once the execution that used it has returned (its frames still reference the instance now)…
    setImmediate(() => this.collectDropped()).unref();
  }

  /**
   * Collects garbage now if an instance holding a lot of memory was dropped
   * since the last call: after the execution that used it returned, and at
   * the latest before the next sandbox starts (…or before the next guest can
   * touch memory of its own, whichever comes first).
   */
  collectDropped(): void {
    if (!this.collectPending) return;
    this.collectPending = false;
    collectGarbage();
  }

  /** For the debug variant: throws if any idle instance still holds a runtime, a context or leaked C memory. */
  assertNoLeaks(): void {
    for (const list of this.idle.values()) for (const instance of list) instance.test?.assertNoMemoryAllocated();
  }

  stats(): InstancePoolStats {
    let idle = 0;
    for (const list of this.idle.values()) idle += list.length;
    return { created: this.created, discarded: this.discarded, idle, leased: this.leased.size };
  }

  close(): void {
    this.closed = true;
    this.idle.clear();
  }
}
