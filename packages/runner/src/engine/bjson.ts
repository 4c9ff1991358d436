/**
 * Reads the binary form QuickJS's `JS_WriteObject` produces (quickjs-emscripten's
 * `QTS_bjson_encode`, no flags): how values leave a sandbox.
 *
 * Why this format: QuickJS writes it natively, walking the object graph in C
 * without ever running guest code: no getter, setter, `toJSON` or Proxy trap
 * is called, and an object whose shape it cannot copy as plain data (an
 * accessor property, a function, a Proxy, a Map) makes it throw instead. JSON
 * with a replacer, which this replaces, called guest code for every value.
 *
 * What comes out follows JSON's rules, so a value means the same whichever path
 * it took: objects keep their own enumerable string-keyed properties (a
 * `__proto__` key is dropped, so no host-side merge can be steered into a
 * prototype); `undefined` properties are dropped and become `null` in arrays;
 * non-finite numbers become `null` and -0 becomes 0; a Date becomes its ISO
 * string (`null` when invalid); a Number, String or Boolean object becomes
 * its primitive; `Uint8Array` and `ArrayBuffer` become bytes (`Uint8Array`);
 * other typed arrays become objects of their elements, as JSON writes them.
 * BigInts, SharedArrayBuffers and cycles are refused, as JSON refuses them.
 *
 * The reader also counts the bytes the value will take as JSON (UTF-8,
 * escapes, a shared value once per place it appears) and stops past the
 * caller's limit (BjsonTooLarge): the binary form alone would let 5 MiB of
 * Int8Array become ~50 MB of JSON and millions of host objects.
 *
 * The format is QuickJS's own and versioned (the first byte); the engine checks
 * at start-up that this build writes what this reader expects
 * (`checkBjsonSupport`) and uses a slower, guest-side path otherwise.
 */
export const BJSON_VERSION = 5;

const enum Tag {
  Null = 1,
  Undefined = 2,
  False = 3,
  True = 4,
  Int32 = 5,
  Float64 = 6,
  String = 7,
  Object = 8,
  Array = 9,
  BigInt = 10,
  TypedArray = 14,
  ArrayBuffer = 15,
  SharedArrayBuffer = 16,
  Date = 17,
  ObjectValue = 18,
  Reference = 19,
}

/** Typed array classes in the order QuickJS numbers them (`class_id - JS_CLASS_UINT8C_ARRAY`). */
const TYPED_ARRAYS = ["Uint8Clamped", "Int8", "Uint8", "Int16", "Uint16", "Int32", "Uint32", "BigInt64", "BigUint64", "Float16", "Float32", "Float64"] as const;
const ELEMENT_BYTES = [1, 1, 1, 2, 2, 4, 4, 8, 8, 2, 4, 8];
const UINT8 = 2;

/** Deeper values are refused rather than risk the host's own stack. */
export const MAX_DEPTH = 5000;

/** A value that cannot be copied out of the sandbox; the message says why. */
export class BjsonError extends Error {}

/**
 * The value would be larger than the limit once written as JSON (how it
 * leaves the host: an HTTP body, the remote runner's wire). The binary form
 * can be much smaller: a byte of an Int8Array is ~10 characters of JSON, a
 * control character 6, a back-reference the whole value again. Thrown as
 * soon as the count passes the limit, before the rest is built.
 */
export class BjsonTooLarge extends BjsonError {
  constructor(readonly size: number) {
    super(`the value is larger than the limit once written as JSON (${size} bytes so far)`);
  }
}

/** Bytes kept in the reference table, so they can serve both as a value and as a typed array's buffer. */
class RawBuffer {
  private copy: Uint8Array | undefined;
  constructor(readonly raw: Uint8Array) {}

  /** The bytes as a value: one copy, shared by every reference to this buffer. */
  bytes(): Uint8Array {
    return (this.copy ??= this.raw.slice());
  }
}

const OPEN = Symbol("open");

