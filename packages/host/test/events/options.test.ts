import { expect, it } from "vitest";
import { createHost, EventsError } from "../../src/index.js";
import { describeBackends } from "../support/backends.js";

describeBackends("events options", (backend) => {
  it("refuses options that cannot work, naming the field", async () => {
    const database = await backend.connect();
    for (const [events, field] of [
      [{ pollIntervalMs: 0 }, "events.pollIntervalMs"],
      [{ maxAttempts: 1.5 }, "events.maxAttempts"],
      [{ backoff: { baseMs: -1 } }, "events.backoff.baseMs"],
      [{ concurrency: Number.NaN }, "events.concurrency"],
      [{ leaseMs: 1000, timeoutMs: 2000 }, "events.leaseMs"],
      [{ publishRate: { events: 0, perSeconds: 60 } }, "events.publishRate"],
      [{ publishRate: { events: 10, perSeconds: 1.5 } }, "events.publishRate"],
      [{ publishRate: true }, "events.publishRate"],
      [{ outboxBytes: 0 }, "events.outboxBytes"],
      [{ outboxBytes: 1.5 }, "events.outboxBytes"],
      [{ outboxBytes: true }, "events.outboxBytes"],
      [{ deadLetterRetentionMs: -1 }, "events.deadLetterRetentionMs"],
    ] as const) {
      const refused = await createHost({ database, schema: backend.freshSchema("annex_events_opts"), events: events as never }).catch((error: unknown) => error);
      expect(refused, field).toBeInstanceOf(EventsError);
      expect(refused).toMatchObject({ code: "E_EVENTS_OPTIONS", details: { field } });
    }
    // The refusals closed what they opened: the same database still serves a host.
    const host = await createHost({ database, schema: backend.freshSchema("annex_events_opts") });
    await host.close();
  });
});
