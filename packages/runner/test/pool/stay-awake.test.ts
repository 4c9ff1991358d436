import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { stayAwake } from "../../src/pool/stay-awake.js";

// Each turn of the spin asks `waiting()` once: counting its calls counts the turns.
function counted(answer: () => boolean) {
  const state = { turns: 0 };
  return { state, waiting: () => (state.turns++, answer()) };
}

/** The spin has stopped: 20 ms more pass without a turn. */
async function expectStopped(state: { turns: number }): Promise<void> {
  const stopped = state.turns;
  await sleep(20);
  expect(state.turns).toBe(stopped);
}

describe("stayAwake (the pool's spin, both sides of hostCallSpinMicros)", () => {
  it("keeps the event loop turning while waiting() holds, for spinMs from the last call, then stops", async () => {
    const { state, waiting } = counted(() => true);
    const arm = stayAwake(30, waiting);
    arm();
    await sleep(5);
    expect(state.turns).toBeGreaterThan(1);
    await sleep(60);
    await expectStopped(state);
  });

  it("stops at the first turn where waiting() no longer holds, however long the window", async () => {
    let busy = true;
    const { state, waiting } = counted(() => busy);
    stayAwake(10_000, waiting)();
    await sleep(5);
    busy = false;
    await sleep(5);
    await expectStopped(state);
  });

  it("moves the end of the spin each time it is armed", async () => {
    const { state, waiting } = counted(() => true);
    const arm = stayAwake(200, waiting);
    arm();
    // Armed again at ~100 ms: the spin ends ~300 ms after the start, not at 200.
    await sleep(100);
    arm();
    await sleep(120);
    const at220 = state.turns;
    await sleep(10);
    expect(state.turns).toBeGreaterThan(at220);
    await sleep(150);
    await expectStopped(state);
  });

  it("does nothing at 0", async () => {
    const { state, waiting } = counted(() => true);
    const arm = stayAwake(0, waiting);
    arm();
    await sleep(10);
    expect(state.turns).toBe(0);
  });
});
