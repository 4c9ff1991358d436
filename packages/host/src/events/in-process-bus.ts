import { BusError, type Bus, type BusConsumer, type BusHandler, type BusMessage } from "./bus.js";

interface Slot {
  handler: BusHandler;
  concurrency: number;
  running: number;
  stopped: boolean;
  /** Sends waiting for this consumer to have room. */
  waiting: Array<() => void>;
  idle: Array<() => void>;
}

/**
 * The default bus: the relay's sends go straight to the consumers of this
 * process, round robin, each running at most `concurrency` messages at once
 * (a send waits for room, so a relay never leases faster than it delivers).
 * `send` resolves once the consumer has run the message, whatever its
 * outcome: the outcome is the outbox's business. Nothing is held in memory
 * that the outbox does not also hold.
 */
export function createInProcessBus(): Bus {
  const consumers: Slot[] = [];
  let next = 0;
  let closed = false;

  function pick(): Slot | undefined {
    const live = consumers.filter((slot) => !slot.stopped);
    if (live.length === 0) return undefined;
    // The first with room, starting after the last one used; else the least busy, whose room the send waits for.
    for (let i = 0; i < live.length; i++) {
      const slot = live[(next + i) % live.length]!;
      if (slot.running < slot.concurrency) {
        next = (next + i + 1) % live.length;
        return slot;
      }
    }
    return live.reduce((a, b) => (b.running + b.waiting.length < a.running + a.waiting.length ? b : a));
  }

  async function run(slot: Slot, message: BusMessage): Promise<void> {
    slot.running++;
    try {
      // A copy, as a broker would hand over: the consumer cannot change the relay's object, nor the relay the consumer's.
      await slot.handler(structuredClone(message));
    } catch {
      // Not acked: the outbox lease runs out and the relay hands the delivery out again.
    } finally {
      slot.running--;
      const waiter = slot.waiting.shift();
      if (waiter !== undefined) waiter();
      else if (slot.running === 0) for (const done of slot.idle.splice(0)) done();
    }
  }

  return {
    name: "in-process",
    async send(message) {
      if (closed) throw new BusError("E_BUS_CLOSED", "the in-process bus is closed; the delivery stays in the outbox");
      for (;;) {
        const slot = pick();
        if (slot === undefined) throw new BusError("E_BUS_UNAVAILABLE", "no consumer on the in-process bus; the delivery stays in the outbox until one consumes");
        if (slot.running < slot.concurrency) return run(slot, message);
        await new Promise<void>((resolve) => slot.waiting.push(resolve));
        // Woken by a finished message, or by stop(): look again (the slot may have gone).
      }
    },
    async consume(handler, options = {}) {
      if (closed) throw new BusError("E_BUS_CLOSED", "the in-process bus is closed");
      const concurrency = options.concurrency ?? 8;
      if (!Number.isInteger(concurrency) || concurrency < 1) {
        throw new BusError("E_BUS_UNAVAILABLE", `consume({ concurrency }) must be a whole number of at least 1, got ${String(concurrency)}`, { field: "concurrency" });
      }
      const slot: Slot = { handler, concurrency, running: 0, stopped: false, waiting: [], idle: [] };
      consumers.push(slot);
      const consumer: BusConsumer = { stop: () => stopSlot(slot) };
      return consumer;
    },
    async close() {
      closed = true;
      await Promise.all([...consumers].map((slot) => stopSlot(slot)));
    },
  };

  async function stopSlot(slot: Slot): Promise<void> {
    slot.stopped = true;
    const index = consumers.indexOf(slot);
    if (index >= 0) consumers.splice(index, 1);
    for (const wake of slot.waiting.splice(0)) wake();
    if (slot.running > 0) await new Promise<void>((resolve) => slot.idle.push(resolve));
  }
}
