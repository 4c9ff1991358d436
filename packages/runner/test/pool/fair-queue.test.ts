import { describe, expect, it } from "vitest";
import { FairQueue } from "../../src/pool/fair-queue.js";

const queueOf = (...items: string[]) => {
  // "a1" is install a's first execution.
  const q = new FairQueue<string>((item) => item[0]!);
  for (const item of items) q.push(item);
  return q;
};
const drain = (q: FairQueue<string>) => {
  const out: string[] = [];
  for (let item = q.shift(); item !== undefined; item = q.shift()) out.push(item);
  return out;
};

describe("FairQueue", () => {
  it("serves installs in turn, each in its own order", () => {
    const q = queueOf("a1", "a2", "a3", "a4", "b1", "c1", "b2");
    expect(q.length).toBe(7);
    expect(q.peek()).toBe("a1");
    expect(drain(q)).toEqual(["a1", "b1", "c1", "a2", "b2", "a3", "a4"]);
    expect(q.length).toBe(0);
    expect(q.peek()).toBeUndefined();
  });

  it("removes an item from the middle of a line, and an install whose line it empties loses its turn", () => {
    const q = queueOf("a1", "b1", "a2", "c1");
    expect(q.remove("b1")).toBe(true);
    expect(q.remove("b1")).toBe(false);
    expect(q.remove("a2")).toBe(true);
    expect(q.values().sort()).toEqual(["a1", "c1"]);
    expect(drain(q)).toEqual(["a1", "c1"]);
  });

  it("puts items given back in front, their installs first, except those that just had a turn", () => {
    const q = queueOf("b2", "c1");
    // a2, b1, a3 were waiting in a worker where a1 runs: b goes first, a after everyone waiting.
    q.requeue(["a2", "b1", "a3"], new Set(["a"]));
    expect(q.length).toBe(5);
    expect(drain(q)).toEqual(["b1", "c1", "a2", "b2", "a3"]);
  });

  it("puts items given back by a worker that went away in front, in the order they had", () => {
    const q = queueOf("c1", "a3");
    q.requeue(["a1", "b1", "a2"]);
    expect(drain(q)).toEqual(["a1", "b1", "c1", "a2", "a3"]);
  });
});
