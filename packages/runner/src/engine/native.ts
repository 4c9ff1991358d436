import type { QuickJSContext, QuickJSHandle } from "quickjs-emscripten-core";

/**
 * Direct calls into quickjs-emscripten's FFI for the paths every execution
 * takes. The library's wrappers allocate an argument array in linear memory
 * per call, encode strings in a JavaScript loop and build result objects;
 * on a warm execution of a small handler that was as much as the call itself.
 * These use the same C entry points (the library's own, `QTS_*`), with a
 * scratch area allocated once per realm for arguments and small strings.
 *
 * The FFI is not part of the library's public API: the engine's tests run
 * every path through it, and quickjs-emscripten is pinned.
 */
interface ContextInternals {
  ffi: {
    QTS_NewString(ctx: number, chars: number): number;
    QTS_Call(ctx: number, fn: number, thisValue: number, argc: number, argv: number): number;
    QTS_ResolveException(ctx: number, value: number): number;
    QTS_FreeValuePointer(ctx: number, value: number): void;
    QTS_bjson_encode(ctx: number, value: number): number;
    QTS_GetArrayBufferLength(ctx: number, value: number): number;
    QTS_GetArrayBuffer(ctx: number, value: number): number;
  };
  ctx: { value: number };
  module: { HEAPU8: Uint8Array; _malloc(size: number): number; _free(pointer: number): void };
  memory: { heapValueHandle(pointer: number): QuickJSHandle };
}

function internals(context: QuickJSContext): ContextInternals {
  return context as unknown as ContextInternals;
}

/** Argument slots (pointers) at the start of the scratch area; strings go after them. */
const ARGUMENT_SLOTS = 16;
const SCRATCH_BYTES = 16 * 1024;
const utf8 = new TextEncoder();

export type CallResult = { value: QuickJSHandle; error?: undefined } | { error: QuickJSHandle };

/**
 * One realm's fast calls. The scratch area is allocated when the realm is
 * built, before its memory image is taken, so every restore keeps it
 * allocated at the same address; `free` releases it when the realm is freed.
 */
export class NativeCalls {
  private readonly scratch: number;
  private words: Uint32Array | undefined;

  constructor(private readonly context: QuickJSContext) {
    this.scratch = internals(context).module._malloc(SCRATCH_BYTES);
    if (!this.scratch) throw new Error("no memory for the realm's scratch area");
  }

  private heapWords(): Uint32Array {
    const heap = internals(this.context).module.HEAPU8;
    // The debug build's memory may grow (and replace its buffer); the release build's never does.
    if (this.words?.buffer !== heap.buffer) this.words = new Uint32Array(heap.buffer);
    return this.words;
  }

  /** fn(...args) with `this` undefined; a guest exception comes back as `{ error }`. */
  call(fn: QuickJSHandle, args: readonly QuickJSHandle[]): CallResult {
    const { ffi, ctx, memory } = internals(this.context);
    if (args.length > ARGUMENT_SLOTS) {
      const result = this.context.callFunction(fn, this.context.undefined, [...args]);
      return result.error ? { error: result.error } : { value: result.value };
    }
    const words = this.heapWords();
    const base = this.scratch >>> 2;
    for (let i = 0; i < args.length; i++) words[base + i] = args[i]!.value as unknown as number;
    const result = ffi.QTS_Call(ctx.value, fn.value as unknown as number, this.context.undefined.value as unknown as number, args.length, this.scratch);
    const error = ffi.QTS_ResolveException(ctx.value, result);
    if (error) {
      ffi.QTS_FreeValuePointer(ctx.value, result);
      return { error: memory.heapValueHandle(error) };
    }
    return { value: memory.heapValueHandle(result) };
  }

  /**
   * A guest string, UTF-8 encoded by the platform's native encoder straight
   * into linear memory (the scratch area when it fits, else a buffer of its own).
   */
  string(text: string): QuickJSHandle {
    const { ffi, ctx, memory, module } = internals(this.context);
    const room = SCRATCH_BYTES - ARGUMENT_SLOTS * 4;
    // Three bytes per UTF-16 unit at most: no need to measure a string that surely fits.
    const size = text.length * 3 < room ? text.length * 3 + 1 : Buffer.byteLength(text) + 1;
    const own = size > room;
    const chars = own ? module._malloc(size) : this.scratch + ARGUMENT_SLOTS * 4;
    if (!chars) return this.context.newString(text); // no room: let the library raise its own out-of-memory
    try {
      const heap = module.HEAPU8;
      const { written } = utf8.encodeInto(text, heap.subarray(chars, chars + size - 1));
      heap[chars + written] = 0;
      return memory.heapValueHandle(ffi.QTS_NewString(ctx.value, chars));
    } finally {
      if (own) module._free(chars);
    }
  }

  free(): void {
    internals(this.context).module._free(this.scratch);
  }
}

export type NativeCopy = { ok: true; bytes: Uint8Array } | { ok: false; error: QuickJSHandle } | { ok: false; tooLarge: number };

/**
 * Writes a guest value in QuickJS's binary form (see bjson.ts), natively: no
 * guest code runs. The bytes are copied out of linear memory before anything
 * else runs in it. A guest exception (a value the writer refuses) comes back
 * as its handle.
 */
export function writeNative(context: QuickJSContext, handle: QuickJSHandle, limit: number): NativeCopy {
  const { ffi, ctx, module, memory } = internals(context);
  const pointer = ffi.QTS_bjson_encode(ctx.value, handle.value as unknown as number);
  const errorPointer = ffi.QTS_ResolveException(ctx.value, pointer);
  if (errorPointer) {
    ffi.QTS_FreeValuePointer(ctx.value, pointer);
    return { ok: false, error: memory.heapValueHandle(errorPointer) };
  }
  try {
    const length = ffi.QTS_GetArrayBufferLength(ctx.value, pointer);
    if (length > limit) return { ok: false, tooLarge: length };
    const data = ffi.QTS_GetArrayBuffer(ctx.value, pointer);
    if (!data) return { ok: false, tooLarge: length };
    try {
      return { ok: true, bytes: module.HEAPU8.slice(data, data + length) };
    } finally {
      module._free(data);
    }
  } finally {
    ffi.QTS_FreeValuePointer(ctx.value, pointer);
  }
}
