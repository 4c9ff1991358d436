import { createServer, connect, type Server, type Socket } from "node:net";

/**
 * A TCP proxy in front of Redis that, once armed, cuts the connection right after Redis sent a reply matching
 * `reply` and before the client reads it: the command ran on the server, its reply is lost, as when a
 * connection is killed (CLIENT KILL, a load balancer's reset) mid-command. Or it holds such a reply a while
 * (Redis slow to answer), then delivers it.
 */
export async function replyCutProxy(target: { host: string; port: number }, options: { reply: RegExp }) {
  const { reply } = options;
  const sockets = new Set<Socket>();
  let armed = 0;
  let cuts = 0;
  let delayNext = 0;
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {});
    }
    client.pipe(upstream);
    let held: Buffer[] | undefined;
    upstream.on("data", (chunk: Buffer) => {
      if (held !== undefined) {
        held.push(chunk);
        return;
      }
      if (delayNext > 0 && reply.test(chunk.toString("latin1"))) {
        const ms = delayNext;
        delayNext = 0;
        held = [chunk];
        // Everything after it waits too: replies keep their order.
        setTimeout(() => {
          for (const c of held ?? []) client.write(c);
          held = undefined;
        }, ms);
        return;
      }
      if (armed > 0 && reply.test(chunk.toString("latin1"))) {
        armed--;
        cuts++;
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(chunk);
    });
    upstream.on("close", () => client.destroy());
    client.on("close", () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    arm(times = 1) {
      armed += times;
    },
    /** Holds the next matching reply this long (Redis slow to answer), then delivers it. */
    delay(ms: number) {
      delayNext = ms;
    },
    get cuts() {
      return cuts;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

import { Redis } from "ioredis";

/** An ioredis client as scale-out.md configures one (maxRetriesPerRequest: 1), through a proxy's port. */
export function redisVia(port: number): Redis {
  const redis = new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 1 });
  redis.on("error", () => {});
  return redis;
}
