import { busContract } from "@annex/host/testing/bus-contract";
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
      return {
        connect: async () => createNatsBus({ nats: await nats.connection(), stream: nats.stream, subject: nats.subject }),
        dispose: nats.dispose,
      };
    },
    { shared: true },
  );
} else {
  describe.skip(`NATS JetStream bus ${SKIPPED}`, () => {
    it("runs the bus contract against a real NATS", () => {});
  });
}
