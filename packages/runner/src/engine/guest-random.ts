import { randomFillSync } from "node:crypto";
import type { Realm } from "./realm.js";

/** How far into the JSContext structure to look for Math.random's state. */
const SCAN_BYTES = 2048;
const MULTIPLIER = 0x2545f4914f6cdd1dn;
const MASK = (1n << 64n) - 1n;

/** QuickJS's Math.random: xorshift64* over `ctx->random_state`. Returns the new state and the number it yields. */
function step(state: bigint): { state: bigint; value: number } {
  let x = state;
  x ^= x >> 12n;
  x = (x ^ (x << 25n)) & MASK;
  x ^= x >> 27n;
  const out = (x * MULTIPLIER) & MASK;
  // 1.0 <= d < 2.0 from the top 52 bits, minus one.
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, (0x3ffn << 52n) | (out >> 12n));
  return { state: x, value: view.getFloat64(0) - 1 };
}

/** The address of a realm's JSContext in linear memory (quickjs-emscripten keeps it private). */
function contextPointer(realm: Realm): number | undefined {
  const pointer = (realm.context as unknown as { ctx?: { value?: unknown } }).ctx?.value;
  return typeof pointer === "number" && Number.isSafeInteger(pointer) && pointer > 0 ? pointer : undefined;
}

let pool = new BigUint64Array(0);
let next = 0;
function freshSeed(): bigint {
  if (next >= pool.length) {
    pool = new BigUint64Array(512);
    randomFillSync(pool);
    next = 0;
  }
  const seed = pool[next++]!;
  return seed === 0n ? 1n : seed;
}

/**
 * QuickJS seeds Math.random once per context, from the clock. A realm put
 * back from a memory image would therefore replay the same sequence in every
 * execution; this gives each execution a fresh seed from the host's CSPRNG
 * by writing the context's generator state directly.
 *
 * The state's place inside the JSContext structure is not public, so it is
 * found and then proven on the live context: the one 64-bit word that moves
 * from x to xorshift64*(x) when Math.random() is called and whose output is
 * the number Math.random() returned, confirmed again with a chosen seed. If
 * any of that fails (another QuickJS version, another generator), `locate`
 * returns undefined and the engine takes no images at all.
 */
export class GuestRandom {
  private constructor(
    private readonly memory: WebAssembly.Memory,
    /** Where the 8-byte generator state lives in linear memory. */
    readonly address: number,
  ) {}

  static locate(realm: Realm, memory: WebAssembly.Memory): GuestRandom | undefined {
    const base = contextPointer(realm);
    if (base === undefined || base % 8 !== 0 || base + SCAN_BYTES > memory.buffer.byteLength) return undefined;
    const { context } = realm;
    const found = context.evalCode("Math.random", "annex:random", { type: "global", strict: true });
    if (found.error) {
      found.error.dispose();
      return undefined;
    }
    const random = found.value;
    const call = (): number | undefined => {
      const result = context.callFunction(random, context.undefined);
      if (result.error) {
        result.error.dispose();
        return undefined;
      }
      return result.value.consume((handle) => context.getNumber(handle));
    };
    try {
      const before = new DataView(memory.buffer.slice(base, base + SCAN_BYTES));
      const value = call();
      if (value === undefined) return undefined;
      const after = new DataView(memory.buffer, base, SCAN_BYTES);
      let located: GuestRandom | undefined;
      for (let offset = 0; offset + 8 <= SCAN_BYTES; offset += 8) {
        const old = before.getBigUint64(offset, true);
        const now = after.getBigUint64(offset, true);
        if (old === now) continue;
        const expected = step(old);
        if (now === expected.state && value === expected.value) {
          if (located !== undefined) return undefined; // ambiguous: refuse rather than guess
          located = new GuestRandom(memory, base + offset);
        }
      }
      if (located === undefined) return undefined;
      // Prove the write path too: a chosen seed must produce exactly the predicted number.
      const probe = 0x0123456789abcdefn;
      located.write(probe);
      if (call() !== step(probe).value) return undefined;
      return located;
    } finally {
      random.dispose();
    }
  }

  private write(state: bigint): void {
    new DataView(this.memory.buffer).setBigUint64(this.address, state, true);
  }

  /** Gives the context's Math.random a fresh, unpredictable state. */
  reseed(): void {
    this.write(freshSeed());
  }
}
