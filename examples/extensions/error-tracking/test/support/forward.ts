/**
 * A real HTTP server in front of a test host, for SDKs that need a URL: every
 * request goes through the gateway with `t.request` (which names the test
 * tenant for anonymous requests, as a host's `resolveTenant` would from the
 * domain), bytes in and bytes out.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { TestHost } from "@annex/host/testing";

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

export interface ForwardServer {
  /** http://127.0.0.1:<port> */
  base: string;
  close(): Promise<void>;
}

export async function forwardTo(t: TestHost, route?: (req: IncomingMessage) => { type: string; body: string } | null): Promise<ForwardServer> {
  const server: Server = createServer((req, res) => {
    const own = route?.(req) ?? null;
    if (own !== null) return void res.writeHead(200, { "content-type": own.type }).end(own.body);
    void (async () => {
      const body = await readBody(req);
      const headers: Record<string, string> = {};
      for (const name of ["content-type", "origin"]) if (typeof req.headers[name] === "string") headers[name] = req.headers[name];
      const answer = await t.request(req.method ?? "GET", req.url ?? "/", { body: body.length === 0 ? undefined : new Uint8Array(body), headers });
      res.writeHead(answer.status, Object.fromEntries(answer.headers)).end(Buffer.from(await answer.arrayBuffer()));
    })().catch((error: unknown) => res.writeHead(500).end(String(error)));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
