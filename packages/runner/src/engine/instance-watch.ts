import type { MemoryLayout } from "./memory-layout.js";

/** How far past the stack limit (in bytes below it) the window watched for stack overflows reaches. */
const STACK_WINDOW = 4096;

/**
 * What the engine learns about a sandbox from the WebAssembly instance itself,
 * never from what the guest says: whether memory ran out, whether the guest's
 * stack reached its limit, and how far the heap extends. Engine error codes
 * (E_MEMORY, E_STACK) are decided from these, so a guest that throws
 * `new InternalError("out of memory")` gets E_HANDLER_ERROR like any other throw.
 *
 * - Out of memory: the instance's linear memory is created at its full cap
 *   (pages are committed by the OS only when touched) and never grows, so the
 *   allocator asks to grow it only when the cap is reached, and every such
 *   request is refused. The pool counts them (`oomEvents`).
 * - Stack: QuickJS stops a guest whose frames reach `stackBytes` below the
 *   stack's start (the heap base, with Emscripten's layout). The engine zeroes
 *   a window just past that depth before guest code runs; anything written
 *   there means the stack reached its limit.
 * - Heap extent: the allocator's break, read from linear memory.
 *
 * Without a layout (the debug build) none of this is known: `exact` is false
 * and the engine falls back to the guest's error text for E_MEMORY and E_STACK.
 */
export class InstanceWatch {
  /** Refused requests to grow linear memory: each one is an out-of-memory. */
  oomEvents = 0;
  /** Largest heap extent (bytes above the heap base) seen so far. */
  highWater = 0;

  /** Views of linear memory: it never grows, so they stay valid. */
  private readonly bytes: Uint8Array | undefined;
  private readonly words: DataView | undefined;

  constructor(
    private readonly memory: WebAssembly.Memory | undefined,
    private readonly layout: MemoryLayout | undefined,
  ) {
    this.bytes = memory === undefined ? undefined : new Uint8Array(memory.buffer);
    this.words = memory === undefined ? undefined : new DataView(memory.buffer);
  }

  get exact(): boolean {
    return this.memory !== undefined && this.layout !== undefined;
  }

  /** Bytes of heap in use by the allocator (up to its break), or undefined when unknown. */
  heapBytes(): number | undefined {
    if (this.words === undefined || this.layout === undefined) return undefined;
    const brk = this.words.getUint32(this.layout.breakPointer, true);
    const bytes = brk - this.layout.heapBase;
    if (bytes > this.highWater) this.highWater = bytes;
    return bytes;
  }

  private window(stackBytes: number): [number, number] | undefined {
    if (this.layout === undefined) return undefined;
    const end = this.layout.heapBase - stackBytes;
    const start = Math.max(this.layout.staticEnd, end - STACK_WINDOW);
    return end > start ? [start, end] : undefined;
  }

  /** Clears the window past the stack limit; call before guest code runs. */
  armStack(stackBytes: number): void {
    const range = this.window(stackBytes);
    if (range === undefined || this.bytes === undefined) return;
    this.bytes.fill(0, range[0], range[1]);
  }

  /** Whether guest frames reached the stack limit since `armStack`. */
  stackReached(stackBytes: number): boolean {
    const range = this.window(stackBytes);
    if (range === undefined || this.bytes === undefined) return false;
    for (let i = range[1] - 1; i >= range[0]; i--) if (this.bytes[i] !== 0) return true;
    return false;
  }

  /**
   * Wraps `memory.grow` so that refused requests are counted. Emscripten's
   * heap resize calls `grow` on the memory object it was given, and the
   * memory is already at its maximum: any call is a request past the cap.
   */
  hookGrow(): void {
    const memory = this.memory;
    if (memory === undefined) return;
    const grow = WebAssembly.Memory.prototype.grow;
    Object.defineProperty(memory, "grow", {
      value: (delta: number) => {
        try {
          return grow.call(memory, delta);
        } catch (error) {
          this.oomEvents++;
          throw error;
        }
      },
    });
  }
}
