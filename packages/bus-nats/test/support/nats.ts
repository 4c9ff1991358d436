import { randomUUID } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";

export const NATS_URL = process.env["ANNEX_TEST_NATS_URL"] ?? "127.0.0.1:4222";

/**
 * Whether the NATS server the adapter tests need answers. Where none does,
 * the suites are skipped and say why in their name; under CI (`.ci/run`
 * starts nats-server with JetStream) an absent server fails the run. A server
 * that answers without JetStream fails the run everywhere: it is the wrong
 * server, not an absent one.
 */
export async function natsAvailable(): Promise<boolean> {
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: NATS_URL, timeout: 1000, reconnect: false });
  } catch {
    if (process.env["CI"] === "true") throw new Error(`CI: no NATS at ${NATS_URL}; .ci/run starts nats-server -js, check that it is installed`);
    return false;
  }
  try {
    await jetstreamManager(nc, { timeout: 2000 });
    return true;
  } catch (error) {
    throw new Error(`NATS at ${NATS_URL} answers but JetStream is off (${error instanceof Error ? error.message : String(error)}): start nats-server with -js, or point ANNEX_TEST_NATS_URL at one that has it`);
  } finally {
    await nc.close();
  }
}

export const SKIPPED = `(skipped: no NATS at ${NATS_URL}; start nats-server -js or set ANNEX_TEST_NATS_URL)`;

/** A stream and subject for one test that no other run shares; `dispose` deletes the stream and closes the connections. */
export function testNats(): { stream: string; subject: string; connection(options?: Partial<ConnectionOptions>): Promise<NatsConnection>; dispose(): Promise<void> } {
  const id = randomUUID().replace(/-/g, "");
  const stream = `annex_test_${id}`;
  const connections: NatsConnection[] = [];
  return {
    stream,
    subject: `annex.test.${id}`,
    async connection(options = {}) {
      const nc = await connect({ servers: NATS_URL, ...options });
      connections.push(nc);
      return nc;
    },
    async dispose() {
      const nc = await connect({ servers: NATS_URL });
      try {
        const jsm = await jetstreamManager(nc);
        await jsm.streams.delete(stream).catch(() => {});
      } finally {
        await nc.close();
        await Promise.allSettled(connections.map((c) => c.close()));
      }
    },
  };
}
