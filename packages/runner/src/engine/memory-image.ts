import type { MemoryLayout } from "./memory-layout.js";

/** How much of the stack's far end must be untouched when a layout is first checked. */
const STACK_TRIPWIRE = 64 * 1024;
/** How close below the break the allocator's last header must sit for a layout to check out. */
const BREAK_SLACK = 4096;
/** How much memory above the break must still be zero when a layout is first checked. */
const ABOVE_BREAK = 64 * 1024;

/** Layouts already checked against a live instance in this process. */
const verified = new WeakSet<MemoryLayout>();

/**
 * A copy of the parts of a WebAssembly instance's linear memory that hold
 * state between calls (see MemoryLayout): static data and bss, and the heap
 * up to the break. Taken once, it is written back to return the instance to
 * exactly that state. Above the break the allocator keeps nothing: whatever
 * an execution leaves there is free memory to it, like memory it frees
 * (QuickJS initialises what it allocates before a guest can read it).
 */
export class MemoryImage {
  private constructor(
    private readonly memory: WebAssembly.Memory,
    private readonly heapBase: number,
    private readonly staticBytes: Uint8Array,
    private readonly heapBytes: Uint8Array,
  ) {}

  /** Bytes held by the image. */
  get byteLength(): number {
    return this.staticBytes.byteLength + this.heapBytes.byteLength;
  }

  /** Takes an image, or returns undefined when the memory does not match the layout. */
  static capture(memory: WebAssembly.Memory, layout: MemoryLayout): MemoryImage | undefined {
    const bytes = new Uint8Array(memory.buffer);
    if (layout.breakPointer + 4 > layout.staticEnd || layout.staticEnd + STACK_TRIPWIRE > layout.heapBase) return undefined;
    const brk = new DataView(memory.buffer).getUint32(layout.breakPointer, true);
    if (brk <= layout.heapBase || brk > bytes.length) return undefined;
    if (!verified.has(layout)) {
      if (!checkLayout(bytes, layout, brk)) return undefined;
      verified.add(layout);
    }
    return new MemoryImage(memory, layout.heapBase, bytes.slice(0, layout.staticEnd), bytes.slice(layout.heapBase, brk));
  }

  /** Writes the image back. Only call between calls into the instance. */
  restore(): void {
    // The buffer is replaced whenever the memory grows, so take it afresh each time.
    const bytes = new Uint8Array(this.memory.buffer);
    bytes.set(this.staticBytes, 0);
    bytes.set(this.heapBytes, this.heapBase);
  }

  /** Whether the memory holds exactly the image, apart from the `except` ranges ([address, length] pairs). For tests. */
  matches(except: readonly (readonly [number, number])[] = []): boolean {
    const bytes = new Uint8Array(this.memory.buffer);
    const same = (image: Uint8Array, start: number): boolean => {
      let from = 0;
      for (const [address, length] of [...except].sort((a, b) => a[0] - b[0])) {
        const to = Math.min(image.length, Math.max(from, address - start));
        if (Buffer.compare(bytes.subarray(start + from, start + to), image.subarray(from, to)) !== 0) return false;
        from = Math.max(from, Math.min(image.length, address - start + length));
      }
      return Buffer.compare(bytes.subarray(start + from, start + image.length), image.subarray(from)) === 0;
    };
    return same(this.staticBytes, 0) && same(this.heapBytes, this.heapBase);
  }
}

/**
 * Checks a layout against an instance that has only been initialised (so its
 * memory above the break is still WebAssembly's zeros), once per process: the
 * far end of the stack is untouched (nothing static lives there), and the
 * word read as the break behaves like one: the allocator's last header sits
 * just below it and the memory above it is untouched. (Only a window above
 * it is read: every page read for the first time costs a page fault.)
 */
function checkLayout(bytes: Uint8Array, layout: MemoryLayout, brk: number): boolean {
  if (lastNonZero(bytes, layout.staticEnd, layout.staticEnd + STACK_TRIPWIRE) !== -1) return false;
  const last = lastNonZero(bytes, Math.max(layout.heapBase, brk - BREAK_SLACK), Math.min(bytes.length, brk + ABOVE_BREAK));
  return last !== -1 && last < brk;
}

const ZEROS = new Uint8Array(64 * 1024);

/** Index of the last non-zero byte in [start, end), or -1. Compares 64 KiB blocks natively: most of the range is zero. */
function lastNonZero(bytes: Uint8Array, start: number, end: number): number {
  let high = end;
  while (high > start) {
    const low = Math.max(start, high - ZEROS.length);
    if (Buffer.compare(bytes.subarray(low, high), ZEROS.subarray(0, high - low)) !== 0) {
      for (let i = high - 1; i >= low; i--) if (bytes[i] !== 0) return i;
    }
    high = low;
  }
  return -1;
}