class Reader {
  private offset = 1;
  private readonly atoms: string[] = [];
  /** Each atom's size as a JSON key, with its quotes and colon. */
  private readonly atomSizes: number[] = [];
  /** The JSON size of each finished object in `refs`, charged again for every back-reference (JSON repeats it). */
  private readonly refSizes: number[] = [];
  /** Bytes of JSON the value read so far would take. */
  private used = 0;
  private keySize = 0;
  /** Objects in the order the writer numbered them, for back-references; OPEN while still being read (a cycle). */
  private readonly refs: unknown[] = [];
  /** A Buffer over the bytes, for long strings and floats (made when first needed: small values need none). */
  private buffer: Buffer | undefined;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly limit: number,
  ) {}

  private charge(size: number): void {
    this.used += size;
    if (this.used > this.limit) throw new BjsonTooLarge(this.used);
  }

  private get text(): Buffer {
    return (this.buffer ??= Buffer.from(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength));
  }

  read(): unknown {
    if (this.bytes[0] !== BJSON_VERSION) throw new BjsonError(`unsupported binary value version ${String(this.bytes[0])}`);
    const count = this.leb();
    for (let i = 0; i < count; i++) {
      const atom = this.string();
      this.atoms.push(atom);
      this.atomSizes.push(jsonStringSize(atom) + 1);
    }
    const value = this.value(0, false);
    if (this.offset !== this.bytes.length) throw new BjsonError("trailing bytes after the value");
    if (value === undefined) this.charge(4);
    return value === undefined ? null : value;
  }

  private byte(): number {
    const value = this.bytes[this.offset++];
    if (value === undefined) throw new BjsonError("the value ends early");
    return value;
  }

  private leb(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 28) throw new BjsonError("a length is too long");
    }
  }

  private string(): string {
    const header = this.leb();
    const length = Math.floor(header / 2);
    const wide = header % 2 === 1;
    const size = wide ? length * 2 : length;
    const start = this.offset;
    if (start + size > this.bytes.length) throw new BjsonError("a string runs past the end");
    this.offset += size;
    if (!wide && size <= 32) {
      let out = "";
      for (let i = start; i < start + size; i++) out += String.fromCharCode(this.bytes[i]!);
      return out;
    }
    return wide ? this.text.toString("utf16le", start, start + size) : this.text.toString("latin1", start, start + size);
  }

  /** A property name; `keySize` is then what it takes as a JSON key (quotes and colon included). */
  private atom(): string {
    const v = this.leb();
    if (v % 2 === 1) {
      const key = String(Math.floor(v / 2));
      this.keySize = key.length + 3;
      return key;
    }
    const index = v / 2;
    const atom = this.atoms[index - 1];
    if (atom === undefined) throw new BjsonError("a property name is missing from the atom table");
    this.keySize = this.atomSizes[index - 1]!;
    return atom;
  }

  private register(): number {
    this.refs.push(OPEN);
    this.refSizes.push(this.used);
    return this.refs.length - 1;
  }

  /** Stores a finished object for back-references, with the JSON size it took (counted since register()). */
  private settle(slot: number, value: unknown): void {
    this.refs[slot] = value;
    this.refSizes[slot] = this.used - this.refSizes[slot]!;
  }

  /**
   * One value, with JSON's rules applied as it is read (see the top of this
   * file). `raw`: the caller is a typed array and wants its buffer as is.
   */
  private value(depth: number, raw: boolean): unknown {
    if (depth > MAX_DEPTH) throw new BjsonError(`the value is nested deeper than ${MAX_DEPTH} levels`);
    const tag = this.byte();
    switch (tag) {
      case Tag.Null:
        this.charge(4);
        return null;
      case Tag.Undefined:
        // Charged where it lands: "null" in an array, nothing in an object (the property is dropped).
        return undefined;
      case Tag.False:
        this.charge(5);
        return false;
      case Tag.True:
        this.charge(4);
        return true;
      case Tag.Int32: {
        const v = this.leb();
        const n = v % 2 === 1 ? -(v - 1) / 2 - 1 : v / 2;
        this.charge(integerSize(n));
        return n;
      }
      case Tag.Float64: {
        if (this.offset + 8 > this.bytes.length) throw new BjsonError("a number runs past the end");
        const n = this.text.readDoubleLE(this.offset);
        this.offset += 8;
        const out = Number.isFinite(n) ? (n === 0 ? 0 : n) : null;
        this.charge(numberSize(out));
        return out;
      }
      case Tag.String: {
        const out = this.string();
        this.charge(jsonStringSize(out));
        return out;
      }
      case Tag.Object: {
        const slot = this.register();
        const out: Record<string, unknown> = {};
        const count = this.leb();
        this.charge(2);
        let kept = 0;
        for (let i = 0; i < count; i++) {
          const key = this.atom();
          const keySize = this.keySize;
          const before = this.used;
          const v = this.value(depth + 1, false);
          if (v !== undefined && key !== "__proto__") {
            this.charge(keySize + (kept++ > 0 ? 1 : 0));
            out[key] = v;
          } else this.used = before;
        }
        this.settle(slot, out);
        return out;
      }
      case Tag.Array: {
        const slot = this.register();
        const length = this.leb();
        if (length > this.bytes.length) throw new BjsonError("an array is longer than the value holds");
        const out = new Array<unknown>(length);
        this.charge(2);
        for (let i = 0; i < length; i++) {
          const v = this.value(depth + 1, false);
          this.charge((v === undefined ? 4 : 0) + (i > 0 ? 1 : 0));
          out[i] = v === undefined ? null : v;
        }
        this.settle(slot, out);
        return out;
      }
      case Tag.TypedArray: {
        const slot = this.register();
        const kind = this.byte();
        const length = this.leb();
        const offset = this.leb();
        const buffer = this.value(depth + 1, true);
        if (!(buffer instanceof RawBuffer) || kind >= TYPED_ARRAYS.length) throw new BjsonError("a typed array is malformed");
        const size = length * ELEMENT_BYTES[kind]!;
        if (offset + size > buffer.raw.byteLength) throw new BjsonError("a typed array reaches past its buffer");
        const view = buffer.raw.subarray(offset, offset + size);
        if (kind === UINT8) this.charge(size);
        const out = kind === UINT8 ? view.slice() : elements(kind, view, length, (bytes) => this.charge(bytes));
        this.settle(slot, out);
        return out;
      }
      case Tag.ArrayBuffer: {
        const slot = this.register();
        const length = this.leb();
        this.leb(); // maximum length of a resizable buffer: irrelevant to a copy
        if (this.offset + length > this.bytes.length) throw new BjsonError("an ArrayBuffer runs past the end");
        const buffer = new RawBuffer(this.bytes.subarray(this.offset, this.offset + length));
        this.offset += length;
        // As a typed array's buffer, the typed array charges what it shows of it.
        if (!raw) this.charge(length);
        this.settle(slot, buffer);
        return raw ? buffer : buffer.bytes();
      }
      case Tag.Date: {
        const slot = this.register();
        const time = this.value(depth + 1, false);
        const out = typeof time === "number" && Number.isFinite(time) && Math.abs(time) <= 8.64e15 ? new Date(time).toISOString() : null;
        // The time was charged as a number; the value is its ISO string (or null).
        this.used -= numberSize(typeof time === "number" && Number.isFinite(time) ? time : null);
        this.charge(out === null ? 4 : out.length + 2);
        this.settle(slot, out);
        return out;
      }
      case Tag.ObjectValue: {
        const slot = this.register();
        const inner = this.value(depth + 1, false);
        if (inner !== null && typeof inner !== "number" && typeof inner !== "string" && typeof inner !== "boolean") {
          throw new BjsonError("a boxed value other than a number, string or boolean cannot be copied");
        }
        this.settle(slot, inner);
        return inner;
      }
      case Tag.Reference: {
        const index = this.leb();
        if (index >= this.refs.length) throw new BjsonError("a reference points nowhere");
        const target = this.refs[index];
        if (target === OPEN) throw new BjsonError("the value is circular (it contains itself); JSON cannot represent it");
        // JSON writes a shared value once per place it appears.
        if (target instanceof RawBuffer) {
          if (!raw) this.charge(target.raw.byteLength);
          return raw ? target : target.bytes();
        }
        this.charge(this.refSizes[index]!);
        return target;
      }
      case Tag.BigInt:
        throw new BjsonError("a BigInt cannot be copied (JSON has no BigInt); convert it to a string or number");
      case Tag.SharedArrayBuffer:
        throw new BjsonError("a SharedArrayBuffer cannot be copied; use an ArrayBuffer or Uint8Array");
      default:
        throw new BjsonError(`unsupported binary value tag ${tag}`);
    }
  }
}

