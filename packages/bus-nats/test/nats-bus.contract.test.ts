import { busContract } from "@annex/host/testing/bus-contract";
import { jetstream } from "@nats-io/jetstream";
import { describe, it } from "vitest";
import { createNatsBus } from "../src/index.js";
import { SKIPPED, natsAvailable, testNats } from "./support/nats.js";

const available = await natsAvailable();

if (available) {
  // Each connect() is one host process: its own connection, on the world's stream and durable consumer.
  busContract(
    "nats jetstream",
    () => {
      const nats = testNats();
      let writer: ReturnType<typeof jetstream> | undefined;
      return {
        connect: async () => createNatsBus({ nats: await nats.connection(), stream: nats.stream, subject: nats.subject }),
        dispose: nats.dispose,
        // A plain publish to the subject, as any client allowed on it could: without the bus's message id,
        // which would make JetStream drop a second message of one delivery and lease as a duplicate.
        write: async (message) => {
          writer ??= jetstream(await nats.connection());
          await writer.publish(nats.subject, JSON.stringify(message));
        },
      };
    },
    { shared: true },
  );
} else {
  describe.skip(`NATS JetStream bus ${SKIPPED}`, () => {
    it("runs the bus contract against a real NATS", () => {});
  });
}
