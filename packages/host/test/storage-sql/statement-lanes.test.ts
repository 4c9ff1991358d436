import { describe, expect, it } from "vitest";
import { createStatementLanes } from "../../src/storage/sql/statement-lanes.js";

/** Lets pending promise callbacks run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * The statement lanes alone: per install (maxConcurrent, maxQueued) and
 * host-wide (maxConcurrentTotal), with a freed place going to the installs
 * in turn.
 */
describe("statement lanes", () => {
  /** Acquires a place for `key`, recording the order places are given in `log` (`a0` is the first statement `a` sent). */
  const sent = new WeakMap<string[], Map<string, number>>();
  function start(lanes: ReturnType<typeof createStatementLanes>, key: string, log: string[], signal?: AbortSignal) {
    const counts = sent.get(log) ?? new Map<string, number>();
    sent.set(log, counts);
    const label = `${key}${counts.get(key) ?? 0}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    const placed = lanes.acquire(key, signal).then((release) => {
      log.push(label);
      return release;
    });
    return placed;
  }

  it("runs at most maxConcurrentTotal statements of all installs at once; the others wait in their install's queue", async () => {
    const lanes = createStatementLanes(2, 8, 3);
    const log: string[] = [];
    const releases = [start(lanes, "a", log), start(lanes, "a", log), start(lanes, "b", log), start(lanes, "b", log), start(lanes, "c", log)];
    await settle();
    expect(lanes.running).toBe(3);
    expect(log).toHaveLength(3);
    (await releases[0]!)();
    await settle();
    expect(lanes.running).toBe(3);
    expect(log).toHaveLength(4);
  });

  it("gives a freed place to the installs in turn: one install's full queue does not hold back another's lone statement", async () => {
    const lanes = createStatementLanes(2, 32, 2);
    const log: string[] = [];
    const flood = Array.from({ length: 12 }, () => start(lanes, "flood", log));
    await settle();
    // The flood holds both places host-wide and has ten waiting; then a lone statement of another install arrives.
    const lone = start(lanes, "lone", log);
    await settle();
    expect(log).toEqual(["flood0", "flood1"]);
    (await flood[0]!)();
    await settle();
    // Global FIFO would give the place to flood2 (queued first); the round goes to the install that has not had one.
    expect(log).toEqual(["flood0", "flood1", "lone0"]);
    (await lone)();
    (await flood[1]!)();
    await settle();
    expect(log.slice(3)).toEqual(["flood2", "flood3"]);
  });

  it("round robin over three installs, each install's statements in their order", async () => {
    const lanes = createStatementLanes(1, 32, 1);
    const log: string[] = [];
    const all = [
      ...Array.from({ length: 3 }, () => start(lanes, "a", log)),
      ...Array.from({ length: 3 }, () => start(lanes, "b", log)),
      ...Array.from({ length: 3 }, () => start(lanes, "c", log)),
    ];
    for (let i = 0; i < 9; i++) {
      await settle();
      const index = [...log].length - 1;
      const label = log[index]!;
      const which = { a: 0, b: 3, c: 6 }[label[0] as "a" | "b" | "c"] + Number(label.slice(1));
      (await all[which]!)();
    }
    await settle();
    expect(log).toEqual(["a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"]);
    expect(lanes.running).toBe(0);
  });

  it("keeps maxConcurrent per install under the host-wide cap: a freed place skips an install already at its own limit", async () => {
    const lanes = createStatementLanes(1, 8, 3);
    const log: string[] = [];
    const a = [start(lanes, "a", log), start(lanes, "a", log), start(lanes, "a", log)];
    const b = start(lanes, "b", log);
    await settle();
    expect(log).toEqual(["a0", "b0"]);
    expect(lanes.running).toBe(2);
    (await b)();
    await settle();
    expect(log).toEqual(["a0", "b0"]);
    (await a[0]!)();
    await settle();
    expect(log).toEqual(["a0", "b0", "a1"]);
  });

  it("refuses past maxQueued with E_SQL_BUSY, whether the install or the host is at its limit", async () => {
    const lanes = createStatementLanes(2, 1, 1);
    const log: string[] = [];
    start(lanes, "a", log);
    start(lanes, "a", log);
    await expect(lanes.acquire("a", undefined)).rejects.toMatchObject({ code: "E_SQL_BUSY", details: { maxConcurrent: 2, maxQueued: 1 } });
    // Another install has a queue of its own.
    start(lanes, "b", log);
    await expect(lanes.acquire("b", undefined)).rejects.toMatchObject({ code: "E_SQL_BUSY" });
  });

  it("drops a waiting statement whose signal aborts, and the next install's statement takes the freed place", async () => {
    const lanes = createStatementLanes(2, 8, 1);
    const log: string[] = [];
    const first = start(lanes, "a", log);
    const execution = new AbortController();
    const dropped = start(lanes, "b", log, execution.signal).catch((error: unknown) => error);
    const next = start(lanes, "c", log);
    execution.abort();
    expect(await dropped).toMatchObject({ code: "E_SQL_TIMEOUT", details: { reason: "execution-ended" } });
    (await first)();
    (await next)();
    await settle();
    expect(log).toEqual(["a0", "c0"]);
    expect(lanes.running).toBe(0);
  });

  it("without a host-wide cap, behaves as the per-install lanes did", async () => {
    const lanes = createStatementLanes(2, 4);
    const log: string[] = [];
    for (const key of ["a", "b", "c", "d", "e"]) for (let i = 0; i < 3; i++) start(lanes, key, log);
    await settle();
    expect(lanes.running).toBe(10);
  });

  it("detach gives the host-wide place back at once, and the install's own place only once the database ended the statement", async () => {
    // Two places in all, one per install: a's first statement is given up while the database still runs it.
    const lanes = createStatementLanes(1, 8, 2);
    const log: string[] = [];
    const a0 = await start(lanes, "a", log);
    await start(lanes, "b", log);
    const a1 = start(lanes, "a", log);
    const c0 = start(lanes, "c", log);
    await settle();
    expect(log).toEqual(["a0", "b0"]);
    let ended!: () => void;
    a0.detach(new Promise<void>((resolve) => (ended = resolve)));
    await settle();
    // c had no statement running: it takes the freed place; a's next waits for a's own place.
    expect(log).toEqual(["a0", "b0", "c0"]);
    expect(lanes.running).toBe(2);
    (await c0)();
    await settle();
    expect(log).toEqual(["a0", "b0", "c0"]);
    ended();
    await settle();
    expect(log).toEqual(["a0", "b0", "c0", "a1"]);
    // Giving back a detached place again does nothing.
    a0();
    a0.detach(Promise.resolve());
    await settle();
    expect(lanes.running).toBe(2);
    (await a1)();
    await settle();
    expect(lanes.running).toBe(1);
  });
});
