import { GuestRandom } from "./guest-random.js";
import { MemoryImage } from "./memory-image.js";
import { Realm } from "./realm.js";
import type { WasmInstance } from "./wasm.js";

/**
 * A realm (runtime, context, bootstrap) built once per WebAssembly instance
 * and put back into its just-built state after every use by rewriting the
 * instance's linear memory from an image. A fresh execution then costs a
 * memory copy of ~200 KiB instead of a new runtime, a new context and a
 * bootstrap compile (which dominates: QuickJS offers no bytecode reuse across
 * contexts), and every execution still starts from byte-for-byte the same
 * state, which is what "fresh" means.
 *
 * Why rewriting memory is enough:
 * - All QuickJS state (runtime, context, atoms, shapes, GC lists, the job
 *   queue, pending exceptions, the allocator and its sbrk top) lives in linear
 *   memory, in the static data, bss and heap ranges the image covers (see
 *   MemoryLayout). The instance's only mutable global is the stack pointer,
 *   which is back at its start between calls.
 * - Outside memory, quickjs-emscripten keeps JavaScript-side state that points
 *   into it: the runtime and context maps, host-function references, and
 *   handles the context caches lazily. The engine creates none of these after
 *   the image is taken (no new functions, runtimes or contexts per execution;
 *   every handle an execution makes is its own and dropped with it), and
 *   `reset` checks that this is still so before each restore: if anything
 *   changed, the instance is discarded rather than restored.
 * - Emscripten's own JavaScript state (heap views, the abort flag) only
 *   changes on memory growth (views are refreshed; growth is kept) or an
 *   abort (the sandbox is then broken and the instance discarded, never
 *   restored).
 * - Math.random's state, seeded from the clock when the context was made,
 *   is reseeded from the host's CSPRNG on every reset (GuestRandom).
 *
 * Whatever a guest leaves above the allocator's break stays there as free
 * memory, just as memory freed by an earlier runtime always has in an
 * instance the pool reuses: QuickJS initialises what it allocates before any
 * guest can read it.
 */
export class RealmImage {
  private constructor(
    readonly realm: Realm,
    private readonly instance: WasmInstance,
    private readonly memory: MemoryImage,
    private readonly random: GuestRandom,
    private readonly fingerprint: readonly unknown[],
  ) {}

  /** Bytes of linear memory the image holds. */
  get byteLength(): number {
    return this.memory.byteLength;
  }

  /**
   * Builds the realm in a never-used instance and takes its image. Returns
   * undefined when the instance cannot be imaged (the debug build, or a
   * layout or QuickJS internals other than expected); the realm, if one was
   * built, is then disposed so the instance stays clean for the ordinary path.
   */
  static capture(instance: WasmInstance): RealmImage | undefined {
    if (instance.memory === undefined || instance.layout === undefined) return undefined;
    const realm = Realm.create(instance.module, { bounded: true });
    let image: RealmImage | undefined;
    try {
      const random = GuestRandom.locate(realm, instance.memory);
      const fingerprint = jsSideState(realm);
      if (random !== undefined && fingerprint !== undefined && !realm.runtime.hasPendingJob()) {
        const memory = MemoryImage.capture(instance.memory, instance.layout);
        if (memory !== undefined) image = new RealmImage(realm, instance, memory, random, fingerprint);
      }
    } finally {
      if (image === undefined) realm.dispose();
    }
    return image;
  }

  private jsSideUnchanged(): boolean {
    const now = jsSideState(this.realm);
    return now !== undefined && now.length === this.fingerprint.length && now.every((value, i) => value === this.fingerprint[i]);
  }

  /**
   * An image of the realm's state now (a bundle's entry evaluated in it and
   * nothing run yet), to restore instead of the pristine one. Undefined when
   * quickjs-emscripten's own state no longer matches the realm's image.
   */
  captureState(): MemoryImage | undefined {
    if (!this.jsSideUnchanged() || this.realm.runtime.hasPendingJob()) return undefined;
    return MemoryImage.capture(this.instance.memory!, this.instance.layout!);
  }

  /**
   * Puts the realm back into its captured state (or into `state`, taken by
   * captureState) with a fresh Math.random seed. Returns false, without
   * touching memory, if quickjs-emscripten's own state no longer matches the
   * image: the caller must then discard the instance.
   */
  reset(state?: MemoryImage): boolean {
    this.realm.host = undefined;
    if (!this.jsSideUnchanged()) return false;
    (state ?? this.memory).restore();
    this.random.reseed();
    return true;
  }

  /** Whether linear memory holds exactly the image, apart from Math.random's reseeded state (for tests). */
  isPristine(): boolean {
    return this.memory.matches([[this.random.address, 8]]);
  }
}

type Loose = Record<string, unknown>;

/**
 * The parts of quickjs-emscripten's JavaScript-side state that refer to
 * linear memory and could change after the image is taken. They are private
 * to the library, so each is read defensively: undefined means "cannot tell",
 * and no image is taken or restored.
 */
function jsSideState(realm: Realm): unknown[] | undefined {
  const context = realm.context as unknown as Loose;
  const runtime = realm.runtime as unknown as Loose;
  const hostRefs = runtime["hostRefs"] as Loose | undefined;
  const contextMap = runtime["contextMap"];
  const callbacks = runtime["callbacks"] as Loose | undefined;
  const runtimeCallbacks = callbacks?.["runtimeCallbacks"];
  const contextCallbacks = callbacks?.["contextCallbacks"];
  if (
    hostRefs === undefined ||
    typeof hostRefs["nextId"] !== "number" ||
    !Array.isArray(hostRefs["freelist"]) ||
    !(contextMap instanceof Map) ||
    !(runtimeCallbacks instanceof Map) ||
    !(contextCallbacks instanceof Map) ||
    runtime["context"] !== realm.context ||
    !realm.context.alive
  ) {
    return undefined;
  }
  return [
    // Host functions: no new ones, none freed.
    hostRefs["nextId"],
    (hostRefs["freelist"] as unknown[]).length,
    // No other runtime or context in this instance.
    contextMap.size,
    runtimeCallbacks.size,
    contextCallbacks.size,
    runtime["context"],
    // Handles the context caches on first use, which would point into memory the image does not know.
    context["_global"],
    context["_BigInt"],
    context["_Symbol"],
    context["_SymbolIterator"],
    context["_SymbolAsyncIterator"],
    context["uint32Out"],
  ];
}