/** A typed array other than Uint8Array, as JSON writes it: an object of its elements by index; `charge` counts each as it is made. */
function elements(kind: number, view: Uint8Array, length: number, charge: (bytes: number) => void): Record<string, unknown> {
  const name = TYPED_ARRAYS[kind]!;
  if (name === "BigInt64" || name === "BigUint64") throw new BjsonError(`a ${name}Array cannot be copied (JSON has no BigInt)`);
  const data = new DataView(view.buffer, view.byteOffset, view.byteLength);
  const out: Record<string, unknown> = {};
  for (let i = 0; i < length; i++) {
    let v: number;
    switch (name) {
      case "Uint8Clamped":
        v = data.getUint8(i);
        break;
      case "Int8":
        v = data.getInt8(i);
        break;
      case "Uint8":
        v = data.getUint8(i);
        break;
      case "Int16":
        v = data.getInt16(i * 2, true);
        break;
      case "Uint16":
        v = data.getUint16(i * 2, true);
        break;
      case "Int32":
        v = data.getInt32(i * 4, true);
        break;
      case "Uint32":
        v = data.getUint32(i * 4, true);
        break;
      case "Float16":
        v = half(data.getUint16(i * 2, true));
        break;
      case "Float32":
        v = data.getFloat32(i * 4, true);
        break;
      case "Float64":
        v = data.getFloat64(i * 8, true);
        break;
    }
    const value = Number.isFinite(v) ? (Object.is(v, -0) ? 0 : v) : null;
    // "i":value and the comma before it; the braces with the first.
    charge(integerSize(i) + 3 + numberSize(value) + (i === 0 ? 2 : 1));
    out[String(i)] = value;
  }
  if (length === 0) charge(2);
  return out;
}

