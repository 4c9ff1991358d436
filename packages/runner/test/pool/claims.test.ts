import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { claimToRun, isRunning, newClaimCells, offer, revoke, tokenOf } from "../../src/pool/claims.js";

describe("claim cells", () => {
  it("lets exactly one side win an execution: the worker that starts it or the pool that takes it back", () => {
    const { cells } = newClaimCells(2);
    offer(cells, 0, 7);
    expect(claimToRun(cells, 0, 7)).toBe(true);
    expect(isRunning(cells, 0, 7)).toBe(true);
    expect(revoke(cells, 0, 7)).toBe(false);
    offer(cells, 1, 8);
    expect(revoke(cells, 1, 8)).toBe(true);
    expect(claimToRun(cells, 1, 8)).toBe(false);
    expect(isRunning(cells, 1, 8)).toBe(false);
  });

  it("never lets a stale copy of an execution claim a cell reused for a later one", () => {
    const { cells } = newClaimCells(1);
    offer(cells, 0, tokenOf(1));
    expect(revoke(cells, 0, tokenOf(1))).toBe(true);
    offer(cells, 0, tokenOf(2));
    // The worker still holds the first execution in its queue and reaches it now.
    expect(claimToRun(cells, 0, tokenOf(1))).toBe(false);
    expect(claimToRun(cells, 0, tokenOf(2))).toBe(true);
  });

  it("makes tokens positive and distinct for consecutive dispatches, also where the counter wraps", () => {
    const tokens = [1, 2, 0x3fffffff, 0x40000000, 0x40000001].map(tokenOf);
    for (const token of tokens) expect(token).toBeGreaterThan(0);
    expect(new Set(tokens.slice(0, 3)).size).toBe(3);
    expect(tokenOf(0x40000000)).not.toBe(tokenOf(0x3fffffff));
  });

  it("has one winner per execution when a worker thread claims while the pool revokes, racing", async () => {
    const count = 2_000_000;
    const { buffer, cells } = newClaimCells(count);
    for (let i = 0; i < count; i++) offer(cells, i, tokenOf(i + 1));
    const won = new Uint8Array(new SharedArrayBuffer(count));
    const gate = new Int32Array(new SharedArrayBuffer(4));
    // The worker claims from the front (as claimToRun does), the main thread revokes from the back.
    const worker = new Worker(
      `const { workerData, parentPort } = require("node:worker_threads");
       const cells = new Int32Array(workerData.buffer);
       const won = new Uint8Array(workerData.won);
       const gate = new Int32Array(workerData.gate);
       parentPort.postMessage("waiting");
       Atomics.wait(gate, 0, 0);
       for (let i = 0; i < workerData.count; i++) {
         const token = i + 1;
         if (Atomics.compareExchange(cells, i, token, -token) === token) won[i] = 1;
       }
       parentPort.postMessage("done");`,
      { eval: true, workerData: { buffer, won: won.buffer, gate: gate.buffer, count } },
    );
    const done = new Promise<void>((resolve, reject) => {
      worker.on("message", (m: string) => m === "done" && resolve());
      worker.on("error", reject);
    });
    await new Promise<void>((resolve) => worker.once("message", () => resolve()));
    // Both start on one signal, from opposite ends, and meet somewhere in the middle.
    Atomics.store(gate, 0, 1);
    Atomics.notify(gate, 0);
    let revoked = 0;
    for (let i = count - 1; i >= 0; i--) if (revoke(cells, i, tokenOf(i + 1))) (won[i] = 2), revoked++;
    await done;
    await worker.terminate();
    let claimed = 0;
    const wrong: number[] = [];
    for (let i = 0; i < count; i++) {
      if (won[i] === 1) claimed++;
      if ((won[i] !== 1 && won[i] !== 2) || isRunning(cells, i, tokenOf(i + 1)) !== (won[i] === 1)) wrong.push(i);
    }
    expect(wrong).toEqual([]);
    expect(claimed + revoked).toBe(count);
    // Both sides won some: the race really happened (each side alone would have taken everything).
    expect(claimed).toBeGreaterThan(0);
    expect(revoked).toBeGreaterThan(0);
  });
});
