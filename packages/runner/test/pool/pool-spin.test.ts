import { describe, expect, it, vi } from "vitest";
import type { HostApis } from "../../src/host-apis.js";
import { buildBundle, envelopeFor } from "../support/fixtures.js";
import { usePools } from "../support/pools.js";

// Every stayAwake the main thread's pool makes, with how often it was armed: the spin itself is stay-awake.test.ts's.
const made = vi.hoisted(() => [] as Array<{ spinMs: number; waiting: () => boolean; arms: number }>);
vi.mock("../../src/pool/stay-awake.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("../../src/pool/stay-awake.js")>();
  return {
    stayAwake(spinMs: number, waiting: () => boolean) {
      const entry = { spinMs, waiting, arms: 0 };
      made.push(entry);
      const arm = real.stayAwake(spinMs, waiting);
      return () => {
        entry.arms++;
        arm();
      };
    },
  };
});

const pool = usePools();

describe("the main thread's side of hostCallSpinMicros", () => {
  it("stays awake after each answer while an execution is under way, and no longer once none is", async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const hostApis: HostApis = {
      kv: {
        get: async (key) => {
          if (key === "held") await held;
          return "note";
        },
        set: () => {},
        delete: () => true,
        list: async () => ({ keys: [] }),
      },
    };
    const bundle = await buildBundle({
      source: 'export async function two(request, ctx) { await ctx.kv.get("a"); await ctx.kv.get("b"); return 2; }\nexport async function hold(request, ctx) { return await ctx.kv.get("held"); }',
      capabilities: [{ name: "storage.kv", reason: "Reads notes." }],
      storage: { kind: "kv" },
    });
    const p = pool({ workers: 1, hostCallSpinMicros: 10_000, hostApis });
    const spin = made.at(-1)!;
    expect(spin.spinMs).toBe(10);
    await p.load(bundle);

    expect((await p.execute(envelopeFor(bundle, "two"))).response?.body).toBe(2);
    // Armed by each of its two answers; nothing in flight now, so the spin stops at its next turn.
    expect(spin.arms).toBe(2);
    expect(spin.waiting()).toBe(false);

    const holding = p.execute(envelopeFor(bundle, "hold"));
    await vi.waitFor(() => expect(p.stats().inFlight).toBe(1));
    expect(spin.waiting()).toBe(true);
    release();
    expect((await holding).response?.body).toBe("note");
    expect(spin.arms).toBe(3);
    expect(spin.waiting()).toBe(false);
  });

  it("is off with hostCallSpinMicros 0", () => {
    pool({ workers: 1, hostCallSpinMicros: 0 });
    expect(made.at(-1)!.spinMs).toBe(0);
  });
});