/** Characters of an integer in JSON (its digits and sign). */
function integerSize(n: number): number {
  if (n >= 0 && n < 10) return 1;
  if (n >= 10 && n < 100) return 2;
  return String(n).length;
}

function numberSize(n: number | null): number {
  return n === null ? 4 : Number.isInteger(n) && Math.abs(n) < 1e21 ? integerSize(n) : String(n).length;
}

/** Characters JSON escapes: the quote, the backslash and the C0 controls. */
const ESCAPED = /["\\\u0000-\u001f]/;
const NON_ASCII = /[^\u0000-\u007f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * Bytes of a string in JSON as UTF-8, as JSON.stringify writes it: its
 * quotes, its characters' UTF-8 bytes, and the escapes (a control character
 * 2 or 6 characters, an unpaired surrogate 6 where UTF-8 would count 3).
 */
function jsonStringSize(s: string): number {
  let size = s.length + 2;
  if (NON_ASCII.test(s)) {
    size = Buffer.byteLength(s, "utf8") + 2;
    const lone = s.match(LONE_SURROGATE);
    if (lone !== null) size += 3 * lone.length;
  }
  if (!ESCAPED.test(s)) return size;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // \b \t \n \f \r take two characters, other controls six (\u00XX).
    if (c < 0x20) size += c === 8 || c === 9 || c === 10 || c === 12 || c === 13 ? 1 : 5;
    else if (c === 0x22 || c === 0x5c) size += 1;
  }
  return size;
}

function half(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** Reads a value QuickJS wrote with `JS_WriteObject`; throws BjsonError when it cannot be copied. */
export function decodeBjson(bytes: Uint8Array, maxJsonBytes = Infinity): unknown {
  return new Reader(bytes, maxJsonBytes).read();
}
