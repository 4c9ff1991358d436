import { describe, expect, it } from "vitest";
import { BusError, createInProcessBus, parseBusMessage } from "../../src/index.js";
import { busContract } from "../../src/testing/bus-contract.js";

busContract("in-process", () => ({ connect: () => createInProcessBus() }));

describe("in-process bus", () => {
  it("resolves a send once the consumer has run it, so a relay's drain ends when its sends do", async () => {
    const bus = createInProcessBus();
    const done: string[] = [];
    await bus.consume(async (m) => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      done.push(m.deliveryId);
    });
    await bus.send({ deliveryId: "d1", lease: "l", eventId: "e", tenant: "t", type: "x.y", installId: "i", attempt: 1, occurredAt: new Date(0).toISOString(), payload: null });
    expect(done).toEqual(["d1"]);
    await bus.close();
  });

  it("hands the consumer a copy: neither side can change the other's message", async () => {
    const bus = createInProcessBus();
    const payload = { n: 1 };
    await bus.consume(async (m) => {
      (m.payload as { n: number }).n = 2;
    });
    await bus.send({ deliveryId: "d1", lease: "l", eventId: "e", tenant: "t", type: "x.y", installId: "i", attempt: 1, occurredAt: new Date(0).toISOString(), payload });
    expect(payload.n).toBe(1);
    await bus.close();
  });

  it("refuses a consumer concurrency that is not a whole number of at least 1", async () => {
    const bus = createInProcessBus();
    await expect(bus.consume(async () => {}, { concurrency: 0 })).rejects.toBeInstanceOf(BusError);
    await bus.close();
  });
});

describe("parseBusMessage", () => {
  const good = { deliveryId: "d", lease: "l", eventId: "e", tenant: "t", type: "x.y", installId: "i", attempt: 2, occurredAt: "2026-01-01T00:00:00.000Z", payload: { a: 1 } };

  it("accepts a message as a broker returns it", () => {
    expect(parseBusMessage(JSON.parse(JSON.stringify(good)))).toEqual(good);
  });

  it.each([
    ["(root)", null],
    ["deliveryId", { ...good, deliveryId: "" }],
    ["lease", { ...good, lease: 3 }],
    ["attempt", { ...good, attempt: 0 }],
    ["tenant", { ...good, tenant: "x".repeat(1025) }],
  ])("refuses a message whose %s is wrong, naming the field", (field, value) => {
    expect(() => parseBusMessage(value)).toThrow(expect.objectContaining({ code: "E_BUS_MESSAGE", details: { field } }));
  });
});
