import type { QuickJSContext, QuickJSHandle } from "quickjs-emscripten-core";
import { BjsonError, decodeBjson } from "./bjson.js";

/**
 * The host half of copying values across the sandbox boundary. Nothing
 * crosses by reference.
 *
 * In: JSON text of the host value with `null` where bytes are, the paths of
 * those places, and the bytes themselves as separate ArrayBuffers; the guest
 * parses the text with its pristine JSON.parse and defines each Uint8Array at
 * its path (bootstrap's `decode`). No marker in the data means nothing in the
 * data can pass for bytes.
 *
 * Out: QuickJS's native binary writer (see bjson.ts), which runs no guest code.
 */
export class PayloadTooLarge extends Error {
  constructor(readonly size: number) {
    super(`payload of ${size} bytes is too large`);
  }
}

export interface GuestBound {
  json: string;
  /** JSON list of the paths where `buffers` go, or undefined when there are none. */
  paths: string | undefined;
  buffers: Uint8Array[];
  /** Bytes of the serialised value (UTF-8 JSON plus raw bytes). */
  size: number;
}

function asBytes(value: unknown): Uint8Array | undefined {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  return undefined;
}

function containsBytes(value: unknown, depth: number): boolean {
  if (value === null || typeof value !== "object") return false;
  if (value instanceof Uint8Array || value instanceof ArrayBuffer) return true;
  if (depth > 64) return true; // deep values take the careful path, which serialises exactly as JSON does
  if (Array.isArray(value)) {
    for (const item of value) if (containsBytes(item, depth + 1)) return true;
    return false;
  }
  for (const key in value) if (Object.prototype.hasOwnProperty.call(value, key) && containsBytes((value as Record<string, unknown>)[key], depth + 1)) return true;
  return false;
}

/**
 * Serialises a host value for the guest. Throws PayloadTooLarge past `limit`
 * bytes. Host values are the host's own: their `toJSON` (Date, Buffer …) runs
 * as it would for any JSON response.
 */
export function encodeForGuest(value: unknown, limit: number): GuestBound {
  const root = value === undefined ? null : value;
  if (!containsBytes(root, 0)) {
    const json = JSON.stringify(root) ?? "null";
    // UTF-16 length bounds the UTF-8 size from below; only measure exactly when it could matter.
    const size = json.length * 3 <= limit ? json.length : Buffer.byteLength(json);
    if (size > limit) throw new PayloadTooLarge(size);
    return { json, paths: undefined, buffers: [], size };
  }
  const buffers: Uint8Array[] = [];
  const slots: string[][] = [];
  const pathOf = new Map<object, string[]>();
  let total = 0;
  const json =
    JSON.stringify(root, function (this: Record<string, unknown>, key, current: unknown) {
      const parent = pathOf.get(this);
      const path = parent === undefined ? [] : [...parent, key];
      // `this[key]` is the value before toJSON ran (Buffer#toJSON would otherwise turn bytes into an object).
      const bytes = asBytes(this[key]);
      if (bytes !== undefined) {
        total += bytes.byteLength;
        if (total > limit) throw new PayloadTooLarge(total);
        buffers.push(bytes);
        slots.push(path);
        return null;
      }
      if (current !== null && typeof current === "object") pathOf.set(current, path);
      return current;
    }) ?? "null";
  const size = Buffer.byteLength(json) + total;
  if (size > limit) throw new PayloadTooLarge(size);
  return { json, paths: JSON.stringify(slots), buffers, size };
}

/** The parts of quickjs-emscripten's context this module calls directly (they are not part of its public API). */
interface ContextInternals {
  ffi: {
    QTS_bjson_encode(ctx: number, value: number): number;
    QTS_ResolveException(ctx: number, value: number): number;
    QTS_FreeValuePointer(ctx: number, value: number): void;
    QTS_GetArrayBufferLength(ctx: number, value: number): number;
    QTS_GetArrayBuffer(ctx: number, value: number): number;
  };
  ctx: { value: number };
  module: { HEAPU8: Uint8Array; _free(pointer: number): void };
  memory: { heapValueHandle(pointer: number): QuickJSHandle };
}

export type NativeCopy = { ok: true; bytes: Uint8Array } | { ok: false; error: QuickJSHandle } | { ok: false; tooLarge: number };

/**
 * Writes a guest value in QuickJS's binary form, natively: no guest code runs.
 * The bytes are copied out of linear memory before anything else runs in it.
 * A guest exception (a value the writer refuses) comes back as its handle.
 */
export function writeNative(context: QuickJSContext, handle: QuickJSHandle, limit: number): NativeCopy {
  const internals = context as unknown as ContextInternals;
  const { ffi } = internals;
  const ctx = internals.ctx.value;
  const pointer = ffi.QTS_bjson_encode(ctx, handle.value as unknown as number);
  const errorPointer = ffi.QTS_ResolveException(ctx, pointer);
  if (errorPointer) {
    ffi.QTS_FreeValuePointer(ctx, pointer);
    return { ok: false, error: internals.memory.heapValueHandle(errorPointer) };
  }
  try {
    const length = ffi.QTS_GetArrayBufferLength(ctx, pointer);
    if (length > limit) return { ok: false, tooLarge: length };
    const data = ffi.QTS_GetArrayBuffer(ctx, pointer);
    if (!data) return { ok: false, tooLarge: length };
    try {
      return { ok: true, bytes: internals.module.HEAPU8.slice(data, data + length) };
    } finally {
      internals.module._free(data);
    }
  } finally {
    ffi.QTS_FreeValuePointer(ctx, pointer);
  }
}

/** Reads what writeNative produced; throws BjsonError when it cannot be represented on the host. */
export function readNative(bytes: Uint8Array): unknown {
  return decodeBjson(bytes);
}

export { BjsonError };
