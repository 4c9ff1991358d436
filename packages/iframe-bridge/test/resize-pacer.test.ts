import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { paceResizes } from "../src/client/resize-pacer.js";
import { BridgeError } from "../src/errors.js";

describe("paceResizes (auto-resize within the host's call budget)", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("sends at most 20 resizes a second during an animation, and always the last height", async () => {
    const sent: number[] = [];
    const pacer = paceResizes(async (height) => void sent.push(height));
    // A 144 Hz animation for 2 s: 288 heights.
    for (let frame = 0; frame < 288; frame++) {
      pacer.report(100 + frame);
      await vi.advanceTimersByTimeAsync(1000 / 144);
    }
    await vi.advanceTimersByTimeAsync(1000);
    expect(sent.length).toBeGreaterThanOrEqual(38);
    expect(sent.length).toBeLessThanOrEqual(42);
    expect(sent.at(-1)).toBe(387);
    expect(sent).toEqual([...sent].sort((a, b) => a - b));
  });

  it("keeps one resize in flight, folding the heights seen meanwhile into the latest", async () => {
    const sent: number[] = [];
    const answers: Array<() => void> = [];
    const pacer = paceResizes((height) => {
      sent.push(height);
      return new Promise<void>((resolve) => answers.push(resolve));
    });
    pacer.report(10);
    pacer.report(20);
    await vi.advanceTimersByTimeAsync(500);
    pacer.report(30);
    await vi.advanceTimersByTimeAsync(500);
    expect(sent).toEqual([10]);
    answers.shift()!();
    await vi.advanceTimersByTimeAsync(100);
    expect(sent).toEqual([10, 30]);
  });

  it("sends a height the host refused for the rate again, unless a newer one replaced it; drops other failures", async () => {
    const sent: number[] = [];
    let refuse: BridgeError | Error | null = new BridgeError("E_BRIDGE_RATE_LIMITED", "slow down");
    const pacer = paceResizes(async (height) => {
      sent.push(height);
      const error = refuse;
      refuse = null;
      if (error !== null) throw error;
    });
    pacer.report(50);
    await vi.advanceTimersByTimeAsync(200);
    expect(sent).toEqual([50, 50]);

    refuse = new BridgeError("E_BRIDGE_DISPOSED", "gone");
    pacer.report(60);
    await vi.advanceTimersByTimeAsync(500);
    expect(sent).toEqual([50, 50, 60]);
  });

  it("sends nothing after stop", async () => {
    const sent: number[] = [];
    const pacer = paceResizes(async (height) => void sent.push(height));
    pacer.report(1);
    pacer.report(2);
    pacer.stop();
    pacer.report(3);
    await vi.advanceTimersByTimeAsync(1000);
    expect(sent).toEqual([1]);
  });
});
