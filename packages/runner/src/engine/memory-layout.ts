/**
 * Where the QuickJS WebAssembly module keeps state that outlives a call into
 * it. Emscripten (without `--stack-first`) lays linear memory out as
 *
 *     [0, 1024) unused · static data · bss │ C stack (STACK_SIZE) │ heap (sbrk) →
 *
 * with the stack pointer starting at the stack's top, which is also the heap's
 * base. Between calls the stack holds nothing live: everything QuickJS and
 * its allocator need is in the static data, the bss and the heap below the
 * break (`sbrk(0)`). A memory image only has to copy those two ranges.
 */
export interface MemoryLayout {
  /** End of static data and bss (the stack's lowest address): `[0, staticEnd)` is copied. */
  staticEnd: number;
  /** Start of the heap (the stack's top, where the stack pointer starts). */
  heapBase: number;
  /**
   * Address of Emscripten's `sbrk_val`, the current break: the only static
   * the data segments initialise to `&__heap_base`. The heap is copied up to
   * the value found there.
   */
  breakPointer: number;
}

/**
 * The C stack of every quickjs-emscripten build (`-s STACK_SIZE=5MB` in its
 * templates/Variant.mk). If a later build used a larger stack, `staticEnd`
 * would fall inside the stack (harmless: more is copied); a smaller one would
 * put the stack pointer's start below 5 MiB past the data, which
 * `readMemoryLayout` refuses.
 */
export const QUICKJS_STACK_BYTES = 5 * 1024 * 1024;

class Reader {
  offset = 0;
  constructor(private readonly bytes: Uint8Array) {}

  get done(): boolean {
    return this.offset >= this.bytes.length;
  }

  byte(): number {
    const value = this.bytes[this.offset++];
    if (value === undefined) throw new RangeError("unexpected end of the WebAssembly binary");
    return value;
  }

  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 35) throw new RangeError("LEB128 value too long");
    }
  }

  i32(): number {
    let result = 0;
    let shift = 0;
    let b: number;
    do {
      b = this.byte();
      result |= (b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80 && shift < 35);
    if (shift < 32 && b & 0x40) result |= -1 << shift;
    return result;
  }

  /** A constant expression that is exactly `i32.const N; end`, or undefined for anything else. */
  i32ConstExpr(): number | undefined {
    if (this.byte() !== 0x41) return undefined;
    const value = this.i32();
    return this.byte() === 0x0b ? value : undefined;
  }
}

/**
 * Reads the layout from the module's binary: the stack pointer's initial
 * value (global 0, a mutable i32, in Emscripten builds) and the end of its
 * data segments. Returns undefined (so no image is ever taken) when the
 * binary does not look exactly like that: imported globals, passive data
 * segments, or data that would reach into the stack.
 */
export function readMemoryLayout(wasm: Uint8Array, stackBytes = QUICKJS_STACK_BYTES): MemoryLayout | undefined {
  try {
    const reader = new Reader(wasm);
    reader.offset = 8; // magic and version
    let stackPointer: number | undefined;
    let dataEnd = 0;
    const segments: { offset: number; bytes: Uint8Array }[] = [];
    let sawGlobals = false;
    while (!reader.done) {
      const id = reader.byte();
      const size = reader.u32();
      const end = reader.offset + size;
      if (id === 2) {
        // Imports: an imported global would shift the global indices; refuse.
        const count = reader.u32();
        for (let i = 0; i < count; i++) {
          for (let name = 0; name < 2; name++) {
            const length = reader.u32();
            reader.offset += length;
          }
          const kind = reader.byte();
          if (kind === 3) return undefined;
          if (kind === 0) reader.u32();
          else if (kind === 1) {
            reader.byte();
            const flags = reader.u32();
            reader.u32();
            if (flags & 1) reader.u32();
          } else if (kind === 2) {
            const flags = reader.u32();
            reader.u32();
            if (flags & 1) reader.u32();
          } else return undefined;
        }
      } else if (id === 6) {
        sawGlobals = true;
        const count = reader.u32();
        if (count < 1) return undefined;
        const type = reader.byte();
        const mutable = reader.byte();
        const init = reader.i32ConstExpr();
        if (type !== 0x7f || mutable !== 1 || init === undefined) return undefined;
        stackPointer = init;
      } else if (id === 11) {
        const count = reader.u32();
        for (let i = 0; i < count; i++) {
          const flags = reader.u32();
          if (flags !== 0) return undefined; // passive or explicitly indexed segments: not this layout
          const offset = reader.i32ConstExpr();
          if (offset === undefined) return undefined;
          const length = reader.u32();
          dataEnd = Math.max(dataEnd, offset + length);
          segments.push({ offset, bytes: wasm.subarray(reader.offset, reader.offset + length) });
          reader.offset += length;
        }
      }
      reader.offset = end;
    }
    if (!sawGlobals || stackPointer === undefined || stackPointer % 16 !== 0) return undefined;
    const staticEnd = stackPointer - stackBytes;
    if (staticEnd < dataEnd || staticEnd <= 0) return undefined;
    const breakPointer = findBreakPointer(segments, stackPointer);
    if (breakPointer === undefined) return undefined;
    return { staticEnd, heapBase: stackPointer, breakPointer };
  } catch {
    return undefined;
  }
}

/**
 * Emscripten's sbrk.c starts the break at `&__heap_base`, so `sbrk_val` is a
 * 4-byte static whose initial value is the heap base (its data segment may
 * omit trailing zero bytes, which the loader leaves zero). Returns its
 * address when exactly one aligned word of initialised data holds that value.
 */
function findBreakPointer(segments: readonly { offset: number; bytes: Uint8Array }[], heapBase: number): number | undefined {
  // Bytes no segment initialises are zero when the module starts.
  const byteAt = (address: number): number => {
    for (const { offset, bytes } of segments) if (address >= offset && address < offset + bytes.length) return bytes[address - offset]!;
    return 0;
  };
  const found: number[] = [];
  for (const { offset, bytes } of segments) {
    for (let address = Math.ceil(offset / 4) * 4; address < offset + bytes.length; address += 4) {
      let value = 0;
      for (let i = 3; i >= 0; i--) value = value * 256 + byteAt(address + i);
      if (value === heapBase) found.push(address);
    }
  }
  return found.length === 1 ? found[0] : undefined;
}
