import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach } from "vitest";

/** One admin API call as the fake host saw it: method, path below /admin/api, body. */
export interface FakeCall {
  method: string;
  path: string;
  body: Buffer;
}
export type FakeAnswer = { status?: number; json: unknown } | undefined;

export interface FakeAdminHost {
  url: string;
  /** Every call but GET /session, as `METHOD /path`. */
  calls: string[];
}

const servers: Server[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(() => resolve(undefined)))));
});

/**
 * A stand-in for a host's admin API on 127.0.0.1: GET /session answers as
 * ada@acme.test, an admin of tenant acme; `answer` handles the rest (undefined:
 * 404 E_NOT_FOUND, the reference host's answer to an unknown route). Closed
 * after the current test.
 */
export async function fakeAdminHost(answer: (call: FakeCall) => FakeAnswer): Promise<FakeAdminHost> {
  const calls: string[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const call = { method: req.method ?? "GET", path: (req.url ?? "").replace(/^\/admin\/api/, ""), body: Buffer.concat(chunks) };
      let result: FakeAnswer;
      if (call.method === "GET" && call.path === "/session") result = { json: { user: { email: "ada@acme.test", tenant: "acme", role: "admin" } } };
      else {
        calls.push(`${call.method} ${call.path}`);
        result = answer(call);
      }
      result ??= { status: 404, json: { code: "E_NOT_FOUND", message: "no such admin API endpoint" } };
      res.writeHead(result.status ?? 200, { "content-type": "application/json" });
      res.end(JSON.stringify(result.json));
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls };
}
